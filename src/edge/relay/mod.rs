//! A relay object (P18 in docs/protocol.md): serves read-key viewers of one session, which the
//! session object placed here, from its copy of the session (`core::relay`), fanning out what
//! arrives once over its upstream connection (`upstream`) through a `Room` like the session's.
//! Named `<sessionId>:r<k>`; it keeps nothing in storage and lets its upstream go with its
//! last viewer, so an idle relay holds nothing open and can be evicted.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use futures_channel::oneshot;
use worker::{durable_object, DurableObject, Env, Request, Response, State, WebSocket, WebSocketIncomingMessage};

use super::contract::{limits_from_env, Op, HEADER_RELAY, HEADER_SECRET, HEADER_SESSION_ID};
use super::fanout::raw_state;
use super::host::{now_ms, Host};
use super::hub::Hub;
use super::respond::{error_response, OrInternal};
use super::sockets::{finish_close, incoming_text, open_sse, open_websocket};
use crate::core::error::ApiError;
use crate::core::http::{last_event_id, read_query};
use crate::core::keys::Role;
use crate::core::limits::Limits;
use crate::core::relay::Relay;
use crate::core::room::{close, ConnId, ConnInfo, Room, RoomConfig, SocketTags};
use crate::core::routes::websocket_handshake;

mod upstream;

/// How often a relay with viewers checks that its instance still holds their copy.
const WATCHDOG_MS: i64 = 10_000;

/// The session a relay serves and the read secret its upstream connection presented.
#[derive(Debug, Clone)]
struct Link {
    session_id: String,
    secret: String,
    index: u32,
}

/// What the relay's event handlers and its upstream task share.
struct Shared {
    env: Env,
    host: Host,
    relay: RefCell<Relay>,
    link: RefCell<Option<Link>>,
    /// Viewers waiting for the copy before their welcome.
    waiters: RefCell<Vec<oneshot::Sender<Result<(), ApiError>>>>,
    /// Whether the upstream task runs.
    running: Cell<bool>,
}

/// One relay of one session.
#[durable_object]
pub struct RelayObject {
    state: State,
    limits: Limits,
    shared: Rc<Shared>,
}

impl DurableObject for RelayObject {
    fn new(state: State, env: Env) -> Self {
        if let Ok(pair) = worker::WebSocketRequestResponsePair::new("ping", "pong") {
            state.set_websocket_auto_response(&pair);
        }
        let limits = limits_from_env(&env);
        let host = Host {
            raw_state: raw_state(&state),
            hub: Rc::<Hub>::default(),
            room: Rc::new(RefCell::new(Room::new(RoomConfig::relay(limits.clone())))),
            tick_at: Rc::default(),
            upstream: Rc::default(),
        };
        let shared = Rc::new(Shared {
            env,
            host,
            relay: RefCell::new(Relay::new(limits.clone())),
            link: RefCell::new(None),
            waiters: RefCell::default(),
            running: Cell::new(false),
        });
        RelayObject { state, limits, shared }
    }

    async fn fetch(&self, req: Request) -> worker::Result<Response> {
        self.prepare();
        match self.route(req).await {
            Ok(resp) => Ok(resp),
            Err(e) => error_response(&e),
        }
    }

    async fn websocket_message(&self, ws: WebSocket, message: WebSocketIncomingMessage) -> worker::Result<()> {
        self.prepare();
        let Some((conn, text)) = incoming_text(&self.state, &ws, message) else { return Ok(()) };
        let fx = {
            let relay = self.shared.relay.borrow();
            let mut writes = relay.writes();
            self.shared.host.room.borrow_mut().on_frame(&conn, &text, now_ms(), &mut writes)
        };
        self.shared.host.run(fx);
        Ok(())
    }

    async fn websocket_close(&self, ws: WebSocket, code: usize, reason: String, _clean: bool) -> worker::Result<()> {
        finish_close(&ws, code, reason);
        self.on_leave(&ws);
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, _error: worker::Error) -> worker::Result<()> {
        self.on_leave(&ws);
        Ok(())
    }

    async fn alarm(&self) -> worker::Result<Response> {
        self.prepare();
        if !self.shared.host.room.borrow().is_empty() {
            self.keep_watch().await;
        }
        Response::empty()
    }
}

impl RelayObject {
    async fn route(&self, req: Request) -> Result<Response, ApiError> {
        let url = req.url().or_internal()?;
        let op = Op::from_path(url.path()).ok_or(ApiError::NotFound)?;
        let link = Link {
            session_id: header(&req, HEADER_SESSION_ID).ok_or(ApiError::InvalidKey)?,
            secret: header(&req, HEADER_SECRET).ok_or(ApiError::InvalidKey)?,
            index: header(&req, HEADER_RELAY).and_then(|k| k.parse().ok()).ok_or(ApiError::NotFound)?,
        };
        let query = url.query().map(str::to_owned);
        let q = read_query(query.as_deref(), &self.limits)?;
        match op {
            Op::Ws => {
                websocket_handshake(
                    header(&req, "Upgrade").as_deref(),
                    header(&req, "Sec-WebSocket-Version").as_deref(),
                    header(&req, "Sec-WebSocket-Key").as_deref(),
                )?;
                upstream::ensure(&self.shared, link).await?;
                self.keep_watch().await;
                self.open_socket(&req, q.since, q.batch)
            }
            Op::Events => {
                let since = last_event_id(header(&req, "Last-Event-ID").as_deref())?.or(q.since);
                upstream::ensure(&self.shared, link).await?;
                self.keep_watch().await;
                self.open_events(&req, since, q.batch)
            }
            _ => Err(ApiError::NotFound),
        }
    }

    /// Sets the watchdog alarm while viewers are here: if the instance was reset (a trap
    /// elsewhere re-instantiates the module and its upstream task with it), the alarm's
    /// `prepare` finds the room empty and sends the viewers to resume elsewhere (1012).
    async fn keep_watch(&self) {
        let storage = self.state.storage();
        if matches!(storage.get_alarm().await, Ok(Some(_))) {
            return;
        }
        if let Err(e) = storage.set_alarm(WATCHDOG_MS).await {
            worker::console_error!("relay: watchdog alarm not set: {e:?}");
        }
    }

    /// A viewer's WebSocket, answered from the copy (welcome, resume).
    fn open_socket(&self, req: &Request, since: Option<u64>, batch: bool) -> Result<Response, ApiError> {
        open_websocket(&self.state, req, Role::Read, None, batch, |info| self.admit(info, since))
    }

    /// A viewer's SSE stream.
    fn open_events(&self, req: &Request, since: Option<u64>, batch: bool) -> Result<Response, ApiError> {
        open_sse(&self.shared.host.hub, &self.limits, req, Role::Read, batch, |info| self.admit(info, since))
    }

    /// The room's `on_connect` over the copy; the effects are carried out.
    fn admit(&self, info: ConnInfo, since: Option<u64>) -> Result<(), ApiError> {
        let fx = {
            let relay = self.shared.relay.borrow();
            let mut writes = relay.writes();
            self.shared.host.room.borrow_mut().on_connect(info, since, now_ms(), &mut writes)?
        };
        self.shared.host.run(fx);
        Ok(())
    }

    /// Before each event: a relay that lost its memory (evicted) has no copy to serve its
    /// hibernated viewers from; they are closed with 1012 and resume on reconnecting.
    fn prepare(&self) {
        let room = &self.shared.host.room;
        if room.borrow().needs_restore() {
            room.borrow_mut().restore(Vec::new());
            for ws in self.state.get_websockets() {
                let _ = ws.close(Some(close::RESTART), Some("relay restarted"));
            }
        }
        let gone = self.shared.host.hub.prune();
        if !gone.is_empty() {
            self.shared.host.streams_closed(gone);
            self.release_if_idle();
        }
    }

    /// A viewer left; with the last one, the upstream connection goes too.
    fn on_leave(&self, ws: &WebSocket) {
        let Some(tags) = SocketTags::from_tags(&self.state.get_tags(ws)) else { return };
        let fx = self.shared.host.room.borrow_mut().on_close(&ConnId(tags.client_id), now_ms());
        self.shared.host.run(fx);
        self.release_if_idle();
    }

    fn release_if_idle(&self) {
        let idle = self.shared.host.room.borrow().is_empty() && self.shared.waiters.borrow().is_empty();
        if idle {
            upstream::release(&self.shared);
        }
    }
}

fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}
