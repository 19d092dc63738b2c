//! The write and resume paths over the in-memory store: what is stored, de-duplication,
//! rollback, the op log's bounds and snapshots, and recovery from snapshot plus log.

use super::memory::MemoryStore;
use super::*;
use crate::core::doc::{parse_document, Document};
use crate::core::document::tests::record;
use crate::core::oplog::{OpLog, SNAPSHOT_EVERY_OPS};
use serde_json::{json, Value};

fn merge(op_id: Option<&str>, base: Option<u64>, patch: Value) -> WriteRequest {
    WriteRequest { op_id: op_id.map(str::to_owned), base_version: base, change: Change::Merge(patch) }
}

fn state(r: &SessionRecord) -> Value {
    r.doc.to_value().unwrap()
}

fn frame_text(out: &WriteOutcome) -> String {
    let WriteOutcome::Applied { frame, .. } = out else { panic!("not applied: {out:?}") };
    frame.clone()
}

#[test]
fn write_stores_logs_and_returns_the_update_frame() {
    let store = MemoryStore::default();
    let mut r = record(json!({}));
    let out = apply_write(&store, &mut r, merge(Some("o1"), Some(1), json!({"a": 1})), "c_1", &Limits::default(), 5000)
        .unwrap();
    let f: Value = serde_json::from_str(&frame_text(&out)).unwrap();
    assert_eq!(f, json!({"type":"update","version":2,"updatedAt":5000,"opId":"o1","author":"c_1","merge":{"a":1}}));
    assert_eq!(state(&r), json!({"a": 1}));
    assert_eq!(r.expires_at, 5000 + r.ttl_ms, "a write restarts the idle timer");
    let stored = store.record.borrow().clone().unwrap();
    assert_eq!(stored.version, 2);
    assert_eq!(store.ops.borrow()[0].frame, frame_text(&out), "the log holds the frame as broadcast");
}

#[test]
fn a_replace_carries_the_new_state_in_its_frame() {
    let store = MemoryStore::default();
    let mut r = record(json!({"old": true}));
    let req = WriteRequest { op_id: None, base_version: None, change: Change::set(&json!([1, {"b": 2}])).unwrap() };
    let out = apply_write(&store, &mut r, req, "c", &Limits::default(), 1).unwrap();
    let f: Value = serde_json::from_str(&frame_text(&out)).unwrap();
    assert_eq!(f["set"], json!([1, {"b": 2}]));
    assert_eq!(state(&r), json!([1, {"b": 2}]));
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
    assert_eq!(state(&r), json!({"n": 1}));
    assert_eq!(store.ops.borrow().len(), 1);
}

#[test]
fn rejected_writes_change_nothing() {
    let store = MemoryStore::default();
    let mut r = record(json!({"n": 0}));
    let before = r.clone();
    let err =
        apply_write(&store, &mut r, merge(None, Some(9), json!({"n": 1})), "c", &Limits::default(), 1).unwrap_err();
    assert_eq!(err.code(), "version_conflict");
    let small = Limits { max_state_bytes: 12, ..Limits::default() };
    let err = apply_write(&store, &mut r, merge(None, None, json!({"n": "far too long"})), "c", &small, 1).unwrap_err();
    assert_eq!(err.code(), "state_too_large");
    assert_eq!(r, before);
    assert!(store.ops.borrow().is_empty());
    store.fail_commit.set(true);
    let err = apply_write(&store, &mut r, merge(None, None, json!({"n": 1})), "c", &Limits::default(), 1).unwrap_err();
    assert_eq!(err.code(), "internal", "the caller reloads the record after a failed commit");
}

/// Applies `n` anonymous merge writes.
fn fill(store: &MemoryStore, r: &mut SessionRecord, n: u64, limits: &Limits) {
    for i in 0..n {
        apply_write(store, r, merge(None, None, json!({ "i": i })), "c", limits, 1).unwrap();
    }
}

#[test]
fn the_log_keeps_every_op_after_the_snapshot_and_trims_in_batches_after_one() {
    let store = MemoryStore::default();
    let mut r = record(json!({}));
    let limits = Limits { oplog_max_ops: 10, ..Limits::default() };
    fill(&store, &mut r, 300, &limits);
    // No snapshot yet (the log is small): every op is needed to recover.
    assert_eq!(store.ops.borrow().len(), 300);
    assert!(store.snapshot.borrow().is_none());
    let bytes: u64 = store.ops.borrow().iter().map(|o| o.frame.len() as u64).sum();
    assert_eq!(r.log.bytes(), bytes, "byte counter tracks the log");
}

#[test]
fn a_snapshot_is_taken_every_so_many_ops_and_lets_the_log_be_trimmed() {
    let store = MemoryStore::default();
    let mut r = record(json!({}));
    let limits = Limits { oplog_max_ops: 10, ..Limits::default() };
    fill(&store, &mut r, SNAPSHOT_EVERY_OPS + 5, &limits);
    let (version, text) = store.snapshot.borrow().clone().unwrap();
    assert_eq!(version, SNAPSHOT_EVERY_OPS + 1);
    assert_eq!(text, r#"{"i":9999}"#);
    let ops = store.ops.borrow();
    assert!(ops.len() <= 10 + 64, "trimmed to the resume window (plus a batch): {}", ops.len());
    assert_eq!(ops.last().unwrap().version, r.version);
    assert_eq!(r.log.len(), ops.len());
}

#[test]
fn recovery_from_snapshot_plus_log_gives_the_same_state() {
    let store = MemoryStore::default();
    let mut r = record(json!({"start": 1}));
    let limits = Limits { oplog_max_ops: 10, ..Limits::default() };
    for i in 0..SNAPSHOT_EVERY_OPS + 40 {
        let patch = json!({ format!("k{}", i % 50): i, "last": i });
        apply_write(&store, &mut r, merge(Some(&format!("op{i}")), None, patch), "c", &limits, 1).unwrap();
    }
    let (snap_version, text) = store.snapshot.borrow().clone().unwrap();
    let mut loaded = record(Value::Null);
    loaded.doc = Document { root: std::rc::Rc::new(parse_document(&text).unwrap()) };
    loaded.version = snap_version;
    for (_, frame) in store.ops_after(snap_version).unwrap() {
        replay(&mut loaded, &frame, &limits).unwrap();
    }
    assert_eq!(loaded.version, r.version);
    assert_eq!(loaded.doc.to_json(), r.doc.to_json());
    assert_eq!(r.log.find(&format!("op{}", SNAPSHOT_EVERY_OPS + 39)), Some(r.version));
}

#[test]
fn a_long_frame_is_logged_like_any_other_and_resumes_by_snapshot_beyond_the_window() {
    let store = MemoryStore::default();
    let mut r = record(json!({}));
    let limits = Limits { max_state_bytes: 4 << 20, ..Limits::default() };
    let big = json!({"blob": "x".repeat(1_200_000)});
    let req = WriteRequest { op_id: Some("big".into()), base_version: None, change: Change::set(&big).unwrap() };
    apply_write(&store, &mut r, req, "c", &limits, 1).unwrap();
    assert!(store.snapshot.borrow().is_none(), "no snapshot for one long write");
    assert!(store.ops.borrow()[0].frame.len() > 1_200_000, "logged whole (the store cuts it into rows)");
    assert_eq!(r.log.find("big"), Some(2));
    assert_eq!(plan_resume(&store, &r, Some(1), &limits).unwrap(), ResumePlan::Snapshot, "over OPLOG_MAX_BYTES");
}

#[test]
fn resume_replays_exactly_the_missed_ops_or_falls_back_to_a_snapshot() {
    let store = MemoryStore::default();
    let mut r = record(json!({}));
    let limits = Limits { oplog_max_ops: 20, ..Limits::default() };
    fill(&store, &mut r, 50, &limits);
    assert_eq!(r.version, 51);
    let ResumePlan::Ops(ops) = plan_resume(&store, &r, Some(41), &limits).unwrap() else { panic!() };
    let versions: Vec<u64> =
        ops.iter().map(|f| serde_json::from_str::<Value>(f).unwrap()["version"].as_u64().unwrap()).collect();
    assert_eq!(versions, (42..=51).collect::<Vec<_>>());
    assert_eq!(plan_resume(&store, &r, Some(51), &limits).unwrap(), ResumePlan::Ops(vec![]));
    assert_eq!(plan_resume(&store, &r, Some(5), &limits).unwrap(), ResumePlan::Snapshot, "beyond the resume window");
    assert_eq!(plan_resume(&store, &r, Some(99), &limits).unwrap(), ResumePlan::Snapshot, "from the future");
    assert_eq!(plan_resume(&store, &r, None, &limits).unwrap(), ResumePlan::Snapshot);
}

#[test]
fn welcome_embeds_ops_verbatim_or_the_state() {
    let store = MemoryStore::default();
    let mut r = record(json!({}));
    apply_write(&store, &mut r, merge(Some("x"), None, json!({"a": 1})), "c", &Limits::default(), 1).unwrap();
    let plan = plan_resume(&store, &r, Some(1), &Limits::default()).unwrap();
    let text = welcome_frame(&r, plan, "c_me", Role::Read, vec![], &Limits::default()).unwrap().to_text();
    let w: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(w["resume"], "ops");
    assert_eq!(w["ops"][0]["opId"], "x");
    assert_eq!(w["role"], "read");
    assert!(w.get("state").is_none());
    let text =
        welcome_frame(&r, ResumePlan::Snapshot, "c_me", Role::Write, vec![], &Limits::default()).unwrap().to_text();
    let w: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(w["state"], json!({"a": 1}));
    assert_eq!(w["version"], 2);
}

#[test]
fn the_log_index_answers_from_rows_loaded_at_wake() {
    let rows =
        vec![OpMeta { version: 4, op_id: Some("a".into()), bytes: 10 }, OpMeta { version: 5, op_id: None, bytes: 20 }];
    let log = OpLog::new(3, rows);
    assert_eq!(log.find("a"), Some(4));
    assert_eq!(log.bytes(), 30);
}

#[test]
fn recent_ops_are_the_contiguous_window_ending_at_the_current_version() {
    let store = MemoryStore::default();
    let mut r = record(json!({}));
    let limits = Limits { oplog_max_ops: 3, ..Limits::default() };
    for i in 0..5 {
        apply_write(&store, &mut r, merge(None, None, json!({ "i": i })), "c_1", &limits, 1).unwrap();
    }
    let versions = |frames: Vec<String>| -> Vec<u64> {
        frames.iter().map(|f| serde_json::from_str::<Value>(f).unwrap()["version"].as_u64().unwrap()).collect()
    };
    assert_eq!(versions(recent_ops(&store, &r, &limits).unwrap()), vec![4, 5, 6]);
    let small = Limits { oplog_max_bytes: 200, ..limits.clone() };
    assert_eq!(versions(recent_ops(&store, &r, &small).unwrap()).len(), 2, "bounded by bytes too");
    store.ops.borrow_mut().retain(|o| o.version != 5);
    assert_eq!(
        versions(recent_ops(&store, &r, &limits).unwrap()),
        vec![6],
        "only the run ending at the current version"
    );
}
