//! The versioned document: what a session stores, and the three kinds of change that can be
//! applied to it (replace, JSON Merge Patch, JSON Patch), with their preconditions and limits.

use json_patch::{Patch, PatchOperation};
use serde_json::Value;

use super::bounded::{merge_bounded, patch_bounded, set_bounded, Bounds};
use super::error::ApiError;
use super::keys::KeyHashes;
use super::limits::Limits;

/// One change to the state.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Replace the whole state.
    Set(Value),
    /// Apply an RFC 7396 JSON Merge Patch.
    Merge(Value),
    /// Apply an RFC 6902 JSON Patch, atomically. The raw array is kept to re-broadcast as sent.
    Ops { patch: Vec<PatchOperation>, raw: Value },
}

impl Change {
    /// Parses a JSON Patch document (an array of operations); a wrong shape is `invalid_patch`.
    pub fn json_patch(raw: Value) -> Result<Change, ApiError> {
        let Patch(patch) =
            serde_json::from_value::<Patch>(raw.clone()).map_err(|e| ApiError::InvalidPatch(e.to_string()))?;
        Ok(Change::Ops { patch, raw })
    }

    /// Applies the change to `state` (of serialized size `size`) in place under `bounds`,
    /// stopping at the first step that would cross one; returns the new size. On error `state`
    /// may be partly changed, so callers apply to a copy.
    fn apply_to(
        &self,
        state: &mut Value,
        size: usize,
        bounds: &Bounds,
        current_version: u64,
    ) -> Result<usize, ApiError> {
        match self {
            Change::Set(v) => set_bounded(state, v, bounds),
            Change::Merge(p) => merge_bounded(state, p, bounds),
            Change::Ops { patch, .. } => patch_bounded(state, size, patch, bounds, current_version),
        }
    }
}

/// Everything stored about a session besides its op log.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    /// The current state.
    pub state: Value,
    /// Its serialized size in bytes.
    pub state_bytes: usize,
    /// Incremented by exactly one per applied write; 1 after creation.
    pub version: u64,
    /// Milliseconds since the epoch of the last write.
    pub updated_at: i64,
    /// Milliseconds since the epoch after which the idle session is erased.
    pub expires_at: i64,
    /// The idle time to live in milliseconds.
    pub ttl_ms: i64,
    /// Whether writes must carry a version precondition.
    pub strict: bool,
    /// Hashes of the admin, write and read secrets.
    pub hashes: KeyHashes,
    /// Total bytes of the frames in the op log.
    pub oplog_bytes: u64,
    /// Why the stored state could not be read, if it could not; `state` is then null. Such a
    /// session can still be replaced by a `set`, deleted by its admin and erased by its alarm.
    pub unreadable: Option<String>,
}

impl SessionRecord {
    /// The state, or an internal error when the stored state could not be read.
    pub fn readable_state(&self) -> Result<&Value, ApiError> {
        match &self.unreadable {
            Some(why) => Err(ApiError::Internal(format!("stored state unreadable: {why}"))),
            None => Ok(&self.state),
        }
    }

    /// Whether the session has passed its expiry time at `now` (ms).
    pub fn is_expired(&self, now: i64) -> bool {
        now >= self.expires_at
    }

    /// The entity tag of the current version: `"<version>"`.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.version)
    }

    /// Restarts the idle timer on a new connection; true when the new expiry moved far enough
    /// (a tenth of the TTL) to be worth a storage write. Connections keep a session alive
    /// anyway (the alarm extends a watched session), so a skipped write loses nothing.
    pub fn touch_on_connect(&mut self, now: i64) -> bool {
        let before = self.expires_at;
        self.touch(now);
        self.expires_at - before >= self.ttl_ms / 10
    }

    /// Restarts the idle timer from `now`.
    pub fn touch(&mut self, now: i64) {
        self.expires_at = now.saturating_add(self.ttl_ms);
    }
}

/// The result of a change that passed every check, ready to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedWrite {
    /// The new state.
    pub state: Value,
    /// The new state serialized, as it will be stored.
    pub state_json: String,
    /// The new version.
    pub version: u64,
    /// The write's timestamp (ms).
    pub updated_at: i64,
}

/// Checks the version precondition, applies `change` to a copy of the state and checks the
/// size limit. The record itself is not touched, so a rejected write changes nothing.
pub fn prepare_write(
    record: &SessionRecord,
    change: &Change,
    base_version: Option<u64>,
    limits: &Limits,
    now: i64,
) -> Result<PreparedWrite, ApiError> {
    match base_version {
        Some(expected) if expected != record.version => {
            return Err(ApiError::VersionConflict { expected, current_version: record.version })
        }
        None if record.strict => return Err(ApiError::PreconditionRequired),
        _ => {}
    }
    let mut state = match change {
        Change::Set(_) => Value::Null,
        _ => record.readable_state()?.clone(),
    };
    change.apply_to(&mut state, record.state_bytes, &Bounds::of(limits), record.version)?;
    let state_json = serde_json::to_string(&state).map_err(|e| ApiError::Internal(e.to_string()))?;
    if state_json.len() > limits.max_state_bytes {
        return Err(ApiError::StateTooLarge { size: state_json.len(), limit: limits.max_state_bytes });
    }
    Ok(PreparedWrite {
        state,
        state_json,
        version: record.version + 1,
        // Keep timestamps monotonic even if the clock steps back.
        updated_at: now.max(record.updated_at),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::core::keys::Secrets;
    use serde_json::json;

    pub(crate) fn record(state: Value) -> SessionRecord {
        let state_bytes = state.to_string().len();
        SessionRecord {
            state,
            state_bytes,
            version: 1,
            updated_at: 1000,
            expires_at: 61_000,
            ttl_ms: 60_000,
            strict: false,
            hashes: Secrets::generate().unwrap().hashes(),
            oplog_bytes: 0,
            unreadable: None,
        }
    }

    #[test]
    fn set_replaces_and_bumps_version() {
        let r = record(json!({"a": 1}));
        let w = prepare_write(&r, &Change::Set(json!([1, 2])), None, &Limits::default(), 2000).unwrap();
        assert_eq!(w.state, json!([1, 2]));
        assert_eq!(w.version, 2);
        assert_eq!(w.state_json, "[1,2]");
        assert_eq!(w.updated_at, 2000);
    }

    #[test]
    fn merge_patch_follows_rfc7396() {
        let r = record(json!({"a": "b", "c": {"d": "e", "f": "g"}}));
        let p = json!({"a": "z", "c": {"f": null}});
        let w = prepare_write(&r, &Change::Merge(p), Some(1), &Limits::default(), 2000).unwrap();
        assert_eq!(w.state, json!({"a": "z", "c": {"d": "e"}}));
    }

    #[test]
    fn json_patch_with_test_op_is_atomic() {
        let r = record(json!({"turn": "x", "n": 1}));
        let ok = Change::json_patch(json!([
            {"op": "test", "path": "/turn", "value": "x"},
            {"op": "replace", "path": "/turn", "value": "o"},
            {"op": "add", "path": "/moves", "value": [4]}
        ]))
        .unwrap();
        let w = prepare_write(&r, &ok, None, &Limits::default(), 2000).unwrap();
        assert_eq!(w.state, json!({"turn": "o", "n": 1, "moves": [4]}));

        let failing = Change::json_patch(json!([
            {"op": "replace", "path": "/n", "value": 2},
            {"op": "test", "path": "/turn", "value": "o"}
        ]))
        .unwrap();
        let err = prepare_write(&r, &failing, None, &Limits::default(), 2000).unwrap_err();
        assert_eq!(err.code(), "patch_conflict");
        assert_eq!(err.current_version(), Some(1));
        assert_eq!(r.state, json!({"turn": "x", "n": 1}), "record untouched");
    }

    #[test]
    fn invalid_json_patch_documents_are_rejected() {
        for bad in [json!({"op": "add"}), json!([{"op": "frobnicate", "path": "/a"}]), json!([{"op": "add"}])] {
            assert_eq!(Change::json_patch(bad).unwrap_err().code(), "invalid_patch");
        }
        let missing = Change::json_patch(json!([{"op": "remove", "path": "/nope"}])).unwrap();
        let err = prepare_write(&record(json!({})), &missing, None, &Limits::default(), 1).unwrap_err();
        assert_eq!(err.status(), 409);
    }

    #[test]
    fn stale_base_version_is_a_conflict() {
        let r = record(json!({}));
        let err = prepare_write(&r, &Change::Set(json!(1)), Some(7), &Limits::default(), 1).unwrap_err();
        assert_eq!(err, ApiError::VersionConflict { expected: 7, current_version: 1 });
    }

    #[test]
    fn strict_sessions_need_a_precondition() {
        let mut r = record(json!({}));
        r.strict = true;
        let err = prepare_write(&r, &Change::Set(json!(1)), None, &Limits::default(), 1).unwrap_err();
        assert_eq!(err, ApiError::PreconditionRequired);
        assert!(prepare_write(&r, &Change::Set(json!(1)), Some(1), &Limits::default(), 1).is_ok());
    }

    #[test]
    fn state_limit_is_enforced() {
        let limits = Limits { max_state_bytes: 10, ..Limits::default() };
        let err = prepare_write(&record(json!({})), &Change::Set(json!("0123456789")), None, &limits, 1).unwrap_err();
        assert_eq!(err.code(), "state_too_large");
        assert!(prepare_write(&record(json!({})), &Change::Set(json!("01234567")), None, &limits, 1).is_ok());
    }

    #[test]
    fn an_unreadable_state_can_only_be_replaced() {
        let mut r = record(Value::Null);
        r.unreadable = Some("recursion limit exceeded".into());
        let merge = prepare_write(&r, &Change::Merge(json!({"a": 1})), None, &Limits::default(), 1).unwrap_err();
        assert_eq!(merge.code(), "internal");
        let set = prepare_write(&r, &Change::Set(json!({"a": 1})), None, &Limits::default(), 1).unwrap();
        assert_eq!(set.state, json!({"a": 1}));
    }

    #[test]
    fn depth_limit_is_enforced_on_every_kind_of_write() {
        let limits = Limits { max_state_depth: 3, ..Limits::default() };
        let r = record(json!({"a": {}}));
        let deep = json!({"x": [[[1]]]});
        for change in [Change::Set(deep.clone()), Change::Merge(deep.clone())] {
            let err = prepare_write(&r, &change, None, &limits, 1).unwrap_err();
            assert_eq!(err.code(), "state_too_deep", "{change:?}");
        }
        let ops = Change::json_patch(json!([{"op": "add", "path": "/a/b", "value": [[1]]}])).unwrap();
        assert_eq!(prepare_write(&r, &ops, None, &limits, 1).unwrap_err().code(), "state_too_deep");
        let ok = Change::json_patch(json!([{"op": "add", "path": "/a/b", "value": [1]}])).unwrap();
        assert!(prepare_write(&r, &ok, None, &limits, 1).is_ok());
    }

    #[test]
    fn timestamps_never_go_back() {
        let r = record(json!({}));
        let w = prepare_write(&r, &Change::Set(json!(1)), None, &Limits::default(), 5).unwrap();
        assert_eq!(w.updated_at, 1000);
    }

    #[test]
    fn expiry_and_etag() {
        let mut r = record(json!({}));
        assert!(!r.is_expired(60_999));
        assert!(r.is_expired(61_000));
        assert!(r.touch_on_connect(1_000 + 6_000), "moved a tenth of the ttl: store it");
        assert!(!r.touch_on_connect(1_000 + 6_500), "moved less: skip the storage write");
        r.touch(100_000);
        assert_eq!(r.expires_at, 160_000);
        assert_eq!(r.etag(), "\"1\"");
    }
}
