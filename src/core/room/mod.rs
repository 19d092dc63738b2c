//! The room: the conversation of one session over any transport, as plain code that takes
//! events (a connection opened, a frame, an HTTP write, a close, a tick) and returns
//! `Effects` (what to send to whom, what to close, when to tick). Roles, rate limits, ack and
//! reject, presence, broadcast, chat lines and coalescing live here; storage is behind
//! `SessionWrites`, and the host (the Durable Object) only forwards events and carries out
//! effects. Everything here is memory: after hibernation the host calls `restore`.

mod downstream;
mod effects;
mod frames;
mod outbox;
mod relay;
mod viewers;

#[cfg(test)]
pub(crate) mod fake;
#[cfg(test)]
mod tests_coalesce;
#[cfg(test)]
mod tests_presence;
#[cfg(test)]
mod tests_rules;

use std::collections::BTreeMap;

use serde_json::Value;

pub use downstream::UpstreamItem;
pub use effects::{close, ConnId, ConnInfo, ConnKind, Effect, Effects, RestoredConn, Send, SocketTags, To};
pub use relay::HttpPresenceReply;
pub use viewers::{RelayFrame, RelayLoad, RelayedMessage};

use super::abuse::RelayBudget;
use super::doc::FrameText;
use super::error::ApiError;
use super::http_presence::HttpPresence;
use super::incoming::{RateWindow, WriteRequest};
use super::keys::Role;
use super::limits::Limits;
use super::protocol::{PresenceEntry, PresenceEvent, ServerFrame};
use super::session::{history_frame, WriteOutcome};
use outbox::{Audience, Item, ItemKind, Outbox};
use viewers::Viewers;

/// The author of writes and messages made over HTTP.
pub const HTTP_AUTHOR: &str = "http";

/// The session's storage as the room needs it; the host implements it over its store.
pub trait SessionWrites {
    /// Applies `req` by `author` (a client id or `http`) and stores it before returning (P3).
    fn write(&mut self, req: WriteRequest, author: &str, now: i64) -> Result<WriteOutcome, ApiError>;
    /// The `welcome` frame for a new connection that has applied `since` (P4), listing
    /// `presence`; may also restart the session's idle timer.
    fn welcome(
        &mut self,
        since: Option<u64>,
        client_id: &str,
        role: Role,
        presence: Vec<PresenceEntry>,
        now: i64,
    ) -> Result<FrameText, ApiError>;
    /// The session's current version.
    fn version(&mut self) -> Result<u64, ApiError>;
    /// The stored update frames of the resume window, oldest first, ending at the current
    /// version (for a relay's copy, P18); empty when they do not fit the window.
    fn history(&mut self) -> Result<Vec<String>, ApiError>;
}

/// How a room behaves beyond the limits.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomConfig {
    /// The limits the room enforces.
    pub limits: Limits,
    /// The coalescing tick in ms (P15).
    pub tick_ms: i64,
    /// Whether stream frames are coalesced; off sends every frame at once (for the benchmark).
    pub coalesce: bool,
    /// The room of a relay object (P18): its viewers are counted, not announced, and their
    /// messages go upstream.
    pub relay_side: bool,
}

impl RoomConfig {
    /// Coalescing with the tick of `limits.batch_tick_ms`; off when that is 0.
    pub fn new(limits: Limits) -> RoomConfig {
        let tick_ms = i64::try_from(limits.batch_tick_ms).unwrap_or(20);
        RoomConfig { limits, tick_ms, coalesce: tick_ms > 0, relay_side: false }
    }

    /// The room of a relay object.
    pub fn relay(limits: Limits) -> RoomConfig {
        RoomConfig { relay_side: true, ..RoomConfig::new(limits) }
    }
}

/// One open connection.
#[derive(Debug)]
struct Conn {
    info: ConnInfo,
    /// Its presence value (WebSocket connections).
    presence: Value,
    rate: RateWindow,
}

/// What `Room::clients` lists per WebSocket connection, for the inspector.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientView {
    /// The client id.
    pub client_id: String,
    /// Its role.
    pub role: Role,
    /// Its presence value.
    pub data: Value,
}

/// The connections of one session and what they are owed.
#[derive(Debug)]
pub struct Room {
    config: RoomConfig,
    conns: BTreeMap<ConnId, Conn>,
    outbox: Outbox,
    relay_budget: RelayBudget,
    http: HttpPresence,
    viewers: Viewers,
    restored: bool,
}

impl Room {
    /// An empty room.
    pub fn new(config: RoomConfig) -> Room {
        let outbox = Outbox::new(config.tick_ms, config.coalesce);
        Room {
            config,
            conns: BTreeMap::new(),
            outbox,
            relay_budget: RelayBudget::default(),
            http: HttpPresence::default(),
            viewers: Viewers::default(),
            restored: false,
        }
    }

    /// True until `restore` ran: the host must call it before the first event after a wake-up.
    pub fn needs_restore(&self) -> bool {
        !self.restored
    }

    /// Rebuilds the room from the host's hibernated sockets (tags and saved presence).
    /// Connections already known are kept as they are; sends nothing.
    pub fn restore(&mut self, conns: Vec<RestoredConn>) {
        self.restored = true;
        for c in conns {
            if self.conns.contains_key(&c.info.id) {
                continue;
            }
            if c.info.kind != ConnKind::LongPoll {
                self.outbox.add(c.info.id.clone(), c.info.batch || self.config.limits.coalesce_updates);
            }
            if let Some(k) = c.info.relay {
                let viewers = c.presence.as_u64().map_or(0, |v| v as usize);
                let mut ignored = Effects::default();
                self.relay_connected(k, viewers, true, 0, &mut ignored);
            }
            let id = c.info.id.clone();
            self.conns.insert(id, Conn { info: c.info, presence: c.presence, rate: RateWindow::default() });
        }
    }

    /// A connection opens. A WebSocket gets `welcome` and the others hear it join (P4, P8), or
    /// `session_full` and close 4029 (P11); an SSE stream gets `welcome`; a long-poll waiting
    /// for a version after `since` is answered at once if there is one, else parked.
    /// Errors (storage, too many SSE streams or long-polls) are for the host's HTTP answer.
    pub fn on_connect(
        &mut self,
        info: ConnInfo,
        since: Option<u64>,
        now: i64,
        store: &mut impl SessionWrites,
    ) -> Result<Effects, ApiError> {
        if self.conns.contains_key(&info.id) {
            return Err(ApiError::Internal(format!("connect: client id {} is already in use", info.id.as_str())));
        }
        let mut fx = Effects::default();
        let limits = &self.config.limits;
        match info.kind {
            ConnKind::WebSocket => {
                let is_relay = info.relay.is_some();
                if !is_relay && self.client_sockets() >= limits.max_clients {
                    let err = ApiError::SessionFull { limit: limits.max_clients };
                    fx.reply(&info.id, ServerFrame::error(&err).to_json(), "error");
                    fx.close(&info.id, close::SESSION_FULL, "session full");
                    return Ok(fx);
                }
                let quiet = is_relay || (self.config.relay_side && info.role == Role::Read);
                let announced = !quiet;
                if let Some(k) = info.relay {
                    // A relay that reconnects after losing its memory leaves its old upstream
                    // open: the newer one replaces it.
                    fx.extend(self.replace_relay(k));
                }
                let mut presence = self.presence_list();
                if announced {
                    presence.push(PresenceEntry { client_id: info.id.0.clone(), data: Value::Null });
                }
                let welcome = store.welcome(since, info.id.as_str(), info.role, presence, now)?;
                // A relay keeps the recent updates too, to answer resumes (P18).
                let history = if is_relay { Some(history_frame(store.history()?)?) } else { None };
                fx.push(Effect::Welcome { conn: info.id.clone(), frame: welcome });
                let id = info.id.clone();
                let relay = info.relay;
                self.admit(info, Value::Null);
                if let Some(frame) = history {
                    fx.reply(&id, frame, "history");
                }
                match relay {
                    Some(k) => self.relay_connected(k, 0, true, now, &mut fx),
                    None => self.audience_joined(&id, now, &mut fx),
                }
                if announced {
                    let join = presence_item(id.as_str(), PresenceEvent::Join, Value::Null);
                    self.outbox.emit(Audience::AllExcept(id), join, now, &mut fx);
                }
            }
            ConnKind::Sse => {
                if self.count(ConnKind::Sse) >= limits.max_sse_streams {
                    return Err(ApiError::TooManyConnections);
                }
                let welcome = store.welcome(since, info.id.as_str(), info.role, self.presence_list(), now)?;
                fx.push(Effect::Welcome { conn: info.id.clone(), frame: welcome });
                let id = info.id.clone();
                self.admit(info, Value::Null);
                self.audience_joined(&id, now, &mut fx);
            }
            ConnKind::LongPoll => {
                if self.count(ConnKind::LongPoll) >= limits.max_long_polls {
                    return Err(ApiError::TooManyConnections);
                }
                let version = store.version()?;
                if since.is_none_or(|s| version > s) {
                    fx.push(Effect::Answer(info.id));
                } else {
                    self.admit(info, Value::Null);
                }
            }
        }
        Ok(fx)
    }

    /// A connection closed (or errored, or a long-poll timed out): the others hear it leave (P8).
    pub fn on_close(&mut self, conn: &ConnId, now: i64) -> Effects {
        let mut fx = Effects::default();
        let quiet = self.conns.get(conn).is_some_and(|c| self.is_quiet(c));
        let Some(gone) = self.conns.remove(conn) else { return fx };
        self.outbox.remove(conn);
        match gone.info.kind {
            ConnKind::WebSocket if !quiet => {
                let leave = presence_item(conn.as_str(), PresenceEvent::Leave, Value::Null);
                self.outbox.emit(Audience::AllExcept(conn.clone()), leave, now, &mut fx);
            }
            ConnKind::WebSocket => {}
            ConnKind::Sse => fx.extend(self.sweep(now)),
            ConnKind::LongPoll => return fx,
        }
        match gone.info.relay {
            Some(k) => self.relay_connected(k, 0, false, now, &mut fx),
            None => {
                let _ = self.audience_changed(now, &mut fx);
            }
        }
        fx
    }

    /// The coalescing tick the host was asked for (`Effect::TickAt`) is due: flush (P15).
    pub fn on_tick(&mut self, now: i64) -> Effects {
        let mut fx = Effects::default();
        self.outbox.tick(now, &mut fx);
        self.audience_tick(now, &mut fx);
        fx
    }

    /// How many connections of `kind` are open.
    pub fn count(&self, kind: ConnKind) -> usize {
        self.conns.values().filter(|c| c.info.kind == kind).count()
    }

    /// WebSocket clients counted against `MAX_CLIENTS` (relays' upstreams are not clients).
    fn client_sockets(&self) -> usize {
        self.conns.values().filter(|c| c.info.kind == ConnKind::WebSocket && c.info.relay.is_none()).count()
    }

    /// Whether any client is connected or present, which keeps the session from going idle.
    pub fn is_watched(&self) -> bool {
        !self.conns.is_empty() || !self.http.is_empty()
    }

    /// The WebSocket clients with their roles and presence, for the inspector.
    pub fn clients(&self) -> Vec<ClientView> {
        self.conns
            .values()
            .filter(|c| c.info.kind == ConnKind::WebSocket && !self.is_quiet(c))
            .map(|c| ClientView { client_id: c.info.id.0.clone(), role: c.info.role, data: c.presence.clone() })
            .collect()
    }

    /// Everyone present (P8): WebSocket clients, then HTTP clients.
    pub fn presence_list(&self) -> Vec<PresenceEntry> {
        let mut list: Vec<PresenceEntry> = self
            .conns
            .values()
            .filter(|c| c.info.kind == ConnKind::WebSocket && !self.is_quiet(c))
            .map(|c| PresenceEntry { client_id: c.info.id.0.clone(), data: c.presence.clone() })
            .collect();
        list.extend(self.http.list());
        list
    }

    fn admit(&mut self, info: ConnInfo, presence: Value) {
        if info.kind != ConnKind::LongPoll {
            self.outbox.add(info.id.clone(), info.batch || self.config.limits.coalesce_updates);
        }
        self.conns.insert(info.id.clone(), Conn { info, presence, rate: RateWindow::default() });
    }

    /// Fans an applied write out: the `update` to every stream connection (P2), an answer to
    /// every parked long-poll.
    fn publish_update(&mut self, version: u64, frame: String, now: i64, fx: &mut Effects) {
        let item = Item { text: frame, kind: ItemKind::Update { version } };
        self.outbox.emit(Audience::All, item, now, fx);
        let waiters: Vec<ConnId> =
            self.conns.values().filter(|c| c.info.kind == ConnKind::LongPoll).map(|c| c.info.id.clone()).collect();
        for id in waiters {
            self.conns.remove(&id);
            fx.push(Effect::Answer(id));
        }
    }
}

/// A `presence` frame about `client` as a stream item.
fn presence_item(client: &str, event: PresenceEvent, data: Value) -> Item {
    let text = ServerFrame::Presence { event, client_id: client.to_owned(), data }.to_json();
    Item { text, kind: ItemKind::Presence { client: client.to_owned(), event } }
}
