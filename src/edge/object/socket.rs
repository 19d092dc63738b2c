//! The WebSocket side of the session object (hibernation API) and Server-Sent Events streams.

use serde_json::Value;
use worker::{Request, Response, WebSocket, WebSocketPair};

use super::{close, header, now_ms, send, send_frame, Attachment, SessionObject};
use crate::core::error::ApiError;
use crate::core::http::{last_event_id, read_query};
use crate::core::incoming::{parse_incoming, FrameError, Incoming, RateDecision, WriteRequest};
use crate::core::keys::{random_token, Role};
use crate::core::protocol::{PresenceEvent, ServerFrame};
use crate::core::routes::websocket_handshake;
use crate::core::session::{plan_resume, welcome_frame, WriteOutcome};
use crate::edge::abuse::client_address;
use crate::edge::fanout::{BATCHED, LIVE};
use crate::edge::hub::sse_event;
use crate::edge::respond::{log_internal, OrInternal};

impl SessionObject {
    pub(super) fn open_socket(&self, req: &Request, role: Role, query: Option<&str>) -> Result<Response, ApiError> {
        websocket_handshake(
            header(req, "Upgrade").as_deref(),
            header(req, "Sec-WebSocket-Version").as_deref(),
            header(req, "Sec-WebSocket-Key").as_deref(),
        )?;
        let q = read_query(query, &self.limits)?;
        let pair = WebSocketPair::new().or_internal()?;
        let client_id = format!("c_{}", &random_token()?[..10]);
        let full = self.state.get_websockets().len() >= self.limits.max_clients;
        let mode = if q.batch { BATCHED } else { LIVE };
        self.state.accept_websocket_with_tags(&pair.server, &[client_id.as_str(), role.as_str(), mode]);
        if full {
            let err = ApiError::SessionFull { limit: self.limits.max_clients };
            send(&pair.server, &ServerFrame::error(&err).to_json());
            let _ = pair.server.close(Some(close::SESSION_FULL), Some("session full"));
            return Response::from_websocket(pair.client).or_internal();
        }
        let att = Attachment { id: client_id.clone(), role, presence: "null".into(), address: client_address(req) };
        pair.server.serialize_attachment(&att).or_internal()?;
        let presence = self.presence_list();
        let now = now_ms();
        let welcome = self.with_record(|r| {
            if r.touch_on_connect(now) {
                self.store.set_expiry(r.expires_at)?;
            }
            let plan = plan_resume(&self.store, r, q.since, &self.limits)?;
            welcome_frame(r, plan, &client_id, role, presence, &self.limits)
        })?;
        send_frame(&pair.server, &welcome);
        self.announce(&client_id, PresenceEvent::Join, Value::Null);
        Response::from_websocket(pair.client).or_internal()
    }

    pub(super) fn on_frame(&self, ws: &WebSocket, att: &Attachment, text: &str) {
        let decision = self
            .rates
            .borrow_mut()
            .entry(att.id.clone())
            .or_default()
            .hit(now_ms(), self.limits.max_messages_per_second);
        let parsed = parse_incoming(text, &self.limits);
        match decision {
            RateDecision::Allow => {}
            RateDecision::Drop => {
                let frame = match parsed {
                    Ok(Incoming::Write(w)) => return self.send_reject(ws, w.op_id, &ApiError::RateLimited),
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
                if let Err(e) = ws.serialize_attachment(&updated).or_internal() {
                    return self.send_error(ws, &e);
                }
                self.announce(&att.id, PresenceEvent::Update, data);
            }
            Ok(Incoming::Broadcast { to, data }) => {
                if let Err(e) = self.relay(&att.id, &att.address, to.as_deref(), data) {
                    self.send_error(ws, &e);
                }
            }
            Ok(Incoming::Ping) => send(ws, &ServerFrame::Pong.to_json()),
            Ok(Incoming::Chat(line)) => {
                self.send_to_others(&att.id, &format!("{} says: {}", att.id, line));
            }
            Err(FrameError::Frame(e)) => {
                self.send_error(ws, &e);
                if matches!(e, ApiError::MessageTooLarge { .. }) {
                    let _ = ws.close(Some(close::TOO_BIG), Some("message too large"));
                }
            }
            Err(FrameError::Write { op_id, error }) => self.send_reject(ws, op_id, &error),
        }
    }

    pub(super) fn on_write(&self, ws: &WebSocket, att: &Attachment, req: WriteRequest) {
        let op_id = req.op_id.clone();
        if let Err(e) = att.role.require_write() {
            return self.send_reject(ws, op_id, &e);
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
            Err(e) => self.send_reject(ws, op_id, &e),
        }
    }

    pub(super) fn on_leave(&self, ws: &WebSocket) {
        let Some(att) = ws.deserialize_attachment::<Attachment>().ok().flatten() else { return };
        self.rates.borrow_mut().remove(&att.id);
        self.announce(&att.id, PresenceEvent::Leave, Value::Null);
    }

    /// The session's current version; a storage error is returned, never read as version 0.
    pub(super) fn version(&self) -> Result<u64, ApiError> {
        self.with_record(|r| Ok(r.version))
    }

    /// Sends an `error` frame; an internal cause is logged (the client only sees `internal`).
    fn send_error(&self, ws: &WebSocket, err: &ApiError) {
        log_internal(err);
        send(ws, &ServerFrame::error(err).to_json());
    }

    /// Sends the `reject` of a write with the current version. When that version cannot be
    /// read, the reject carries the reason instead (logged when internal) and version 0.
    fn send_reject(&self, ws: &WebSocket, op_id: Option<String>, err: &ApiError) {
        log_internal(err);
        let frame = match err.current_version().map_or_else(|| self.version(), Ok) {
            Ok(version) => ServerFrame::reject(op_id, err, version),
            Err(cause) => {
                log_internal(&cause);
                ServerFrame::reject(op_id, &cause, 0)
            }
        };
        send(ws, &frame.to_json());
    }

    // ----- SSE -----

    pub(super) fn open_events(&self, req: &Request, role: Role, query: Option<&str>) -> Result<Response, ApiError> {
        let q = read_query(query, &self.limits)?;
        let since = last_event_id(header(req, "Last-Event-ID").as_deref())?.or(q.since);
        if self.hub.sse_count() >= self.limits.max_sse_streams {
            return Err(ApiError::TooManyConnections);
        }
        let client_id = format!("s_{}", &random_token()?[..10]);
        let presence = self.presence_list();
        let welcome = self.with_record(|r| {
            let plan = plan_resume(&self.store, r, since, &self.limits)?;
            welcome_frame(r, plan, &client_id, role, presence, &self.limits)
        })?;
        // A client further behind than this is better served by reconnecting (with a snapshot).
        let max_queued = 2 * self.limits.max_state_bytes + self.limits.oplog_max_bytes as usize;
        self.hub.subscribe(role, &client_id, &sse_event("welcome", None, &welcome.to_text()), max_queued)
    }
}
