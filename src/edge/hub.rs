//! In-memory listeners that cannot hibernate: Server-Sent Events streams and long-poll
//! waiters. They live only while the object is in memory, which they keep it.

use std::cell::RefCell;
use std::time::Duration;

use futures_channel::{mpsc, oneshot};
use futures_util::StreamExt;
use worker::{Delay, Headers, Response};

use super::respond::OrInternal;
use crate::core::error::ApiError;
pub use crate::core::protocol::sse_event;

/// Seconds between SSE keep-alive comments, below common proxy idle timeouts.
const KEEP_ALIVE: Duration = Duration::from_secs(25);

/// The open SSE streams and long-poll waiters of one session.
#[derive(Default)]
pub struct Hub {
    streams: RefCell<Vec<mpsc::UnboundedSender<String>>>,
    waiters: RefCell<Vec<oneshot::Sender<()>>>,
}

impl Hub {
    /// Number of open SSE streams plus waiting long-polls.
    pub fn len(&self) -> usize {
        self.streams.borrow().len() + self.waiters.borrow().len()
    }

    /// Sends an event to every open stream, dropping streams whose client went away.
    pub fn publish(&self, event: &str) {
        self.streams.borrow_mut().retain(|s| s.unbounded_send(event.to_owned()).is_ok());
    }

    /// Wakes every long-poll waiter.
    pub fn wake_waiters(&self) {
        for w in self.waiters.borrow_mut().drain(..) {
            let _ = w.send(());
        }
    }

    /// Ends every stream and wakes every waiter (the session is gone).
    pub fn close_all(&self) {
        self.streams.borrow_mut().clear();
        self.wake_waiters();
    }

    /// Opens an SSE stream that starts with `first` and then receives published events.
    pub fn subscribe(&self, first: String) -> Result<Response, ApiError> {
        let (tx, rx) = mpsc::unbounded::<String>();
        tx.unbounded_send(first).or_internal()?;
        let keep_alive = tx.clone();
        self.streams.borrow_mut().push(tx);
        worker::wasm_bindgen_futures::spawn_local(async move {
            loop {
                Delay::from(KEEP_ALIVE).await;
                if keep_alive.unbounded_send(": keep-alive\n\n".to_owned()).is_err() {
                    break;
                }
            }
        });
        let body = rx.map(|s| Ok::<Vec<u8>, worker::Error>(s.into_bytes()));
        let headers = Headers::new();
        headers.set("Content-Type", "text/event-stream").or_internal()?;
        headers.set("Cache-Control", "no-cache").or_internal()?;
        Ok(Response::from_stream(body).or_internal()?.with_headers(headers))
    }

    /// Waits until the next write (or the session's end), at most `wait`.
    pub async fn wait(&self, wait: Duration) {
        let (tx, rx) = oneshot::channel();
        {
            let mut waiters = self.waiters.borrow_mut();
            waiters.retain(|w| !w.is_canceled());
            waiters.push(tx);
        }
        futures_util::future::select(rx, Delay::from(wait)).await;
    }
}
