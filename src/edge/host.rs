//! The host side of a room, for the session object and the relay objects alike: carries out
//! the `Effects` the room returns (sends to sockets and SSE streams, closes, long-poll
//! answers, presence saved in attachments, ticks, frames up to a relay's session). Nothing
//! here decides anything: the rules are `core::room`'s.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;
use worker::{wasm_bindgen_futures, Delay, WebSocket};

use crate::core::doc::FrameText;
use crate::core::room::{close, Effect, Effects, Room, Send, To};
use crate::edge::fanout::{send_all, send_ids};
use crate::edge::hub::{sse_event, Hub, Wake};

/// Milliseconds since the epoch, from the runtime's clock.
pub fn now_ms() -> i64 {
    worker::Date::now().as_millis() as i64
}

/// What each socket carries through hibernation besides its tags (`SocketTags`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attachment {
    /// Its presence value, as JSON text (a relay's upstream: its viewer count).
    pub presence: String,
    /// The client's address, which per-address limits are counted against.
    #[serde(default)]
    pub address: String,
    /// Opened with `batch=1`: its updates are coalesced too (P15).
    #[serde(default)]
    pub batch: bool,
}

/// What carrying out effects needs; cloned into the tick timer, which outlives any request.
#[derive(Clone)]
pub struct Host {
    /// The runtime's `DurableObjectState`, for its sockets.
    pub raw_state: JsValue,
    /// The SSE streams and long-poll waiters.
    pub hub: Rc<Hub>,
    /// The room.
    pub room: Rc<RefCell<Room>>,
    /// When the pending tick timer fires, if one is pending.
    pub tick_at: Rc<Cell<Option<i64>>>,
    /// A relay's connection to its session object (none on the session object itself).
    pub upstream: Rc<RefCell<Option<WebSocket>>>,
}

impl Host {
    /// Carries out `fx` in order.
    pub fn run(&self, fx: Effects) {
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
                Effect::Upstream(text) => self.upstream(&text),
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

    /// Sends a frame up to the session object; a relay without a connection just drops it
    /// (it says its count again when it reconnects).
    fn upstream(&self, text: &str) {
        if let Some(ws) = self.upstream.borrow().as_ref() {
            if let Err(e) = ws.send_with_str(text) {
                worker::console_error!("relay: upstream send failed: {e:?}");
            }
        }
    }

    /// The room hears that these SSE streams closed (their client left or fell behind).
    pub fn streams_closed(&self, ids: Vec<String>) {
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
