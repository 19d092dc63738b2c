//! The audience (P18 in docs/protocol.md): read-key viewers beyond `RELAY_THRESHOLD` are
//! placed in relay objects, each relay's upstream connection reports how many viewers it
//! serves, and everyone gets the session's viewer count in an `audience` frame at a bounded
//! rate instead of a join and a leave per viewer. On a relay's side of the same room, its
//! viewers are counted, not announced, and their messages go upstream once per tick.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::effects::{ConnId, ConnKind, Effect, Effects, To};
use super::{Conn, Room};
use crate::core::error::ApiError;
use crate::core::keys::Role;
use crate::core::protocol::ServerFrame;

/// Relay side: viewers' messages held at most while the upstream connection is down.
const MAX_OUTGOING: usize = 1024;
/// Relay side: and at most this many bytes of them (as broadcast frames).
const MAX_OUTGOING_BYTES: usize = 1 << 20;

/// What a relay's upstream connection sends the session object (P18).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RelayFrame {
    /// How many viewers the relay serves now.
    Audience {
        /// The count.
        viewers: usize,
        /// Viewers it admitted since it started, so the session knows which placements arrived.
        #[serde(default)]
        joined: u64,
    },
    /// Its viewers' ephemeral messages of one tick, in order.
    Relayed {
        /// The messages.
        messages: Vec<RelayedMessage>,
    },
}

/// One viewer's broadcast, carried up by its relay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayedMessage {
    /// The viewer's client id.
    pub from: String,
    /// The viewer's address, which the session's per-address budget is charged to.
    #[serde(default)]
    pub address: String,
    /// One recipient's client id, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The message.
    pub data: Value,
    /// Only the newest waiting value of this sender matters (P17).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub volatile: bool,
}

/// The `audience` frame: the session's read-key viewers, direct and behind relays.
pub fn audience_frame(viewers: usize) -> String {
    ServerFrame::Audience { viewers }.to_json()
}

/// One relay as the session object knows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RelayLoad {
    /// Viewers it last reported.
    pub viewers: usize,
    /// Viewers placed in it that it has not reported yet (on their way).
    pub in_flight: usize,
    /// The relay's count of admitted viewers in its last report.
    pub joined: u64,
    /// Whether its upstream connection is open.
    pub connected: bool,
}

impl RelayLoad {
    /// What placement weighs: viewers there and viewers on their way.
    fn load(&self) -> usize {
        self.viewers + self.in_flight
    }

    /// A report: `joined` counts admissions since the relay started (a smaller one: it restarted).
    fn report(&mut self, viewers: usize, joined: u64) {
        let arrived = if joined >= self.joined { joined - self.joined } else { joined };
        self.in_flight = self.in_flight.saturating_sub(usize::try_from(arrived).unwrap_or(usize::MAX));
        self.joined = joined;
        self.viewers = viewers;
    }
}

/// Sends a changing count at most once per interval: the newest value wins.
#[derive(Debug, Default)]
struct Gate {
    sent: Option<usize>,
    sent_at: Option<i64>,
    due: Option<i64>,
}

impl Gate {
    /// `Ok(true)`: send `value` now; `Ok(false)`: nothing to do; `Err(at)`: come back at `at`.
    fn offer(&mut self, value: usize, now: i64, interval: i64) -> Result<bool, i64> {
        // Nothing was said yet means zero: a session without viewers never hears of them.
        if self.sent.unwrap_or(0) == value {
            return Ok(false);
        }
        match self.sent_at {
            Some(at) if now.saturating_sub(at) < interval => {
                let due = at.saturating_add(interval);
                match self.due {
                    Some(d) if d <= due => Ok(false),
                    _ => {
                        self.due = Some(due);
                        Err(due)
                    }
                }
            }
            _ => {
                self.sent = Some(value);
                self.sent_at = Some(now);
                self.due = None;
                Ok(true)
            }
        }
    }
}

/// The audience bookkeeping of a room.
#[derive(Debug, Default)]
pub(super) struct Viewers {
    /// Session side: the relays by index.
    relays: BTreeMap<u32, RelayLoad>,
    gate: Gate,
    /// Relay side: the session's count as last heard from upstream.
    upstream_total: usize,
    /// Relay side: viewers' messages waiting for the tick (or, while it is down, for the
    /// upstream connection) to go upstream.
    outgoing: VecDeque<(RelayedMessage, usize)>,
    /// Relay side: the bytes of `outgoing`, as broadcast frames.
    outgoing_bytes: usize,
    /// Relay side: whether the upstream connection is open (between a welcome and its end).
    upstream_open: bool,
    /// Relay side: viewers admitted since the relay started.
    joined: u64,
}

impl Room {
    /// Where a new read-key viewer goes (P18): `None` for this object, `Some(k)` for relay
    /// `k` (the least loaded of the relays the audience needs); `audience_full` at `MAX_VIEWERS`.
    pub fn place_viewer(&mut self) -> Result<Option<u32>, ApiError> {
        let l = &self.config.limits;
        let direct = self.direct_viewers();
        let relayed: usize = self.viewers.relays.values().map(RelayLoad::load).sum();
        if direct + relayed >= l.max_viewers {
            return Err(ApiError::AudienceFull { limit: l.max_viewers });
        }
        if direct < l.relay_threshold {
            return Ok(None);
        }
        let per_relay = l.relay_viewers.max(1);
        let most = l.max_viewers.div_ceil(per_relay).max(1);
        let wanted = (relayed + 1).div_ceil(per_relay).max(l.relay_min).clamp(1, most);
        let load = |k: u32| self.viewers.relays.get(&k).map_or(0, RelayLoad::load);
        let k = (0..u32::try_from(wanted).unwrap_or(u32::MAX)).min_by_key(|k| (load(*k), *k)).unwrap_or(0);
        self.viewers.relays.entry(k).or_default().in_flight += 1;
        Ok(Some(k))
    }

    /// The session's read-key viewers: direct ones plus what the relays reported. On a relay's
    /// side: the count last heard from upstream.
    pub fn audience(&self) -> usize {
        if self.config.relay_side {
            return self.viewers.upstream_total;
        }
        self.direct_viewers() + self.viewers.relays.values().map(|r| r.viewers).sum::<usize>()
    }

    /// Read-key viewers on this object itself (WebSocket and SSE; not relays' upstreams).
    pub fn direct_viewers(&self) -> usize {
        self.conns.values().filter(|c| is_viewer(c)).count()
    }

    /// The relays by index, for `/info`.
    pub fn relays(&self) -> Vec<(u32, RelayLoad)> {
        self.viewers.relays.iter().map(|(k, r)| (*k, r.clone())).collect()
    }

    /// Whether no relay is connected (then a viewer's message goes to everyone, as before P18).
    pub(super) fn viewers_relayed_is_empty(&self) -> bool {
        !self.viewers.relays.values().any(|r| r.connected)
    }

    /// Whether `c` is counted, not announced: a relay's upstream, or a viewer behind a relay.
    pub(super) fn is_quiet(&self, c: &Conn) -> bool {
        c.info.relay.is_some() || (self.config.relay_side && c.info.role == Role::Read)
    }

    /// A relay's upstream connection opened or closed.
    pub(super) fn relay_connected(&mut self, k: u32, viewers: usize, open: bool, now: i64, fx: &mut Effects) {
        let load = self.viewers.relays.entry(k).or_default();
        load.connected = open;
        load.viewers = if open { viewers } else { 0 };
        if !open {
            load.in_flight = 0;
        }
        let _ = self.audience_changed(now, fx);
    }

    /// Closes (1000) and forgets any upstream connection relay `k` already has here.
    pub(super) fn replace_relay(&mut self, k: u32) -> Effects {
        let mut fx = Effects::default();
        let old: Vec<ConnId> =
            self.conns.values().filter(|c| c.info.relay == Some(k)).map(|c| c.info.id.clone()).collect();
        for id in old {
            self.conns.remove(&id);
            self.outbox.remove(&id);
            fx.close(&id, 1000, "replaced by the relay's newer connection");
        }
        fx
    }

    /// A frame from relay `k`'s upstream connection.
    pub(super) fn on_relay_frame(&mut self, conn: &ConnId, k: u32, text: &str, now: i64, fx: &mut Effects) {
        match serde_json::from_str::<RelayFrame>(text) {
            Ok(RelayFrame::Audience { viewers, joined }) => {
                self.viewers.relays.entry(k).or_default().report(viewers, joined);
                // Kept with the socket, so a hibernated session still knows its audience.
                fx.push(Effect::SavePresence { conn: conn.clone(), data: viewers.to_string() });
                let _ = self.audience_changed(now, fx);
            }
            Ok(RelayFrame::Relayed { messages }) => {
                for m in messages {
                    let sent = self.relay(&m.from, true, &m.address, m.to.as_deref(), m.data, m.volatile, now, fx);
                    if let Err(e) = sent {
                        // The viewer is behind a relay and cannot be told; the relay budgets it first.
                        fx.push(Effect::Log(format!("relayed message from {} dropped: {e}", m.from)));
                    }
                }
            }
            Err(e) => fx.push(Effect::Log(format!("relay {k} sent an unreadable frame: {e}"))),
        }
    }

    /// Relay side: a new upstream connection knows nothing yet; tell it the count again, and
    /// send what viewers said while there was no connection.
    pub fn upstream_reset(&mut self, now: i64) -> Effects {
        let mut fx = Effects::default();
        self.viewers.upstream_open = true;
        self.viewers.gate = Gate::default();
        let _ = self.audience_changed(now, &mut fx);
        self.send_outgoing(&mut fx);
        fx
    }

    /// Relay side: the upstream connection ended. With `keep`, the relay reconnects and its
    /// viewers' messages wait for the new connection; without, they are dropped with it.
    pub fn upstream_down(&mut self, keep: bool) {
        self.viewers.upstream_open = false;
        if !keep {
            self.viewers.outgoing.clear();
            self.viewers.outgoing_bytes = 0;
        }
    }

    /// Relay side: a viewer's broadcast (`bytes` as a frame) waits for the tick to go upstream
    /// with the others. At most `MAX_OUTGOING` messages and `MAX_OUTGOING_BYTES` wait: a long
    /// reconnection drops the oldest, logged.
    pub(super) fn queue_upstream(&mut self, m: RelayedMessage, bytes: usize, now: i64, fx: &mut Effects) {
        let v = &mut self.viewers;
        if v.outgoing.is_empty() {
            fx.push(Effect::TickAt(now.saturating_add(self.config.tick_ms)));
        }
        v.outgoing.push_back((m, bytes));
        v.outgoing_bytes = v.outgoing_bytes.saturating_add(bytes);
        while v.outgoing.len() > MAX_OUTGOING || (v.outgoing_bytes > MAX_OUTGOING_BYTES && v.outgoing.len() > 1) {
            let Some((dropped, size)) = v.outgoing.pop_front() else { break };
            v.outgoing_bytes = v.outgoing_bytes.saturating_sub(size);
            fx.push(Effect::Log(format!("relay: upstream down, message from {} dropped", dropped.from)));
        }
    }

    /// Relay side: the waiting viewers' messages go up as one frame, if the connection is open.
    fn send_outgoing(&mut self, fx: &mut Effects) {
        if self.viewers.outgoing.is_empty() || !self.viewers.upstream_open {
            return;
        }
        let messages = std::mem::take(&mut self.viewers.outgoing).into_iter().map(|(m, _)| m).collect();
        self.viewers.outgoing_bytes = 0;
        let frame = RelayFrame::Relayed { messages };
        fx.push(Effect::Upstream(serde_json::to_string(&frame).unwrap_or_default()));
    }

    /// Relay side: the session's viewer count arrived from upstream; the relay's viewers get it.
    pub fn on_upstream_audience(&mut self, viewers: usize, fx: &mut Effects) {
        self.viewers.upstream_total = viewers;
        if !self.outbox.is_empty() {
            fx.send(To::All, audience_frame(viewers), "audience", None);
        }
    }

    /// The count changed: send it (to everyone, or upstream on a relay's side) at a bounded
    /// rate; true when it just went to everyone here.
    pub(super) fn audience_changed(&mut self, now: i64, fx: &mut Effects) -> bool {
        let value = if self.config.relay_side { self.direct_viewers() } else { self.audience() };
        let interval = i64::try_from(self.config.limits.audience_interval_ms).unwrap_or(1000);
        match self.viewers.gate.offer(value, now, interval) {
            Ok(true) if self.config.relay_side => {
                let report = RelayFrame::Audience { viewers: value, joined: self.viewers.joined };
                fx.push(Effect::Upstream(serde_json::to_string(&report).unwrap_or_default()));
                false
            }
            // Everyone, relays' upstreams included: they pass it on to their viewers.
            Ok(true) if !self.outbox.is_empty() => {
                fx.send(To::All, audience_frame(value), "audience", None);
                true
            }
            Ok(_) => false,
            Err(at) => {
                fx.push(Effect::TickAt(at));
                false
            }
        }
    }

    /// The tick's audience work: a count that waited, and (relay side) the viewers' messages.
    pub(super) fn audience_tick(&mut self, now: i64, fx: &mut Effects) {
        if let Some(due) = self.viewers.gate.due {
            if due <= now {
                self.viewers.gate.due = None;
                let _ = self.audience_changed(now, fx);
            } else {
                fx.push(Effect::TickAt(due));
            }
        }
        self.send_outgoing(fx);
    }

    /// A connection opened: the count may have changed, and the new connection hears it
    /// (when there is an audience at all).
    pub(super) fn audience_joined(&mut self, conn: &ConnId, now: i64, fx: &mut Effects) {
        self.viewers.joined += 1;
        if self.audience_changed(now, fx) {
            return;
        }
        let viewers = self.audience();
        if viewers > 0 {
            fx.reply(conn, audience_frame(viewers), "audience");
        }
    }
}

/// A read-key WebSocket or SSE client.
fn is_viewer(c: &Conn) -> bool {
    c.info.role == Role::Read && c.info.relay.is_none() && c.info.kind != ConnKind::LongPoll
}
