//! A relay's copy of its session (P18): the state as a document tree, its version, the recent
//! update frames (the resume window) and the session's presence list, kept from what the
//! upstream connection delivers. It answers viewers' welcomes and resumes with the session's
//! own code (`plan_resume`, `welcome_frame`), through `SessionWrites`.

use std::collections::VecDeque;
use std::rc::Rc;

use serde_json::Value;

use crate::core::doc::{parse_document, Document, FrameText};
use crate::core::document::SessionRecord;
use crate::core::error::ApiError;
use crate::core::incoming::WriteRequest;
use crate::core::keys::{KeyHashes, Role};
use crate::core::limits::Limits;
use crate::core::oplog::{LogPlan, OpLog};
use crate::core::protocol::{PresenceEntry, PresenceEvent};
use crate::core::room::SessionWrites;
use crate::core::session::{plan_resume, replay, welcome_frame, OpEntry, SessionStore, WriteOutcome};

/// The session as a relay holds it.
#[derive(Debug)]
pub struct Mirror {
    record: SessionRecord,
    /// Recent update frames, oldest first, within the resume window.
    ops: VecDeque<(u64, String)>,
    ops_bytes: u64,
    /// Everyone announced on the session (writers, direct viewers, HTTP clients).
    presence: Vec<PresenceEntry>,
    limits: Limits,
}

/// What applying an upstream update did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The next version: applied and kept.
    Next,
    /// A version already held: ignored.
    Old,
    /// A version past the next one: updates were missed.
    Gap,
}

impl Mirror {
    /// A copy from a welcome's snapshot: the state's JSON text, its version and time.
    pub fn from_snapshot(
        state: &str,
        version: u64,
        updated_at: i64,
        presence: Vec<PresenceEntry>,
        limits: &Limits,
    ) -> Result<Mirror, ApiError> {
        let root = parse_document(state).map_err(|e| ApiError::Internal(format!("relay: snapshot unreadable: {e}")))?;
        let record = SessionRecord {
            doc: Document { root: Rc::new(root) },
            version,
            updated_at,
            expires_at: i64::MAX,
            ttl_ms: i64::MAX,
            strict: false,
            hashes: KeyHashes { admin: String::new(), write: String::new(), read: String::new() },
            log: OpLog::default(),
            unreadable: None,
        };
        Ok(Mirror { record, ops: VecDeque::new(), ops_bytes: 0, presence, limits: limits.clone() })
    }

    /// The version held.
    pub fn version(&self) -> u64 {
        self.record.version
    }

    /// The state as JSON text (for tests and checks).
    pub fn state_json(&self) -> String {
        self.record.doc.to_json()
    }

    /// Applies one `update` frame of `version`, keeping it for resumes.
    pub fn apply(&mut self, version: u64, frame: &str) -> Result<Applied, ApiError> {
        if version <= self.record.version {
            return Ok(Applied::Old);
        }
        if version != self.record.version + 1 {
            return Ok(Applied::Gap);
        }
        replay(&mut self.record, frame, &self.limits)?;
        self.ops.push_back((version, frame.to_owned()));
        self.ops_bytes += frame.len() as u64;
        self.trim_window();
        Ok(Applied::Next)
    }

    /// Takes the session's recent updates (ending at the copy's version) as the resume window;
    /// anything else (a gap, another end) is ignored: resumes then fall back to a snapshot.
    pub fn seed(&mut self, ops: Vec<(u64, String)>) {
        let contiguous = ops.windows(2).all(|w| w[1].0 == w[0].0 + 1);
        if !contiguous || ops.last().is_some_and(|(v, _)| *v != self.record.version) {
            return;
        }
        self.ops_bytes = ops.iter().map(|(_, f)| f.len() as u64).sum();
        self.ops = ops.into();
        self.trim_window();
    }

    /// Drops the oldest kept updates beyond the resume window (`OPLOG_MAX_OPS`, `OPLOG_MAX_BYTES`).
    fn trim_window(&mut self) {
        while self.ops.len() as u64 > self.limits.oplog_max_ops || self.ops_bytes > self.limits.oplog_max_bytes {
            let Some((_, old)) = self.ops.pop_front() else { break };
            self.ops_bytes -= old.len() as u64;
        }
    }

    /// Keeps a presence event of the session.
    pub fn presence_event(&mut self, client: &str, event: PresenceEvent, data: &Value) {
        match event {
            PresenceEvent::Leave => self.presence.retain(|p| p.client_id != client),
            PresenceEvent::Join | PresenceEvent::Update => {
                match self.presence.iter_mut().find(|p| p.client_id == client) {
                    Some(p) => p.data = data.clone(),
                    None => self.presence.push(PresenceEntry { client_id: client.to_owned(), data: data.clone() }),
                }
            }
        }
    }

    /// Replaces the presence list (a new welcome); returns the events that turn the old list
    /// into the new one, for viewers who saw the old one.
    pub fn replace_presence(&mut self, list: Vec<PresenceEntry>) -> Vec<(PresenceEvent, PresenceEntry)> {
        let mut events = Vec::new();
        for old in &self.presence {
            if !list.iter().any(|p| p.client_id == old.client_id) {
                let gone = PresenceEntry { client_id: old.client_id.clone(), data: Value::Null };
                events.push((PresenceEvent::Leave, gone));
            }
        }
        for new in &list {
            match self.presence.iter().find(|p| p.client_id == new.client_id) {
                None => events.push((PresenceEvent::Join, new.clone())),
                Some(old) if old.data != new.data => events.push((PresenceEvent::Update, new.clone())),
                Some(_) => {}
            }
        }
        self.presence = list;
        events
    }
}

impl SessionStore for Mirror {
    fn commit(&self, _record: &SessionRecord, _op: &OpEntry, _plan: &LogPlan) -> Result<(), ApiError> {
        Err(ApiError::Internal("a relay stores nothing".into()))
    }

    fn ops_after(&self, version: u64) -> Result<Vec<(u64, String)>, ApiError> {
        Ok(self.ops.iter().filter(|(v, _)| *v > version).cloned().collect())
    }
}

/// The relay's copy as its room's storage: welcomes and resumes from the copy; no writes.
pub struct MirrorWrites<'a>(pub Option<&'a Mirror>);

impl MirrorWrites<'_> {
    fn mirror(&self) -> Result<&Mirror, ApiError> {
        self.0.ok_or_else(|| ApiError::Unavailable("the relay is connecting to its session".into()))
    }
}

impl SessionWrites for MirrorWrites<'_> {
    fn write(&mut self, _req: WriteRequest, _author: &str, _now: i64) -> Result<WriteOutcome, ApiError> {
        // The room refuses writes by role first; a relay serves read keys only.
        Err(ApiError::ReadOnly)
    }

    fn welcome(
        &mut self,
        since: Option<u64>,
        client_id: &str,
        role: Role,
        _presence: Vec<PresenceEntry>,
        _now: i64,
    ) -> Result<FrameText, ApiError> {
        let m = self.mirror()?;
        if since.is_some_and(|v| v > m.version()) {
            // The viewer saw more than this relay has yet (it came from a relay further on):
            // a snapshot would take it back in time; it retries in a moment.
            return Err(ApiError::Unavailable(format!("the relay is at version {}", m.version())));
        }
        let plan = plan_resume(m, &m.record, since, &m.limits)?;
        welcome_frame(&m.record, plan, client_id, role, m.presence.clone(), &m.limits)
    }

    fn history(&mut self) -> Result<Vec<String>, ApiError> {
        Ok(self.mirror()?.ops.iter().map(|(_, f)| f.clone()).collect())
    }

    fn version(&mut self) -> Result<u64, ApiError> {
        Ok(self.mirror()?.version())
    }
}
