//! The host side of the room: carries out the `Effects` the room returns (sends to sockets
//! and SSE streams, closes, long-poll answers, presence saved in attachments, ticks), and
//! lets the room reach the session's storage (`SessionWrites`). Nothing here decides
//! anything: the rules are `core::room`'s.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use wasm_bindgen::JsValue;
use worker::{wasm_bindgen_futures, Delay, WebSocket};

use super::{now_ms, Attachment, SessionObject};
use crate::core::doc::FrameText;
use crate::core::error::ApiError;
use crate::core::incoming::WriteRequest;
use crate::core::keys::Role;
use crate::core::protocol::PresenceEntry;
use crate::core::room::{close, Effect, Effects, Room, Send, SessionWrites, To};
use crate::core::session::{plan_resume, welcome_frame, WriteOutcome};
use crate::edge::fanout::{send_all, send_ids};
use crate::edge::hub::{sse_event, Hub, Wake};

/// What carrying out effects needs; cloned into the tick timer, which outlives any request.
#[derive(Clone)]
pub(super) struct Host {
    /// The runtime's `DurableObjectState`, for its sockets.
    pub(super) raw_state: JsValue,
    /// The SSE streams and long-poll waiters.
    pub(super) hub: Rc<Hub>,
    /// The room.
    pub(super) room: Rc<RefCell<Room>>,
    /// When the pending tick timer fires, if one is pending.
    pub(super) tick_at: Rc<Cell<Option<i64>>>,
}

impl Host {
    /// Carries out `fx` in order.
    pub(super) fn run(&self, fx: Effects) {
        for effect in fx.list {
            match effect {
                Effect::Send(send) => self.send(&send),
                Effect::Welcome { conn, frame } => self.welcome(conn.as_str(), &frame),
                Effect::Close { conn, code, reason } => self.close(conn.as_str(), code, reason),
                Effect::Answer(conn) => self.hub.wake(conn.as_str(), Wake::Changed),
                Effect::SavePresence { conn, data } => {
                    for ws in self.sockets(conn.as_str()) {
                        save_presence(&ws, &data);
                    }
                }
                Effect::TickAt(at) => self.schedule_tick(at),
                Effect::Log(detail) => worker::console_error!("internal error: {detail}"),
            }
        }
    }

    fn send(&self, send: &Send) {
        let event = sse_event(send.event, send.id, &send.text);
        let gone = match &send.to {
            To::All => {
                send_all(&self.raw_state, None, &send.text);
                self.hub.publish(&event, None)
            }
            To::AllExcept(except) => {
                send_all(&self.raw_state, Some(except.as_str()), &send.text);
                self.hub.publish(&event, Some(except.as_str()))
            }
            To::Conns(ids) => {
                let (streams, sockets): (Vec<String>, Vec<String>) =
                    ids.iter().map(|c| c.0.clone()).partition(|id| id.starts_with("s_"));
                if !sockets.is_empty() {
                    send_ids(&self.raw_state, &sockets, &send.text);
                }
                streams.into_iter().filter(|id| !self.hub.send(id, &event)).collect()
            }
        };
        self.streams_closed(gone);
    }

    fn welcome(&self, id: &str, frame: &FrameText) {
        if id.starts_with("s_") {
            if !self.hub.send(id, &sse_event("welcome", None, &frame.to_text())) {
                self.streams_closed(vec![id.to_owned()]);
            }
            return;
        }
        for ws in self.sockets(id) {
            frame.send(|part| {
                let _ = ws.send_with_str(part);
            });
        }
    }

    fn close(&self, id: &str, code: u16, reason: &str) {
        if id.starts_with("s_") {
            self.hub.end(id);
        } else if id.starts_with("c_") {
            for ws in self.sockets(id) {
                let _ = ws.close(Some(code), Some(reason));
            }
        } else {
            let wake = match code {
                close::KEY_ROTATED => Wake::KeyRotated,
                close::SESSION_ENDED => Wake::Ended,
                _ => Wake::Changed,
            };
            self.hub.wake(id, wake);
        }
    }

    /// The room hears that these SSE streams closed (their client left or fell behind).
    pub(super) fn streams_closed(&self, ids: Vec<String>) {
        for id in ids {
            let fx = self.room.borrow_mut().on_close(&id.as_str().into(), now_ms());
            self.run(fx);
        }
    }

    fn sockets(&self, id: &str) -> Vec<WebSocket> {
        let Some(state) = self.state() else { return Vec::new() };
        state.get_websockets_with_tag(id)
    }

    fn state(&self) -> Option<worker::State> {
        use wasm_bindgen::JsCast;
        let raw: worker::worker_sys::DurableObjectState = self.raw_state.clone().unchecked_into();
        Some(worker::State::from(raw))
    }

    /// Calls `on_tick` at `at` (or at once when due): one timer at a time, the earliest wins.
    fn schedule_tick(&self, at: i64) {
        if self.tick_at.get().is_some_and(|pending| pending <= at) {
            return;
        }
        self.tick_at.set(Some(at));
        let host = self.clone();
        let wait = Duration::from_millis(u64::try_from(at - now_ms()).unwrap_or(0));
        wasm_bindgen_futures::spawn_local(async move {
            Delay::from(wait).await;
            host.tick_at.set(None);
            let fx = host.room.borrow_mut().on_tick(now_ms());
            host.run(fx);
        });
    }
}

/// Stores a socket's presence value in its attachment, where it survives hibernation.
fn save_presence(ws: &WebSocket, data: &str) {
    if let Ok(Some(att)) = ws.deserialize_attachment::<Attachment>() {
        let _ = ws.serialize_attachment(&Attachment { presence: data.to_owned(), ..att });
    }
}

/// The session's storage as the room sees it.
pub(super) struct Writes<'a>(pub(super) &'a SessionObject);

impl SessionWrites for Writes<'_> {
    fn write(&mut self, req: WriteRequest, author: &str, _now: i64) -> Result<WriteOutcome, ApiError> {
        let object = self.0;
        let result = object.with_record(|r| object.apply_with_history(r, req, author));
        if let Err(ApiError::Internal(_)) = &result {
            // The record may hold a write that was not stored: load it again next time.
            *object.cache.borrow_mut() = None;
        }
        result
    }

    fn welcome(
        &mut self,
        since: Option<u64>,
        client_id: &str,
        role: Role,
        presence: Vec<PresenceEntry>,
        now: i64,
    ) -> Result<FrameText, ApiError> {
        let object = self.0;
        object.with_record(|r| {
            if r.touch_on_connect(now) {
                object.store.set_expiry(r.expires_at)?;
            }
            let plan = plan_resume(&object.store, r, since, &object.limits)?;
            welcome_frame(r, plan, client_id, role, presence, &object.limits)
        })
    }

    fn version(&mut self) -> Result<u64, ApiError> {
        self.0.with_record(|r| Ok(r.version))
    }
}
