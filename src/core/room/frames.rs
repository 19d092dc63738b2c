//! Frames from WebSocket clients and writes from HTTP: the rate limit (P11), roles (P7),
//! writes answered by `ack` or `reject` (P3, P5, P6), pings (P13), and the `error` answer
//! to malformed frames (P10). Presence, broadcasts and chat lines go on to `relay`.

use super::effects::{close, ConnId, Effect, Effects};
use super::{Room, SessionWrites, HTTP_AUTHOR};
use crate::core::error::ApiError;
use crate::core::incoming::{parse_incoming, FrameError, Incoming, RateDecision, WriteRequest};
use crate::core::keys::Role;
use crate::core::protocol::ServerFrame;
use crate::core::session::WriteOutcome;

impl Room {
    /// A text frame from WebSocket `conn`.
    pub fn on_frame(&mut self, conn: &ConnId, text: &str, now: i64, store: &mut impl SessionWrites) -> Effects {
        let mut fx = Effects::default();
        if text == "ping" {
            // The runtime answers this itself without waking the object (P13); if one gets here, answer alike.
            fx.reply(conn, "pong".into(), "pong");
            return fx;
        }
        let per_second = self.config.limits.max_messages_per_second;
        let Some(c) = self.conns.get_mut(conn) else {
            fx.close(conn, close::LOST, "connection lost its identity");
            return fx;
        };
        if let Some(k) = c.info.relay {
            // A relay speaks for many viewers: no per-connection rate, only its own frames (P18).
            self.on_relay_frame(conn, k, text, now, &mut fx);
            return fx;
        }
        let decision = c.rate.hit(now, per_second);
        let (role, address) = (c.info.role, c.info.address.clone());
        let parsed = parse_incoming(text, &self.config.limits);
        match decision {
            RateDecision::Allow => {}
            RateDecision::Drop => {
                match parsed {
                    Ok(Incoming::Write(w)) => self.reject(conn, w.op_id, &ApiError::RateLimited, store, &mut fx),
                    _ => fx.reply(conn, ServerFrame::error(&ApiError::RateLimited).to_json(), "error"),
                }
                return fx;
            }
            RateDecision::Close => {
                fx.reply(conn, ServerFrame::error(&ApiError::RateLimited).to_json(), "error");
                fx.close(conn, close::RATE_LIMITED, "rate limit");
                return fx;
            }
        }
        match parsed {
            Ok(Incoming::Write(req)) => self.on_write(conn, role, req, now, store, &mut fx),
            Ok(Incoming::Presence(data)) => self.set_presence(conn, data, now, &mut fx),
            Ok(Incoming::Broadcast { to, data, volatile }) => {
                let viewer = role == Role::Read;
                if let Err(e) = self.relay(conn.as_str(), viewer, &address, to.as_deref(), data, volatile, now, &mut fx)
                {
                    self.error(conn, &e, &mut fx);
                }
            }
            Ok(Incoming::Ping) => fx.reply(conn, ServerFrame::Pong.to_json(), "pong"),
            Ok(Incoming::Chat(line)) => self.chat(conn, &line, &mut fx),
            Err(FrameError::Frame(e)) => {
                self.error(conn, &e, &mut fx);
                if matches!(e, ApiError::MessageTooLarge { .. }) {
                    fx.close(conn, close::TOO_BIG, "message too large");
                }
            }
            Err(FrameError::Write { op_id, error }) => self.reject(conn, op_id, &error, store, &mut fx),
        }
        fx
    }

    /// A write over HTTP (PUT, PATCH, restore) by a client with `role`: applied, then the
    /// update fans out like any other (P1, P2). The outcome is for the HTTP answer.
    pub fn on_http_write(
        &mut self,
        req: WriteRequest,
        role: Role,
        now: i64,
        store: &mut impl SessionWrites,
    ) -> Result<(WriteOutcome, Effects), ApiError> {
        role.require_write()?;
        let outcome = store.write(req, HTTP_AUTHOR, now)?;
        let mut fx = Effects::default();
        if let WriteOutcome::Applied { version, frame, .. } = &outcome {
            self.publish_update(*version, frame.clone(), now, &mut fx);
        }
        Ok((outcome, fx))
    }

    fn on_write(
        &mut self,
        conn: &ConnId,
        role: Role,
        req: WriteRequest,
        now: i64,
        store: &mut impl SessionWrites,
        fx: &mut Effects,
    ) {
        let op_id = req.op_id.clone();
        if let Err(e) = role.require_write() {
            return self.reject(conn, op_id, &e, store, fx);
        }
        match store.write(req, conn.as_str(), now) {
            Ok(WriteOutcome::Applied { version, frame, .. }) => {
                self.publish_update(version, frame, now, fx);
                if let Some(op_id) = op_id {
                    fx.reply(conn, ServerFrame::Ack { op_id, version, duplicate: false }.to_json(), "ack");
                }
            }
            Ok(WriteOutcome::Duplicate { version }) => {
                if let Some(op_id) = op_id {
                    fx.reply(conn, ServerFrame::Ack { op_id, version, duplicate: true }.to_json(), "ack");
                }
            }
            Err(ApiError::SessionNotFound) => {
                let notice = ServerFrame::Error {
                    code: "session_ended".into(),
                    message: "the session was deleted or expired".into(),
                };
                fx.reply(conn, notice.to_json(), "error");
                fx.close(conn, close::SESSION_ENDED, "session ended");
            }
            Err(e) => self.reject(conn, op_id, &e, store, fx),
        }
    }

    /// Answers `error` for `err`; an internal cause goes to the log (the client sees `internal`).
    pub(super) fn error(&self, conn: &ConnId, err: &ApiError, fx: &mut Effects) {
        log_internal(err, fx);
        fx.reply(conn, ServerFrame::error(err).to_json(), "error");
    }

    /// Answers `reject` with the current version (P3); when that cannot be read, the reject
    /// carries the reason instead, with version 0.
    fn reject(
        &self,
        conn: &ConnId,
        op_id: Option<String>,
        err: &ApiError,
        store: &mut impl SessionWrites,
        fx: &mut Effects,
    ) {
        log_internal(err, fx);
        let frame = match err.current_version().map_or_else(|| store.version(), Ok) {
            Ok(version) => ServerFrame::reject(op_id, err, version),
            Err(cause) => {
                log_internal(&cause, fx);
                ServerFrame::reject(op_id, &cause, 0)
            }
        };
        fx.reply(conn, frame.to_json(), "reject");
    }
}

fn log_internal(err: &ApiError, fx: &mut Effects) {
    if let ApiError::Internal(detail) = err {
        fx.push(Effect::Log(detail.clone()));
    }
}
