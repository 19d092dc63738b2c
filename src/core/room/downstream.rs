//! A relay's room hears the session object (P18): updates, presence events and broadcasts
//! arrive once over the relay's upstream connection and go out to its viewers through the same
//! outbox as on the session object: the same frames, in the same order, with the same coalescing.

use super::effects::{close, ConnId, Effects};
use super::outbox::{Audience, Item, ItemKind};
use super::Room;
use crate::core::protocol::PresenceEvent;

/// One stream frame from the session object, as its relay passes it on.
#[derive(Debug, Clone, PartialEq)]
pub enum UpstreamItem {
    /// An `update` frame, exactly as the session sent it.
    Update {
        /// Its version.
        version: u64,
        /// The frame.
        text: String,
    },
    /// A `presence` frame about a writer (or any client announced upstream).
    Presence {
        /// Which client.
        client: String,
        /// What happened.
        event: PresenceEvent,
        /// The frame.
        text: String,
    },
    /// A `broadcast` frame; one from a viewer of this relay does not go back to that viewer.
    Broadcast {
        /// The sender's client id.
        from: String,
        /// The frame.
        text: String,
    },
}

impl Room {
    /// Relay side: frames from upstream for every viewer, in order.
    pub fn on_upstream(&mut self, items: Vec<UpstreamItem>, now: i64) -> Effects {
        let mut fx = Effects::default();
        for item in items {
            let (audience, item) = match item {
                UpstreamItem::Update { version, text } => {
                    (Audience::All, Item { text, kind: ItemKind::Update { version } })
                }
                UpstreamItem::Presence { client, event, text } => {
                    (Audience::All, Item { text, kind: ItemKind::Presence { client, event } })
                }
                UpstreamItem::Broadcast { from, text } => {
                    let kind = ItemKind::Broadcast { from: from.clone(), volatile: false };
                    (Audience::AllExcept(ConnId(from)), Item { text, kind })
                }
            };
            self.outbox.emit(audience, item, now, &mut fx);
        }
        fx
    }

    /// Relay side: the relay lost the session's thread (its copy had to be replaced by a
    /// snapshot): every viewer is closed with 1012 and resumes exactly on reconnecting.
    pub fn restart_all(&mut self) -> Effects {
        let mut fx = Effects::default();
        for id in self.conns.keys() {
            fx.close(id, close::RESTART, "relay resynchronised");
        }
        self.conns.clear();
        self.outbox.clear();
        fx
    }

    /// Whether no connection is open.
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }
}
