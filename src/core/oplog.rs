//! What the op log holds, kept in memory so a write needs no query to de-duplicate its op id
//! or to decide what to trim, and when the next snapshot is due.
//!
//! The log serves two purposes: resume (clients replay the ops they missed, up to
//! `OPLOG_MAX_OPS` / `OPLOG_MAX_BYTES`) and recovery (a session is loaded from its snapshot plus
//! every op after it). An op newer than the snapshot is never trimmed. A snapshot is taken once
//! the ops after the last one weigh as much as the state (at least `SNAPSHOT_MIN_BYTES`) or
//! number `SNAPSHOT_EVERY_OPS`, so its cost, spread over the writes since, stays proportional
//! to what they wrote; see docs/storage.md.

use std::collections::{HashMap, VecDeque};

use super::limits::Limits;

/// A frame longer than this is stored in several chunk rows (one row holds at most 2 MB).
pub const OP_ROW_MAX_BYTES: usize = 1_000_000;
/// A snapshot is due once this many ops were logged after the last one.
pub const SNAPSHOT_EVERY_OPS: u64 = 10_000;
/// ... or once the ops after it weigh this much and at least as much as the state.
pub const SNAPSHOT_MIN_BYTES: u64 = 4 * 1_048_576;
/// Trimmable ops are deleted this many at a time (one DELETE for many writes).
const TRIM_BATCH: usize = 64;

/// One row of the op log.
#[derive(Debug, Clone, PartialEq)]
pub struct OpMeta {
    /// The version the write produced.
    pub version: u64,
    /// The writer's op id, if any.
    pub op_id: Option<String>,
    /// The logged frame's length.
    pub bytes: u64,
}

/// The op log's rows, oldest first, and the snapshot's version.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OpLog {
    ops: VecDeque<OpMeta>,
    ids: HashMap<String, u64>,
    bytes: u64,
    /// Ops and bytes logged after the snapshot.
    since_ops: u64,
    since_bytes: u64,
    /// The version the stored snapshot holds (0: none yet, the state row holds the state).
    pub snapshot_version: u64,
}

/// What storing one more op involves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogPlan {
    /// Whether to store a snapshot of the new state in the same step.
    pub snapshot: bool,
    /// Delete the ops with versions up to this one.
    pub drop_through: Option<u64>,
}

impl OpLog {
    /// The index of stored rows (oldest first) for a snapshot at `snapshot_version`.
    pub fn new(snapshot_version: u64, rows: Vec<OpMeta>) -> OpLog {
        let mut log = OpLog { snapshot_version, ..OpLog::default() };
        for row in rows {
            log.push(row);
        }
        log
    }

    fn push(&mut self, row: OpMeta) {
        self.bytes += row.bytes;
        if row.version > self.snapshot_version {
            self.since_ops += 1;
            self.since_bytes += row.bytes;
        }
        if let Some(id) = &row.op_id {
            self.ids.insert(id.clone(), row.version);
        }
        self.ops.push_back(row);
    }

    /// The version an op id produced, while its op is logged.
    pub fn find(&self, op_id: &str) -> Option<u64> {
        self.ids.get(op_id).copied()
    }

    /// Total bytes of the logged frames.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// How many ops are logged.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether no op is logged.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Plans logging a frame of `frame_bytes` that produced `version`, for a state of
    /// `state_bytes` after it.
    pub fn plan(&self, version: u64, frame_bytes: usize, state_bytes: usize, limits: &Limits) -> LogPlan {
        let since_ops = self.since_ops + 1;
        let since_bytes = self.since_bytes + frame_bytes as u64;
        let snapshot = since_ops >= SNAPSHOT_EVERY_OPS || since_bytes >= SNAPSHOT_MIN_BYTES.max(state_bytes as u64);
        let snapshot_version = if snapshot { version } else { self.snapshot_version };
        LogPlan { snapshot, drop_through: self.trim(snapshot_version, frame_bytes as u64, limits, snapshot) }
    }

    /// The newest version to delete so that, with a new op of `new_bytes`, the log keeps at
    /// most `oplog_max_ops` ops and `oplog_max_bytes` bytes for resume, and every op after the
    /// snapshot. Only a batch's worth (or any amount when a snapshot is taken) is worth a DELETE.
    fn trim(&self, snapshot_version: u64, new_bytes: u64, limits: &Limits, snapshot: bool) -> Option<u64> {
        let (mut count, mut bytes) = (self.ops.len() as u64 + 1, self.bytes + new_bytes);
        let mut through = None;
        let mut dropped = 0;
        for op in &self.ops {
            let over = count > limits.oplog_max_ops.max(1) || bytes > limits.oplog_max_bytes;
            if !over || op.version > snapshot_version {
                break;
            }
            count -= 1;
            bytes -= op.bytes;
            through = Some(op.version);
            dropped += 1;
        }
        (dropped >= TRIM_BATCH || (snapshot && dropped > 0)).then_some(through).flatten()
    }

    /// Records a stored op and what the plan did.
    pub fn commit(&mut self, plan: &LogPlan, row: OpMeta) {
        let version = row.version;
        self.push(row);
        if plan.snapshot {
            self.snapshot_version = version;
            self.since_ops = 0;
            self.since_bytes = 0;
        }
        if let Some(through) = plan.drop_through {
            while self.ops.front().is_some_and(|o| o.version <= through) {
                if let Some(old) = self.ops.pop_front() {
                    self.bytes -= old.bytes;
                    if let Some(id) = &old.op_id {
                        if self.ids.get(id) == Some(&old.version) {
                            self.ids.remove(id);
                        }
                    }
                }
            }
        }
    }
}
