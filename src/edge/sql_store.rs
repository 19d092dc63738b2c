//! The session's SQLite storage: the schema, loading and creating the record, and the
//! `SessionStore` the core's write path runs on.
//!
//! Writes issued in one synchronous stretch (no `await` between them) are committed
//! atomically by the Durable Object's implicit transaction, and the output gate holds every
//! response and WebSocket message until they are durable: see
//! <https://developers.cloudflare.com/durable-objects/api/storage-api/>.

use serde::Deserialize;
use serde_json::Value;
use worker::{SqlStorage, SqlStorageValue};

use super::respond::OrInternal;
use crate::core::document::SessionRecord;
use crate::core::error::ApiError;
use crate::core::keys::KeyHashes;
use crate::core::session::{OpEntry, SessionStore};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS session (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  version INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  ttl_ms INTEGER NOT NULL,
  strict INTEGER NOT NULL,
  admin_hash TEXT NOT NULL,
  write_hash TEXT NOT NULL,
  read_hash TEXT NOT NULL,
  oplog_bytes INTEGER NOT NULL,
  state TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ops (
  version INTEGER PRIMARY KEY,
  op_id TEXT,
  frame TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ops_by_op_id ON ops (op_id);
";

/// SQLite storage of one session.
pub struct SqlStore {
    sql: SqlStorage,
}

#[derive(Deserialize)]
struct SessionRow {
    version: f64,
    updated_at: f64,
    expires_at: f64,
    ttl_ms: f64,
    strict: f64,
    admin_hash: String,
    write_hash: String,
    read_hash: String,
    oplog_bytes: f64,
    state: String,
}

#[derive(Deserialize)]
struct VersionRow {
    version: f64,
}

#[derive(Deserialize)]
struct FrameRow {
    version: f64,
    frame: String,
}

#[derive(Deserialize)]
struct SizeRow {
    version: f64,
    bytes: f64,
}

fn int(v: i64) -> SqlStorageValue {
    SqlStorageValue::Integer(v)
}

fn uint(v: u64) -> SqlStorageValue {
    SqlStorageValue::Integer(i64::try_from(v).unwrap_or(i64::MAX))
}

impl SqlStore {
    /// Wraps the object's SQL storage.
    pub fn new(sql: SqlStorage) -> Self {
        SqlStore { sql }
    }

    /// Whether this object holds a session (reads only; a GET never creates tables).
    fn has_schema(&self) -> Result<bool, ApiError> {
        let rows: Vec<Value> = self
            .sql
            .exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'session'", None)
            .and_then(|c| c.to_array())
            .or_internal()?;
        Ok(!rows.is_empty())
    }

    /// Loads the session record, if this object holds one.
    pub fn load(&self) -> Result<Option<SessionRecord>, ApiError> {
        if !self.has_schema()? {
            return Ok(None);
        }
        let rows: Vec<SessionRow> =
            self.sql.exec("SELECT * FROM session WHERE id = 1", None).and_then(|c| c.to_array()).or_internal()?;
        let Some(row) = rows.into_iter().next() else { return Ok(None) };
        // A state that cannot be parsed (stored before the depth bound existed) must not make
        // the session undeletable: load the rest and mark the state unreadable.
        let (state, unreadable) = match serde_json::from_str::<Value>(&row.state) {
            Ok(state) => (state, None),
            Err(e) => {
                worker::console_error!("stored state unreadable: {e}");
                (Value::Null, Some(e.to_string()))
            }
        };
        Ok(Some(SessionRecord {
            state,
            unreadable,
            state_bytes: row.state.len(),
            version: row.version as u64,
            updated_at: row.updated_at as i64,
            expires_at: row.expires_at as i64,
            ttl_ms: row.ttl_ms as i64,
            strict: row.strict != 0.0,
            hashes: KeyHashes { admin: row.admin_hash, write: row.write_hash, read: row.read_hash },
            oplog_bytes: row.oplog_bytes as u64,
        }))
    }

    /// Creates the schema and stores a new session record.
    pub fn create(&self, record: &SessionRecord, state_json: &str) -> Result<(), ApiError> {
        self.sql.exec(SCHEMA, None).or_internal()?;
        self.sql
            .exec(
                "INSERT INTO session (id, version, updated_at, expires_at, ttl_ms, strict, admin_hash, write_hash, read_hash, oplog_bytes, state)
                 VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                vec![
                    uint(record.version),
                    int(record.updated_at),
                    int(record.expires_at),
                    int(record.ttl_ms),
                    int(i64::from(record.strict)),
                    record.hashes.admin.as_str().into(),
                    record.hashes.write.as_str().into(),
                    record.hashes.read.as_str().into(),
                    uint(record.oplog_bytes),
                    state_json.into(),
                ],
            )
            .or_internal()?;
        Ok(())
    }

    /// Stores a new expiry time.
    pub fn set_expiry(&self, expires_at: i64) -> Result<(), ApiError> {
        self.sql.exec("UPDATE session SET expires_at = ? WHERE id = 1", vec![int(expires_at)]).or_internal()?;
        Ok(())
    }

    /// Stores new key hashes.
    pub fn set_hashes(&self, hashes: &KeyHashes) -> Result<(), ApiError> {
        self.sql
            .exec(
                "UPDATE session SET admin_hash = ?, write_hash = ?, read_hash = ? WHERE id = 1",
                vec![hashes.admin.as_str().into(), hashes.write.as_str().into(), hashes.read.as_str().into()],
            )
            .or_internal()?;
        Ok(())
    }

    /// The most recent `limit` ops, newest last, for the inspector.
    pub fn recent_ops(&self, limit: u64) -> Result<Vec<String>, ApiError> {
        let mut rows: Vec<FrameRow> = self
            .sql
            .exec("SELECT version, frame FROM ops ORDER BY version DESC LIMIT ?", vec![uint(limit)])
            .and_then(|c| c.to_array())
            .or_internal()?;
        rows.reverse();
        Ok(rows.into_iter().map(|r| r.frame).collect())
    }
}

impl SessionStore for SqlStore {
    fn commit(
        &self,
        record: &SessionRecord,
        state_json: &str,
        op: &OpEntry,
        drop_through: Option<u64>,
    ) -> Result<(), ApiError> {
        self.sql
            .exec(
                "UPDATE session SET version = ?, updated_at = ?, expires_at = ?, oplog_bytes = ?, state = ? WHERE id = 1",
                vec![uint(record.version), int(record.updated_at), int(record.expires_at), uint(record.oplog_bytes), state_json.into()],
            )
            .or_internal()?;
        let op_id = op.op_id.as_deref().map_or(SqlStorageValue::Null, SqlStorageValue::from);
        self.sql
            .exec(
                "INSERT INTO ops (version, op_id, frame) VALUES (?, ?, ?)",
                vec![uint(op.version), op_id, op.frame.as_str().into()],
            )
            .or_internal()?;
        if let Some(v) = drop_through {
            self.sql.exec("DELETE FROM ops WHERE version <= ?", vec![uint(v)]).or_internal()?;
        }
        Ok(())
    }

    fn find_op(&self, op_id: &str) -> Result<Option<u64>, ApiError> {
        let rows: Vec<VersionRow> = self
            .sql
            .exec("SELECT version FROM ops WHERE op_id = ? LIMIT 1", vec![op_id.into()])
            .and_then(|c| c.to_array())
            .or_internal()?;
        Ok(rows.first().map(|r| r.version as u64))
    }

    fn ops_after(&self, version: u64) -> Result<Vec<(u64, String)>, ApiError> {
        let rows: Vec<FrameRow> = self
            .sql
            .exec("SELECT version, frame FROM ops WHERE version > ? ORDER BY version", vec![uint(version)])
            .and_then(|c| c.to_array())
            .or_internal()?;
        Ok(rows.into_iter().map(|r| (r.version as u64, r.frame)).collect())
    }

    fn oldest_ops(&self, limit: usize) -> Result<Vec<(u64, u64)>, ApiError> {
        let rows: Vec<SizeRow> = self
            .sql
            .exec(
                "SELECT version, length(CAST(frame AS BLOB)) AS bytes FROM ops ORDER BY version LIMIT ?",
                vec![uint(limit as u64)],
            )
            .and_then(|c| c.to_array())
            .or_internal()?;
        Ok(rows.into_iter().map(|r| (r.version as u64, r.bytes as u64)).collect())
    }
}
