//! Test doubles for the room: an in-memory `SessionWrites` with the store's rules that the
//! room relies on (one version per write, op-id de-duplication, base-version checks, resume
//! from a bounded log), and a host that carries out effects into per-connection inboxes.
//! Self-contained on purpose: the real store is being rewritten under it (issue 11).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::effects::{ConnId, ConnInfo, ConnKind, Effect, Effects, To};
use super::{Room, RoomConfig, SessionWrites};
use crate::core::doc::FrameText;
use crate::core::document::Change;
use crate::core::error::ApiError;
use crate::core::incoming::WriteRequest;
use crate::core::keys::Role;
use crate::core::limits::Limits;
use crate::core::protocol::PresenceEntry;

/// A session in memory.
#[derive(Debug, Default)]
pub(crate) struct FakeSession {
    pub version: u64,
    pub strict: bool,
    /// The op log: (version, op id, update frame); at most `max_log` entries.
    pub ops: Vec<(u64, Option<String>, String)>,
    pub max_log: usize,
    /// Storage fails (writes and version reads).
    pub broken: bool,
    /// The session is gone.
    pub ended: bool,
}

impl FakeSession {
    pub fn new() -> FakeSession {
        FakeSession { version: 1, max_log: 1000, ..FakeSession::default() }
    }
}

impl SessionWrites for FakeSession {
    fn write(&mut self, req: WriteRequest, author: &str, now: i64) -> Result<super::WriteOutcome, ApiError> {
        if self.ended {
            return Err(ApiError::SessionNotFound);
        }
        if let Some(id) = &req.op_id {
            if let Some((v, _, _)) = self.ops.iter().find(|(_, o, _)| o.as_ref() == Some(id)) {
                return Ok(super::WriteOutcome::Duplicate { version: *v });
            }
        }
        match req.base_version {
            Some(b) if b != self.version => {
                return Err(ApiError::VersionConflict { expected: b, current_version: self.version })
            }
            None if self.strict => return Err(ApiError::PreconditionRequired),
            _ => {}
        }
        if self.broken {
            return Err(ApiError::Internal("disk on fire".into()));
        }
        self.version += 1;
        let body = match &req.change {
            Change::Merge(m) => json!({"merge": m}),
            _ => json!({"set": "(elided)"}),
        };
        let mut frame = json!({"type": "update", "version": self.version, "updatedAt": now,
            "opId": req.op_id, "author": author});
        if let (Some(f), Some(b)) = (frame.as_object_mut(), body.as_object()) {
            f.extend(b.clone());
        }
        let frame = frame.to_string();
        self.ops.push((self.version, req.op_id, frame.clone()));
        if self.ops.len() > self.max_log {
            self.ops.remove(0);
        }
        Ok(super::WriteOutcome::Applied { version: self.version, updated_at: now, frame })
    }

    fn welcome(
        &mut self,
        since: Option<u64>,
        client_id: &str,
        role: Role,
        presence: Vec<PresenceEntry>,
        _now: i64,
    ) -> Result<FrameText, ApiError> {
        if self.broken {
            return Err(ApiError::Internal("disk on fire".into()));
        }
        let missed: Vec<&(u64, Option<String>, String)> =
            self.ops.iter().filter(|(v, _, _)| since.is_some_and(|s| *v > s)).collect();
        let resumable = since.is_some_and(|s| s <= self.version && missed.len() as u64 == self.version - s);
        let mut w = json!({"type": "welcome", "protocol": 1, "clientId": client_id, "role": role,
            "version": self.version, "presence": presence});
        if resumable {
            let ops: Vec<Value> = missed.iter().filter_map(|(_, _, f)| serde_json::from_str(f).ok()).collect();
            w["resume"] = json!("ops");
            w["ops"] = json!(ops);
        } else {
            w["resume"] = json!("snapshot");
            w["state"] = json!({});
        }
        Ok(FrameText::plain(w.to_string()))
    }

    fn history(&mut self) -> Result<Vec<String>, ApiError> {
        Ok(self.ops.iter().map(|(_, _, f)| f.clone()).collect())
    }

    fn version(&mut self) -> Result<u64, ApiError> {
        if self.broken {
            return Err(ApiError::Internal("disk on fire".into()));
        }
        Ok(self.version)
    }
}

/// A room, its session and a pretend host: what each connection received, in order.
pub(crate) struct Host {
    pub room: Room,
    pub session: FakeSession,
    pub now: i64,
    /// Open WebSocket and SSE connections (what `To::All` reaches), in open order.
    pub open: Vec<ConnId>,
    pub inbox: BTreeMap<ConnId, Vec<String>>,
    pub closed: Vec<(ConnId, u16)>,
    pub answered: Vec<ConnId>,
    pub saved: Vec<(ConnId, String)>,
    pub tick_at: Option<i64>,
    /// Sends carried out (one per `Effect::Send`), to count the host's calls.
    pub sends: usize,
    /// Frames delivered (one per recipient of a send): what the runtime pays for.
    pub deliveries: usize,
    /// Frames sent upstream (a relay's room).
    pub upstream: Vec<String>,
}

impl Host {
    pub fn new(limits: Limits) -> Host {
        // The coalescing rules are tested on updates too: as a deployment with COALESCE_UPDATES.
        Host::with(RoomConfig::new(Limits { coalesce_updates: true, ..limits }))
    }

    pub fn with(config: RoomConfig) -> Host {
        Host {
            room: Room::new(config),
            session: FakeSession::new(),
            now: 1_000_000,
            open: Vec::new(),
            inbox: BTreeMap::new(),
            closed: Vec::new(),
            answered: Vec::new(),
            saved: Vec::new(),
            tick_at: None,
            sends: 0,
            deliveries: 0,
            upstream: Vec::new(),
        }
    }

    pub fn info(id: &str, role: Role, kind: ConnKind) -> ConnInfo {
        ConnInfo { id: ConnId::from(id), role, kind, address: format!("addr-{id}"), batch: false, relay: None }
    }

    /// Opens a connection; returns the room's answer (errors for the HTTP answer).
    pub fn open(&mut self, id: &str, role: Role, kind: ConnKind, since: Option<u64>) -> Result<(), ApiError> {
        if kind != ConnKind::LongPoll {
            self.open.push(ConnId::from(id));
        }
        let fx = self.room.on_connect(Host::info(id, role, kind), since, self.now, &mut self.session);
        match fx {
            Ok(fx) => {
                self.run(fx);
                Ok(())
            }
            Err(e) => {
                self.open.retain(|c| c.as_str() != id);
                Err(e)
            }
        }
    }

    /// Opens a WebSocket described by `info`.
    pub fn connect(&mut self, info: ConnInfo) {
        self.open.push(info.id.clone());
        let fx = self.room.on_connect(info, None, self.now, &mut self.session).unwrap_or_default();
        self.run(fx);
    }

    /// Opens a WebSocket with `role`.
    pub fn ws(&mut self, id: &str, role: Role) {
        if let Err(e) = self.open(id, role, ConnKind::WebSocket, None) {
            panic!("connect {id}: {e:?}");
        }
    }

    pub fn frame(&mut self, id: &str, text: &str) {
        let fx = self.room.on_frame(&ConnId::from(id), text, self.now, &mut self.session);
        self.run(fx);
    }

    pub fn close(&mut self, id: &str) {
        self.open.retain(|c| c.as_str() != id);
        let fx = self.room.on_close(&ConnId::from(id), self.now);
        self.run(fx);
    }

    /// Lets `ms` pass, calling `on_tick` whenever the room asked for it.
    pub fn advance(&mut self, ms: i64) {
        let end = self.now + ms;
        while let Some(at) = self.tick_at.filter(|at| *at <= end) {
            self.now = self.now.max(at);
            self.tick_at = None;
            let fx = self.room.on_tick(self.now);
            self.run(fx);
        }
        self.now = end;
    }

    /// Carries out effects as a host would.
    pub fn run(&mut self, fx: Effects) {
        for effect in fx.list {
            match effect {
                Effect::Send(s) => {
                    self.sends += 1;
                    let targets: Vec<ConnId> = match s.to {
                        To::All => self.open.clone(),
                        To::AllExcept(x) => self.open.iter().filter(|c| **c != x).cloned().collect(),
                        To::Conns(list) => list,
                    };
                    for t in targets {
                        self.deliveries += 1;
                        self.inbox.entry(t).or_default().push(s.text.clone());
                    }
                }
                Effect::Welcome { conn, frame } => {
                    self.sends += 1;
                    self.deliveries += 1;
                    self.inbox.entry(conn).or_default().push(frame.to_text());
                }
                Effect::Close { conn, code, .. } => {
                    self.open.retain(|c| *c != conn);
                    self.closed.push((conn, code));
                }
                Effect::Answer(conn) => self.answered.push(conn),
                Effect::SavePresence { conn, data } => self.saved.push((conn, data)),
                Effect::TickAt(at) => self.tick_at = Some(self.tick_at.map_or(at, |t| t.min(at))),
                Effect::Log(_) => {}
                Effect::Upstream(text) => self.upstream.push(text),
            }
        }
    }

    /// The frames `id` received, parsed (chat lines and `pong` as JSON strings).
    pub fn got(&self, id: &str) -> Vec<Value> {
        let frames = self.inbox.get(&ConnId::from(id)).cloned().unwrap_or_default();
        frames.iter().map(|f| serde_json::from_str(f).unwrap_or_else(|_| Value::String(f.clone()))).collect()
    }

    /// The frames `id` received of type `ty`.
    pub fn got_type(&self, id: &str, ty: &str) -> Vec<Value> {
        self.got(id).into_iter().filter(|f| f["type"] == ty).collect()
    }

    /// Every update `id` received, alone or in `updates` envelopes, in order of receipt.
    pub fn versions(&self, id: &str) -> Vec<u64> {
        let mut out = Vec::new();
        for f in self.got(id) {
            match f["type"].as_str() {
                Some("update") => out.extend(f["version"].as_u64()),
                Some("updates") => {
                    out.extend(f["updates"].as_array().into_iter().flatten().filter_map(|u| u["version"].as_u64()))
                }
                _ => {}
            }
        }
        out
    }

    /// Every presence event `id` received, alone or in envelopes, as (event, clientId).
    pub fn presence_events(&self, id: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for f in self.got(id) {
            let list = match f["type"].as_str() {
                Some("presence") => vec![f.clone()],
                Some("updates") => f["presence"].as_array().cloned().unwrap_or_default(),
                _ => vec![],
            };
            for p in list {
                out.push((p["event"].as_str().unwrap_or("").into(), p["clientId"].as_str().unwrap_or("").into()));
            }
        }
        out
    }

    /// Forgets what everyone received so far.
    pub fn clear(&mut self) {
        self.inbox.clear();
        self.sends = 0;
        self.deliveries = 0;
    }
}
