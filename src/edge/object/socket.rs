//! Opening WebSockets (hibernation API) and Server-Sent Events streams: the handshake, the
//! connection's identity, then the room's `on_connect` (welcome, join, limits).

use worker::{Request, Response, WebSocketPair};

use super::writes::Writes;
use super::{header, send, SessionObject};
use crate::edge::host::{now_ms, Attachment};
use crate::core::error::ApiError;
use crate::core::http::{last_event_id, read_query};
use crate::core::keys::{random_token, Role};
use crate::core::protocol::ServerFrame;
use crate::core::room::{close, ConnId, ConnInfo, ConnKind, SocketTags};
use crate::core::routes::websocket_handshake;
use crate::edge::abuse::client_address;
use crate::edge::contract::{HEADER_RELAY, STATUS_TO_RELAY};
use crate::edge::respond::{log_internal, OrInternal};

impl SessionObject {
    pub(super) fn open_socket(&self, req: &Request, role: Role, query: Option<&str>) -> Result<Response, ApiError> {
        websocket_handshake(
            header(req, "Upgrade").as_deref(),
            header(req, "Sec-WebSocket-Version").as_deref(),
            header(req, "Sec-WebSocket-Key").as_deref(),
        )?;
        let q = read_query(query, &self.limits)?;
        // A relay's upstream connection names its relay (only relays can: the router drops the header).
        let relay = header(req, HEADER_RELAY).and_then(|k| k.parse::<u32>().ok());
        if relay.is_none() && role == Role::Read {
            if let Some(k) = self.room.borrow_mut().place_viewer()? {
                return to_relay(k);
            }
        }
        let pair = WebSocketPair::new().or_internal()?;
        let client_id = format!("c_{}", &random_token()?[..10]);
        let tags = SocketTags { client_id: client_id.clone(), role, relay }.to_tags();
        let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
        self.state.accept_websocket_with_tags(&pair.server, &tags);
        let address = client_address(req);
        let att = Attachment { presence: "null".into(), address: address.clone(), batch: q.batch };
        pair.server.serialize_attachment(&att).or_internal()?;
        let info = ConnInfo { id: ConnId(client_id), role, kind: ConnKind::WebSocket, address, batch: q.batch, relay };
        let connected = self.room.borrow_mut().on_connect(info, q.since, now_ms(), &mut Writes(self));
        match connected {
            Ok(fx) => self.host().run(fx),
            Err(e) => {
                // The socket is accepted: say why on it, then close.
                log_internal(&e);
                send(&pair.server, &ServerFrame::error(&e).to_json());
                let _ = pair.server.close(Some(close::LOST), Some("cannot open"));
            }
        }
        Response::from_websocket(pair.client).or_internal()
    }

    pub(super) fn open_events(&self, req: &Request, role: Role, query: Option<&str>) -> Result<Response, ApiError> {
        let q = read_query(query, &self.limits)?;
        let since = last_event_id(header(req, "Last-Event-ID").as_deref())?.or(q.since);
        if role == Role::Read {
            if let Some(k) = self.room.borrow_mut().place_viewer()? {
                return to_relay(k);
            }
        }
        if self.hub.sse_count() >= self.limits.max_sse_streams {
            return Err(ApiError::TooManyConnections);
        }
        let client_id = format!("s_{}", &random_token()?[..10]);
        // A client further behind than this is better served by reconnecting (with a snapshot).
        let max_queued = 2 * self.limits.max_state_bytes + self.limits.oplog_max_bytes as usize;
        let resp = self.hub.subscribe(&client_id, max_queued)?;
        let info = ConnInfo {
            id: ConnId(client_id.clone()),
            role,
            kind: ConnKind::Sse,
            address: client_address(req),
            batch: q.batch,
            relay: None,
        };
        let connected = self.room.borrow_mut().on_connect(info, since, now_ms(), &mut Writes(self));
        match connected {
            Ok(fx) => {
                self.host().run(fx);
                Ok(resp)
            }
            Err(e) => {
                self.hub.end(&client_id);
                Err(e)
            }
        }
    }
}

/// The answer that sends a viewer to relay `k` (P18); the router follows it.
fn to_relay(k: u32) -> Result<Response, ApiError> {
    let mut resp = Response::empty().or_internal()?.with_status(STATUS_TO_RELAY);
    resp.headers_mut().set(HEADER_RELAY, &k.to_string()).or_internal()?;
    Ok(resp)
}
