//! The write path and the resume path of a session, over any `SessionStore`: de-duplication by
//! op id, precondition and limit checks, one update frame per write, op log compaction, and
//! choosing between replaying ops and sending a snapshot.

use serde_json::value::RawValue;

use super::document::{prepare_write, Change, SessionRecord};
use super::error::ApiError;
use super::incoming::WriteRequest;
use super::keys::Role;
use super::limits::Limits;
use super::protocol::{PresenceEntry, Resume, ServerFrame, Update, Welcome, WireLimits, PROTOCOL_VERSION};

/// One op log row: the update frame exactly as it was broadcast.
#[derive(Debug, Clone, PartialEq)]
pub struct OpEntry {
    /// The version the write produced.
    pub version: u64,
    /// The writer's op id, if any.
    pub op_id: Option<String>,
    /// The serialized `update` frame.
    pub frame: String,
}

/// Durable storage of one session. Implementations make `commit` atomic.
pub trait SessionStore {
    /// Stores `record` (with `state_json`), appends `op`, and deletes ops with version
    /// `<= drop_through`, all in one atomic step.
    fn commit(
        &self,
        record: &SessionRecord,
        state_json: &str,
        op: &OpEntry,
        drop_through: Option<u64>,
    ) -> Result<(), ApiError>;
    /// The version an op id produced, while it is in the op log.
    fn find_op(&self, op_id: &str) -> Result<Option<u64>, ApiError>;
    /// Every logged op with version `> version`, oldest first, as `(version, frame)`.
    fn ops_after(&self, version: u64) -> Result<Vec<(u64, String)>, ApiError>;
    /// The `limit` oldest logged ops, as `(version, frame bytes)`.
    fn oldest_ops(&self, limit: usize) -> Result<Vec<(u64, u64)>, ApiError>;
}

/// What a write did.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOutcome {
    /// Applied and stored: broadcast `frame` to everyone.
    Applied {
        /// The new version.
        version: u64,
        /// The write's timestamp (ms).
        updated_at: i64,
        /// The `update` frame to broadcast.
        frame: String,
    },
    /// The op id had already been applied, at `version`; nothing was changed.
    Duplicate {
        /// The version the first application produced.
        version: u64,
    },
}

/// Applies `req` by `author` to `record` and stores it. On any error nothing is stored and
/// `record` is unchanged; on success `record` is the new stored record.
pub fn apply_write(
    store: &impl SessionStore,
    record: &mut SessionRecord,
    req: WriteRequest,
    author: &str,
    limits: &Limits,
    now: i64,
) -> Result<WriteOutcome, ApiError> {
    if let Some(op_id) = &req.op_id {
        if let Some(version) = store.find_op(op_id)? {
            return Ok(WriteOutcome::Duplicate { version });
        }
    }
    let prepared = prepare_write(record, &req.change, req.base_version, limits, now)?;
    let (set, merge, ops) = match req.change {
        Change::Set(v) => (Some(v), None, None),
        Change::Merge(p) => (None, Some(p), None),
        Change::Ops { raw, .. } => (None, None, Some(raw)),
    };
    let frame = ServerFrame::Update(Update {
        version: prepared.version,
        updated_at: prepared.updated_at,
        op_id: req.op_id.clone(),
        author: author.to_owned(),
        set,
        merge,
        ops,
    })
    .to_json();

    let mut next = SessionRecord {
        state: prepared.state,
        state_bytes: prepared.state_json.len(),
        version: prepared.version,
        updated_at: prepared.updated_at,
        oplog_bytes: record.oplog_bytes + frame.len() as u64,
        ..record.clone_without_state()
    };
    next.touch(now);
    let drop_through = compaction(store, &mut next, limits)?;
    let entry = OpEntry { version: next.version, op_id: req.op_id, frame };
    store.commit(&next, &prepared.state_json, &entry, drop_through)?;
    *record = next;
    Ok(WriteOutcome::Applied { version: record.version, updated_at: record.updated_at, frame: entry.frame })
}

/// Decides which old ops to drop so the log keeps at most `oplog_max_ops` ops and
/// `oplog_max_bytes` bytes (the newest op always stays); adjusts `next.oplog_bytes`.
fn compaction(store: &impl SessionStore, next: &mut SessionRecord, limits: &Limits) -> Result<Option<u64>, ApiError> {
    let drop_by_count = next.version.saturating_sub(limits.oplog_max_ops);
    if next.oplog_bytes <= limits.oplog_max_bytes && drop_by_count == 0 {
        return Ok(None);
    }
    let mut drop_through = None;
    for (version, bytes) in store.oldest_ops(16)? {
        if version <= drop_by_count || next.oplog_bytes > limits.oplog_max_bytes {
            next.oplog_bytes = next.oplog_bytes.saturating_sub(bytes);
            drop_through = Some(version);
        } else {
            break;
        }
    }
    Ok(drop_through)
}

impl SessionRecord {
    /// A copy with a null state, for building a successor record without cloning the state.
    fn clone_without_state(&self) -> SessionRecord {
        SessionRecord {
            state: serde_json::Value::Null,
            state_bytes: 0,
            version: self.version,
            updated_at: self.updated_at,
            expires_at: self.expires_at,
            ttl_ms: self.ttl_ms,
            strict: self.strict,
            hashes: self.hashes.clone(),
            oplog_bytes: self.oplog_bytes,
            unreadable: None,
        }
    }
}

/// How to bring a client that has applied `since` up to date.
#[derive(Debug, Clone, PartialEq)]
pub enum ResumePlan {
    /// Send the whole state.
    Snapshot,
    /// Send exactly these stored update frames, oldest first.
    Ops(Vec<String>),
}

/// Replays ops when every one after `since` is still logged; a snapshot otherwise.
pub fn plan_resume(
    store: &impl SessionStore,
    record: &SessionRecord,
    since: Option<u64>,
) -> Result<ResumePlan, ApiError> {
    let Some(since) = since else { return Ok(ResumePlan::Snapshot) };
    if since > record.version {
        return Ok(ResumePlan::Snapshot);
    }
    if since == record.version {
        return Ok(ResumePlan::Ops(Vec::new()));
    }
    let ops = store.ops_after(since)?;
    let complete = ops.len() as u64 == record.version - since
        && ops.iter().enumerate().all(|(i, (v, _))| *v == since + 1 + i as u64);
    if complete {
        Ok(ResumePlan::Ops(ops.into_iter().map(|(_, f)| f).collect()))
    } else {
        Ok(ResumePlan::Snapshot)
    }
}

/// Builds the `welcome` frame for a new connection (or an SSE stream).
pub fn welcome_frame(
    record: &SessionRecord,
    plan: ResumePlan,
    client_id: &str,
    role: Role,
    presence: Vec<PresenceEntry>,
    limits: &Limits,
) -> Result<String, ApiError> {
    let (resume, state, ops) = match plan {
        ResumePlan::Snapshot => (Resume::Snapshot, Some(record.readable_state()?.clone()), None),
        ResumePlan::Ops(frames) => {
            let raw = frames
                .into_iter()
                .map(RawValue::from_string)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ApiError::Internal(format!("stored op is not json: {e}")))?;
            (Resume::Ops, None, Some(raw))
        }
    };
    Ok(ServerFrame::Welcome(Welcome {
        protocol: PROTOCOL_VERSION,
        client_id: client_id.to_owned(),
        role,
        version: record.version,
        updated_at: record.updated_at,
        resume,
        state,
        ops,
        presence,
        limits: WireLimits {
            max_message_bytes: limits.max_message_bytes,
            max_messages_per_second: limits.max_messages_per_second,
            max_presence_bytes: limits.max_presence_bytes,
            max_clients: limits.max_clients,
            max_state_bytes: limits.max_state_bytes,
            max_state_depth: limits.max_state_depth,
            max_body_bytes: limits.max_body_bytes,
        },
    })
    .to_json())
}

/// An in-memory `SessionStore` for tests.
#[cfg(test)]
pub(crate) mod memory {
    use super::*;
    use std::cell::RefCell;

    /// Keeps the last committed record and the op log in memory.
    #[derive(Default)]
    pub(crate) struct MemoryStore {
        pub(crate) ops: RefCell<Vec<OpEntry>>,
        pub(crate) record: RefCell<Option<(SessionRecord, String)>>,
        pub(crate) fail_commit: std::cell::Cell<bool>,
    }

    impl SessionStore for MemoryStore {
        fn commit(
            &self,
            record: &SessionRecord,
            state_json: &str,
            op: &OpEntry,
            drop_through: Option<u64>,
        ) -> Result<(), ApiError> {
            if self.fail_commit.get() {
                return Err(ApiError::Internal("disk on fire".into()));
            }
            *self.record.borrow_mut() = Some((record.clone(), state_json.to_owned()));
            let mut ops = self.ops.borrow_mut();
            ops.push(op.clone());
            if let Some(d) = drop_through {
                ops.retain(|o| o.version > d);
            }
            Ok(())
        }
        fn find_op(&self, op_id: &str) -> Result<Option<u64>, ApiError> {
            Ok(self.ops.borrow().iter().find(|o| o.op_id.as_deref() == Some(op_id)).map(|o| o.version))
        }
        fn ops_after(&self, version: u64) -> Result<Vec<(u64, String)>, ApiError> {
            Ok(self.ops.borrow().iter().filter(|o| o.version > version).map(|o| (o.version, o.frame.clone())).collect())
        }
        fn oldest_ops(&self, limit: usize) -> Result<Vec<(u64, u64)>, ApiError> {
            Ok(self.ops.borrow().iter().take(limit).map(|o| (o.version, o.frame.len() as u64)).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::memory::MemoryStore;
    use super::*;
    use crate::core::document::tests::record;
    use serde_json::{json, Value};

    fn merge(op_id: Option<&str>, base: Option<u64>, patch: Value) -> WriteRequest {
        WriteRequest { op_id: op_id.map(str::to_owned), base_version: base, change: Change::Merge(patch) }
    }

    #[test]
    fn write_stores_logs_and_returns_the_update_frame() {
        let store = MemoryStore::default();
        let mut r = record(json!({}));
        let out =
            apply_write(&store, &mut r, merge(Some("o1"), Some(1), json!({"a": 1})), "c_1", &Limits::default(), 5000)
                .unwrap();
        let WriteOutcome::Applied { version, frame, .. } = out else { panic!() };
        assert_eq!(version, 2);
        let f: Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(f, json!({"type":"update","version":2,"updatedAt":5000,"opId":"o1","author":"c_1","merge":{"a":1}}));
        assert_eq!(r.state, json!({"a": 1}));
        assert_eq!(r.expires_at, 5000 + r.ttl_ms, "a write restarts the idle timer");
        let stored = store.record.borrow().clone().unwrap();
        assert_eq!(stored.1, r#"{"a":1}"#);
        assert_eq!(stored.0.version, 2);
    }

    #[test]
    fn duplicate_op_id_is_applied_once() {
        let store = MemoryStore::default();
        let mut r = record(json!({"n": 0}));
        apply_write(&store, &mut r, merge(Some("dup"), None, json!({"n": 1})), "c", &Limits::default(), 1).unwrap();
        let again =
            apply_write(&store, &mut r, merge(Some("dup"), None, json!({"n": 2})), "c", &Limits::default(), 2).unwrap();
        assert_eq!(again, WriteOutcome::Duplicate { version: 2 });
        assert_eq!(r.version, 2);
        assert_eq!(r.state, json!({"n": 1}));
        assert_eq!(store.ops.borrow().len(), 1);
    }

    #[test]
    fn rejected_or_failed_writes_change_nothing() {
        let store = MemoryStore::default();
        let mut r = record(json!({"n": 0}));
        let before = r.clone();
        let err =
            apply_write(&store, &mut r, merge(None, Some(9), json!({"n": 1})), "c", &Limits::default(), 1).unwrap_err();
        assert_eq!(err.code(), "version_conflict");
        store.fail_commit.set(true);
        let err =
            apply_write(&store, &mut r, merge(None, None, json!({"n": 1})), "c", &Limits::default(), 1).unwrap_err();
        assert_eq!(err.code(), "internal");
        assert_eq!(r, before);
        assert!(store.ops.borrow().is_empty());
    }

    /// Applies `n` anonymous merge writes.
    fn fill(store: &MemoryStore, r: &mut SessionRecord, n: u64, limits: &Limits) {
        for i in 0..n {
            apply_write(store, r, merge(None, None, json!({ "i": i })), "c", limits, 1).unwrap();
        }
    }

    #[test]
    fn op_log_is_bounded_by_count_and_bytes() {
        let store = MemoryStore::default();
        let mut r = record(json!({}));
        let limits = Limits { oplog_max_ops: 10, ..Limits::default() };
        fill(&store, &mut r, 25, &limits);
        let ops = store.ops.borrow();
        assert_eq!(ops.len(), 10);
        assert_eq!(ops[0].version, 17);
        let bytes: u64 = ops.iter().map(|o| o.frame.len() as u64).sum();
        assert_eq!(r.oplog_bytes, bytes, "byte counter tracks the log");
        drop(ops);

        let store = MemoryStore::default();
        let mut r = record(json!({}));
        let limits = Limits { oplog_max_bytes: 500, ..Limits::default() };
        fill(&store, &mut r, 40, &limits);
        let bytes: u64 = store.ops.borrow().iter().map(|o| o.frame.len() as u64).sum();
        assert!(bytes <= 500, "{bytes}");
        assert_eq!(r.oplog_bytes, bytes);
        assert!(store.ops.borrow().len() > 3);
    }

    #[test]
    fn resume_replays_exactly_the_missed_ops_or_falls_back_to_a_snapshot() {
        let store = MemoryStore::default();
        let mut r = record(json!({}));
        let limits = Limits { oplog_max_ops: 20, ..Limits::default() };
        fill(&store, &mut r, 50, &limits);
        assert_eq!(r.version, 51);
        let ResumePlan::Ops(ops) = plan_resume(&store, &r, Some(41)).unwrap() else { panic!() };
        let versions: Vec<u64> =
            ops.iter().map(|f| serde_json::from_str::<Value>(f).unwrap()["version"].as_u64().unwrap()).collect();
        assert_eq!(versions, (42..=51).collect::<Vec<_>>());
        assert_eq!(plan_resume(&store, &r, Some(51)).unwrap(), ResumePlan::Ops(vec![]));
        assert_eq!(plan_resume(&store, &r, Some(5)).unwrap(), ResumePlan::Snapshot, "compacted away");
        assert_eq!(plan_resume(&store, &r, Some(99)).unwrap(), ResumePlan::Snapshot, "from the future");
        assert_eq!(plan_resume(&store, &r, None).unwrap(), ResumePlan::Snapshot);
    }

    #[test]
    fn welcome_embeds_ops_verbatim() {
        let store = MemoryStore::default();
        let mut r = record(json!({}));
        apply_write(&store, &mut r, merge(Some("x"), None, json!({"a": 1})), "c", &Limits::default(), 1).unwrap();
        let plan = plan_resume(&store, &r, Some(1)).unwrap();
        let w: Value =
            serde_json::from_str(&welcome_frame(&r, plan, "c_me", Role::Read, vec![], &Limits::default()).unwrap())
                .unwrap();
        assert_eq!(w["resume"], "ops");
        assert_eq!(w["ops"][0]["opId"], "x");
        assert_eq!(w["role"], "read");
        assert!(w.get("state").is_none());
        let w: Value = serde_json::from_str(
            &welcome_frame(&r, ResumePlan::Snapshot, "c_me", Role::Write, vec![], &Limits::default()).unwrap(),
        )
        .unwrap();
        assert_eq!(w["state"], json!({"a": 1}));
        assert_eq!(w["version"], 2);
    }
}
