//! The versioned document: what a session stores, and the three kinds of change that can be
//! applied to it (replace, JSON Merge Patch, JSON Patch), with their preconditions and limits.
//! Changes are applied to the document tree in place and rolled back on any error, so a write
//! costs what its patch touches, not what the state weighs.

use std::rc::Rc;

use json_patch::{Patch, PatchOperation};
use serde_json::Value;

use super::bounded::Bounds;
use super::doc::{apply_merge, apply_patch, Document, Node};
use super::error::ApiError;
use super::keys::KeyHashes;
use super::limits::Limits;
use super::oplog::OpLog;

/// One change to the state.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Replace the whole state.
    Set(Rc<Node>),
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

    /// A replacement of the whole state by `value`.
    pub fn set(value: &Value) -> Result<Change, ApiError> {
        Ok(Change::Set(Rc::new(Node::from_value(value)?)))
    }
}

/// Everything stored about a session besides its op log.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    /// The current state.
    pub doc: Document,
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
    /// What the op log holds, and since when the snapshot is stale (kept in memory).
    pub log: OpLog,
    /// Why the stored state could not be read, if it could not; the state is then null. Such a
    /// session can still be replaced by a `set`, deleted by its admin and erased by its alarm.
    pub unreadable: Option<String>,
}

impl SessionRecord {
    /// The state, or an internal error when the stored state could not be read.
    pub fn readable(&self) -> Result<&Document, ApiError> {
        match &self.unreadable {
            Some(why) => Err(ApiError::Internal(format!("stored state unreadable: {why}"))),
            None => Ok(&self.doc),
        }
    }

    /// The serialized size of the state.
    pub fn state_bytes(&self) -> usize {
        self.doc.bytes()
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

/// Checks the version precondition of a write.
pub fn check_precondition(record: &SessionRecord, base_version: Option<u64>) -> Result<(), ApiError> {
    match base_version {
        Some(expected) if expected != record.version => {
            Err(ApiError::VersionConflict { expected, current_version: record.version })
        }
        None if record.strict => Err(ApiError::PreconditionRequired),
        _ => Ok(()),
    }
}

/// Applies `change` to the record's state in place under the limits; on any error the state
/// is unchanged. An unreadable state can only be replaced.
pub fn apply_change(record: &mut SessionRecord, change: &Change, limits: &Limits) -> Result<(), ApiError> {
    let bounds = Bounds::of(limits);
    match change {
        Change::Set(node) => {
            let depth = node.depth();
            if depth > bounds.max_depth {
                return Err(ApiError::StateTooDeep { depth, limit: bounds.max_depth });
            }
            if node.bytes() > bounds.max_bytes {
                return Err(ApiError::StateTooLarge { size: node.bytes(), limit: bounds.max_bytes });
            }
            record.doc.root = node.clone();
            record.unreadable = None;
            Ok(())
        }
        Change::Merge(patch) => {
            record.readable()?;
            apply_merge(&mut record.doc, patch, &bounds)
        }
        Change::Ops { patch, .. } => {
            record.readable()?;
            apply_patch(&mut record.doc, patch, &bounds, record.version)
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::core::keys::Secrets;
    use serde_json::json;

    pub(crate) fn record(state: Value) -> SessionRecord {
        SessionRecord {
            doc: Document::from_value(&state).unwrap(),
            version: 1,
            updated_at: 1000,
            expires_at: 61_000,
            ttl_ms: 60_000,
            strict: false,
            hashes: Secrets::generate().unwrap().hashes(),
            log: OpLog::default(),
            unreadable: None,
        }
    }

    /// Applies `change` to a copy of `r`; the copy's state, or the error.
    fn apply(r: &SessionRecord, change: &Change, limits: &Limits) -> Result<Value, ApiError> {
        let mut copy = r.clone();
        apply_change(&mut copy, change, limits)?;
        Ok(copy.doc.to_value().unwrap())
    }

    fn set(v: Value) -> Change {
        Change::set(&v).unwrap()
    }

    #[test]
    fn set_replaces() {
        let r = record(json!({"a": 1}));
        assert_eq!(apply(&r, &set(json!([1, 2])), &Limits::default()).unwrap(), json!([1, 2]));
    }

    #[test]
    fn merge_patch_follows_rfc7396() {
        let r = record(json!({"a": "b", "c": {"d": "e", "f": "g"}}));
        let p = json!({"a": "z", "c": {"f": null}});
        assert_eq!(apply(&r, &Change::Merge(p), &Limits::default()).unwrap(), json!({"a": "z", "c": {"d": "e"}}));
    }

    #[test]
    fn json_patch_with_test_op_is_atomic() {
        let mut r = record(json!({"turn": "x", "n": 1}));
        let ok = Change::json_patch(json!([
            {"op": "test", "path": "/turn", "value": "x"},
            {"op": "replace", "path": "/turn", "value": "o"},
            {"op": "add", "path": "/moves", "value": [4]}
        ]))
        .unwrap();
        assert_eq!(apply(&r, &ok, &Limits::default()).unwrap(), json!({"turn": "o", "n": 1, "moves": [4]}));

        let failing = Change::json_patch(json!([
            {"op": "replace", "path": "/n", "value": 2},
            {"op": "test", "path": "/turn", "value": "o"}
        ]))
        .unwrap();
        let err = apply_change(&mut r, &failing, &Limits::default()).unwrap_err();
        assert_eq!(err.code(), "patch_conflict");
        assert_eq!(err.current_version(), Some(1));
        assert_eq!(r.doc.to_value().unwrap(), json!({"turn": "x", "n": 1}), "record untouched");
    }

    #[test]
    fn invalid_json_patch_documents_are_rejected() {
        for bad in [json!({"op": "add"}), json!([{"op": "frobnicate", "path": "/a"}]), json!([{"op": "add"}])] {
            assert_eq!(Change::json_patch(bad).unwrap_err().code(), "invalid_patch");
        }
        let missing = Change::json_patch(json!([{"op": "remove", "path": "/nope"}])).unwrap();
        let err = apply(&record(json!({})), &missing, &Limits::default()).unwrap_err();
        assert_eq!(err.status(), 409);
    }

    #[test]
    fn stale_base_version_is_a_conflict() {
        let r = record(json!({}));
        let err = check_precondition(&r, Some(7)).unwrap_err();
        assert_eq!(err, ApiError::VersionConflict { expected: 7, current_version: 1 });
    }

    #[test]
    fn strict_sessions_need_a_precondition() {
        let mut r = record(json!({}));
        r.strict = true;
        assert_eq!(check_precondition(&r, None).unwrap_err(), ApiError::PreconditionRequired);
        assert!(check_precondition(&r, Some(1)).is_ok());
    }

    #[test]
    fn state_limit_is_enforced() {
        let limits = Limits { max_state_bytes: 10, ..Limits::default() };
        let err = apply(&record(json!({})), &set(json!("0123456789")), &limits).unwrap_err();
        assert_eq!(err.code(), "state_too_large");
        assert!(apply(&record(json!({})), &set(json!("01234567")), &limits).is_ok());
    }

    #[test]
    fn an_unreadable_state_can_only_be_replaced() {
        let mut r = record(Value::Null);
        r.unreadable = Some("recursion limit exceeded".into());
        let merge = apply(&r, &Change::Merge(json!({"a": 1})), &Limits::default()).unwrap_err();
        assert_eq!(merge.code(), "internal");
        assert_eq!(apply(&r, &set(json!({"a": 1})), &Limits::default()).unwrap(), json!({"a": 1}));
    }

    #[test]
    fn depth_limit_is_enforced_on_every_kind_of_write() {
        let limits = Limits { max_state_depth: 3, ..Limits::default() };
        let r = record(json!({"a": {}}));
        let deep = json!({"x": [[[1]]]});
        for change in [set(deep.clone()), Change::Merge(deep.clone())] {
            let err = apply(&r, &change, &limits).unwrap_err();
            assert_eq!(err.code(), "state_too_deep", "{change:?}");
        }
        let ops = Change::json_patch(json!([{"op": "add", "path": "/a/b", "value": [[1]]}])).unwrap();
        assert_eq!(apply(&r, &ops, &limits).unwrap_err().code(), "state_too_deep");
        let ok = Change::json_patch(json!([{"op": "add", "path": "/a/b", "value": [1]}])).unwrap();
        assert!(apply(&r, &ok, &limits).is_ok());
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
