//! The HTTP operations of the session object: create, read (with long-poll), write, rotate,
//! ephemeral messages and the inspector's view.

use serde_json::json;
use worker::{Request, Response};

use super::writes::Writes;
use super::{header, SessionObject, DEFAULT_WAIT_SECONDS, RECENT_OPS};
use crate::core::doc::Document;
use crate::core::document::{Change, SessionRecord};
use crate::core::error::ApiError;
use crate::core::http::{
    create_request, if_match, if_none_match_hits, message_body, patch_change, put_change, read_query,
};
use crate::core::incoming::{check_op_id, WriteRequest};
use crate::core::keys::{random_token, KeyHashes, Role, Secrets, SessionKey};
use crate::core::oplog::OpLog;
use crate::core::room::{ConnId, ConnInfo, ConnKind, Effect};
use crate::core::session::WriteOutcome;
use crate::edge::abuse::client_address;
use crate::edge::host::now_ms;
use crate::edge::hub::Wake;
use crate::edge::respond::{empty, json, json_with_state, set_header, OrInternal};
use serde_json::Value;
use std::time::Duration;

impl SessionObject {
    pub(super) async fn create(
        &self,
        session_id: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Response, ApiError> {
        let req = create_request(content_type, body, &self.limits)?;
        // Only "no session here" lets a create go on; a storage error is answered (and logged) as one.
        match self.with_record(|_| Ok(())) {
            Ok(()) => return Err(ApiError::Internal("session id collision".into())),
            Err(ApiError::SessionNotFound) => {}
            Err(e) => return Err(e),
        }
        let secrets = Secrets::generate()?;
        let now = now_ms();
        let ttl_ms = (req.ttl_seconds * 1000) as i64;
        let record = SessionRecord {
            doc: Document { root: req.state },
            version: 1,
            updated_at: now,
            expires_at: now + ttl_ms,
            ttl_ms,
            strict: req.strict,
            hashes: secrets.hashes(),
            log: OpLog::new(1, Vec::new()),
            unreadable: None,
        };
        self.store.create(&record)?;
        self.state.storage().set_alarm(ttl_ms).await.or_internal()?;
        let body = json!({
            "sessionId": session_id,
            "keys": secrets.keys_json(session_id),
            "version": record.version,
            "updatedAt": record.updated_at,
            "expiresAt": record.expires_at,
            "ttl": req.ttl_seconds,
            "strict": record.strict,
        });
        let mut resp = json_with_state(201, &body, record.doc.root.clone())?;
        set_header(&mut resp, "ETag", &record.etag())?;
        set_header(
            &mut resp,
            "Location",
            &format!("/api/v1/sessions/{}", SessionKey::format(session_id, &secrets.write)),
        )?;
        *self.cache.borrow_mut() = Some(Some(record));
        Ok(resp)
    }

    pub(super) async fn get_state(&self, req: &Request, role: Role, query: Option<&str>) -> Result<Response, ApiError> {
        let q = read_query(query, &self.limits)?;
        if let Some(after) = q.after {
            let id = ConnId(format!("l_{}", &random_token()?[..10]));
            let info = ConnInfo {
                id: id.clone(),
                role,
                kind: ConnKind::LongPoll,
                address: client_address(req),
                batch: false,
                relay: None,
            };
            let fx = self.room.borrow_mut().on_connect(info, Some(after), now_ms(), &mut Writes(self))?;
            let answered = fx.list.iter().any(|e| matches!(e, Effect::Answer(a) if *a == id));
            self.host().run(fx);
            if !answered {
                let wait = q.wait_seconds.unwrap_or(DEFAULT_WAIT_SECONDS).min(self.limits.max_long_poll_seconds);
                let woke = self.hub.wait(id.as_str(), Duration::from_secs(wait)).await;
                // Timed out or answered: either way it has left the room.
                let fx = self.room.borrow_mut().on_close(&id, now_ms());
                self.host().run(fx);
                match woke {
                    Some(Wake::KeyRotated) => return Err(ApiError::KeyRotated),
                    Some(Wake::Ended) => return Err(ApiError::SessionNotFound),
                    Some(Wake::Changed) | None => {}
                }
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
                "version": r.version,
                "updatedAt": r.updated_at,
                "expiresAt": r.expires_at,
                "role": role,
            });
            let mut resp = json_with_state(200, &body, r.readable()?.root.clone())?;
            set_header(&mut resp, "ETag", &r.etag())?;
            Ok(resp)
        })
    }

    pub(super) fn http_write(&self, req: &Request, role: Role, body: &[u8]) -> Result<Response, ApiError> {
        let content_type = header(req, "Content-Type");
        let change = if req.method() == worker::Method::Put {
            put_change(content_type.as_deref(), body, &self.limits)?
        } else {
            patch_change(content_type.as_deref(), body, &self.limits)?
        };
        self.http_write_change(req, role, change)
    }

    /// Applies `change` as an HTTP write with the request's `If-Match` and `Idempotency-Key`,
    /// and answers `{version, updatedAt}` (or `duplicate`) with the new ETag. PUT, PATCH and
    /// restore all end here.
    pub(super) fn http_write_change(&self, req: &Request, role: Role, change: Change) -> Result<Response, ApiError> {
        // `If-Match: *` matches whatever version is current (no await until the write, so it cannot change).
        let base_version = match if_match(header(req, "If-Match").as_deref())? {
            Some(m) => Some(self.with_record(|r| Ok(m.base_version(r.version)))?),
            None => None,
        };
        let op_id = header(req, "Idempotency-Key");
        check_op_id(&op_id)?;
        let request = WriteRequest { op_id, base_version, change };
        let (outcome, fx) = self.room.borrow_mut().on_http_write(request, role, now_ms(), &mut Writes(self))?;
        self.host().run(fx);
        let (version, body) = match outcome {
            WriteOutcome::Applied { version, updated_at, .. } => {
                (version, json!({"version": version, "updatedAt": updated_at}))
            }
            WriteOutcome::Duplicate { version } => (version, json!({"version": version, "duplicate": true})),
        };
        let mut resp = json(200, &body)?;
        set_header(&mut resp, "ETag", &format!("\"{version}\""))?;
        Ok(resp)
    }

    pub(super) fn rotate(&self, admin_secret: &str, session_id: &str) -> Result<Response, ApiError> {
        let fresh = Secrets::generate()?;
        self.with_record(|r| {
            let hashes = KeyHashes { admin: r.hashes.admin.clone(), ..fresh.hashes() };
            self.store.set_hashes(&hashes)?;
            r.hashes = hashes;
            Ok(())
        })?;
        let fx = self.room.borrow_mut().on_key_rotated(now_ms());
        self.host().run(fx);
        let keys = json!({
            "admin": SessionKey::format(session_id, admin_secret),
            "write": SessionKey::format(session_id, &fresh.write),
            "read": SessionKey::format(session_id, &fresh.read),
        });
        json(200, &json!({ "keys": keys }))
    }

    pub(super) fn http_message(
        &self,
        address: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Response, ApiError> {
        let msg = message_body(content_type, body, &self.limits)?;
        let (delivered, fx) =
            self.room.borrow_mut().on_http_message(address, msg.to.as_deref(), msg.data, msg.volatile, now_ms())?;
        self.host().run(fx);
        json(202, &json!({ "delivered": delivered }))
    }

    pub(super) fn info(&self) -> Result<Response, ApiError> {
        let clients: Vec<Value> = self
            .room
            .borrow()
            .clients()
            .into_iter()
            .map(|c| json!({"clientId": c.client_id, "role": c.role, "data": c.data}))
            .collect();
        // The newest ops that fit in `info_ops_bytes`, oldest first.
        let mut budget = self.limits.info_ops_bytes;
        let mut frames: Vec<String> = self.store.recent_ops(RECENT_OPS)?;
        let keep =
            frames.iter().rev().take_while(|f| budget.checked_sub(f.len()).map(|b| budget = b).is_some()).count();
        let recent: Vec<Value> =
            frames.drain(frames.len() - keep..).filter_map(|f| serde_json::from_str(&f).ok()).collect();
        let (sse_streams, long_polls) = (self.hub.sse_count(), self.hub.long_poll_count());
        let audience = {
            let room = self.room.borrow();
            let relays: Vec<Value> = room
                .relays()
                .into_iter()
                .filter(|(_, r)| r.connected)
                .map(|(k, r)| json!({"index": k, "viewers": r.viewers}))
                .collect();
            json!({"viewers": room.audience(), "direct": room.direct_viewers(), "relays": relays})
        };
        let body = self.with_record(|r| {
            Ok(json!({
                "version": r.version,
                "updatedAt": r.updated_at,
                "expiresAt": r.expires_at,
                "strict": r.strict,
                "stateBytes": r.state_bytes(),
                "oplogBytes": r.log.bytes(),
                "clients": clients,
                "httpListeners": sse_streams + long_polls,
                "sseStreams": sse_streams,
                "longPolls": long_polls,
                "recentOps": recent,
                "audience": audience,
            }))
        })?;
        json(200, &body)
    }
}
