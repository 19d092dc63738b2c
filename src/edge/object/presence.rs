//! Presence of HTTP clients (SSE streams and long-polls, `POST .../presence`): the room keeps
//! it and announces it; the alarm finds the clients that left.

use serde_json::json;
use worker::Response;

use super::SessionObject;
use crate::core::error::ApiError;
use crate::core::http_presence::presence_body;
use crate::core::keys::random_token;
use crate::edge::host::now_ms;
use crate::edge::respond::{json, OrInternal};

/// Milliseconds between checks for HTTP clients that left (a closed stream, a lapsed TTL).
pub(super) const PRESENCE_SWEEP_MS: i64 = 5_000;

impl SessionObject {
    /// `POST .../presence`: sets the presence of an SSE or long-poll client. An id naming an
    /// open SSE stream ties the entry to that stream; otherwise the entry lasts
    /// `HTTP_PRESENCE_TTL_SECONDS` unless renewed. Answers the id, the TTL and everyone present.
    pub(super) async fn http_presence(&self, content_type: Option<&str>, body: &[u8]) -> Result<Response, ApiError> {
        let req = presence_body(content_type, body, &self.limits)?;
        let fresh_id = format!("h_{}", &random_token()?[..10]);
        let (reply, fx) = self.room.borrow_mut().on_http_presence(req, fresh_id, now_ms());
        self.host().run(fx);
        let reply = reply?;
        if reply.joined {
            // The alarm finds the clients that left; it re-arms itself while any are present.
            self.state.storage().set_alarm(PRESENCE_SWEEP_MS).await.or_internal()?;
        }
        json(200, &json!({ "clientId": reply.client_id, "ttl": reply.ttl, "presence": reply.presence }))
    }
}
