//! Writes from any transport and what they send: the update fan-out to sockets, SSE streams
//! and long-polls, and ephemeral messages.

use std::time::Duration;

use serde_json::Value;
use wasm_bindgen::JsValue;
use worker::{wasm_bindgen_futures, Delay};

use super::{now_ms, send, SessionObject};
use crate::core::error::ApiError;
use crate::core::incoming::WriteRequest;
use crate::core::protocol::ServerFrame;
use crate::core::session::WriteOutcome;
use crate::edge::fanout::{count_tagged, raw_state, send_except, send_tagged, BATCHED, LIVE};
use crate::edge::hub::sse_event;

impl SessionObject {
    /// Applies a write from any transport and fans the update out to every listener.
    pub(super) fn write(&self, req: WriteRequest, author: &str) -> Result<WriteOutcome, ApiError> {
        let outcome = self.with_record(|r| self.apply_with_history(r, req, author))?;
        if let WriteOutcome::Applied { version, frame, .. } = &outcome {
            let state = raw_state(&self.state);
            send_tagged(&state, LIVE, frame);
            if count_tagged(&state, BATCHED) > 0 && self.batch.borrow_mut().push(frame) {
                self.schedule_batch(state);
            }
            self.hub.publish(&sse_event("update", Some(*version), frame));
            self.hub.wake_waiters();
        }
        Ok(outcome)
    }

    /// Sends the queued updates to the batching sockets one tick from now. The timer keeps the
    /// object awake for that tick only; it owns what it needs, since it outlives the request.
    fn schedule_batch(&self, state: JsValue) {
        let batch = self.batch.clone();
        let tick = Duration::from_millis(self.limits.batch_tick_ms);
        wasm_bindgen_futures::spawn_local(async move {
            Delay::from(tick).await;
            let frame = batch.borrow_mut().take();
            if let Some(frame) = frame {
                send_tagged(&state, BATCHED, &frame);
            }
        });
    }

    /// Relays an ephemeral message from client `from` at `address`; returns how many clients
    /// it reached. Refused (`throttled`) when the address has made this session send more than
    /// its per-second budget of ephemeral bytes (frame size times recipients).
    pub(super) fn relay(&self, from: &str, address: &str, to: Option<&str>, data: Value) -> Result<usize, ApiError> {
        let frame = ServerFrame::Broadcast { from: from.to_owned(), data }.to_json();
        let recipients = match to {
            Some(_) => 1,
            None => self.state.get_websockets().len() + self.hub.sse_count(),
        };
        let cost = frame.len().saturating_mul(recipients.max(1));
        let allowed =
            self.relay_budget.borrow_mut().charge(address, cost, now_ms(), self.limits.max_relay_bytes_per_second);
        if !allowed {
            return Err(ApiError::Throttled { what: "message bytes", retry_after: 1 });
        }
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
        send_except(&raw_state(&self.state), except, text) as usize
    }
}
