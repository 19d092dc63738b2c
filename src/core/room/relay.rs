//! What clients say to each other and what ends connections: presence (P8) from WebSockets
//! and from HTTP clients, broadcasts (P9) with the per-address byte budget (P11), chat lines
//! (P12), and the ends of key rotation and of the session (P14).

use serde_json::Value;

use super::effects::{close, ConnId, ConnKind, Effect, Effects, To};
use super::outbox::{Audience, Item, ItemKind};
use super::viewers::RelayedMessage;
use super::{presence_item, Room};
use crate::core::error::ApiError;
use crate::core::http_presence::PresenceBody;
use crate::core::keys::Role;
use crate::core::protocol::{PresenceEntry, PresenceEvent, ServerFrame};

/// The answer to `POST .../presence`.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpPresenceReply {
    /// The client's id (`s_...` or `h_...`).
    pub client_id: String,
    /// Seconds the entry lasts unless renewed; `None` while tied to an open SSE stream.
    pub ttl: Option<u64>,
    /// Everyone present.
    pub presence: Vec<PresenceEntry>,
    /// True when the client just joined: the host should make sure `sweep` runs soon.
    pub joined: bool,
}

impl Room {
    /// Sets WebSocket `conn`'s presence value and tells the others (P8); volatile (P17).
    pub(super) fn set_presence(&mut self, conn: &ConnId, data: Value, now: i64, fx: &mut Effects) {
        let quiet = self.conns.get(conn).is_some_and(|c| self.is_quiet(c));
        let Some(c) = self.conns.get_mut(conn) else { return };
        c.presence = data.clone();
        if quiet {
            // A viewer behind a relay is counted, not shown (P18).
            return;
        }
        fx.push(Effect::SavePresence { conn: conn.clone(), data: data.to_string() });
        let item = presence_item(conn.as_str(), PresenceEvent::Update, data);
        self.outbox.emit(Audience::AllExcept(conn.clone()), item, now, fx);
    }

    /// Relays `data` from `from` (a client id or `http`) to the others or to WebSocket client
    /// `to` (P9); returns how many it reached. Refused with `throttled` when `address` made
    /// this session send more than its per-second budget of ephemeral bytes (P11). A read-key
    /// viewer's message does not go down to the relays: it reaches this object's connections
    /// (the presenter), never the whole audience (P18).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn relay(
        &mut self,
        from: &str,
        viewer: bool,
        address: &str,
        to: Option<&str>,
        data: Value,
        volatile: bool,
        now: i64,
        fx: &mut Effects,
    ) -> Result<usize, ApiError> {
        // A relay's viewers speak through the session object, which sends it back down (P18).
        let upstream = self.config.relay_side.then(|| data.clone());
        let text = ServerFrame::Broadcast { from: from.to_owned(), data }.to_json();
        let sender = ConnId::from(from);
        // A viewer's message to everyone: this object's own connections, not the relays.
        let only_here: Option<Vec<ConnId>> = (viewer && !self.viewers_relayed_is_empty()).then(|| {
            self.conns
                .values()
                .filter(|c| c.info.relay.is_none() && c.info.id != sender)
                .map(|c| c.info.id.clone())
                .collect()
        });
        let recipients = match (&to, &only_here) {
            (Some(_), _) => 1,
            (None, Some(list)) => list.len(),
            (None, None) => self.outbox.len(),
        };
        let cost = text.len().saturating_mul(recipients.max(1));
        let budget = self.config.limits.max_relay_bytes_per_second;
        if !self.relay_budget.charge(address, cost, now, budget) {
            return Err(ApiError::Throttled { what: "message bytes", retry_after: 1 });
        }
        if let Some(data) = upstream {
            let (from, address, to) = (from.to_owned(), address.to_owned(), to.map(str::to_owned));
            self.queue_upstream(RelayedMessage { from, address, to, data, volatile }, text.len(), now, fx);
            return Ok(0);
        }
        let item = Item { text, kind: ItemKind::Broadcast { from: from.to_owned(), volatile } };
        match to {
            Some(to) => {
                let target = ConnId::from(to);
                let is_socket = self.conns.get(&target).is_some_and(|c| c.info.kind == ConnKind::WebSocket);
                if !is_socket {
                    return Err(ApiError::UnknownClient(to.to_owned()));
                }
                self.outbox.emit(Audience::One(target), item, now, fx);
                Ok(1)
            }
            None => match only_here {
                Some(list) => {
                    let reached = list.iter().filter(|c| self.outbox.contains(c)).count();
                    self.outbox.emit(Audience::Some(list), item, now, fx);
                    Ok(reached)
                }
                None => {
                    let reached = self.outbox.len() - usize::from(self.outbox.contains(&sender));
                    self.outbox.emit(Audience::AllExcept(sender), item, now, fx);
                    Ok(reached)
                }
            },
        }
    }

    /// A plain-text chat line: the other WebSocket clients get `<id> says: <text>` at once (P12).
    pub(super) fn chat(&self, conn: &ConnId, line: &str, fx: &mut Effects) {
        let others: Vec<ConnId> = self
            .conns
            .values()
            .filter(|c| c.info.kind == ConnKind::WebSocket && c.info.id != *conn && !self.is_quiet(c))
            .map(|c| c.info.id.clone())
            .collect();
        if !others.is_empty() {
            fx.send(To::Conns(others), format!("{} says: {line}", conn.as_str()), "chat", None);
        }
    }

    /// `POST .../messages`: an ephemeral message over HTTP from `address` (P9); returns how
    /// many it reached.
    pub fn on_http_message(
        &mut self,
        address: &str,
        to: Option<&str>,
        data: Value,
        volatile: bool,
        now: i64,
    ) -> Result<(usize, Effects), ApiError> {
        let mut fx = Effects::default();
        let reached = self.relay(super::HTTP_AUTHOR, false, address, to, data, volatile, now, &mut fx)?;
        Ok((reached, fx))
    }

    /// `POST .../presence` from an SSE or long-poll client (P8). `fresh_id` (`h_...`) is its
    /// id when it has none yet. The effects (leaves found by the sweep, the join or update)
    /// are for the host to carry out whatever the answer.
    pub fn on_http_presence(
        &mut self,
        body: PresenceBody,
        fresh_id: String,
        now: i64,
    ) -> (Result<HttpPresenceReply, ApiError>, Effects) {
        let mut fx = self.sweep(now);
        let limits = &self.config.limits;
        let ttl_ms = i64::try_from(limits.http_presence_ttl_seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
        let expires = Some(now.saturating_add(ttl_ms));
        let (client_id, expires_at) = match body.client_id {
            Some(id) if id.starts_with("s_") && self.is_stream(&id) => (id, None),
            Some(id) if id.starts_with("h_") && self.http.contains(&id) => (id, expires),
            Some(id) => return (Err(ApiError::UnknownClient(id)), fx),
            None => (fresh_id, expires),
        };
        let joined = !self.http.contains(&client_id);
        if joined && self.http.len() >= limits.max_clients {
            return (Err(ApiError::TooManyConnections), fx);
        }
        let ttl = expires_at.map(|_| limits.http_presence_ttl_seconds);
        let event = self.http.set(&client_id, body.data.clone(), expires_at);
        let item = presence_item(&client_id, event, body.data);
        // Everyone, the client's own SSE stream included: that is how it sees it took effect.
        self.outbox.emit(Audience::All, item, now, &mut fx);
        (Ok(HttpPresenceReply { client_id, ttl, presence: self.presence_list(), joined }), fx)
    }

    /// Removes the HTTP clients that left (stream closed, TTL lapsed); each is a `leave` (P8).
    pub fn sweep(&mut self, now: i64) -> Effects {
        let mut fx = Effects::default();
        if self.http.is_empty() {
            return fx;
        }
        let conns = &self.conns;
        let gone =
            self.http.sweep(now, |id| conns.get(&ConnId::from(id)).is_some_and(|c| c.info.kind == ConnKind::Sse));
        for id in gone {
            let item = presence_item(&id, PresenceEvent::Leave, Value::Null);
            self.outbox.emit(Audience::AllExcept(ConnId(id)), item, now, &mut fx);
        }
        fx
    }

    /// Whether HTTP clients are present (then the host keeps a sweep scheduled).
    pub fn has_http_presence(&self) -> bool {
        !self.http.is_empty()
    }

    /// The write and read keys were rotated: their connections get `key_rotated` and close
    /// 4003; the others hear them leave (P14).
    pub fn on_key_rotated(&mut self, now: i64) -> Effects {
        let notice =
            ServerFrame::Error { code: "key_rotated".into(), message: "the key of this connection was rotated".into() };
        let revoked: Vec<ConnId> = self
            .conns
            .values()
            .filter(|c| matches!(c.info.role, Role::Read | Role::Write))
            .map(|c| c.info.id.clone())
            .collect();
        let mut fx = self.end(&revoked, &notice, close::KEY_ROTATED, "key rotated");
        for id in revoked {
            let quiet = self.conns.get(&id).is_some_and(|c| self.is_quiet(c));
            match self.conns.remove(&id) {
                Some(c) if c.info.kind == ConnKind::WebSocket && !quiet => {
                    let leave = presence_item(id.as_str(), PresenceEvent::Leave, Value::Null);
                    self.outbox.emit(Audience::AllExcept(id.clone()), leave, now, &mut fx);
                }
                // A relay's upstream: its viewers are closed by the relay itself (P18).
                Some(c) if c.info.relay.is_some() => {
                    self.relay_connected(c.info.relay.unwrap_or_default(), 0, false, now, &mut fx);
                }
                _ => {}
            }
            self.outbox.remove(&id);
        }
        let _ = self.audience_changed(now, &mut fx);
        // HTTP presence tied to a revoked SSE stream leaves with it.
        fx.extend(self.sweep(now));
        fx
    }

    /// The session was deleted or expired: every connection gets `session_ended` and close
    /// 4004, and the room is empty (P14).
    pub fn on_session_ended(&mut self) -> Effects {
        let notice =
            ServerFrame::Error { code: "session_ended".into(), message: "the session was deleted or expired".into() };
        let all: Vec<ConnId> = self.conns.keys().cloned().collect();
        let fx = self.end(&all, &notice, close::SESSION_ENDED, "session ended");
        self.conns.clear();
        self.outbox.clear();
        self.http = Default::default();
        self.viewers = Default::default();
        fx
    }

    /// The notice to every stream connection of `ids` in one send (P14: the frame comes first),
    /// then a close for each.
    fn end(&self, ids: &[ConnId], notice: &ServerFrame, code: u16, reason: &'static str) -> Effects {
        let mut fx = Effects::default();
        let streams: Vec<ConnId> = ids.iter().filter(|id| self.outbox.contains(id)).cloned().collect();
        if !streams.is_empty() {
            fx.send(To::Conns(streams), notice.to_json(), "error", None);
        }
        for id in ids {
            fx.close(id, code, reason);
        }
        fx
    }

    fn is_stream(&self, id: &str) -> bool {
        self.conns.get(&ConnId::from(id)).is_some_and(|c| c.info.kind == ConnKind::Sse)
    }
}
