//! In-memory listeners that cannot hibernate: Server-Sent Events streams and long-poll
//! waiters, each under its connection id in the room. They live only while the object is in
//! memory, which they keep it.
//!
//! A stream whose client went away (or fell too far behind) is found by `prune`, which the
//! object runs before each event so the room hears that connection close.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Duration;

use futures_channel::oneshot;
use worker::{Delay, Headers, Response, ResponseBody};

use super::respond::OrInternal;
use super::sse::SseStream;
use crate::core::error::ApiError;
pub use crate::core::protocol::sse_event;

/// Why a parked long-poll woke up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// A write happened (or the wait timed out): answer from the current state.
    Changed,
    /// The key it was opened with was rotated.
    KeyRotated,
    /// The session ended.
    Ended,
}

/// The open SSE streams and long-poll waiters of one session, by connection id.
#[derive(Default)]
pub struct Hub {
    streams: RefCell<BTreeMap<String, SseStream>>,
    waiters: RefCell<BTreeMap<String, oneshot::Sender<Wake>>>,
}

impl Hub {
    /// Removes the streams whose client went away and the waiters that gave up; returns the
    /// ids of the streams removed.
    pub fn prune(&self) -> Vec<String> {
        self.waiters.borrow_mut().retain(|_, w| !w.is_canceled());
        let mut streams = self.streams.borrow_mut();
        let gone: Vec<String> = streams.iter().filter(|(_, s)| s.is_closed()).map(|(id, _)| id.clone()).collect();
        for id in &gone {
            streams.remove(id);
        }
        gone
    }

    /// Open SSE streams.
    pub fn sse_count(&self) -> usize {
        self.streams.borrow().len()
    }

    /// Parked long-polls.
    pub fn long_poll_count(&self) -> usize {
        self.waiters.borrow().len()
    }

    /// Sends an SSE event to stream `id`; a stream that closed or fell too far behind is dropped
    /// (the next `prune` reports nothing for it: the caller learns from `false`).
    pub fn send(&self, id: &str, event: &str) -> bool {
        let mut streams = self.streams.borrow_mut();
        let alive = streams.get(id).is_some_and(|s| s.push(event));
        if !alive {
            streams.remove(id);
        }
        alive
    }

    /// Sends an SSE event to every stream but `except`; returns the ids of streams found closed.
    pub fn publish(&self, event: &str, except: Option<&str>) -> Vec<String> {
        let mut gone = Vec::new();
        self.streams.borrow_mut().retain(|id, s| {
            if Some(id.as_str()) == except {
                return true;
            }
            let alive = s.push(event);
            if !alive {
                gone.push(id.clone());
            }
            alive
        });
        gone
    }

    /// Ends stream `id` after what is queued.
    pub fn end(&self, id: &str) {
        if let Some(s) = self.streams.borrow_mut().remove(id) {
            s.end();
        }
    }

    /// Wakes long-poll `id` with `wake`.
    pub fn wake(&self, id: &str, wake: Wake) {
        if let Some(w) = self.waiters.borrow_mut().remove(id) {
            let _ = w.send(wake);
        }
    }

    /// Opens SSE stream `id`; at most `max_queued_bytes` may wait unread before it is cut.
    pub fn subscribe(&self, id: &str, max_queued_bytes: usize) -> Result<Response, ApiError> {
        let stream = SseStream::open("", max_queued_bytes);
        let body = stream.body();
        self.streams.borrow_mut().insert(id.to_owned(), stream);
        let headers = Headers::new();
        headers.set("Content-Type", "text/event-stream").or_internal()?;
        headers.set("Cache-Control", "no-cache").or_internal()?;
        Ok(Response::from_body(ResponseBody::Stream(body)).or_internal()?.with_headers(headers))
    }

    /// Parks long-poll `id` until it is woken, at most `wait`; `None` on timeout.
    pub async fn wait(&self, id: &str, wait: Duration) -> Option<Wake> {
        let (tx, rx) = oneshot::channel();
        self.waiters.borrow_mut().insert(id.to_owned(), tx);
        let woke = match futures_util::future::select(rx, Delay::from(wait)).await {
            futures_util::future::Either::Left((Ok(wake), _)) => Some(wake),
            _ => None,
        };
        self.waiters.borrow_mut().remove(id);
        woke
    }
}
