//! What the session object and the relay objects do alike with their clients' connections:
//! open a WebSocket or an SSE stream for the room, find which connection a frame came from
//! (its tags), refuse binary frames, and complete the closing handshake.

use worker::{Request, Response, State, WebSocket, WebSocketIncomingMessage, WebSocketPair};

use super::abuse::client_address;
use super::host::Attachment;
use super::hub::Hub;
use super::respond::{log_internal, OrInternal};
use crate::core::doc::send_text;
use crate::core::error::ApiError;
use crate::core::keys::{random_token, Role};
use crate::core::limits::Limits;
use crate::core::protocol::ServerFrame;
use crate::core::room::{close, ConnId, ConnInfo, ConnKind, SocketTags};

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

/// Opens a new client's hibernatable WebSocket (its tags and attachment) and lets `connect`
/// bring it into the room (`on_connect` and its effects). When `connect` refuses, the socket is
/// already accepted: it is told why, then closed (1011).
pub fn open_websocket(
    state: &State,
    req: &Request,
    role: Role,
    relay: Option<u32>,
    batch: bool,
    connect: impl FnOnce(ConnInfo) -> Result<(), ApiError>,
) -> Result<Response, ApiError> {
    let pair = WebSocketPair::new().or_internal()?;
    let client_id = format!("c_{}", &random_token()?[..10]);
    let tags = SocketTags { client_id: client_id.clone(), role, relay }.to_tags();
    let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
    state.accept_websocket_with_tags(&pair.server, &tags);
    let address = client_address(req);
    let att = Attachment { presence: "null".into(), address: address.clone(), batch };
    pair.server.serialize_attachment(&att).or_internal()?;
    let info = ConnInfo { id: ConnId(client_id), role, kind: ConnKind::WebSocket, address, batch, relay };
    if let Err(e) = connect(info) {
        log_internal(&e);
        send_text(&ServerFrame::error(&e).to_json(), |part| {
            let _ = pair.server.send_with_str(part);
        });
        let _ = pair.server.close(Some(close::LOST), Some("cannot open"));
    }
    Response::from_websocket(pair.client).or_internal()
}

/// Opens a new client's SSE stream in `hub` and lets `connect` bring it into the room; when
/// `connect` refuses, the stream is ended and the refusal is the HTTP answer.
pub fn open_sse(
    hub: &Hub,
    limits: &Limits,
    req: &Request,
    role: Role,
    batch: bool,
    connect: impl FnOnce(ConnInfo) -> Result<(), ApiError>,
) -> Result<Response, ApiError> {
    if hub.sse_count() >= limits.max_sse_streams {
        return Err(ApiError::TooManyConnections);
    }
    let client_id = format!("s_{}", &random_token()?[..10]);
    // A client further behind than this is better served by reconnecting (with a snapshot).
    let max_queued = 2 * limits.max_state_bytes + limits.oplog_max_bytes as usize;
    let resp = hub.subscribe(&client_id, max_queued)?;
    let info = ConnInfo {
        id: ConnId(client_id.clone()),
        role,
        kind: ConnKind::Sse,
        address: client_address(req),
        batch,
        relay: None,
    };
    match connect(info) {
        Ok(()) => Ok(resp),
        Err(e) => {
            hub.end(&client_id);
            Err(e)
        }
    }
}
