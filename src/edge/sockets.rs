//! What the session object and the relay objects do alike with a hibernated socket's events:
//! find which connection a frame came from (its tags), refuse binary frames, and complete
//! the closing handshake.

use worker::{State, WebSocket, WebSocketIncomingMessage};

use crate::core::error::ApiError;
use crate::core::protocol::ServerFrame;
use crate::core::room::{close, ConnId, SocketTags};

/// The connection and text of an incoming frame; `None` (after answering) for a socket that
/// lost its tags (closed 1011) or a binary frame (an `invalid_frame` error).
pub fn incoming_text(state: &State, ws: &WebSocket, message: WebSocketIncomingMessage) -> Option<(ConnId, String)> {
    let Some(tags) = SocketTags::from_tags(&state.get_tags(ws)) else {
        let _ = ws.close(Some(close::LOST), Some("connection lost its identity"));
        return None;
    };
    match message {
        WebSocketIncomingMessage::String(text) => Some((ConnId(tags.client_id), text)),
        WebSocketIncomingMessage::Binary(_) => {
            let err = ApiError::InvalidFrame("binary frames are not supported".into());
            let _ = ws.send_with_str(ServerFrame::error(&err).to_json());
            None
        }
    }
}

/// Completes the closing handshake the client started; 1005/1006 are reserved and cannot be
/// sent back, so they are answered 1000.
pub fn finish_close(ws: &WebSocket, code: usize, reason: String) {
    let code = u16::try_from(code).ok().filter(|c| *c == 1000 || (3000..5000).contains(c)).unwrap_or(1000);
    let _ = ws.close(Some(code), Some(reason));
}
