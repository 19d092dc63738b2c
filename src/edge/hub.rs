//! In-memory listeners that cannot hibernate: Server-Sent Events streams and long-poll
//! waiters. They live only while the object is in memory, which they keep it.
//!
//! Counts are exact: a stream whose client went away and a long-poll that timed out are
//! pruned whenever the hub is counted, so they neither hold a slot nor keep the session alive.

use std::cell::RefCell;
use std::time::Duration;

use futures_channel::oneshot;
use worker::{Delay, Headers, Response, ResponseBody};

use super::respond::OrInternal;
use super::sse::SseStream;
use crate::core::error::ApiError;
use crate::core::keys::Role;
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

struct Listener<T> {
    role: Role,
    /// The SSE stream's client id (empty for long-polls).
    client_id: String,
    inner: T,
}

/// The open SSE streams and long-poll waiters of one session.
#[derive(Default)]
pub struct Hub {
    streams: RefCell<Vec<Listener<SseStream>>>,
    waiters: RefCell<Vec<Listener<oneshot::Sender<Wake>>>>,
}

impl Hub {
    /// Open SSE streams, after pruning those whose client went away.
    pub fn sse_count(&self) -> usize {
        let mut streams = self.streams.borrow_mut();
        streams.retain(|s| !s.inner.is_closed());
        streams.len()
    }

    /// Parked long-polls, after pruning those that timed out or whose client went away.
    pub fn long_poll_count(&self) -> usize {
        let mut waiters = self.waiters.borrow_mut();
        waiters.retain(|w| !w.inner.is_canceled());
        waiters.len()
    }

    /// Open SSE streams plus parked long-polls.
    pub fn len(&self) -> usize {
        self.sse_count() + self.long_poll_count()
    }

    /// Whether the SSE stream of client `client_id` is open.
    pub fn has_stream(&self, client_id: &str) -> bool {
        self.streams.borrow().iter().any(|s| s.client_id == client_id && !s.inner.is_closed())
    }

    /// Sends an event to every open stream, dropping streams that closed or fell too far behind.
    pub fn publish(&self, event: &str) {
        self.streams.borrow_mut().retain(|s| s.inner.push(event));
    }

    /// Wakes every long-poll waiter: something changed.
    pub fn wake_waiters(&self) {
        for w in self.waiters.borrow_mut().drain(..) {
            let _ = w.inner.send(Wake::Changed);
        }
    }

    /// Ends every listener opened with one of `roles`: streams get `notice` (an `error` event)
    /// and close, long-polls answer `wake`.
    pub fn revoke(&self, roles: &[Role], notice: &str, wake: Wake) {
        self.streams.borrow_mut().retain(|s| {
            if !roles.contains(&s.role) {
                return true;
            }
            s.inner.push(notice);
            s.inner.end();
            false
        });
        let mut waiters = self.waiters.borrow_mut();
        for w in std::mem::take(&mut *waiters) {
            if roles.contains(&w.role) {
                let _ = w.inner.send(wake);
            } else {
                waiters.push(w);
            }
        }
    }

    /// Opens an SSE stream for client `client_id` with `role` that starts with `first` and then
    /// receives published events; at most `max_queued_bytes` may wait unread before it is cut.
    pub fn subscribe(
        &self,
        role: Role,
        client_id: &str,
        first: &str,
        max_queued_bytes: usize,
    ) -> Result<Response, ApiError> {
        let stream = SseStream::open(first, max_queued_bytes);
        let body = stream.body();
        self.streams.borrow_mut().push(Listener { role, client_id: client_id.to_owned(), inner: stream });
        let headers = Headers::new();
        headers.set("Content-Type", "text/event-stream").or_internal()?;
        headers.set("Cache-Control", "no-cache").or_internal()?;
        Ok(Response::from_body(ResponseBody::Stream(body)).or_internal()?.with_headers(headers))
    }

    /// Waits until the next write, a rotation of `role`'s key or the session's end, at most
    /// `wait`; a timeout counts as `Changed` (the caller answers from the current state).
    pub async fn wait(&self, role: Role, wait: Duration) -> Wake {
        let (tx, rx) = oneshot::channel();
        self.waiters.borrow_mut().push(Listener { role, client_id: String::new(), inner: tx });
        match futures_util::future::select(rx, Delay::from(wait)).await {
            futures_util::future::Either::Left((Ok(wake), _)) => wake,
            _ => Wake::Changed,
        }
    }
}
