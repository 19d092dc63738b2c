//! The session's Durable Object: a thin host. It loads the record and stores through
//! `SqlStore`; the conversation (roles, presence, ack/reject, fan-out, coalescing) is
//! `core::room`'s: each runtime event becomes one room call, and `host::Host` carries out the
//! effects it returns.
//!
//! In-memory fields are a cache: after hibernation or a reset the record is reloaded from
//! SQLite and the room is rebuilt from each socket's tags and attachment (`prepare`).
//! `http` holds the HTTP operations, `socket` the WebSocket and SSE openings, `presence` HTTP
//! presence, `history` the version history.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use serde_json::Value;
use worker::{durable_object, DurableObject, Env, Request, Response, State, WebSocket, WebSocketIncomingMessage};

use super::abuse::client_address;
use super::contract::{limits_from_env, Op, HEADER_SECRET, HEADER_SESSION_ID};
use super::fanout::raw_state;
use super::history_store::HistoryStore;
use super::host::{now_ms, Attachment, Host};
use super::hub::Hub;
use super::respond::{empty, error_response, OrInternal};
use super::sockets::{finish_close, incoming_text};
use super::sql_store::SqlStore;
use crate::core::document::SessionRecord;
use crate::core::error::ApiError;
use crate::core::history::version_query;
use crate::core::keys::Role;
use crate::core::limits::Limits;
use crate::core::room::{ConnId, ConnInfo, ConnKind, RestoredConn, Room, RoomConfig, SocketTags};
use writes::Writes;

/// The long-poll wait when `after` is given without `wait`, in seconds.
const DEFAULT_WAIT_SECONDS: u64 = 30;
/// Ops listed by the inspector.
const RECENT_OPS: u64 = 20;

mod history;
mod http;
mod presence;
mod socket;
mod writes;

/// One session: its record, its sockets, its listeners.
#[durable_object]
pub struct SessionObject {
    state: State,
    limits: Limits,
    store: SqlStore,
    /// The checkpoints of the version history.
    history: HistoryStore,
    /// `None` until loaded; then `Some(None)` when no session lives here.
    cache: RefCell<Option<Option<SessionRecord>>>,
    /// The session's conversation (core::room): connections, presence, coalescing.
    room: Rc<RefCell<Room>>,
    /// SSE streams and long-poll waiters.
    hub: Rc<Hub>,
    /// When the room's pending tick fires.
    tick_at: Rc<Cell<Option<i64>>>,
}

impl DurableObject for SessionObject {
    fn new(state: State, env: Env) -> Self {
        let store = SqlStore::new(state.storage().sql());
        let history = HistoryStore::new(state.storage().sql());
        // Answer the plain-text keep-alive without waking a hibernated object (P13).
        if let Ok(pair) = worker::WebSocketRequestResponsePair::new("ping", "pong") {
            state.set_websocket_auto_response(&pair);
        }
        let limits = limits_from_env(&env);
        SessionObject {
            state,
            room: Rc::new(RefCell::new(Room::new(RoomConfig::new(limits.clone())))),
            limits,
            history,
            store,
            cache: RefCell::new(None),
            hub: Rc::default(),
            tick_at: Rc::default(),
        }
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
        let fx = self.room.borrow_mut().on_frame(&conn, &text, now_ms(), &mut Writes(self));
        self.host().run(fx);
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
        if let Err(e) = self.on_alarm().await {
            worker::console_error!("alarm failed: {e:?}");
        }
        Response::empty()
    }
}

impl SessionObject {
    async fn route(&self, mut req: Request) -> Result<Response, ApiError> {
        let url = req.url().or_internal()?;
        let op = Op::from_path(url.path()).ok_or(ApiError::NotFound)?;
        if op == Op::Create {
            let session_id = header(&req, HEADER_SESSION_ID).ok_or(ApiError::InvalidKey)?;
            let body = req.bytes().await.or_internal()?;
            return self.create(&session_id, header(&req, "Content-Type").as_deref(), &body).await;
        }
        let secret = header(&req, HEADER_SECRET).ok_or(ApiError::InvalidKey)?;
        let role = self.authorize(&secret).await?;
        let query = url.query().map(str::to_owned);
        match (op, req.method()) {
            (Op::State, worker::Method::Get) => match version_query(query.as_deref())? {
                Some(version) => {
                    // The other parameters are checked as on any GET (`after=null` is a 400 here too).
                    crate::core::http::read_query(query.as_deref(), &self.limits)?;
                    self.get_version(role, version)
                }
                None => self.get_state(&req, role, query.as_deref()).await,
            },
            (Op::State, worker::Method::Put | worker::Method::Patch) => {
                role.require_write()?;
                let body = req.bytes().await.or_internal()?;
                self.http_write(&req, role, &body)
            }
            (Op::State, worker::Method::Delete) => {
                role.require_admin()?;
                self.erase().await?;
                empty(204)
            }
            (Op::Rotate, _) => {
                role.require_admin()?;
                let admin_secret = secret;
                self.rotate(&admin_secret, &header(&req, HEADER_SESSION_ID).unwrap_or_default())
            }
            (Op::Ws, _) => self.open_socket(&req, role, query.as_deref()),
            (Op::Events, _) => self.open_events(&req, role, query.as_deref()),
            (Op::Messages, _) => {
                let body = req.bytes().await.or_internal()?;
                self.http_message(&client_address(&req), header(&req, "Content-Type").as_deref(), &body)
            }
            (Op::Info, _) => self.info(),
            (Op::Versions, worker::Method::Get) => self.list_versions(query.as_deref()),
            (Op::Checkpoints, worker::Method::Post) => {
                role.require_write()?;
                let body = req.bytes().await.or_internal()?;
                self.checkpoint_now(header(&req, "Content-Type").as_deref(), &body)
            }
            (Op::Restore, worker::Method::Post) => {
                role.require_write()?;
                let body = req.bytes().await.or_internal()?;
                self.restore(&req, role, &body)
            }
            (Op::Presence, worker::Method::Post) => {
                let body = req.bytes().await.or_internal()?;
                self.http_presence(header(&req, "Content-Type").as_deref(), &body).await
            }
            _ => Err(ApiError::MethodNotAllowed),
        }
    }

    // ----- the record cache -----

    /// Runs `f` on the loaded record; `session_not_found` when there is none.
    fn with_record<R>(&self, f: impl FnOnce(&mut SessionRecord) -> Result<R, ApiError>) -> Result<R, ApiError> {
        let mut cache = self.cache.borrow_mut();
        if cache.is_none() {
            *cache = Some(self.store.load(&self.limits)?);
        }
        match cache.as_mut().and_then(Option::as_mut) {
            Some(record) => f(record),
            None => Err(ApiError::SessionNotFound),
        }
    }

    /// Whether clients are connected, which keeps the session from going idle.
    fn is_watched(&self) -> bool {
        self.room.borrow().is_watched() || !self.state.get_websockets().is_empty()
    }

    /// What carries out the room's effects.
    fn host(&self) -> Host {
        Host {
            raw_state: raw_state(&self.state),
            hub: self.hub.clone(),
            room: self.room.clone(),
            tick_at: self.tick_at.clone(),
            upstream: Rc::default(),
        }
    }

    /// Before each event: after a wake-up, the room is rebuilt from the hibernated sockets
    /// (their tags and attachments); SSE streams whose client left are closed in the room.
    fn prepare(&self) {
        if self.room.borrow().needs_restore() {
            let conns = self
                .state
                .get_websockets()
                .iter()
                .filter_map(|ws| {
                    let tags = SocketTags::from_tags(&self.state.get_tags(ws))?;
                    let att = ws.deserialize_attachment::<Attachment>().ok().flatten();
                    let info = ConnInfo {
                        id: ConnId(tags.client_id),
                        role: tags.role,
                        kind: ConnKind::WebSocket,
                        address: att.as_ref().map(|a| a.address.clone()).unwrap_or_default(),
                        batch: att.as_ref().is_some_and(|a| a.batch),
                        relay: tags.relay,
                    };
                    Some(RestoredConn { info, presence: att.map_or(Value::Null, |a| presence_value(&a.presence)) })
                })
                .collect();
            self.room.borrow_mut().restore(conns);
        }
        let gone = self.hub.prune();
        if !gone.is_empty() {
            self.host().streams_closed(gone);
        }
    }

    /// A socket closed or failed: the others hear it leave.
    fn on_leave(&self, ws: &WebSocket) {
        self.prepare();
        let Some(tags) = SocketTags::from_tags(&self.state.get_tags(ws)) else { return };
        let fx = self.room.borrow_mut().on_close(&ConnId(tags.client_id), now_ms());
        self.host().run(fx);
    }

    /// The role `secret` grants; an expired idle session is erased first and then not found.
    async fn authorize(&self, secret: &str) -> Result<Role, ApiError> {
        let now = now_ms();
        let found = self.with_record(|r| Ok((r.is_expired(now) && !self.is_watched(), r.hashes.role_of(secret))))?;
        match found {
            (true, _) => {
                self.erase().await?;
                Err(ApiError::SessionNotFound)
            }
            (false, Some(role)) => Ok(role),
            (false, None) => Err(ApiError::SessionNotFound),
        }
    }

    /// Ends the session: closes every connection and erases all storage.
    async fn erase(&self) -> Result<(), ApiError> {
        let fx = self.room.borrow_mut().on_session_ended();
        self.host().run(fx);
        *self.cache.borrow_mut() = Some(None);
        // deleteAll drops every table, the history's with the rest.
        self.history.reset();
        let storage = self.state.storage();
        storage.delete_alarm().await.or_internal()?;
        storage.delete_all().await.or_internal()?;
        Ok(())
    }

    async fn on_alarm(&self) -> Result<(), ApiError> {
        let now = now_ms();
        let fx = self.room.borrow_mut().sweep(now);
        self.host().run(fx);
        let expires_at = match self.with_record(|r| Ok(r.expires_at)) {
            Ok(at) => at,
            Err(ApiError::SessionNotFound) => return self.erase().await,
            Err(e) => return Err(e),
        };
        let next = if now < expires_at {
            expires_at
        } else if !self.is_watched() {
            return self.erase().await;
        } else {
            // Someone is still connected: the session is not idle.
            self.with_record(|r| {
                r.touch(now);
                self.store.set_expiry(r.expires_at)?;
                Ok(r.expires_at)
            })?
        };
        // While HTTP clients are present, come back soon to find those that left.
        let next =
            if self.room.borrow().has_http_presence() { next.min(now + presence::PRESENCE_SWEEP_MS) } else { next };
        self.state.storage().set_alarm((next - now).max(1)).await.or_internal()
    }
}

fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

fn presence_value(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}
