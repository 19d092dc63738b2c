//! The write path and the resume path of a session, over any `SessionStore`: de-duplication by
//! op id (answered from memory), precondition and limit checks, the change applied in place,
//! one update frame per write, the op log and its snapshots, and choosing between replaying ops
//! and sending a snapshot.

use std::rc::Rc;

use serde_json::value::RawValue;

use super::doc::{FrameText, Node};
use super::document::{apply_change, check_precondition, Change, SessionRecord};
use super::error::ApiError;
use super::incoming::WriteRequest;
use super::keys::Role;
use super::limits::Limits;
use super::oplog::{LogPlan, OpMeta};
use super::protocol::{PresenceEntry, Resume, ServerFrame, Update, Welcome, WireLimits, PROTOCOL_VERSION};

/// One op log row: the update frame exactly as it was broadcast.
#[derive(Debug, Clone, PartialEq)]
pub struct OpEntry {
    /// The version the write produced.
    pub version: u64,
    /// The writer's op id, if any.
    pub op_id: Option<String>,
    /// The serialized `update` frame (stored in chunk rows when longer than one row).
    pub frame: String,
}

/// Durable storage of one session. Implementations make `commit` atomic.
pub trait SessionStore {
    /// Stores the record's metadata and appends `op`; when `plan.snapshot`, stores the
    /// record's state as the snapshot at its version; deletes the ops through
    /// `plan.drop_through`. All in one atomic step.
    fn commit(&self, record: &SessionRecord, op: &OpEntry, plan: &LogPlan) -> Result<(), ApiError>;
    /// Every logged op with version `> version`, oldest first, as `(version, frame)`.
    fn ops_after(&self, version: u64) -> Result<Vec<(u64, String)>, ApiError>;
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
        /// The `update` frame to broadcast (sent as P16 parts when it is long).
        frame: String,
    },
    /// The op id had already been applied, at `version`; nothing was changed.
    Duplicate {
        /// The version the first application produced.
        version: u64,
    },
}

/// Applies `req` by `author` to `record` in place and stores it. On a refused write nothing is
/// stored and `record` is unchanged. When storing fails, `record` holds a write that was not
/// stored: the caller must drop it and load the record again (`ApiError::Internal`).
pub fn apply_write(
    store: &impl SessionStore,
    record: &mut SessionRecord,
    req: WriteRequest,
    author: &str,
    limits: &Limits,
    now: i64,
) -> Result<WriteOutcome, ApiError> {
    if let Some(version) = req.op_id.as_deref().and_then(|id| record.log.find(id)) {
        return Ok(WriteOutcome::Duplicate { version });
    }
    check_precondition(record, req.base_version)?;
    apply_change(record, &req.change, limits)?;
    let version = record.version + 1;
    // Keep timestamps monotonic even if the clock steps back.
    let updated_at = now.max(record.updated_at);
    let frame = update_frame(version, updated_at, &req, author).to_text();
    let plan = record.log.plan(version, frame.len(), record.state_bytes(), limits);
    record.version = version;
    record.updated_at = updated_at;
    record.touch(now);
    let entry = OpEntry { version, op_id: req.op_id, frame };
    store.commit(record, &entry, &plan)?;
    record.log.commit(&plan, OpMeta { version, op_id: entry.op_id, bytes: entry.frame.len() as u64 });
    Ok(WriteOutcome::Applied { version, updated_at, frame: entry.frame })
}

/// The `update` frame of a write; a replace carries the new state's tree.
fn update_frame(version: u64, updated_at: i64, req: &WriteRequest, author: &str) -> FrameText {
    let (merge, ops) = match &req.change {
        Change::Set(_) => (None, None),
        Change::Merge(p) => (Some(p.clone()), None),
        Change::Ops { raw, .. } => (None, Some(raw.clone())),
    };
    let text = ServerFrame::Update(Update {
        version,
        updated_at,
        op_id: req.op_id.clone(),
        author: author.to_owned(),
        set: None,
        merge,
        ops,
    })
    .to_json();
    match &req.change {
        Change::Set(node) => FrameText::with_member(text, "set", node.clone()),
        _ => FrameText::plain(text),
    }
}

/// Replays a logged `update` frame onto `record` when loading it (after its snapshot).
pub fn replay(record: &mut SessionRecord, frame: &str, limits: &Limits) -> Result<(), ApiError> {
    let update: Update =
        serde_json::from_str(frame).map_err(|e| ApiError::Internal(format!("logged op unreadable: {e}")))?;
    let change = match (update.set, update.merge, update.ops) {
        (Some(state), None, None) => Change::Set(Rc::new(Node::from_value(&state)?)),
        (None, Some(merge), None) => Change::Merge(merge),
        (None, None, Some(ops)) => Change::json_patch(ops)?,
        _ => return Err(ApiError::Internal(format!("logged op {} has no change", update.version))),
    };
    // What was accepted once is replayed without the limits of today (they may have shrunk).
    let unbounded = Limits {
        max_state_bytes: usize::MAX,
        max_state_depth: usize::MAX,
        max_patch_ops: usize::MAX,
        ..limits.clone()
    };
    apply_change(record, &change, &unbounded)?;
    record.version = update.version;
    record.updated_at = update.updated_at;
    Ok(())
}

/// How to bring a client that has applied `since` up to date.
#[derive(Debug, Clone, PartialEq)]
pub enum ResumePlan {
    /// Send the whole state.
    Snapshot,
    /// Send exactly these stored update frames, oldest first.
    Ops(Vec<String>),
}

/// Replays ops when every one after `since` is still logged and they fit the resume window
/// (`OPLOG_MAX_OPS` ops, `OPLOG_MAX_BYTES` bytes: beyond it a snapshot is the cheaper answer,
/// even when older ops are still kept for recovery); a snapshot otherwise.
pub fn plan_resume(
    store: &impl SessionStore,
    record: &SessionRecord,
    since: Option<u64>,
    limits: &Limits,
) -> Result<ResumePlan, ApiError> {
    let Some(since) = since else { return Ok(ResumePlan::Snapshot) };
    if since > record.version || record.version - since > limits.oplog_max_ops {
        return Ok(ResumePlan::Snapshot);
    }
    if since == record.version {
        return Ok(ResumePlan::Ops(Vec::new()));
    }
    let ops = store.ops_after(since)?;
    // An op whose frame cannot be read back (empty) is a gap only a snapshot fills.
    let complete = ops.len() as u64 == record.version - since
        && ops.iter().enumerate().all(|(i, (v, f))| *v == since + 1 + i as u64 && !f.is_empty())
        && ops.iter().map(|(_, f)| f.len() as u64).sum::<u64>() <= limits.oplog_max_bytes;
    if complete {
        Ok(ResumePlan::Ops(ops.into_iter().map(|(_, f)| f).collect()))
    } else {
        Ok(ResumePlan::Snapshot)
    }
}

/// The stored update frames of the resume window that end at the current version, oldest
/// first: the longest contiguous run within `OPLOG_MAX_OPS` ops and `OPLOG_MAX_BYTES` bytes
/// (what a relay keeps to answer resumes, P18).
pub fn recent_ops(store: &impl SessionStore, record: &SessionRecord, limits: &Limits) -> Result<Vec<String>, ApiError> {
    let ops = store.ops_after(record.version.saturating_sub(limits.oplog_max_ops))?;
    let mut keep = Vec::new();
    let (mut bytes, mut expect) = (0u64, record.version);
    for (version, frame) in ops.into_iter().rev() {
        bytes += frame.len() as u64;
        if version != expect || frame.is_empty() || bytes > limits.oplog_max_bytes {
            break;
        }
        keep.push(frame);
        expect -= 1;
    }
    keep.reverse();
    Ok(keep)
}

/// Stored update frames as they go into a `welcome` or a `history` frame: verbatim.
fn stored_frames(frames: Vec<String>) -> Result<Vec<Box<RawValue>>, ApiError> {
    frames
        .into_iter()
        .map(RawValue::from_string)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::Internal(format!("stored op is not json: {e}")))
}

/// The `history` frame a relay gets after its welcome: the stored update frames `ops` (P18).
pub fn history_frame(ops: Vec<String>) -> Result<String, ApiError> {
    Ok(ServerFrame::History { ops: stored_frames(ops)? }.to_json())
}

/// Builds the `welcome` frame for a new connection (or an SSE stream); a snapshot's state is
/// written out only when the frame is sent.
pub fn welcome_frame(
    record: &SessionRecord,
    plan: ResumePlan,
    client_id: &str,
    role: Role,
    presence: Vec<PresenceEntry>,
    limits: &Limits,
) -> Result<FrameText, ApiError> {
    let (resume, state, ops) = match plan {
        ResumePlan::Snapshot => (Resume::Snapshot, Some(record.readable()?.root.clone()), None),
        ResumePlan::Ops(frames) => (Resume::Ops, None, Some(stored_frames(frames)?)),
    };
    let text = ServerFrame::Welcome(Welcome {
        protocol: PROTOCOL_VERSION,
        client_id: client_id.to_owned(),
        role,
        version: record.version,
        updated_at: record.updated_at,
        resume,
        state: None,
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
    .to_json();
    Ok(match state {
        Some(node) => FrameText::with_member(text, "state", node),
        None => FrameText::plain(text),
    })
}

/// An in-memory `SessionStore` for tests.
#[cfg(test)]
pub(crate) mod memory {
    use super::*;
    use std::cell::RefCell;

    /// Keeps the last committed record, the snapshot and the op log in memory.
    #[derive(Default)]
    pub(crate) struct MemoryStore {
        pub(crate) ops: RefCell<Vec<OpEntry>>,
        pub(crate) record: RefCell<Option<SessionRecord>>,
        /// The snapshot's version and text.
        pub(crate) snapshot: RefCell<Option<(u64, String)>>,
        pub(crate) fail_commit: std::cell::Cell<bool>,
    }

    impl SessionStore for MemoryStore {
        fn commit(&self, record: &SessionRecord, op: &OpEntry, plan: &LogPlan) -> Result<(), ApiError> {
            if self.fail_commit.get() {
                return Err(ApiError::Internal("disk on fire".into()));
            }
            *self.record.borrow_mut() = Some(record.clone());
            if plan.snapshot {
                *self.snapshot.borrow_mut() = Some((record.version, record.doc.to_json()));
            }
            let mut ops = self.ops.borrow_mut();
            ops.push(op.clone());
            if let Some(d) = plan.drop_through {
                ops.retain(|o| o.version > d);
            }
            Ok(())
        }
        fn ops_after(&self, version: u64) -> Result<Vec<(u64, String)>, ApiError> {
            Ok(self.ops.borrow().iter().filter(|o| o.version > version).map(|o| (o.version, o.frame.clone())).collect())
        }
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
