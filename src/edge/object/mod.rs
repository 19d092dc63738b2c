//! The session's Durable Object: a thin adapter that loads the record, calls the core, stores
//! through `SqlStore`, and sends what the core produced to WebSockets, SSE streams and HTTP.
//!
//! In-memory fields are a cache: after hibernation or a reset the record is reloaded from
//! SQLite and each socket's identity and presence come back from its attachment and tags.
//! `http` holds the HTTP operations, `socket` the WebSocket and SSE ones, `writes` the write path and its fan-out.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use worker::{durable_object, DurableObject, Env, Request, Response, State, WebSocket, WebSocketIncomingMessage};

use super::abuse::client_address;
use super::history_store::HistoryStore;
use super::hub::{sse_event, Hub, Wake};
use super::respond::{empty, error_response, OrInternal};
use super::router::limits_from_env;
use super::sql_store::SqlStore;
use crate::core::abuse::RelayBudget;
use crate::core::doc::{send_text, FrameText};
use crate::core::document::SessionRecord;
use crate::core::error::ApiError;
use crate::core::history::version_query;
use crate::core::http_presence::HttpPresence;
use crate::core::incoming::RateWindow;
use crate::core::keys::Role;
use crate::core::limits::Limits;
use crate::core::protocol::{ServerFrame, UpdateBatch};

/// Internal header carrying the session id from the router.
pub const HEADER_SESSION_ID: &str = "X-Session-Id";
/// Internal header carrying the presented secret from the router.
pub const HEADER_SECRET: &str = "X-Session-Secret";

/// Close codes of docs/protocol.md.
mod close {
    pub const TOO_BIG: u16 = 1009;
    pub const KEY_ROTATED: u16 = 4003;
    pub const SESSION_ENDED: u16 = 4004;
    pub const RATE_LIMITED: u16 = 4008;
    pub const SESSION_FULL: u16 = 4029;
}

/// The long-poll wait when `after` is given without `wait`, in seconds.
const DEFAULT_WAIT_SECONDS: u64 = 30;
/// Ops listed by the inspector.
const RECENT_OPS: u64 = 20;
/// The author of writes made over HTTP.
const HTTP_AUTHOR: &str = "http";

mod history;
mod http;
mod presence;
mod socket;
/// The operation the router asks the object to perform.
mod writes;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Create the session.
    Create,
    /// GET, PUT, PATCH or DELETE the state.
    State,
    /// Rotate the write and read keys.
    Rotate,
    /// Open a WebSocket.
    Ws,
    /// Open an SSE stream.
    Events,
    /// Send an ephemeral message.
    Messages,
    /// Describe the session for the inspector.
    Info,
    /// Set the presence of an SSE or long-poll client.
    Presence,
    /// List the checkpoints of the version history.
    Versions,
    /// Take a checkpoint on demand.
    Checkpoints,
    /// Make a checkpoint's state the current one.
    Restore,
}

impl Op {
    /// The internal path segment.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::State => "state",
            Op::Rotate => "rotate",
            Op::Ws => "ws",
            Op::Events => "events",
            Op::Messages => "messages",
            Op::Info => "info",
            Op::Presence => "presence",
            Op::Versions => "versions",
            Op::Checkpoints => "checkpoints",
            Op::Restore => "restore",
        }
    }

    fn from_path(path: &str) -> Option<Op> {
        [
            Op::Create,
            Op::State,
            Op::Rotate,
            Op::Ws,
            Op::Events,
            Op::Messages,
            Op::Info,
            Op::Presence,
            Op::Versions,
            Op::Checkpoints,
            Op::Restore,
        ]
        .into_iter()
        .find(|op| path.trim_start_matches('/') == op.as_str())
    }
}

/// What each socket carries through hibernation.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Attachment {
    /// The connection's client id.
    id: String,
    /// What it may do.
    role: Role,
    /// Its presence value, as JSON text.
    presence: String,
    /// The client's address, which per-address limits are counted against.
    #[serde(default)]
    address: String,
}

fn now_ms() -> i64 {
    worker::Date::now().as_millis() as i64
}

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
    rates: RefCell<HashMap<String, RateWindow>>,
    /// Ephemeral bytes each client address made this session send in the current second.
    relay_budget: RefCell<RelayBudget>,
    /// Presence of SSE and long-poll clients.
    http_presence: RefCell<HttpPresence>,
    hub: Hub,
    /// Updates waiting for the next batch tick (shared with the tick's timer).
    batch: Rc<RefCell<UpdateBatch>>,
}

impl DurableObject for SessionObject {
    fn new(state: State, env: Env) -> Self {
        let store = SqlStore::new(state.storage().sql());
        let history = HistoryStore::new(state.storage().sql());
        // Answer the plain-text keep-alive without waking a hibernated object (P13).
        if let Ok(pair) = worker::WebSocketRequestResponsePair::new("ping", "pong") {
            state.set_websocket_auto_response(&pair);
        }
        SessionObject {
            state,
            limits: limits_from_env(&env),
            history,
            store,
            cache: RefCell::new(None),
            rates: RefCell::new(HashMap::new()),
            relay_budget: RefCell::default(),
            http_presence: RefCell::default(),
            hub: Hub::default(),
            batch: Rc::default(),
        }
    }

    async fn fetch(&self, req: Request) -> worker::Result<Response> {
        match self.route(req).await {
            Ok(resp) => Ok(resp),
            Err(e) => error_response(&e),
        }
    }

    async fn websocket_message(&self, ws: WebSocket, message: WebSocketIncomingMessage) -> worker::Result<()> {
        let Some(att) = ws.deserialize_attachment::<Attachment>().ok().flatten() else {
            let _ = ws.close(Some(1011), Some("connection lost its identity"));
            return Ok(());
        };
        let text = match message {
            WebSocketIncomingMessage::String(s) => s,
            WebSocketIncomingMessage::Binary(_) => {
                send(
                    &ws,
                    &ServerFrame::error(&ApiError::InvalidFrame("binary frames are not supported".into())).to_json(),
                );
                return Ok(());
            }
        };
        self.on_frame(&ws, &att, &text);
        Ok(())
    }

    async fn websocket_close(&self, ws: WebSocket, code: usize, reason: String, _clean: bool) -> worker::Result<()> {
        // Complete the closing handshake; 1005/1006 are reserved and cannot be sent back.
        let code = u16::try_from(code).ok().filter(|c| *c == 1000 || (3000..5000).contains(c)).unwrap_or(1000);
        let _ = ws.close(Some(code), Some(reason));
        self.on_leave(&ws);
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, _error: worker::Error) -> worker::Result<()> {
        self.on_leave(&ws);
        Ok(())
    }

    async fn alarm(&self) -> worker::Result<Response> {
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
                self.http_write(&req, &body)
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
                self.restore(&req, &body)
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
        self.hub.len() > 0 || !self.http_presence.borrow().is_empty() || !self.state.get_websockets().is_empty()
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
        let notice =
            ServerFrame::Error { code: "session_ended".into(), message: "the session was deleted or expired".into() }
                .to_json();
        for ws in self.state.get_websockets() {
            end_socket(&ws, &notice, close::SESSION_ENDED, "session ended");
        }
        self.hub.revoke(&[Role::Admin, Role::Write, Role::Read], &sse_event("error", None, &notice), Wake::Ended);
        *self.http_presence.borrow_mut() = HttpPresence::default();
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
        self.sweep_presence(now);
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
            if self.http_presence.borrow().is_empty() { next } else { next.min(now + presence::PRESENCE_SWEEP_MS) };
        self.state.storage().set_alarm((next - now).max(1)).await.or_internal()
    }
}

fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

fn presence_value(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// Says why in an `error` frame, then closes: some proxies (wrangler dev's among them) hold
/// the TCP connection after a server-initiated close, so clients may not see the close code
/// promptly; the frame tells them at once.
fn end_socket(ws: &WebSocket, notice: &str, code: u16, reason: &str) {
    send(ws, notice);
    let _ = ws.close(Some(code), Some(reason));
}

/// Sends a text frame (as `part` frames when it is long, P16); a socket that is closing just
/// misses it.
fn send(ws: &WebSocket, text: &str) {
    send_text(text, |part| {
        let _ = ws.send_with_str(part);
    });
}

/// Sends a frame that may carry a document (a welcome's snapshot), written out as it is sent.
fn send_frame(ws: &WebSocket, frame: &FrameText) {
    frame.send(|part| {
        let _ = ws.send_with_str(part);
    });
}
