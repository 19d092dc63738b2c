//! Sending one frame to every socket of the session in a single wasm-to-JS call.
//!
//! A loop in Rust over `State::get_websockets()` crosses the wasm/JS boundary once per socket
//! (a wrapper per socket, then `send_with_str`, which copies and transcodes the string every
//! time: wasm-bindgen#1185). Here the frame becomes one JS string and a few lines of JS do the
//! loop, so a broadcast to N sockets costs one crossing and one string copy.

use wasm_bindgen::prelude::*;
use worker::State;

#[wasm_bindgen(inline_js = "
export function sendToAll(state, frame) {
  const sockets = state.getWebSockets();
  for (const ws of sockets) {
    try { ws.send(frame); } catch (_) { /* closing: it misses this frame */ }
  }
  return sockets.length;
}
")]
extern "C" {
    #[wasm_bindgen(js_name = sendToAll)]
    fn send_to_all_js(state: &JsValue, frame: &str) -> u32;
}

/// Sends `text` to every accepted socket of the object; returns how many there were.
pub fn send_all(state: &State, text: &str) -> u32 {
    send_to_all_js(state.as_raw().as_ref(), text)
}
