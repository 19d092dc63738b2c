//! Presence across transports: WebSocket clients (their attachments) and HTTP clients (SSE
//! streams and long-polls, `POST .../presence`), announced to every socket and stream.

use serde_json::{json, Value};
use worker::Response;

use super::{now_ms, presence_value, Attachment, SessionObject};
use crate::core::error::ApiError;
use crate::core::http_presence::presence_body;
use crate::core::keys::random_token;
use crate::core::protocol::{PresenceEntry, PresenceEvent, ServerFrame};
use crate::edge::hub::sse_event;
use crate::edge::respond::{json, OrInternal};

/// Milliseconds between checks for HTTP clients that left (a closed stream, a lapsed TTL).
pub(super) const PRESENCE_SWEEP_MS: i64 = 5_000;

impl SessionObject {
    /// Everyone present: WebSocket clients, then HTTP clients.
    pub(super) fn presence_list(&self) -> Vec<PresenceEntry> {
        let mut list: Vec<PresenceEntry> = self
            .state
            .get_websockets()
            .iter()
            .filter_map(|ws| ws.deserialize_attachment::<Attachment>().ok().flatten())
            .map(|a| PresenceEntry { data: presence_value(&a.presence), client_id: a.id })
            .collect();
        list.extend(self.http_presence.borrow().list());
        list
    }

    /// Sends a `presence` frame to every socket but `client_id`'s and to every SSE stream.
    pub(super) fn announce(&self, client_id: &str, event: PresenceEvent, data: Value) {
        let frame = ServerFrame::Presence { event, client_id: client_id.to_owned(), data }.to_json();
        self.send_to_others(client_id, &frame);
        self.hub.publish(&sse_event("presence", None, &frame));
    }

    /// `POST .../presence`: sets the presence of an SSE or long-poll client. An id naming an
    /// open SSE stream ties the entry to that stream; otherwise the entry lasts
    /// `HTTP_PRESENCE_TTL_SECONDS` unless renewed. Answers the id, the TTL and everyone present.
    pub(super) async fn http_presence(&self, content_type: Option<&str>, body: &[u8]) -> Result<Response, ApiError> {
        let req = presence_body(content_type, body, &self.limits)?;
        let now = now_ms();
        self.sweep_presence(now);
        let ttl_ms = (self.limits.http_presence_ttl_seconds * 1000) as i64;
        let (client_id, expires_at) = match req.client_id {
            Some(id) if id.starts_with("s_") && self.hub.has_stream(&id) => (id, None),
            Some(id) if id.starts_with("h_") && self.http_presence.borrow().contains(&id) => (id, Some(now + ttl_ms)),
            Some(id) => return Err(ApiError::UnknownClient(id)),
            None => (format!("h_{}", &random_token()?[..10]), Some(now + ttl_ms)),
        };
        let joining = !self.http_presence.borrow().contains(&client_id);
        if joining && self.http_presence.borrow().len() >= self.limits.max_clients {
            return Err(ApiError::TooManyConnections);
        }
        let event = self.http_presence.borrow_mut().set(&client_id, req.data.clone(), expires_at);
        self.announce(&client_id, event, req.data);
        if joining {
            // The alarm finds the clients that left; it re-arms itself while any are present.
            self.state.storage().set_alarm(PRESENCE_SWEEP_MS).await.or_internal()?;
        }
        let ttl = expires_at.map(|_| self.limits.http_presence_ttl_seconds);
        json(200, &json!({ "clientId": client_id, "ttl": ttl, "presence": self.presence_list() }))
    }

    /// Removes the HTTP clients that left (stream closed, TTL lapsed) and announces each leave.
    pub(super) fn sweep_presence(&self, now: i64) {
        if self.http_presence.borrow().is_empty() {
            return;
        }
        let gone = self.http_presence.borrow_mut().sweep(now, |id| self.hub.has_stream(id));
        for id in gone {
            self.announce(&id, PresenceEvent::Leave, Value::Null);
        }
    }
}
