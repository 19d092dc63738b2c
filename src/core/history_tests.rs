//! Unit tests of the history decisions: checkpoint cadence, retention, paging, chunking and
//! the checkpoint and restore bodies.

use super::*;

fn policy() -> HistoryPolicy {
    HistoryPolicy { every_versions: 50, every_bytes: 1000, max_checkpoints: 3, max_bytes: 10_000 }
}

#[test]
fn a_checkpoint_is_due_every_n_versions() {
    let p = policy();
    let mut progress = Progress::default();
    let due: Vec<u64> = (2..=160)
        .filter(|v| {
            let due = progress.after_write(*v, 1, &p);
            if due {
                progress.checkpointed(*v);
            }
            due
        })
        .collect();
    assert_eq!(due, vec![50, 100, 150]);
}

#[test]
fn a_checkpoint_is_due_after_m_bytes_whichever_comes_first() {
    let p = policy();
    let mut progress = Progress { last_version: 10, bytes_since: 0 };
    assert!(!progress.after_write(11, 600, &p));
    assert!(progress.after_write(12, 400, &p), "1000 bytes reached before 50 versions");
    progress.checkpointed(12);
    assert_eq!(progress, Progress { last_version: 12, bytes_since: 0 });
    assert!(!progress.after_write(13, 999, &p));
}

#[test]
fn a_replacing_write_checkpoints_the_state_it_replaces_once() {
    let mut progress = Progress { last_version: 7, bytes_since: 30 };
    assert!(progress.before_replace(9));
    progress.checkpointed(9);
    assert!(!progress.before_replace(9), "already checkpointed");
    progress.checkpointed(3);
    assert_eq!(progress.last_version, 9, "an older checkpoint never moves the mark back");
}

#[test]
fn retention_drops_the_oldest_by_count_and_bytes_but_never_the_newest() {
    let p = policy();
    assert!(retention(&[(1, 10), (2, 10), (3, 10)], &p).is_empty());
    assert_eq!(retention(&[(1, 10), (2, 10), (3, 10), (4, 10)], &p), vec![1]);
    assert_eq!(retention(&[(1, 10), (2, 10), (3, 10), (4, 10), (5, 10)], &p), vec![1, 2]);
    assert_eq!(retention(&[(1, 6000), (2, 3000), (3, 2000)], &p), vec![1]);
    assert_eq!(retention(&[(1, 10), (2, 20_000)], &p), vec![1], "the newest stays even over the limit");
    assert!(retention(&[(2, 20_000)], &p).is_empty());
    assert!(retention(&[], &p).is_empty());
}

#[test]
fn chunks_end_on_utf8_boundaries_and_reassemble() {
    let text = "aé€😀".repeat(1000);
    for max in [4, 5, 7, 1000, 1_000_000] {
        let chunks = split_chunks(&text, max);
        assert!(chunks.iter().all(|c| c.len() <= max && !c.is_empty()), "max {max}");
        assert_eq!(chunks.concat(), text);
    }
    assert_eq!(split_chunks("", 10), vec![""]);
    let big = "x".repeat(1_500_000);
    let chunks = split_chunks(&big, CHUNK_BYTES);
    assert_eq!(chunks.iter().map(|c| c.len()).collect::<Vec<_>>(), vec![1_000_000, 500_000]);
}

#[test]
fn page_queries() {
    assert_eq!(page_query(None).unwrap(), PageQuery { before: None, limit: 20 });
    assert_eq!(page_query(Some("before=40&limit=5&x=1")).unwrap(), PageQuery { before: Some(40), limit: 5 });
    assert_eq!(page_query(Some("limit=100")).unwrap().limit, 100);
    for bad in ["limit=0", "limit=101", "limit=x", "before=-1", "before="] {
        assert_eq!(page_query(Some(bad)).unwrap_err().code(), "invalid_request", "{bad}");
    }
}

fn meta(version: u64) -> CheckpointMeta {
    CheckpointMeta { version, updated_at: 1, label: None, state_bytes: 2 }
}

#[test]
fn pages_carry_a_cursor_while_more_remain() {
    let (rows, next) = page(vec![meta(9), meta(7), meta(5)], 2);
    assert_eq!(rows.iter().map(|r| r.version).collect::<Vec<_>>(), vec![9, 7]);
    assert_eq!(next, Some(7));
    let (rows, next) = page(vec![meta(9), meta(7)], 2);
    assert_eq!(rows.len(), 2);
    assert_eq!(next, None);
    let json = serde_json::to_value(meta(3)).unwrap();
    assert_eq!(json, serde_json::json!({"version": 3, "updatedAt": 1, "label": null, "stateBytes": 2}));
}

#[test]
fn checkpoint_bodies() {
    assert_eq!(checkpoint_label(None, b"").unwrap(), None);
    assert_eq!(checkpoint_label(Some("application/json"), b"{}").unwrap(), None);
    assert_eq!(checkpoint_label(None, br#"{"label":null}"#).unwrap(), None);
    assert_eq!(checkpoint_label(None, br#"{"label":"before demo"}"#).unwrap().as_deref(), Some("before demo"));
    let hundred = format!(r#"{{"label":"{}"}}"#, "é".repeat(100));
    assert_eq!(checkpoint_label(None, hundred.as_bytes()).unwrap().unwrap().chars().count(), 100);
    let long = format!(r#"{{"label":"{}"}}"#, "a".repeat(101));
    assert_eq!(checkpoint_label(None, long.as_bytes()).unwrap_err().code(), "invalid_request");
    assert_eq!(checkpoint_label(None, br#"{"label":3}"#).unwrap_err().code(), "invalid_request");
    assert_eq!(checkpoint_label(None, br#"{"lable":"x"}"#).unwrap_err().code(), "invalid_request");
    assert_eq!(checkpoint_label(None, b"[1]").unwrap_err().code(), "invalid_request");
    assert_eq!(checkpoint_label(None, b"{oops").unwrap_err().code(), "invalid_json");
    assert_eq!(checkpoint_label(Some("text/plain"), b"{}").unwrap_err().status(), 415);
}

#[test]
fn restore_bodies() {
    assert_eq!(restore_version(None, br#"{"version":12}"#).unwrap(), 12);
    assert_eq!(restore_version(None, br#"{"version":12.0}"#).unwrap(), 12, "a whole number, as JSON Schema reads it");
    for bad in
        [&b"{}"[..], br#"{"version":-1}"#, br#"{"version":"3"}"#, br#"{"version":1.5}"#, br#"{"version":1,"x":2}"#]
    {
        assert_eq!(restore_version(None, bad).unwrap_err().code(), "invalid_request");
    }
    assert_eq!(restore_version(None, b"").unwrap_err().code(), "invalid_json");
}

#[test]
fn version_queries() {
    assert_eq!(version_query(None).unwrap(), None);
    assert_eq!(version_query(Some("after=3&wait=1")).unwrap(), None);
    assert_eq!(version_query(Some("version=12")).unwrap(), Some(12));
    assert_eq!(version_query(Some("version=x")).unwrap_err().code(), "invalid_request");
    assert_eq!(version_query(Some("version")).unwrap_err().code(), "invalid_request");
}
