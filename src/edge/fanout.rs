//! Sending one frame to a group of the session's sockets in a single wasm-to-JS call.
//!
//! A loop in Rust over `State::get_websockets()` crosses the wasm/JS boundary once per socket
//! (a wrapper per socket, then `send_with_str`, which copies and transcodes the string every
//! time: wasm-bindgen#1185). Here the frame becomes one JS string and a few lines of JS do the
//! loop, so a broadcast to N sockets costs one crossing and one string copy.

use wasm_bindgen::prelude::*;
use worker::State;

use crate::core::doc::send_text;

/// Tag of the sockets that get every update at once.
pub const LIVE: &str = "live";
/// Tag of the sockets that get updates in `updates` batches.
pub const BATCHED: &str = "batch";

#[wasm_bindgen(inline_js = "
export function sendToTagged(state, tag, frame) {
  const sockets = state.getWebSockets(tag);
  for (const ws of sockets) {
    try { ws.send(frame); } catch (_) { /* closing: it misses this frame */ }
  }
  return sockets.length;
}
export function sendToOthers(state, except, frame) {
  let n = 0;
  for (const ws of state.getWebSockets()) {
    if (state.getTags(ws)[0] === except) continue;
    try { ws.send(frame); n++; } catch (_) { /* closing */ }
  }
  return n;
}
export function countTagged(state, tag) {
  return state.getWebSockets(tag).length;
}
")]
extern "C" {
    #[wasm_bindgen(js_name = sendToTagged)]
    fn send_to_tagged_js(state: &JsValue, tag: &str, frame: &str) -> u32;
    #[wasm_bindgen(js_name = sendToOthers)]
    fn send_to_others_js(state: &JsValue, except: &str, frame: &str) -> u32;
    #[wasm_bindgen(js_name = countTagged)]
    fn count_tagged_js(state: &JsValue, tag: &str) -> u32;
}

/// The runtime's `DurableObjectState`, which outlives any one request (for timers).
pub fn raw_state(state: &State) -> JsValue {
    let raw: &JsValue = state.as_raw().as_ref();
    raw.clone()
}

/// Sends `text` to every socket tagged `tag` (as `part` frames when it is long, P16); returns
/// how many there were.
pub fn send_tagged(raw_state: &JsValue, tag: &str, text: &str) -> u32 {
    let mut count = 0;
    send_text(text, |part| count = send_to_tagged_js(raw_state, tag, &part));
    count
}

/// Sends `text` to every socket except those of client `except` (their first tag), as `part`
/// frames when it is long; returns how many.
pub fn send_except(raw_state: &JsValue, except: &str, text: &str) -> u32 {
    let mut count = 0;
    send_text(text, |part| count = send_to_others_js(raw_state, except, &part));
    count
}

/// How many sockets are tagged `tag`.
pub fn count_tagged(raw_state: &JsValue, tag: &str) -> u32 {
    count_tagged_js(raw_state, tag)
}
