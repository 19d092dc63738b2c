//! Writes from any transport and what they send: the update fan-out to sockets, SSE streams
//! and long-polls, and ephemeral messages.

use serde_json::Value;

use super::{now_ms, send, SessionObject};
use crate::core::error::ApiError;
use crate::core::incoming::WriteRequest;
use crate::core::protocol::ServerFrame;
use crate::core::session::{apply_write, WriteOutcome};
use crate::edge::fanout::send_all;
use crate::edge::hub::sse_event;

impl SessionObject {
    /// Applies a write from any transport and fans the update out to every listener.
    pub(super) fn write(&self, req: WriteRequest, author: &str) -> Result<WriteOutcome, ApiError> {
        let outcome = self.with_record(|r| apply_write(&self.store, r, req, author, &self.limits, now_ms()))?;
        if let WriteOutcome::Applied { version, frame, .. } = &outcome {
            send_all(&self.state, frame);
            self.hub.publish(&sse_event("update", Some(*version), frame));
            self.hub.wake_waiters();
        }
        Ok(outcome)
    }

    /// Relays an ephemeral message; returns how many clients it reached.
    pub(super) fn relay(&self, from: &str, to: Option<&str>, data: Value) -> Result<usize, ApiError> {
        let frame = ServerFrame::Broadcast { from: from.to_owned(), data }.to_json();
        match to {
            Some(to) => {
                let targets = self.state.get_websockets_with_tag(to);
                if targets.is_empty() || !to.starts_with("c_") {
                    return Err(ApiError::UnknownClient(to.to_owned()));
                }
                targets.iter().for_each(|ws| send(ws, &frame));
                Ok(targets.len())
            }
            None => {
                let n = self.send_to_others(from, &frame);
                self.hub.publish(&sse_event("broadcast", None, &frame));
                Ok(n)
            }
        }
    }

    /// Sends `text` to every socket but the one of client `except`; returns how many.
    pub(super) fn send_to_others(&self, except: &str, text: &str) -> usize {
        let mut n = 0;
        for ws in self.state.get_websockets() {
            if self.state.get_tags(&ws).first().map(String::as_str) != Some(except) {
                send(&ws, text);
                n += 1;
            }
        }
        n
    }
}
