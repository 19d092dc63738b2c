//! Version history of a session, as plain decisions: when to take a checkpoint, which old
//! checkpoints retention drops, how the versions list is paged, how a stored state is split
//! into SQLite-sized chunks, and what the checkpoint and restore bodies may hold. Storing and
//! loading checkpoints is the edge's (`edge::history_store`).

use serde::Serialize;
use serde_json::Value;

use super::error::ApiError;
use super::http::{json_whole_number, media_type, parse_json, query_pairs, whole_param};
use super::limits::Limits;

/// Largest piece of a checkpoint's state in one SQLite value (SQLite storage refuses values
/// over 2 MB; a chunk stays well below it).
pub const CHUNK_BYTES: usize = 1_000_000;
/// Longest checkpoint label, in characters.
pub const MAX_LABEL_CHARS: usize = 100;
/// Versions listed per page when `limit` is absent.
pub const DEFAULT_PAGE: usize = 20;
/// Most versions listed per page.
pub const MAX_PAGE: usize = 100;

/// When checkpoints are taken and how many are kept (from `[vars]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryPolicy {
    /// Take a checkpoint once this many versions passed since the last one.
    pub every_versions: u64,
    /// Take a checkpoint once this many bytes of update frames passed since the last one.
    pub every_bytes: u64,
    /// Most checkpoints kept.
    pub max_checkpoints: usize,
    /// Most bytes of checkpointed states kept.
    pub max_bytes: u64,
}

impl HistoryPolicy {
    /// The policy the limits configure.
    pub fn of(limits: &Limits) -> Self {
        HistoryPolicy {
            every_versions: limits.checkpoint_every_versions,
            every_bytes: limits.checkpoint_every_bytes,
            max_checkpoints: limits.history_max_checkpoints,
            max_bytes: limits.history_max_bytes,
        }
    }
}

/// What has changed since the last checkpoint (stored, so it survives hibernation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// The version of the newest checkpoint (0 when none was taken).
    pub last_version: u64,
    /// Bytes of update frames written since that checkpoint.
    pub bytes_since: u64,
}

impl Progress {
    /// Records a checkpoint of `version`.
    pub fn checkpointed(&mut self, version: u64) {
        self.last_version = self.last_version.max(version);
        self.bytes_since = 0;
    }

    /// Records a write that produced `version` with an update frame of `frame_bytes`; true
    /// when that version is due for a checkpoint (every N versions or M bytes, whichever first).
    pub fn after_write(&mut self, version: u64, frame_bytes: u64, policy: &HistoryPolicy) -> bool {
        self.after_write_sized(version, frame_bytes, 0, policy)
    }

    /// `after_write` for a state of `state_bytes`: never due for a state larger than half of
    /// what the history may keep (`HISTORY_MAX_BYTES`), which it could not keep anyway.
    pub fn after_write_sized(
        &mut self,
        version: u64,
        frame_bytes: u64,
        state_bytes: u64,
        policy: &HistoryPolicy,
    ) -> bool {
        self.bytes_since = self.bytes_since.saturating_add(frame_bytes);
        let due = version.saturating_sub(self.last_version) >= policy.every_versions
            || self.bytes_since >= policy.every_bytes;
        due && fits(state_bytes, policy)
    }

    /// `before_replace` for a state of `state_bytes` (none when it is too large to keep).
    pub fn before_replace_sized(&self, current: u64, state_bytes: u64, policy: &HistoryPolicy) -> bool {
        self.before_replace(current) && fits(state_bytes, policy)
    }

    /// Whether the state at `current` must be checkpointed before a write replaces it whole
    /// (so a `set`, such as clearing a board, can always be undone).
    pub fn before_replace(&self, current: u64) -> bool {
        self.last_version != current
    }
}

/// Whether a state of `state_bytes` is small enough for automatic checkpoints.
fn fits(state_bytes: u64, policy: &HistoryPolicy) -> bool {
    state_bytes <= policy.max_bytes / 2
}

/// One checkpoint as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointMeta {
    /// The version whose state it holds.
    pub version: u64,
    /// When that version was written (ms).
    pub updated_at: i64,
    /// The label given on demand, if any.
    pub label: Option<String>,
    /// Size of the serialized state.
    pub state_bytes: u64,
}

/// The versions retention drops after a new checkpoint: the oldest first, until at most
/// `max_checkpoints` remain and their states hold at most `max_bytes`. `kept` is every stored
/// checkpoint as `(version, state bytes)`, oldest first, the new one included; the newest is
/// never dropped, even when it alone is over the byte limit.
pub fn retention(kept: &[(u64, u64)], policy: &HistoryPolicy) -> Vec<u64> {
    let mut count = kept.len();
    let mut bytes: u64 = kept.iter().map(|(_, b)| b).sum();
    let mut drop = Vec::new();
    for (version, size) in kept.iter().take(kept.len().saturating_sub(1)) {
        if count <= policy.max_checkpoints && bytes <= policy.max_bytes {
            break;
        }
        drop.push(*version);
        count -= 1;
        bytes -= size;
    }
    drop
}

/// Splits `text` into pieces of at most `max` bytes, each ending on a UTF-8 character
/// boundary, so each piece is valid text on its own. `max` must be at least 4.
pub fn split_chunks(text: &str, max: usize) -> Vec<&str> {
    let max = max.max(4);
    let mut chunks = Vec::with_capacity(text.len() / max + 1);
    let mut rest = text;
    while rest.len() > max {
        let mut end = max;
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (head, tail) = rest.split_at(end);
        chunks.push(head);
        rest = tail;
    }
    chunks.push(rest);
    chunks
}

/// One page request of `GET .../versions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageQuery {
    /// List versions strictly older than this one (the previous page's `next`).
    pub before: Option<u64>,
    /// How many to list.
    pub limit: usize,
}

/// Parses `before` and `limit` (1 to 100, default 20); unknown parameters are ignored.
pub fn page_query(query: Option<&str>) -> Result<PageQuery, ApiError> {
    let mut q = PageQuery { before: None, limit: DEFAULT_PAGE };
    for (k, v) in query_pairs(query) {
        let num = || whole_param(k, v);
        match k {
            "before" => q.before = Some(num()?),
            "limit" => {
                let n = num()?;
                if n == 0 || n > MAX_PAGE as u64 {
                    return Err(ApiError::InvalidRequest(format!("limit must be 1 to {MAX_PAGE}, got {n}")));
                }
                q.limit = n as usize;
            }
            _ => {}
        }
    }
    Ok(q)
}

/// Cuts `rows` (newest first, fetched with `limit + 1`) to one page; the cursor of the next
/// page is the oldest listed version when more remain.
pub fn page(mut rows: Vec<CheckpointMeta>, limit: usize) -> (Vec<CheckpointMeta>, Option<u64>) {
    if rows.len() <= limit {
        return (rows, None);
    }
    rows.truncate(limit);
    let next = rows.last().map(|r| r.version);
    (rows, next)
}

fn json_object(
    content_type: Option<&str>,
    body: &[u8],
    what: &str,
) -> Result<serde_json::Map<String, Value>, ApiError> {
    match media_type(content_type).as_deref() {
        None | Some("application/json") => {}
        Some(other) => return Err(ApiError::UnsupportedMediaType(format!("{other} (expected application/json)"))),
    }
    match parse_json(body)? {
        Value::Object(fields) => Ok(fields),
        other => Err(ApiError::InvalidRequest(format!("{what} body must be a json object, got {other}"))),
    }
}

/// The label of `POST .../checkpoints`: an empty body, `{}` or `{"label": null}` for none,
/// else a string of at most 100 characters.
pub fn checkpoint_label(content_type: Option<&str>, body: &[u8]) -> Result<Option<String>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let mut label = None;
    for (name, value) in json_object(content_type, body, "checkpoint")? {
        match (name.as_str(), value) {
            ("label", Value::Null) => label = None,
            ("label", Value::String(s)) if s.chars().count() <= MAX_LABEL_CHARS => label = Some(s),
            ("label", other) => {
                return Err(ApiError::InvalidRequest(format!(
                    "checkpoint body: label must be a string of at most {MAX_LABEL_CHARS} characters, got {}",
                    if other.is_string() { "a longer one".to_owned() } else { other.to_string() }
                )))
            }
            _ => {
                return Err(ApiError::InvalidRequest(format!(
                    "checkpoint body: unknown field {name:?}, expected label"
                )))
            }
        }
    }
    Ok(label)
}

/// The version `POST .../restore` brings back: the body is `{"version": N}`, N a whole number.
pub fn restore_version(content_type: Option<&str>, body: &[u8]) -> Result<u64, ApiError> {
    let mut version = None;
    for (name, value) in json_object(content_type, body, "restore")? {
        match name.as_str() {
            "version" => {
                // Any whole JSON number, as JSON Schema's `integer` counts them (`12.0` is 12).
                version = Some(json_whole_number(&value).ok_or_else(|| {
                    ApiError::InvalidRequest(format!("restore body: version must be a whole number, got {value}"))
                })?)
            }
            _ => {
                return Err(ApiError::InvalidRequest(format!("restore body: unknown field {name:?}, expected version")))
            }
        }
    }
    version.ok_or_else(|| ApiError::InvalidRequest("restore body needs a version".into()))
}

/// The `version` parameter of `GET /sessions/{key}?version=N`, if given.
pub fn version_query(query: Option<&str>) -> Result<Option<u64>, ApiError> {
    let mut version = None;
    for (k, v) in query_pairs(query) {
        if k == "version" {
            version = Some(whole_param(k, v)?);
        }
    }
    Ok(version)
}

#[cfg(test)]
#[path = "history_tests.rs"]
mod tests;
