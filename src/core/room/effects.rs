//! What the room hands back to its host: frames to send and to whom, closes with codes,
//! long-poll answers, presence to persist and when to call `on_tick` again. Also the
//! connection identity types and the typed socket tags. No I/O here.

use serde_json::Value;

use crate::core::doc::FrameText;
use crate::core::keys::Role;

/// Close codes of docs/protocol.md.
pub mod close {
    /// Frame larger than `maxMessageBytes` (P11).
    pub const TOO_BIG: u16 = 1009;
    /// The key this connection used was rotated (P14).
    pub const KEY_ROTATED: u16 = 4003;
    /// The session was deleted or expired (P14).
    pub const SESSION_ENDED: u16 = 4004;
    /// Far over the message rate limit (P11).
    pub const RATE_LIMITED: u16 = 4008;
    /// The session already has `maxClients` connections (P11).
    pub const SESSION_FULL: u16 = 4029;
    /// The host could not tell which connection a frame came from (lost tags or attachment).
    pub const LOST: u16 = 1011;
    /// A relay lost track of the session: reconnect and resume (P18).
    pub const RESTART: u16 = 1012;
}

/// One connection, named by its client id (`c_...` WebSocket, `s_...` SSE stream, any
/// other prefix for a long-poll waiter). The host finds the socket by this id (a socket tag).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub String);

impl ConnId {
    /// The id as text, as it appears in frames.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for ConnId {
    fn from(s: &str) -> Self {
        ConnId(s.to_owned())
    }
}

/// The transport of a connection; the room decides what each gets, the host does the I/O.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnKind {
    /// A hibernatable WebSocket: gets every frame, sends frames, is in presence (P8).
    WebSocket,
    /// A Server-Sent Events stream: gets the same frames as `event:` lines, sends nothing.
    Sse,
    /// A parked long-poll: answered (`Effect::Answer`) at the first write after its version.
    LongPoll,
}

/// Who a connection is, as the host knows it when it opens (or after hibernation).
#[derive(Debug, Clone, PartialEq)]
pub struct ConnInfo {
    /// The connection's id.
    pub id: ConnId,
    /// What it may do (P7).
    pub role: Role,
    /// Its transport.
    pub kind: ConnKind,
    /// The client's address, which per-address budgets are charged to (P11 `throttled`).
    pub address: String,
    /// Opened with `batch=1`: its updates are coalesced too (P15).
    pub batch: bool,
    /// For the upstream connection of relay object `k` (P18): not a client, never in presence.
    pub relay: Option<u32>,
}

/// Who a send goes to. `All` and `AllExcept` let the host loop in one call (one wasm/JS crossing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum To {
    /// Every WebSocket and SSE connection of the room.
    All,
    /// Every WebSocket and SSE connection but this one.
    AllExcept(ConnId),
    /// Exactly these connections.
    Conns(Vec<ConnId>),
}

/// One frame for one or more connections.
#[derive(Debug, Clone, PartialEq)]
pub struct Send {
    /// The recipients.
    pub to: To,
    /// The frame, whole; the host splits one over 1 MiB into `part` frames (P16).
    pub text: String,
    /// The SSE event name (`welcome`, `update`, `updates`, `presence`, `broadcast`, `error`, ...).
    pub event: &'static str,
    /// The SSE event id: the last version the frame carries, for `Last-Event-ID` resumes.
    pub id: Option<u64>,
}

/// One thing for the host to do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Send a frame.
    Send(Send),
    /// Send a `welcome` to one connection (its snapshot, if any, is written out as it is sent,
    /// in `part` frames when long, P16).
    Welcome {
        /// Which.
        conn: ConnId,
        /// The frame.
        frame: FrameText,
    },
    /// Close a connection (after the sends before it). For an SSE stream: end it; for a
    /// long-poll: answer `key_rotated` (4003) or `session_not_found` (4004).
    Close {
        /// Which.
        conn: ConnId,
        /// A close code of `close`.
        code: u16,
        /// A short reason for the close frame.
        reason: &'static str,
    },
    /// A long-poll waiter: answer it now from the current state; it has left the room.
    Answer(ConnId),
    /// Store this connection's presence value (JSON text) where it survives hibernation.
    SavePresence {
        /// Which.
        conn: ConnId,
        /// The value as JSON text.
        data: String,
    },
    /// Call `Room::on_tick` at this time (ms) or soon after; replaces any earlier request.
    TickAt(i64),
    /// An internal error for the host's log; the client only saw the code `internal`.
    Log(String),
    /// Send this frame up to the session object (a relay's room only, P18).
    Upstream(String),
}

/// The effects of one event, in the order the host must carry them out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Effects {
    /// The effects, in order.
    pub list: Vec<Effect>,
}

impl Effects {
    /// Appends one effect.
    pub fn push(&mut self, effect: Effect) {
        self.list.push(effect);
    }

    /// Appends a frame for recipients.
    pub fn send(&mut self, to: To, text: String, event: &'static str, id: Option<u64>) {
        self.list.push(Effect::Send(Send { to, text, event, id }));
    }

    /// Appends a frame for one connection.
    pub fn reply(&mut self, conn: &ConnId, text: String, event: &'static str) {
        self.send(To::Conns(vec![conn.clone()]), text, event, None);
    }

    /// Appends a close.
    pub fn close(&mut self, conn: &ConnId, code: u16, reason: &'static str) {
        self.list.push(Effect::Close { conn: conn.clone(), code, reason });
    }

    /// Appends everything of `other`.
    pub fn extend(&mut self, other: Effects) {
        self.list.extend(other.list);
    }

    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// The tags a hibernatable WebSocket is accepted with, so the host can find it by client id
/// (`getWebSockets(id)`) and by role (key rotation). Read back by value, not position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketTags {
    /// The connection's client id (`c_...`).
    pub client_id: String,
    /// What it may do.
    pub role: Role,
    /// The relay object this socket is the upstream of, if it is one (P18).
    pub relay: Option<u32>,
}

impl SocketTags {
    /// The tags to accept the socket with.
    pub fn to_tags(&self) -> Vec<String> {
        let mut tags = vec![self.client_id.clone(), self.role.as_str().to_owned()];
        if let Some(k) = self.relay {
            tags.push(format!("relay:{k}"));
        }
        tags
    }

    /// Reads tags back in any order; `None` when the client id or the role is missing.
    pub fn from_tags<S: AsRef<str>>(tags: &[S]) -> Option<SocketTags> {
        let mut client_id = None;
        let mut role = None;
        let mut relay = None;
        for tag in tags.iter().map(AsRef::as_ref) {
            if let Some(k) = tag.strip_prefix("relay:") {
                relay = k.parse().ok();
                continue;
            }
            match tag {
                "read" => role = Some(Role::Read),
                "write" => role = Some(Role::Write),
                "admin" => role = Some(Role::Admin),
                id if id.starts_with("c_") => client_id = Some(id.to_owned()),
                _ => {}
            }
        }
        Some(SocketTags { client_id: client_id?, role: role?, relay })
    }
}

/// One connection as the host finds it after hibernation: its info and its saved presence.
#[derive(Debug, Clone, PartialEq)]
pub struct RestoredConn {
    /// Who it is.
    pub info: ConnInfo,
    /// Its presence value (null when none was saved).
    pub presence: Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_tags_round_trip_in_any_order() {
        let tags = SocketTags { client_id: "c_abc".into(), role: Role::Read, relay: None };
        assert_eq!(SocketTags::from_tags(&tags.to_tags()), Some(tags.clone()));
        let upstream = SocketTags { relay: Some(7), ..tags.clone() };
        assert_eq!(SocketTags::from_tags(&upstream.to_tags()), Some(upstream));
        assert_eq!(SocketTags::from_tags(&["read", "c_abc"]), Some(tags));
        assert_eq!(SocketTags::from_tags(&["c_abc"]), None, "no role");
        assert_eq!(SocketTags::from_tags(&["write", "live"]), None, "no client id");
    }
}
