//! One Server-Sent Events response stream, kept on the JavaScript side.
//!
//! The stream, its keep-alive timer and its queue bound live in JS, not in a Rust future:
//! a wasm trap anywhere in the isolate resets the Wasm state of every object it serves
//! (workers-rs panic recovery), and a stream driven by Rust would then hang forever. Here the
//! keep-alive timer asks Rust whether it is still there; once that call throws (a previous
//! instance) the stream is closed, so the client's EventSource reconnects within one tick.
//! The queue is bounded in bytes: a client that stops reading is cut off instead of making
//! the object buffer without end.

use wasm_bindgen::prelude::*;
use worker::web_sys::ReadableStream;

#[wasm_bindgen(module = "/src/edge/js/sse.js")]
extern "C" {
    #[wasm_bindgen(js_name = sseOpen)]
    fn sse_open(
        first: &str,
        keep_alive_ms: u32,
        max_queued_bytes: u32,
        alive: &Closure<dyn FnMut() -> bool>,
    ) -> JsValue;
    #[wasm_bindgen(js_name = ssePush)]
    fn sse_push(h: &JsValue, text: &str) -> bool;
    #[wasm_bindgen(js_name = sseEnd)]
    fn sse_end(h: &JsValue);
    #[wasm_bindgen(js_name = sseStream)]
    fn sse_stream(h: &JsValue) -> ReadableStream;
    #[wasm_bindgen(js_name = sseClosed)]
    fn sse_closed(h: &JsValue) -> bool;
}

/// Milliseconds between keep-alive comments: below common proxy idle timeouts, and short, since
/// the runtime notices a client that went away only when it next writes to it.
const KEEP_ALIVE_MS: u32 = 5_000;

/// An open SSE stream: push events, end it, ask whether the client went away.
pub struct SseStream {
    handle: JsValue,
    /// Answers the keep-alive timer's "still there?"; dropped with the stream.
    _alive: Closure<dyn FnMut() -> bool>,
}

impl SseStream {
    /// Opens a stream whose first bytes are `first`; at most `max_queued_bytes` may wait unread.
    pub fn open(first: &str, max_queued_bytes: usize) -> SseStream {
        let alive = Closure::<dyn FnMut() -> bool>::new(|| true);
        let limit = u32::try_from(max_queued_bytes).unwrap_or(u32::MAX);
        let handle = sse_open(first, KEEP_ALIVE_MS, limit, &alive);
        SseStream { handle, _alive: alive }
    }

    /// The response body.
    pub fn body(&self) -> ReadableStream {
        sse_stream(&self.handle)
    }

    /// Queues `text`; false when the stream is closed (client gone, or too far behind: then it
    /// is closed now, and the client reconnects and resumes with `Last-Event-ID`).
    pub fn push(&self, text: &str) -> bool {
        sse_push(&self.handle, text)
    }

    /// Ends the stream after what is queued.
    pub fn end(&self) {
        sse_end(&self.handle);
    }

    /// Whether the stream has ended or its client went away.
    pub fn is_closed(&self) -> bool {
        sse_closed(&self.handle)
    }
}

impl Drop for SseStream {
    fn drop(&mut self) {
        // The keep-alive timer must not call the closure once it is gone.
        self.end();
    }
}
