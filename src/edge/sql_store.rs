//! The session's SQLite storage: the schema, loading and creating the record, and the
//! `SessionStore` the core's write path runs on.
//!
//! The state is never one value: it is a snapshot in chunk rows of at most `CHUNK_BYTES`
//! (`snapshot_chunks`, its version in `snapshot_meta`) plus every op logged after it. A load
//! reads the chunks one at a time straight into the document tree and replays the ops; see
//! docs/storage.md. Sessions stored before this keep their state in `session.state` until
//! their first write takes a snapshot.
//!
//! Writes issued in one synchronous stretch (no `await` between them) are committed
//! atomically by the Durable Object's implicit transaction, and the output gate holds every
//! response and WebSocket message until they are durable: see
//! <https://developers.cloudflare.com/durable-objects/api/storage-api/>.

use std::cell::Cell;
use std::io;
use std::rc::Rc;

use serde::Deserialize;
use serde_json::Value;
use worker::{SqlStorage, SqlStorageValue};

use super::respond::OrInternal;
use crate::core::doc::{parse_document, parse_document_from, BoundedChunks, Document, Node};
use crate::core::document::SessionRecord;
use crate::core::error::ApiError;
use crate::core::history::{split_chunks, CHUNK_BYTES};
use crate::core::keys::KeyHashes;
use crate::core::limits::Limits;
use crate::core::oplog::{LogPlan, OpLog, OpMeta, OP_ROW_MAX_BYTES};
use crate::core::session::{replay, OpEntry, SessionStore};

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

const SNAPSHOT_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS snapshot_meta (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  version INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  chunks INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS snapshot_chunks (
  seq INTEGER PRIMARY KEY,
  data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS op_chunks (
  version INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  data TEXT NOT NULL,
  PRIMARY KEY (version, seq)
);
";

/// Ops replayed per query when loading.
const REPLAY_PAGE: u64 = 500;

/// SQLite storage of one session.
pub struct SqlStore {
    sql: SqlStorage,
    /// Whether the snapshot tables hold this session's state (false for a session stored
    /// before them: its first write takes a snapshot).
    has_snapshot: Cell<bool>,
}

#[derive(Deserialize)]
struct SnapshotRow {
    version: f64,
    bytes: f64,
    chunks: f64,
}

#[derive(Deserialize)]
struct ChunkRow {
    data: String,
}

#[derive(Deserialize)]
struct OpRow {
    version: f64,
    op_id: Option<String>,
    bytes: f64,
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
    state: String,
}

#[derive(Deserialize)]
struct FrameRow {
    version: f64,
    frame: String,
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
        SqlStore { sql, has_snapshot: Cell::new(false) }
    }

    fn rows<T: for<'de> Deserialize<'de>>(&self, query: &str, args: Vec<SqlStorageValue>) -> Result<Vec<T>, ApiError> {
        let args = if args.is_empty() { None } else { Some(args) };
        self.sql.exec(query, args).and_then(|c| c.to_array()).or_internal()
    }

    /// Which of the session's tables exist (reads only; a GET never creates tables).
    fn tables(&self) -> Result<Vec<String>, ApiError> {
        #[derive(Deserialize)]
        struct Name {
            name: String,
        }
        let names: Vec<Name> = self.rows(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('session', 'snapshot_meta')",
            vec![],
        )?;
        Ok(names.into_iter().map(|n| n.name).collect())
    }

    /// Loads the session record, if this object holds one: the snapshot read chunk by chunk
    /// into the document tree, then every op logged after it replayed.
    pub fn load(&self, limits: &Limits) -> Result<Option<SessionRecord>, ApiError> {
        let tables = self.tables()?;
        if !tables.iter().any(|t| t == "session") {
            return Ok(None);
        }
        let rows: Vec<SessionRow> = self.rows("SELECT * FROM session WHERE id = 1", vec![])?;
        let Some(row) = rows.into_iter().next() else { return Ok(None) };
        let version = row.version as u64;
        let snapshot = if tables.iter().any(|t| t == "snapshot_meta") {
            self.rows::<SnapshotRow>("SELECT version, bytes, chunks FROM snapshot_meta WHERE id = 1", vec![])?.pop()
        } else {
            None
        };
        self.has_snapshot.set(snapshot.is_some());
        // A state that cannot be parsed (stored before the depth bound existed) must not make
        // the session undeletable: load the rest and mark the state unreadable.
        let (snapshot_version, parsed) = match &snapshot {
            Some(s) => (s.version as u64, self.read_snapshot(s)),
            None => (version, parse_document(&row.state).map_err(|e| e.to_string())),
        };
        let (root, unreadable) = match parsed {
            Ok(node) => (node, None),
            Err(e) => {
                worker::console_error!("stored state unreadable: {e}");
                (Node::from_value(&Value::Null)?, Some(e.to_string()))
            }
        };
        // Long frames live in op_chunks, which exists wherever a snapshot was written.
        let query = if snapshot.is_some() {
            "SELECT o.version, o.op_id, length(CAST(o.frame AS BLOB)) + COALESCE((SELECT sum(length(CAST(c.data AS BLOB))) FROM op_chunks c WHERE c.version = o.version), 0) AS bytes FROM ops o ORDER BY o.version"
        } else {
            "SELECT version, op_id, length(CAST(frame AS BLOB)) AS bytes FROM ops ORDER BY version"
        };
        let ops: Vec<OpRow> = self.rows(query, vec![])?;
        let log = OpLog::new(
            snapshot_version,
            // An op past the session's version was never acknowledged (its commit failed).
            ops.into_iter()
                .filter(|o| o.version as u64 <= version)
                .map(|o| OpMeta { version: o.version as u64, op_id: o.op_id, bytes: o.bytes as u64 })
                .collect(),
        );
        let mut record = SessionRecord {
            doc: Document { root: Rc::new(root) },
            unreadable,
            version: snapshot_version,
            updated_at: row.updated_at as i64,
            expires_at: row.expires_at as i64,
            ttl_ms: row.ttl_ms as i64,
            strict: row.strict != 0.0,
            hashes: KeyHashes { admin: row.admin_hash, write: row.write_hash, read: row.read_hash },
            log,
        };
        if record.unreadable.is_none() {
            self.replay_after(&mut record, version, limits)?;
        }
        record.version = version;
        record.updated_at = row.updated_at as i64;
        Ok(Some(record))
    }

    /// Replays the logged ops after the record's version up to `through`, a page at a time.
    fn replay_after(&self, record: &mut SessionRecord, through: u64, limits: &Limits) -> Result<(), ApiError> {
        while record.version < through {
            let page: Vec<FrameRow> = self.rows(
                "SELECT version, frame FROM ops WHERE version > ? AND version <= ? ORDER BY version LIMIT ?",
                vec![uint(record.version), uint(through), uint(REPLAY_PAGE)],
            )?;
            if page.is_empty() {
                return Err(ApiError::Internal(format!("op log ends at {} before version {through}", record.version)));
            }
            for op in page {
                if op.version as u64 != record.version + 1 {
                    return Err(ApiError::Internal(format!("op log has a gap after {}", record.version)));
                }
                if op.frame.is_empty() {
                    replay(record, &self.long_frame(op.version as u64)?, limits)?;
                } else {
                    replay(record, &op.frame, limits)?;
                }
            }
        }
        Ok(())
    }

    /// The frame of op `version`, stored in chunk rows because it was longer than one row.
    fn long_frame(&self, version: u64) -> Result<String, ApiError> {
        let chunks: Vec<ChunkRow> =
            self.rows("SELECT data FROM op_chunks WHERE version = ? ORDER BY seq", vec![uint(version)])?;
        if chunks.is_empty() {
            return Err(ApiError::Internal(format!("op {version} has no frame")));
        }
        Ok(chunks.into_iter().map(|c| c.data).collect())
    }

    /// Reads the snapshot's chunk rows in order, one at a time, into the document tree.
    fn read_snapshot(&self, meta: &SnapshotRow) -> Result<Node, String> {
        let reader = ChunkReader { store: self, next: 0, count: meta.chunks as u64, buf: Vec::new(), pos: 0 };
        let node = parse_document_from(reader).map_err(|e| e.to_string())?;
        if node.bytes() as u64 != meta.bytes as u64 {
            return Err(format!("snapshot holds {} bytes, expected {}", node.bytes(), meta.bytes));
        }
        Ok(node)
    }

    /// Replaces the snapshot by the record's state, in chunk rows.
    fn write_snapshot(&self, record: &SessionRecord) -> Result<(), ApiError> {
        self.sql.exec(SNAPSHOT_SCHEMA, None).or_internal()?;
        self.sql.exec("DELETE FROM snapshot_chunks", None).or_internal()?;
        let mut count = 0u64;
        for chunk in BoundedChunks::new(record.doc.root.clone(), CHUNK_BYTES) {
            self.sql
                .exec("INSERT INTO snapshot_chunks (seq, data) VALUES (?, ?)", vec![uint(count), chunk.into()])
                .or_internal()?;
            count += 1;
        }
        self.sql
            .exec(
                "INSERT OR REPLACE INTO snapshot_meta (id, version, bytes, chunks) VALUES (1, ?, ?, ?)",
                vec![uint(record.version), uint(record.state_bytes() as u64), uint(count)],
            )
            .or_internal()?;
        self.has_snapshot.set(true);
        Ok(())
    }

    /// Creates the schema and stores a new session record with its state as the snapshot.
    pub fn create(&self, record: &SessionRecord) -> Result<(), ApiError> {
        self.sql.exec(SCHEMA, None).or_internal()?;
        self.sql
            .exec(
                "INSERT INTO session (id, version, updated_at, expires_at, ttl_ms, strict, admin_hash, write_hash, read_hash, oplog_bytes, state)
                 VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, '')",
                vec![
                    uint(record.version),
                    int(record.updated_at),
                    int(record.expires_at),
                    int(record.ttl_ms),
                    int(i64::from(record.strict)),
                    record.hashes.admin.as_str().into(),
                    record.hashes.write.as_str().into(),
                    record.hashes.read.as_str().into(),
                    uint(record.log.bytes()),
                ],
            )
            .or_internal()?;
        self.write_snapshot(record)
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
    fn commit(&self, record: &SessionRecord, op: &OpEntry, plan: &LogPlan) -> Result<(), ApiError> {
        let op_id = op.op_id.as_deref().map_or(SqlStorageValue::Null, SqlStorageValue::from);
        // A frame longer than a row goes to chunk rows; its op row holds an empty frame.
        let long = op.frame.len() > OP_ROW_MAX_BYTES;
        let frame = if long { "" } else { op.frame.as_str() };
        self.sql
            .exec(
                "INSERT OR REPLACE INTO ops (version, op_id, frame) VALUES (?, ?, ?)",
                vec![uint(op.version), op_id, frame.into()],
            )
            .or_internal()?;
        if long {
            self.sql.exec(SNAPSHOT_SCHEMA, None).or_internal()?;
            for (seq, chunk) in split_chunks(&op.frame, OP_ROW_MAX_BYTES).into_iter().enumerate() {
                self.sql
                    .exec(
                        "INSERT OR REPLACE INTO op_chunks (version, seq, data) VALUES (?, ?, ?)",
                        vec![uint(op.version), uint(seq as u64), chunk.into()],
                    )
                    .or_internal()?;
            }
        }
        self.sql
            .exec(
                "UPDATE session SET version = ?, updated_at = ?, expires_at = ?, oplog_bytes = ?, state = '' WHERE id = 1",
                vec![
                    uint(record.version),
                    int(record.updated_at),
                    int(record.expires_at),
                    uint(record.log.bytes() + op.frame.len() as u64),
                ],
            )
            .or_internal()?;
        // A session stored before snapshots existed takes its first one now.
        if plan.snapshot || !self.has_snapshot.get() {
            self.write_snapshot(record)?;
        }
        if let Some(v) = plan.drop_through {
            self.sql.exec("DELETE FROM ops WHERE version <= ?", vec![uint(v)]).or_internal()?;
            // The snapshot tables (op_chunks among them) exist: a snapshot was written above at the latest.
            self.sql.exec("DELETE FROM op_chunks WHERE version <= ?", vec![uint(v)]).or_internal()?;
        }
        Ok(())
    }

    fn ops_after(&self, version: u64) -> Result<Vec<(u64, String)>, ApiError> {
        let rows: Vec<FrameRow> =
            self.rows("SELECT version, frame FROM ops WHERE version > ? ORDER BY version", vec![uint(version)])?;
        Ok(rows.into_iter().map(|r| (r.version as u64, r.frame)).collect())
    }
}

/// Reads the snapshot's chunk rows as one stream of bytes, fetching one row at a time.
struct ChunkReader<'a> {
    store: &'a SqlStore,
    next: u64,
    count: u64,
    buf: Vec<u8>,
    pos: usize,
}

impl io::Read for ChunkReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.buf.len() {
            if self.next == self.count {
                return Ok(0);
            }
            let rows: Vec<ChunkRow> = self
                .store
                .rows("SELECT data FROM snapshot_chunks WHERE seq = ?", vec![uint(self.next)])
                .map_err(|e| io::Error::other(format!("{e:?}")))?;
            let row =
                rows.into_iter().next().ok_or_else(|| io::Error::other(format!("chunk {} missing", self.next)))?;
            self.buf = row.data.into_bytes();
            self.pos = 0;
            self.next += 1;
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
