//! Opening WebSockets (hibernation API) and Server-Sent Events streams on the session object:
//! the handshake, a read-key viewer's placement in a relay (P18), then the room's `on_connect`
//! (welcome, join, limits) through `edge::sockets`.

use worker::{Request, Response};

use super::writes::Writes;
use super::{header, SessionObject};
use crate::core::error::ApiError;
use crate::core::http::{last_event_id, read_query};
use crate::core::keys::Role;
use crate::core::routes::websocket_handshake;
use crate::edge::contract::{HEADER_RELAY, STATUS_TO_RELAY};
use crate::edge::host::now_ms;
use crate::edge::respond::OrInternal;
use crate::edge::sockets::{open_sse, open_websocket};

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
            let placed = self.room.borrow_mut().place_viewer()?;
            if let Some(k) = placed {
                return to_relay(k);
            }
        }
        open_websocket(&self.state, req, role, relay, q.batch, |info| {
            let fx = self.room.borrow_mut().on_connect(info, q.since, now_ms(), &mut Writes(self))?;
            self.host().run(fx);
            Ok(())
        })
    }

    pub(super) fn open_events(&self, req: &Request, role: Role, query: Option<&str>) -> Result<Response, ApiError> {
        let q = read_query(query, &self.limits)?;
        let since = last_event_id(header(req, "Last-Event-ID").as_deref())?.or(q.since);
        if role == Role::Read {
            let placed = self.room.borrow_mut().place_viewer()?;
            if let Some(k) = placed {
                return to_relay(k);
            }
        }
        open_sse(&self.hub, &self.limits, req, role, q.batch, |info| {
            let fx = self.room.borrow_mut().on_connect(info, since, now_ms(), &mut Writes(self))?;
            self.host().run(fx);
            Ok(())
        })
    }
}

/// The answer that sends a viewer to relay `k` (P18); the router follows it.
fn to_relay(k: u32) -> Result<Response, ApiError> {
    let mut resp = Response::empty().or_internal()?.with_status(STATUS_TO_RELAY);
    resp.headers_mut().set(HEADER_RELAY, &k.to_string()).or_internal()?;
    Ok(resp)
}
