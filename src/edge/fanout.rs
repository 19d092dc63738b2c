//! Sending one frame to many sockets with a single wasm-to-JS string copy.
//!
//! `WebSocket::send_with_str` copies and transcodes the Rust string into a JS string on every
//! call (wasm-bindgen#1185); a broadcast to N sockets would do that N times. Here the frame
//! becomes one JS string and each socket's `send` gets that same value.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use worker::WebSocket;

#[wasm_bindgen]
extern "C" {
    /// A runtime WebSocket, seen only through its `send(string)` method.
    type RawSocket;

    #[wasm_bindgen(method, catch, js_name = send)]
    fn send_value(this: &RawSocket, data: &JsValue) -> Result<(), JsValue>;
}

/// Sends `text` to every socket; a socket that is closing just misses it.
pub fn send_all(sockets: &[WebSocket], text: &str) {
    if sockets.is_empty() {
        return;
    }
    let frame = JsValue::from_str(text);
    for ws in sockets {
        let raw: &web_sys_socket::Socket = ws.as_ref();
        let _ = raw.unchecked_ref::<RawSocket>().send_value(&frame);
    }
}

mod web_sys_socket {
    pub use worker::web_sys::WebSocket as Socket;
}
