//! Adaptive coalescing of the stream frames (updates, presence events, broadcasts) of every
//! WebSocket and SSE connection (P15, P17 in docs/protocol.md). Presence events and broadcasts
//! wait for the tick; updates wait only for the next turn of the event loop, so writes handled
//! back to back (a backlog) share one frame while a lone update loses no time. Connections
//! opened with `batch=1` (or all, with `COALESCE_UPDATES`) have their updates wait for the tick
//! too. Measured: holding every update for the tick doubled closed-loop fan-out p99
//! (BENCHMARKS.md, "Coalescing and the runtime floor").
//!
//! A frame goes out at once to a connection that had no stream frame in the last tick. A
//! connection that had one is *behind*: the frame waits in its queue, and at the tick
//! everything queued goes out as one frame, in order. Volatile items (presence updates,
//! volatile broadcasts) keep only the newest pending one per sender; a join and a leave of
//! the same client that are both pending cancel out. Direct replies (welcome, ack, reject,
//! error, pong, chat lines) do not pass through here.

use std::collections::{BTreeMap, HashMap};

use super::effects::{ConnId, Effect, Effects, To};
use crate::core::protocol::PresenceEvent;

/// What a stream item is, for rendering and for the volatile rules.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum ItemKind {
    /// An applied write (`update` frame); never dropped.
    Update { version: u64 },
    /// A `presence` frame about `client`; updates are volatile.
    Presence { client: String, event: PresenceEvent },
    /// A relayed `broadcast` frame from `from`.
    Broadcast { from: String, volatile: bool },
}

/// One stream frame, serialized once for every recipient.
#[derive(Debug, Clone)]
pub(super) struct Item {
    /// The frame as sent alone.
    pub text: String,
    /// What it is.
    pub kind: ItemKind,
}

impl Item {
    fn event(&self) -> &'static str {
        match self.kind {
            ItemKind::Update { .. } => "update",
            ItemKind::Presence { .. } => "presence",
            ItemKind::Broadcast { .. } => "broadcast",
        }
    }

    fn version(&self) -> Option<u64> {
        match self.kind {
            ItemKind::Update { version } => Some(version),
            _ => None,
        }
    }

    /// Whether a pending `self` is superseded by a newer volatile `next` to the same recipient.
    fn superseded_by(&self, next: &ItemKind) -> bool {
        match (&self.kind, next) {
            (
                ItemKind::Presence { client: a, event: PresenceEvent::Update },
                ItemKind::Presence { client: b, event: PresenceEvent::Update },
            ) => a == b,
            (ItemKind::Broadcast { from: a, volatile: true }, ItemKind::Broadcast { from: b, volatile: true }) => {
                a == b
            }
            _ => false,
        }
    }

    fn is_presence_of(&self, who: &str, which: Option<PresenceEvent>) -> bool {
        matches!(&self.kind, ItemKind::Presence { client, event } if client == who && which.is_none_or(|w| w == *event))
    }
}

/// Which stream connections an item is for.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Audience {
    /// Every stream connection.
    All,
    /// Every stream connection but one (the sender).
    AllExcept(ConnId),
    /// One connection.
    One(ConnId),
    /// These connections.
    Some(Vec<ConnId>),
}

/// One connection's coalescing state.
#[derive(Debug, Default)]
struct Stream {
    /// Whether its updates wait for the tick too (else they wait only for the next turn).
    updates: bool,
    /// Flush at the next turn of the event loop, not at the tick (an update is waiting).
    asap: bool,
    /// When it was last sent a stream frame.
    last_sent: Option<i64>,
    /// Queued items, oldest first.
    pending: Vec<u64>,
}

/// The stream queues of all WebSocket and SSE connections of a room.
#[derive(Debug)]
pub(super) struct Outbox {
    tick_ms: i64,
    coalesce: bool,
    next_seq: u64,
    items: BTreeMap<u64, Item>,
    streams: BTreeMap<ConnId, Stream>,
    /// The `on_tick` time last asked of the host, while one is outstanding.
    tick_at: Option<i64>,
}

impl Outbox {
    /// An outbox that coalesces over `tick_ms` (or sends everything at once when `coalesce` is off).
    pub fn new(tick_ms: i64, coalesce: bool) -> Outbox {
        Outbox {
            tick_ms: tick_ms.max(1),
            coalesce,
            next_seq: 0,
            items: BTreeMap::new(),
            streams: BTreeMap::new(),
            tick_at: None,
        }
    }

    /// Starts a stream for `id` (idle: its first frame goes out at once); `updates`: whether
    /// its updates are coalesced too.
    pub fn add(&mut self, id: ConnId, updates: bool) {
        self.streams.entry(id).or_default().updates = updates;
    }

    /// Ends `id`'s stream; what it had queued is dropped with it.
    pub fn remove(&mut self, id: &ConnId) {
        self.streams.remove(id);
    }

    /// Ends every stream.
    pub fn clear(&mut self) {
        self.streams.clear();
        self.items.clear();
        self.tick_at = None;
    }

    /// Whether `id` has a stream.
    pub fn contains(&self, id: &ConnId) -> bool {
        self.streams.contains_key(id)
    }

    /// How many stream connections there are.
    pub fn len(&self) -> usize {
        self.streams.len()
    }

    /// Whether there is no stream connection.
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    /// Sends `item` now to the idle connections of `audience` and queues it for the others.
    pub fn emit(&mut self, audience: Audience, item: Item, now: i64, fx: &mut Effects) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let targets: Vec<ConnId> = match &audience {
            Audience::All => self.streams.keys().cloned().collect(),
            Audience::AllExcept(x) => self.streams.keys().filter(|k| *k != x).cloned().collect(),
            Audience::One(x) => self.streams.contains_key(x).then(|| x.clone()).into_iter().collect(),
            Audience::Some(list) => list.iter().filter(|x| self.streams.contains_key(x)).cloned().collect(),
        };
        let mut idle = Vec::new();
        let mut queued = false;
        let mut due_min: Option<i64> = None;
        for id in &targets {
            let Some(stream) = self.streams.get_mut(id) else { continue };
            let is_idle =
                stream.pending.is_empty() && stream.last_sent.is_none_or(|t| now.saturating_sub(t) >= self.tick_ms);
            // An update to a connection that does not wait for the tick for updates waits only
            // for the next turn of the event loop: the updates that arrived meanwhile (a backlog
            // of writes) go with it as one frame, and a lone update loses no time.
            let next_turn = self.coalesce && matches!(item.kind, ItemKind::Update { .. }) && !stream.updates;
            if next_turn {
                if enqueue(&self.items, stream, seq, &item) {
                    queued = true;
                    stream.asap = true;
                    due_min = Some(now);
                }
            } else if !self.coalesce || is_idle {
                stream.last_sent = Some(now);
                idle.push(id.clone());
            } else if enqueue(&self.items, stream, seq, &item) {
                queued = true;
                let due = stream.last_sent.unwrap_or(now).saturating_add(self.tick_ms);
                due_min = Some(due_min.map_or(due, |d| d.min(due)));
            }
        }
        if !idle.is_empty() {
            let to = if idle.len() == targets.len() {
                match audience {
                    Audience::All => To::All,
                    Audience::AllExcept(x) => To::AllExcept(x),
                    Audience::One(x) => To::Conns(vec![x]),
                    Audience::Some(_) => To::Conns(targets),
                }
            } else {
                To::Conns(idle)
            };
            fx.send(to, item.text.clone(), item.event(), item.version());
        }
        if queued {
            self.items.insert(seq, item);
        }
        if let Some(due) = due_min {
            self.schedule(due, fx);
        }
    }

    /// Flushes every connection whose tick is due at `now`: one frame each, grouped so that
    /// connections with the same queue share one send. Asks for the next tick if any remain.
    pub fn tick(&mut self, now: i64, fx: &mut Effects) {
        self.tick_at = None;
        let mut groups: HashMap<Vec<u64>, Vec<ConnId>> = HashMap::new();
        let mut next: Option<i64> = None;
        for (id, stream) in &mut self.streams {
            if stream.pending.is_empty() {
                continue;
            }
            let due = stream.last_sent.unwrap_or(now).saturating_add(self.tick_ms);
            if due <= now || stream.asap {
                groups.entry(std::mem::take(&mut stream.pending)).or_default().push(id.clone());
                stream.last_sent = Some(now);
                stream.asap = false;
            } else {
                next = Some(next.map_or(due, |n| n.min(due)));
            }
        }
        // Oldest queue first, so the sends of one tick follow the order items were made.
        let mut groups: Vec<(Vec<u64>, Vec<ConnId>)> = groups.into_iter().collect();
        groups.sort();
        for (seqs, ids) in groups {
            let to = if ids.len() == self.streams.len() { To::All } else { To::Conns(ids) };
            let (text, event, id) = self.render(&seqs);
            fx.send(to, text, event, id);
        }
        let referenced: std::collections::HashSet<u64> =
            self.streams.values().flat_map(|s| s.pending.iter().copied()).collect();
        self.items.retain(|seq, _| referenced.contains(seq));
        if let Some(due) = next {
            self.schedule(due, fx);
        }
    }

    /// One queue as one frame: the item alone, or an `updates` envelope carrying the updates,
    /// then the presence events, then the broadcasts, each list in the order made.
    fn render(&self, seqs: &[u64]) -> (String, &'static str, Option<u64>) {
        let items: Vec<&Item> = seqs.iter().filter_map(|s| self.items.get(s)).collect();
        if let [one] = items.as_slice() {
            return (one.text.clone(), one.event(), one.version());
        }
        let list = |f: fn(&ItemKind) -> bool| -> String {
            items.iter().filter(|i| f(&i.kind)).map(|i| i.text.as_str()).collect::<Vec<_>>().join(",")
        };
        let updates = list(|k| matches!(k, ItemKind::Update { .. }));
        let presence = list(|k| matches!(k, ItemKind::Presence { .. }));
        let broadcasts = list(|k| matches!(k, ItemKind::Broadcast { .. }));
        let mut text = format!("{{\"type\":\"updates\",\"updates\":[{updates}]");
        if !presence.is_empty() {
            text.push_str(&format!(",\"presence\":[{presence}]"));
        }
        if !broadcasts.is_empty() {
            text.push_str(&format!(",\"broadcasts\":[{broadcasts}]"));
        }
        text.push('}');
        (text, "updates", items.iter().filter_map(|i| i.version()).next_back())
    }

    fn schedule(&mut self, due: i64, fx: &mut Effects) {
        if self.tick_at.is_none_or(|t| due < t) {
            self.tick_at = Some(due);
            fx.push(Effect::TickAt(due));
        }
    }
}

/// Queues `seq` on `stream` under the volatile rules; false when nothing was queued (a leave
/// that cancelled a pending join).
fn enqueue(items: &BTreeMap<u64, Item>, stream: &mut Stream, seq: u64, item: &Item) -> bool {
    let pending_item = |q: &u64| items.get(q);
    if let ItemKind::Presence { client, event: PresenceEvent::Leave } = &item.kind {
        let join_pending = stream
            .pending
            .iter()
            .any(|q| pending_item(q).is_some_and(|i| i.is_presence_of(client, Some(PresenceEvent::Join))));
        if join_pending {
            // The recipient never saw this client: it need not hear of it at all.
            stream.pending.retain(|q| !pending_item(q).is_some_and(|i| i.is_presence_of(client, None)));
            return false;
        }
    }
    let volatile = matches!(
        item.kind,
        ItemKind::Presence { event: PresenceEvent::Update, .. } | ItemKind::Broadcast { volatile: true, .. }
    );
    if volatile {
        stream.pending.retain(|q| !pending_item(q).is_some_and(|i| i.superseded_by(&item.kind)));
    }
    stream.pending.push(seq);
    true
}
