//! The session's checkpoints in SQLite: metadata rows, the state split into chunk rows of at
//! most `CHUNK_BYTES` (SQLite storage refuses a value over 2 MB), and the progress since the
//! last checkpoint. The decisions (when, which to drop, how to split) are `core::history`'s.
//!
//! The tables are created on first use, so sessions created before history existed get them
//! too; `deleteAll` (the session's erase) removes them with everything else.

use std::cell::{Cell, RefCell};

use serde::Deserialize;
use worker::{SqlStorage, SqlStorageValue};

use super::respond::OrInternal;
use crate::core::error::ApiError;
use crate::core::history::{retention, CheckpointMeta, HistoryPolicy, Progress};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS checkpoints (
  version INTEGER PRIMARY KEY,
  updated_at INTEGER NOT NULL,
  label TEXT,
  state_bytes INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoint_chunks (
  version INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  data TEXT NOT NULL,
  PRIMARY KEY (version, seq)
);
CREATE TABLE IF NOT EXISTS history_progress (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  last_version INTEGER NOT NULL,
  bytes_since INTEGER NOT NULL
);
INSERT OR IGNORE INTO history_progress (id, last_version, bytes_since) VALUES (1, 0, 0);
";

#[derive(Deserialize)]
struct MetaRow {
    version: f64,
    updated_at: f64,
    label: Option<String>,
    state_bytes: f64,
}

impl From<MetaRow> for CheckpointMeta {
    fn from(r: MetaRow) -> Self {
        CheckpointMeta {
            version: r.version as u64,
            updated_at: r.updated_at as i64,
            label: r.label,
            state_bytes: r.state_bytes as u64,
        }
    }
}

#[derive(Deserialize)]
struct ProgressRow {
    last_version: f64,
    bytes_since: f64,
}

#[derive(Deserialize)]
struct ChunkRow {
    data: String,
}

fn uint(v: u64) -> SqlStorageValue {
    SqlStorageValue::Integer(i64::try_from(v).unwrap_or(i64::MAX))
}

/// SQLite storage of one session's checkpoints.
pub struct HistoryStore {
    sql: SqlStorage,
    /// Whether the tables are known to exist in this instance.
    ready: Cell<bool>,
    /// The stored progress, once read.
    progress: RefCell<Option<Progress>>,
}

impl HistoryStore {
    /// Wraps the object's SQL storage.
    pub fn new(sql: SqlStorage) -> Self {
        HistoryStore { sql, ready: Cell::new(false), progress: RefCell::new(None) }
    }

    /// Forgets what this instance knows, after the storage was erased.
    pub fn reset(&self) {
        self.ready.set(false);
        *self.progress.borrow_mut() = None;
    }

    fn ensure(&self) -> Result<(), ApiError> {
        if !self.ready.get() {
            self.sql.exec(SCHEMA, None).or_internal()?;
            self.ready.set(true);
        }
        Ok(())
    }

    fn rows<T: for<'de> Deserialize<'de>>(&self, query: &str, args: Vec<SqlStorageValue>) -> Result<Vec<T>, ApiError> {
        self.ensure()?;
        self.sql.exec(query, Some(args)).and_then(|c| c.to_array()).or_internal()
    }

    fn run(&self, query: &str, args: Vec<SqlStorageValue>) -> Result<(), ApiError> {
        self.ensure()?;
        self.sql.exec(query, Some(args)).or_internal().map(|_| ())
    }

    /// What changed since the last checkpoint.
    pub fn progress(&self) -> Result<Progress, ApiError> {
        if let Some(p) = *self.progress.borrow() {
            return Ok(p);
        }
        let row: Vec<ProgressRow> =
            self.rows("SELECT last_version, bytes_since FROM history_progress WHERE id = 1", vec![])?;
        let p = row
            .first()
            .map(|r| Progress { last_version: r.last_version as u64, bytes_since: r.bytes_since as u64 })
            .unwrap_or_default();
        *self.progress.borrow_mut() = Some(p);
        Ok(p)
    }

    /// Stores the progress.
    pub fn set_progress(&self, p: Progress) -> Result<(), ApiError> {
        self.run(
            "UPDATE history_progress SET last_version = ?, bytes_since = ? WHERE id = 1",
            vec![uint(p.last_version), uint(p.bytes_since)],
        )?;
        *self.progress.borrow_mut() = Some(p);
        Ok(())
    }

    /// The checkpoint of `version`, if kept.
    pub fn meta(&self, version: u64) -> Result<Option<CheckpointMeta>, ApiError> {
        let rows: Vec<MetaRow> = self.rows(
            "SELECT version, updated_at, label, state_bytes FROM checkpoints WHERE version = ?",
            vec![uint(version)],
        )?;
        Ok(rows.into_iter().next().map(Into::into))
    }

    /// Stores a checkpoint of the state given as chunks of at most `CHUNK_BYTES`, records it in
    /// the progress and drops what retention says. A version already kept only gets its label
    /// replaced, when one is given.
    pub fn take(
        &self,
        meta: &CheckpointMeta,
        chunks: impl Iterator<Item = String>,
        policy: &HistoryPolicy,
    ) -> Result<(), ApiError> {
        if self.meta(meta.version)?.is_some() {
            if let Some(label) = meta.label.as_deref() {
                self.run("UPDATE checkpoints SET label = ? WHERE version = ?", vec![label.into(), uint(meta.version)])?;
            }
            return self.retain(meta.version, policy);
        }
        self.discard_staged(meta.version)?;
        for (seq, chunk) in chunks.enumerate() {
            self.run(
                "INSERT INTO checkpoint_chunks (version, seq, data) VALUES (?, ?, ?)",
                vec![uint(meta.version), uint(seq as u64), chunk.into()],
            )?;
        }
        self.commit_staged(meta, policy)
    }

    /// Makes a staged copy a checkpoint (metadata, progress, retention).
    pub fn commit_staged(&self, meta: &CheckpointMeta, policy: &HistoryPolicy) -> Result<(), ApiError> {
        let label = meta.label.as_deref().map_or(SqlStorageValue::Null, SqlStorageValue::from);
        self.run(
            "INSERT INTO checkpoints (version, updated_at, label, state_bytes) VALUES (?, ?, ?, ?)",
            vec![uint(meta.version), SqlStorageValue::Integer(meta.updated_at), label, uint(meta.state_bytes)],
        )?;
        self.retain(meta.version, policy)
    }

    /// Removes chunk rows of `version` that no checkpoint owns.
    pub fn discard_staged(&self, version: u64) -> Result<(), ApiError> {
        self.run(
            "DELETE FROM checkpoint_chunks WHERE version = ? AND NOT EXISTS (SELECT 1 FROM checkpoints WHERE version = ?)",
            vec![uint(version), uint(version)],
        )
    }

    /// Records a checkpoint of `version` in the progress and drops what retention says.
    fn retain(&self, version: u64, policy: &HistoryPolicy) -> Result<(), ApiError> {
        let mut progress = self.progress()?;
        progress.checkpointed(version);
        self.set_progress(progress)?;
        #[derive(Deserialize)]
        struct SizeRow {
            version: f64,
            state_bytes: f64,
        }
        let sizes: Vec<SizeRow> = self.rows("SELECT version, state_bytes FROM checkpoints ORDER BY version", vec![])?;
        let sizes: Vec<(u64, u64)> = sizes.iter().map(|r| (r.version as u64, r.state_bytes as u64)).collect();
        for version in retention(&sizes, policy) {
            self.run("DELETE FROM checkpoints WHERE version = ?", vec![uint(version)])?;
            self.run("DELETE FROM checkpoint_chunks WHERE version = ?", vec![uint(version)])?;
        }
        Ok(())
    }

    /// Up to `limit` checkpoints older than `before`, newest first.
    pub fn list(&self, before: Option<u64>, limit: usize) -> Result<Vec<CheckpointMeta>, ApiError> {
        let rows: Vec<MetaRow> = self.rows(
            "SELECT version, updated_at, label, state_bytes FROM checkpoints WHERE version < ? ORDER BY version DESC LIMIT ?",
            vec![uint(before.unwrap_or(u64::MAX)), uint(limit as u64)],
        )?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// The checkpoint of `version` with its state reassembled from its chunks.
    pub fn load(&self, version: u64) -> Result<Option<(CheckpointMeta, String)>, ApiError> {
        let Some(meta) = self.meta(version)? else { return Ok(None) };
        let chunks: Vec<ChunkRow> =
            self.rows("SELECT data FROM checkpoint_chunks WHERE version = ? ORDER BY seq", vec![uint(version)])?;
        let mut state = String::with_capacity(meta.state_bytes as usize);
        chunks.iter().for_each(|c| state.push_str(&c.data));
        if state.len() as u64 != meta.state_bytes {
            return Err(ApiError::Internal(format!(
                "checkpoint {version} holds {} bytes, expected {}",
                state.len(),
                meta.state_bytes
            )));
        }
        Ok(Some((meta, state)))
    }
}
