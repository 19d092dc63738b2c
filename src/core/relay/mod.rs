//! A relay object's side of a session (P18 in docs/protocol.md): what arrives over its one
//! upstream connection to the session object (welcome, updates, presence, broadcasts, the
//! audience count, the end of the session or of the key) becomes its copy of the session
//! (`Mirror`) and, through the relay's `Room`, the same frames for its viewers. The host keeps
//! the connection and reconnects it from `since()` when told to.

mod mirror;
mod upstream;

#[cfg(test)]
mod tests;

pub use mirror::{Applied, Mirror, MirrorWrites};
pub use upstream::UpstreamFrame;

use crate::core::error::ApiError;
use crate::core::limits::Limits;
use crate::core::protocol::ServerFrame;
use crate::core::room::{close, Effect, Effects, Room, UpstreamItem};

/// What the host does after an upstream frame or close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Go on.
    Continue,
    /// Reconnect upstream, resuming from `since()` (updates were missed or the connection
    /// dropped).
    Reconnect,
    /// The session or the key ended: drop the connection, do not reconnect.
    Stop,
}

/// The relay's copy of the session and the part frames being put together.
#[derive(Debug)]
pub struct Relay {
    mirror: Option<Mirror>,
    /// Whether the copy has its recent updates (the `history` after a snapshot welcome).
    seeded: bool,
    /// A long frame's parts so far, joined as they come (P16).
    partial: String,
    /// The `seq` of the next part.
    next_part: u64,
    limits: Limits,
}

impl Relay {
    /// A relay with no copy yet.
    pub fn new(limits: Limits) -> Relay {
        Relay { mirror: None, seeded: false, partial: String::new(), next_part: 0, limits }
    }

    /// The version to resume from when reconnecting (none: a snapshot is needed).
    pub fn since(&self) -> Option<u64> {
        self.mirror.as_ref().map(Mirror::version)
    }

    /// Whether the copy is there to answer viewers, with its recent updates for resumes.
    pub fn is_ready(&self) -> bool {
        self.mirror.is_some() && self.seeded
    }

    /// The copy, for tests and checks.
    pub fn mirror(&self) -> Option<&Mirror> {
        self.mirror.as_ref()
    }

    /// The room's storage: welcomes and resumes from the copy.
    pub fn writes(&self) -> MirrorWrites<'_> {
        MirrorWrites(self.mirror.as_ref())
    }

    /// Forgets the copy (the relay has no viewers left and lets its connection go).
    pub fn forget(&mut self) {
        self.mirror = None;
        self.seeded = false;
        self.partial = String::new();
        self.next_part = 0;
    }

    /// One text frame from upstream.
    pub fn on_upstream(&mut self, room: &mut Room, text: &str, now: i64) -> (Effects, Next) {
        let mut fx = Effects::default();
        let frame = match UpstreamFrame::parse(text) {
            Ok(frame) => frame,
            Err(e) => {
                fx.push(Effect::Log(format!("relay: upstream frame unreadable: {e}")));
                return (fx, Next::Reconnect);
            }
        };
        let next = self.apply(room, frame, now, &mut fx);
        if next != Next::Continue {
            room.upstream_down(next == Next::Reconnect);
        }
        (fx, next)
    }

    fn apply(&mut self, room: &mut Room, frame: UpstreamFrame, now: i64, fx: &mut Effects) -> Next {
        match frame {
            UpstreamFrame::Part { seq, last, data } => {
                if seq != self.next_part {
                    self.partial = String::new();
                    self.next_part = 0;
                    fx.push(Effect::Log(format!("relay: part {seq} out of sequence")));
                    return Next::Reconnect;
                }
                self.partial.push_str(&data);
                drop(data);
                if !last {
                    self.next_part += 1;
                    return Next::Continue;
                }
                self.next_part = 0;
                // The joined frame moves into the welcome, which reads its state in place.
                match UpstreamFrame::parse_owned(std::mem::take(&mut self.partial)) {
                    Ok(frame) => self.apply(room, frame, now, fx),
                    Err(e) => {
                        fx.push(Effect::Log(format!("relay: joined parts unreadable: {e}")));
                        Next::Reconnect
                    }
                }
            }
            UpstreamFrame::Welcome(w) => self.welcome(room, w, now, fx),
            UpstreamFrame::Updates(list) => {
                let mut items = Vec::new();
                let mut next = Next::Continue;
                for frame in list {
                    match self.item(frame, &mut items, fx) {
                        Next::Continue => {}
                        other => {
                            next = other;
                            break;
                        }
                    }
                }
                fx.extend(room.on_upstream(items, now));
                next
            }
            UpstreamFrame::History(ops) => {
                if let Some(mirror) = self.mirror.as_mut() {
                    mirror.seed(ops);
                    self.seeded = true;
                }
                Next::Continue
            }
            UpstreamFrame::Audience(viewers) => {
                room.on_upstream_audience(viewers, fx);
                Next::Continue
            }
            UpstreamFrame::Ended { rotated } => {
                self.forget();
                fx.extend(if rotated { room.on_key_rotated(now) } else { room.on_session_ended() });
                Next::Stop
            }
            UpstreamFrame::Ignored => Next::Continue,
            single => {
                let mut items = Vec::new();
                let next = self.item(single, &mut items, fx);
                fx.extend(room.on_upstream(items, now));
                next
            }
        }
    }

    /// One update, presence event or broadcast: kept in the copy, queued for the viewers.
    fn item(&mut self, frame: UpstreamFrame, items: &mut Vec<UpstreamItem>, fx: &mut Effects) -> Next {
        let Some(mirror) = self.mirror.as_mut() else { return Next::Reconnect };
        match frame {
            UpstreamFrame::Update { version, text } => match mirror.apply(version, &text) {
                Ok(Applied::Next) => items.push(UpstreamItem::Update { version, text }),
                Ok(Applied::Old) => {}
                Ok(Applied::Gap) => {
                    fx.push(Effect::Log(format!("relay: update {version} after {}: resuming", mirror.version())));
                    return Next::Reconnect;
                }
                Err(e) => {
                    fx.push(Effect::Log(format!("relay: update {version} did not apply: {e}")));
                    return Next::Reconnect;
                }
            },
            UpstreamFrame::Presence { client, event, data, text } => {
                mirror.presence_event(&client, event, &data);
                items.push(UpstreamItem::Presence { client, event, text });
            }
            UpstreamFrame::Broadcast { from, text } => items.push(UpstreamItem::Broadcast { from, text }),
            _ => {}
        }
        Next::Continue
    }

    /// A welcome: the first copy, or a reconnection that resumes (its missed updates go to
    /// the viewers) or that needed a snapshot (the viewers reconnect, 1012).
    fn welcome(&mut self, room: &mut Room, w: upstream::WelcomeIn, now: i64, fx: &mut Effects) -> Next {
        let mut items = Vec::new();
        match (self.mirror.as_mut(), w.state) {
            (Some(mirror), None) => {
                for (version, text) in w.ops {
                    match mirror.apply(version, &text) {
                        Ok(Applied::Next) => items.push(UpstreamItem::Update { version, text }),
                        Ok(Applied::Old) => {}
                        Ok(Applied::Gap) | Err(_) => return Next::Reconnect,
                    }
                }
                for (event, entry) in mirror.replace_presence(w.presence) {
                    let text =
                        ServerFrame::Presence { event, client_id: entry.client_id.clone(), data: entry.data }.to_json();
                    items.push(UpstreamItem::Presence { client: entry.client_id, event, text });
                }
            }
            (current, Some(state)) => {
                let had_viewers = current.is_some_and(|m| m.version() != w.version) && !room.is_empty();
                match Mirror::from_snapshot(state.get(), w.version, w.updated_at, w.presence, &self.limits) {
                    Ok(m) => {
                        self.mirror = Some(m);
                        self.seeded = false;
                    }
                    Err(e) => {
                        fx.push(Effect::Log(e.to_string()));
                        return Next::Reconnect;
                    }
                }
                if had_viewers {
                    fx.extend(room.restart_all());
                }
            }
            (None, None) => {
                fx.push(Effect::Log("relay: a resume welcome without a copy".into()));
                self.mirror = None;
                return Next::Reconnect;
            }
        }
        fx.extend(room.on_upstream(items, now));
        fx.extend(room.upstream_reset(now));
        Next::Continue
    }

    /// The upstream connection closed with `code`: the session or the key ended (4004, 4003),
    /// or the relay reconnects (any other code; 1006 for a connection that ended without a
    /// close frame), its viewers' messages waiting for the new connection.
    pub fn on_upstream_closed(&mut self, room: &mut Room, code: u16, now: i64) -> (Effects, Next) {
        let (fx, next) = match code {
            close::SESSION_ENDED => {
                self.forget();
                (room.on_session_ended(), Next::Stop)
            }
            close::KEY_ROTATED => {
                self.forget();
                (room.on_key_rotated(now), Next::Stop)
            }
            _ => (Effects::default(), Next::Reconnect),
        };
        room.upstream_down(next == Next::Reconnect);
        (fx, next)
    }

    /// The upstream could not be reached for good (the session is gone): viewers are told.
    pub fn on_upstream_lost(&mut self, room: &mut Room, why: &ApiError) -> Effects {
        self.forget();
        room.upstream_down(false);
        let mut fx = Effects::default();
        fx.push(Effect::Log(format!("relay: upstream lost: {why}")));
        fx.extend(room.on_session_ended());
        fx
    }
}
