//! Sending one frame to a group of the session's sockets in a single wasm-to-JS call.
//!
//! A loop in Rust over `State::get_websockets()` crosses the wasm/JS boundary once per socket
//! (a wrapper per socket, then `send_with_str`, which copies and transcodes the string every
//! time: wasm-bindgen#1185). Here the frame becomes one JS string and a few lines of JS do the
//! loop, so a broadcast to N sockets costs one crossing and one string copy. Sockets are found
//! by their client-id tag (`SocketTags`), never by tag position. Frames over 1 MiB go as
//! `part` frames (P16).

use wasm_bindgen::prelude::*;
use worker::State;

use crate::core::doc::send_text;

#[wasm_bindgen(inline_js = "
export function sendToAll(state, except, frame) {
  let n = 0;
  const sockets = except ? state.getWebSockets().filter((ws) => !state.getTags(ws).includes(except)) : state.getWebSockets();
  for (const ws of sockets) {
    try { ws.send(frame); n++; } catch (_) { /* closing: it misses this frame */ }
  }
  return n;
}
export function sendToIds(state, ids, frame) {
  let n = 0;
  for (const id of ids) {
    for (const ws of state.getWebSockets(id)) {
      try { ws.send(frame); n++; } catch (_) { /* closing */ }
    }
  }
  return n;
}
")]
extern "C" {
    #[wasm_bindgen(js_name = sendToAll)]
    fn send_to_all_js(state: &JsValue, except: Option<String>, frame: &str) -> u32;
    #[wasm_bindgen(js_name = sendToIds)]
    fn send_to_ids_js(state: &JsValue, ids: Vec<String>, frame: &str) -> u32;
}

/// The runtime's `DurableObjectState`, which outlives any one request (for timers).
pub fn raw_state(state: &State) -> JsValue {
    let raw: &JsValue = state.as_raw().as_ref();
    raw.clone()
}

/// Sends `text` to every socket, or every socket but client `except`'s; returns how many.
pub fn send_all(raw_state: &JsValue, except: Option<&str>, text: &str) -> u32 {
    let mut count = 0;
    send_text(text, |part| count = send_to_all_js(raw_state, except.map(str::to_owned), &part));
    count
}

/// Sends `text` to the sockets of the clients `ids`; returns how many.
pub fn send_ids(raw_state: &JsValue, ids: &[String], text: &str) -> u32 {
    let mut count = 0;
    send_text(text, |part| count = send_to_ids_js(raw_state, ids.to_vec(), &part));
    count
}
