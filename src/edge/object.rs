//! The session's Durable Object: a thin adapter that loads the record, calls the core, stores
//! through `SqlStore`, and sends what the core produced to WebSockets, SSE streams and HTTP.
//!
//! In-memory fields are a cache: after hibernation or a reset the record is reloaded from
//! SQLite and each socket's identity and presence come back from its attachment and tags.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use worker::{
    durable_object, DurableObject, Env, Request, Response, State, WebSocket, WebSocketIncomingMessage, WebSocketPair,
};

use super::fanout::send_all;
use super::hub::{sse_event, Hub};
use super::respond::{empty, error_response, json, set_header, OrInternal};
use super::router::limits_from_env;
use super::sql_store::SqlStore;
use crate::core::document::SessionRecord;
use crate::core::error::ApiError;
use crate::core::http::{create_request, if_match, if_none_match_hits, message_body, patch_change, put_change, read_query};
use crate::core::incoming::{check_op_id, parse_incoming, FrameError, Incoming, RateDecision, RateWindow, WriteRequest};
use crate::core::keys::{random_token, KeyHashes, Role, Secrets, SessionKey};
use crate::core::limits::Limits;
use crate::core::protocol::{PresenceEntry, PresenceEvent, ServerFrame};
use crate::core::session::{apply_write, plan_resume, welcome_frame, WriteOutcome};

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

/// The operation the router asks the object to perform.
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
        }
    }

    fn from_path(path: &str) -> Option<Op> {
        [Op::Create, Op::State, Op::Rotate, Op::Ws, Op::Events, Op::Messages, Op::Info]
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
    /// `None` until loaded; then `Some(None)` when no session lives here.
    cache: RefCell<Option<Option<SessionRecord>>>,
    rates: RefCell<HashMap<String, RateWindow>>,
    hub: Hub,
}

impl DurableObject for SessionObject {
    fn new(state: State, env: Env) -> Self {
        let store = SqlStore::new(state.storage().sql());
        // Answer the plain-text keep-alive without waking a hibernated object (P13).
        if let Ok(pair) = worker::WebSocketRequestResponsePair::new("ping", "pong") {
            state.set_websocket_auto_response(&pair);
        }
        SessionObject {
            state,
            limits: limits_from_env(&env),
            store,
            cache: RefCell::new(None),
            rates: RefCell::new(HashMap::new()),
            hub: Hub::default(),
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
                send(&ws, &ServerFrame::error(&ApiError::InvalidFrame("binary frames are not supported".into())).to_json());
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
            (Op::State, worker::Method::Get) => self.get_state(&req, role, query.as_deref()).await,
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
                self.http_message(header(&req, "Content-Type").as_deref(), &body)
            }
            (Op::Info, _) => self.info(),
            _ => Err(ApiError::MethodNotAllowed),
        }
    }

    // ----- the record cache -----

    /// Runs `f` on the loaded record; `session_not_found` when there is none.
    fn with_record<R>(&self, f: impl FnOnce(&mut SessionRecord) -> Result<R, ApiError>) -> Result<R, ApiError> {
        let mut cache = self.cache.borrow_mut();
        if cache.is_none() {
            *cache = Some(self.store.load()?);
        }
        match cache.as_mut().and_then(Option::as_mut) {
            Some(record) => f(record),
            None => Err(ApiError::SessionNotFound),
        }
    }

    /// Whether clients are connected, which keeps the session from going idle.
    fn is_watched(&self) -> bool {
        self.hub.len() > 0 || !self.state.get_websockets().is_empty()
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
        let notice = ServerFrame::Error { code: "session_ended".into(), message: "the session was deleted or expired".into() }.to_json();
        for ws in self.state.get_websockets() {
            end_socket(&ws, &notice, close::SESSION_ENDED, "session ended");
        }
        self.hub.close_all();
        *self.cache.borrow_mut() = Some(None);
        let storage = self.state.storage();
        storage.delete_alarm().await.or_internal()?;
        storage.delete_all().await.or_internal()?;
        Ok(())
    }

    async fn on_alarm(&self) -> Result<(), ApiError> {
        let now = now_ms();
        let expires_at = match self.with_record(|r| Ok(r.expires_at)) {
            Ok(at) => at,
            Err(ApiError::SessionNotFound) => return self.erase().await,
            Err(e) => return Err(e),
        };
        if now < expires_at {
            return self.state.storage().set_alarm(expires_at - now).await.or_internal();
        }
        if !self.is_watched() {
            return self.erase().await;
        }
        // Someone is still connected: the session is not idle.
        let next = self.with_record(|r| {
            r.touch(now);
            self.store.set_expiry(r.expires_at)?;
            Ok(r.expires_at)
        })?;
        self.state.storage().set_alarm(next - now).await.or_internal()
    }

    // ----- HTTP -----

    async fn create(&self, session_id: &str, content_type: Option<&str>, body: &[u8]) -> Result<Response, ApiError> {
        let req = create_request(content_type, body, &self.limits)?;
        if self.with_record(|_| Ok(())).is_ok() {
            return Err(ApiError::Internal("session id collision".into()));
        }
        let secrets = Secrets::generate()?;
        let now = now_ms();
        let ttl_ms = (req.ttl_seconds * 1000) as i64;
        let record = SessionRecord {
            state_bytes: req.state_json.len(),
            state: req.state,
            version: 1,
            updated_at: now,
            expires_at: now + ttl_ms,
            ttl_ms,
            strict: req.strict,
            hashes: secrets.hashes(),
            oplog_bytes: 0,
        };
        self.store.create(&record, &req.state_json)?;
        self.state.storage().set_alarm(ttl_ms).await.or_internal()?;
        let body = json!({
            "sessionId": session_id,
            "keys": secrets.keys_json(session_id),
            "state": record.state,
            "version": record.version,
            "updatedAt": record.updated_at,
            "expiresAt": record.expires_at,
            "ttl": req.ttl_seconds,
            "strict": record.strict,
        });
        let mut resp = json(201, &body)?;
        set_header(&mut resp, "ETag", &record.etag())?;
        set_header(&mut resp, "Location", &format!("/api/v1/sessions/{}", SessionKey::format(session_id, &secrets.write)))?;
        *self.cache.borrow_mut() = Some(Some(record));
        Ok(resp)
    }

    async fn get_state(&self, req: &Request, role: Role, query: Option<&str>) -> Result<Response, ApiError> {
        let q = read_query(query, &self.limits)?;
        if let Some(after) = q.after {
            let current = self.with_record(|r| Ok(r.version))?;
            if current <= after {
                let wait = q.wait_seconds.unwrap_or(DEFAULT_WAIT_SECONDS).min(self.limits.max_long_poll_seconds);
                self.hub.wait(Duration::from_secs(wait)).await;
                if self.with_record(|r| Ok(r.version))? <= after {
                    return empty(304);
                }
            }
        }
        let if_none_match = header(req, "If-None-Match");
        self.with_record(|r| {
            if if_none_match_hits(if_none_match.as_deref(), r.version) {
                let mut resp = empty(304)?;
                set_header(&mut resp, "ETag", &r.etag())?;
                return Ok(resp);
            }
            let body = json!({
                "state": r.state,
                "version": r.version,
                "updatedAt": r.updated_at,
                "expiresAt": r.expires_at,
                "role": role,
            });
            let mut resp = json(200, &body)?;
            set_header(&mut resp, "ETag", &r.etag())?;
            Ok(resp)
        })
    }

    fn http_write(&self, req: &Request, body: &[u8]) -> Result<Response, ApiError> {
        let content_type = header(req, "Content-Type");
        let change = if req.method() == worker::Method::Put {
            put_change(content_type.as_deref(), body, &self.limits)?
        } else {
            patch_change(content_type.as_deref(), body, &self.limits)?
        };
        let base_version = if_match(header(req, "If-Match").as_deref())?;
        let op_id = header(req, "Idempotency-Key");
        check_op_id(&op_id)?;
        let outcome = self.write(WriteRequest { op_id, base_version, change }, HTTP_AUTHOR)?;
        let (version, body) = match outcome {
            WriteOutcome::Applied { version, updated_at, .. } => (version, json!({"version": version, "updatedAt": updated_at})),
            WriteOutcome::Duplicate { version } => (version, json!({"version": version, "duplicate": true})),
        };
        let mut resp = json(200, &body)?;
        set_header(&mut resp, "ETag", &format!("\"{version}\""))?;
        Ok(resp)
    }

    fn rotate(&self, admin_secret: &str, session_id: &str) -> Result<Response, ApiError> {
        let fresh = Secrets::generate()?;
        self.with_record(|r| {
            let hashes = KeyHashes { admin: r.hashes.admin.clone(), ..fresh.hashes() };
            self.store.set_hashes(&hashes)?;
            r.hashes = hashes;
            Ok(())
        })?;
        let notice = ServerFrame::Error { code: "key_rotated".into(), message: "the key of this connection was rotated".into() }.to_json();
        for tag in [Role::Write.as_str(), Role::Read.as_str()] {
            for ws in self.state.get_websockets_with_tag(tag) {
                end_socket(&ws, &notice, close::KEY_ROTATED, "key rotated");
            }
        }
        let keys = json!({
            "admin": SessionKey::format(session_id, admin_secret),
            "write": SessionKey::format(session_id, &fresh.write),
            "read": SessionKey::format(session_id, &fresh.read),
        });
        json(200, &json!({ "keys": keys }))
    }

    fn http_message(&self, content_type: Option<&str>, body: &[u8]) -> Result<Response, ApiError> {
        let msg = message_body(content_type, body, &self.limits)?;
        let delivered = self.relay(HTTP_AUTHOR, msg.to.as_deref(), msg.data)?;
        json(202, &json!({ "delivered": delivered }))
    }

    fn info(&self) -> Result<Response, ApiError> {
        let clients: Vec<Value> = self
            .state
            .get_websockets()
            .iter()
            .filter_map(|ws| ws.deserialize_attachment::<Attachment>().ok().flatten())
            .map(|a| json!({"clientId": a.id, "role": a.role, "data": presence_value(&a.presence)}))
            .collect();
        let recent: Vec<Value> = self
            .store
            .recent_ops(RECENT_OPS)?
            .iter()
            .filter_map(|f| serde_json::from_str(f).ok())
            .collect();
        let hub_listeners = self.hub.len();
        let body = self.with_record(|r| {
            Ok(json!({
                "version": r.version,
                "updatedAt": r.updated_at,
                "expiresAt": r.expires_at,
                "strict": r.strict,
                "stateBytes": r.state_bytes,
                "oplogBytes": r.oplog_bytes,
                "clients": clients,
                "httpListeners": hub_listeners,
                "recentOps": recent,
            }))
        })?;
        json(200, &body)
    }

    // ----- writes and fan-out -----

    /// Applies a write from any transport and fans the update out to every listener.
    fn write(&self, req: WriteRequest, author: &str) -> Result<WriteOutcome, ApiError> {
        let outcome = self.with_record(|r| apply_write(&self.store, r, req, author, &self.limits, now_ms()))?;
        if let WriteOutcome::Applied { version, frame, .. } = &outcome {
            send_all(&self.state, frame);
            self.hub.publish(&sse_event("update", Some(*version), frame));
            self.hub.wake_waiters();
        }
        Ok(outcome)
    }

    /// Relays an ephemeral message; returns how many clients it reached.
    fn relay(&self, from: &str, to: Option<&str>, data: Value) -> Result<usize, ApiError> {
        let frame = ServerFrame::Broadcast { from: from.to_owned(), data }.to_json();
        match to {
            Some(to) => {
                let targets = self.state.get_websockets_with_tag(to);
                if targets.is_empty() || !to.starts_with("c_") {
                    return Err(ApiError::UnknownClient(to.to_owned()));
                }
                targets.iter().for_each(|ws| send(ws, &frame));
                Ok(targets.len())
            }
            None => {
                let n = self.send_to_others(from, &frame);
                self.hub.publish(&sse_event("broadcast", None, &frame));
                Ok(n)
            }
        }
    }

    /// Sends `text` to every socket but the one of client `except`; returns how many.
    fn send_to_others(&self, except: &str, text: &str) -> usize {
        let mut n = 0;
        for ws in self.state.get_websockets() {
            if self.state.get_tags(&ws).first().map(String::as_str) != Some(except) {
                send(&ws, text);
                n += 1;
            }
        }
        n
    }

    // ----- WebSocket -----

    fn open_socket(&self, req: &Request, role: Role, query: Option<&str>) -> Result<Response, ApiError> {
        let upgrade = header(req, "Upgrade").unwrap_or_default();
        if !upgrade.eq_ignore_ascii_case("websocket") {
            return Err(ApiError::UpgradeRequired);
        }
        let q = read_query(query, &self.limits)?;
        let pair = WebSocketPair::new().or_internal()?;
        let client_id = format!("c_{}", &random_token()?[..10]);
        let full = self.state.get_websockets().len() >= self.limits.max_clients;
        self.state.accept_websocket_with_tags(&pair.server, &[client_id.as_str(), role.as_str()]);
        if full {
            let err = ApiError::SessionFull { limit: self.limits.max_clients };
            send(&pair.server, &ServerFrame::error(&err).to_json());
            let _ = pair.server.close(Some(close::SESSION_FULL), Some("session full"));
            return Response::from_websocket(pair.client).or_internal();
        }
        let att = Attachment { id: client_id.clone(), role, presence: "null".into() };
        pair.server.serialize_attachment(&att).or_internal()?;
        let presence = self.presence_list();
        let now = now_ms();
        let welcome = self.with_record(|r| {
            r.touch(now);
            self.store.set_expiry(r.expires_at)?;
            let plan = plan_resume(&self.store, r, q.since)?;
            welcome_frame(r, plan, &client_id, role, presence, &self.limits)
        })?;
        send(&pair.server, &welcome);
        let join = ServerFrame::Presence { event: PresenceEvent::Join, client_id: client_id.clone(), data: Value::Null };
        self.send_to_others(&client_id, &join.to_json());
        Response::from_websocket(pair.client).or_internal()
    }

    fn presence_list(&self) -> Vec<PresenceEntry> {
        self.state
            .get_websockets()
            .iter()
            .filter_map(|ws| ws.deserialize_attachment::<Attachment>().ok().flatten())
            .map(|a| PresenceEntry { data: presence_value(&a.presence), client_id: a.id })
            .collect()
    }

    fn on_frame(&self, ws: &WebSocket, att: &Attachment, text: &str) {
        let decision = self.rates.borrow_mut().entry(att.id.clone()).or_default().hit(now_ms(), self.limits.max_messages_per_second);
        let parsed = parse_incoming(text, &self.limits);
        match decision {
            RateDecision::Allow => {}
            RateDecision::Drop => {
                let frame = match parsed {
                    Ok(Incoming::Write(w)) => ServerFrame::reject(w.op_id, &ApiError::RateLimited, self.version()),
                    _ => ServerFrame::error(&ApiError::RateLimited),
                };
                send(ws, &frame.to_json());
                return;
            }
            RateDecision::Close => {
                send(ws, &ServerFrame::error(&ApiError::RateLimited).to_json());
                let _ = ws.close(Some(close::RATE_LIMITED), Some("rate limit"));
                return;
            }
        }
        match parsed {
            Ok(Incoming::Write(req)) => self.on_write(ws, att, req),
            Ok(Incoming::Presence(data)) => {
                let updated = Attachment { presence: data.to_string(), ..att.clone() };
                if let Err(e) = ws.serialize_attachment(&updated) {
                    send(ws, &ServerFrame::error(&ApiError::Internal(e.to_string())).to_json());
                    return;
                }
                let frame = ServerFrame::Presence { event: PresenceEvent::Update, client_id: att.id.clone(), data };
                self.send_to_others(&att.id, &frame.to_json());
            }
            Ok(Incoming::Broadcast { to, data }) => {
                if let Err(e) = self.relay(&att.id, to.as_deref(), data) {
                    send(ws, &ServerFrame::error(&e).to_json());
                }
            }
            Ok(Incoming::Ping) => send(ws, &ServerFrame::Pong.to_json()),
            Ok(Incoming::Chat(line)) => {
                self.send_to_others(&att.id, &format!("{} says: {}", att.id, line));
            }
            Err(FrameError::Frame(e)) => {
                send(ws, &ServerFrame::error(&e).to_json());
                if matches!(e, ApiError::MessageTooLarge { .. }) {
                    let _ = ws.close(Some(close::TOO_BIG), Some("message too large"));
                }
            }
            Err(FrameError::Write { op_id, error }) => {
                send(ws, &ServerFrame::reject(op_id, &error, self.version()).to_json());
            }
        }
    }

    fn on_write(&self, ws: &WebSocket, att: &Attachment, req: WriteRequest) {
        let op_id = req.op_id.clone();
        if let Err(e) = att.role.require_write() {
            send(ws, &ServerFrame::reject(op_id, &e, self.version()).to_json());
            return;
        }
        match self.write(req, &att.id) {
            Ok(outcome) => {
                if let Some(op_id) = op_id {
                    let (version, duplicate) = match outcome {
                        WriteOutcome::Applied { version, .. } => (version, false),
                        WriteOutcome::Duplicate { version } => (version, true),
                    };
                    send(ws, &ServerFrame::Ack { op_id, version, duplicate }.to_json());
                }
            }
            Err(ApiError::SessionNotFound) => {
                let _ = ws.close(Some(close::SESSION_ENDED), Some("session ended"));
            }
            Err(e) => {
                if let ApiError::Internal(detail) = &e {
                    worker::console_error!("write failed: {detail}");
                }
                send(ws, &ServerFrame::reject(op_id, &e, self.version()).to_json());
            }
        }
    }

    fn on_leave(&self, ws: &WebSocket) {
        let Some(att) = ws.deserialize_attachment::<Attachment>().ok().flatten() else { return };
        self.rates.borrow_mut().remove(&att.id);
        let frame = ServerFrame::Presence { event: PresenceEvent::Leave, client_id: att.id.clone(), data: Value::Null };
        self.send_to_others(&att.id, &frame.to_json());
    }

    fn version(&self) -> u64 {
        self.with_record(|r| Ok(r.version)).unwrap_or(0)
    }

    // ----- SSE -----

    fn open_events(&self, req: &Request, role: Role, query: Option<&str>) -> Result<Response, ApiError> {
        let q = read_query(query, &self.limits)?;
        let since = match header(req, "Last-Event-ID") {
            Some(id) => Some(id.trim().parse::<u64>().map_err(|_| ApiError::InvalidRequest(format!("Last-Event-ID must be a version, got {id:?}")))?),
            None => q.since,
        };
        if self.hub.len() >= self.limits.max_clients {
            return Err(ApiError::TooManyConnections);
        }
        let client_id = format!("s_{}", &random_token()?[..10]);
        let presence = self.presence_list();
        let welcome = self.with_record(|r| {
            let plan = plan_resume(&self.store, r, since)?;
            welcome_frame(r, plan, &client_id, role, presence, &self.limits)
        })?;
        self.hub.subscribe(sse_event("welcome", None, &welcome))
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

/// Sends a text frame; a socket that is closing just misses it.
fn send(ws: &WebSocket, text: &str) {
    let _ = ws.send_with_str(text);
}
