//! Rules P1-P7 and P10-P13 of docs/protocol.md, through the room with a fake session and a
//! pretend host. Presence, broadcasts and endings (P8, P9, P14) are in `tests_presence`.

use serde_json::json;

use super::effects::{close, ConnId, ConnKind, Effect};
use super::fake::Host;
use crate::core::incoming::{parse_incoming, Incoming};
use crate::core::keys::Role;
use crate::core::limits::Limits;

fn host() -> Host {
    Host::new(Limits::default())
}

fn merge(op: &str, n: u64) -> String {
    json!({"type": "patch", "opId": op, "merge": {"n": n}}).to_string()
}

/// Three writers' worth of clients, all caught up, inboxes cleared.
fn three() -> Host {
    let mut h = host();
    for id in ["c_a", "c_b", "c_c"] {
        h.ws(id, Role::Write);
    }
    h.advance(1000);
    h.clear();
    h
}

#[test]
fn p1_each_applied_write_increments_the_version_once() {
    let mut h = three();
    h.frame("c_a", &merge("a1", 1));
    h.frame("c_a", &json!({"type": "set", "opId": "a2", "baseVersion": 99, "state": 1}).to_string());
    h.frame("c_a", &merge("a3", 3));
    h.advance(1000);
    assert_eq!(h.session.version, 3, "two applied writes from version 1");
    assert_eq!(h.versions("c_b"), vec![2, 3], "the rejected write made no version");
}

#[test]
fn p2_every_client_gets_every_update_in_order_author_included() {
    let mut h = three();
    for i in 0..7 {
        h.frame("c_a", &merge(&format!("a{i}"), i));
    }
    h.advance(1000);
    for id in ["c_a", "c_b", "c_c"] {
        assert_eq!(h.versions(id), (2..=8).collect::<Vec<_>>(), "{id}");
    }
}

#[test]
fn p2_http_writes_reach_websockets_and_sse_streams() {
    let mut h = three();
    h.open("s_1", Role::Read, ConnKind::Sse, None).unwrap();
    let Ok(Incoming::Write(req)) = parse_incoming(&merge("h1", 1), &Limits::default()) else { panic!() };
    let (_, fx) = h.room.on_http_write(req, Role::Write, h.now, &mut h.session).unwrap();
    h.run(fx);
    assert_eq!(h.versions("c_a"), vec![2]);
    assert_eq!(h.versions("s_1"), vec![2]);
    assert_eq!(h.got_type("c_b", "update")[0]["author"], "http");
}

#[test]
fn p2_long_poll_is_answered_by_the_next_write_and_at_once_when_behind() {
    let mut h = three();
    h.open("l_1", Role::Read, ConnKind::LongPoll, Some(1)).unwrap();
    assert!(h.answered.is_empty(), "nothing after version 1 yet");
    h.frame("c_a", &merge("a1", 1));
    assert_eq!(h.answered, vec![ConnId::from("l_1")]);
    h.frame("c_a", &merge("a2", 2));
    assert_eq!(h.answered.len(), 1, "answered once, then gone from the room");
    h.open("l_2", Role::Read, ConnKind::LongPoll, Some(1)).unwrap();
    assert_eq!(h.answered.last(), Some(&ConnId::from("l_2")), "already behind: answered at once");
}

#[test]
fn p3_write_is_acked_to_its_author_only() {
    let mut h = three();
    h.frame("c_a", &merge("a1", 1));
    assert_eq!(h.got_type("c_a", "ack"), vec![json!({"type": "ack", "opId": "a1", "version": 2})]);
    assert!(h.got_type("c_b", "ack").is_empty());
    assert_eq!(h.versions("c_a"), vec![2], "the author gets its update too");
}

#[test]
fn p3_a_write_that_is_not_stored_is_rejected_not_acked() {
    let mut h = three();
    h.session.broken = true;
    h.frame("c_a", &merge("a1", 1));
    let rejects = h.got_type("c_a", "reject");
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0]["code"], "internal");
    assert_eq!(rejects[0]["opId"], "a1");
    assert!(h.got_type("c_a", "ack").is_empty());
    assert!(h.versions("c_b").is_empty(), "nothing broadcast");
}

#[test]
fn p3_reject_carries_the_current_version() {
    let mut h = three();
    h.frame("c_a", &merge("a1", 1));
    h.frame("c_a", &json!({"type": "patch", "opId": "bad", "ops": [{"op": "nope"}]}).to_string());
    let reject = &h.got_type("c_a", "reject")[0];
    assert_eq!((reject["code"].as_str(), reject["version"].as_u64()), (Some("invalid_patch"), Some(2)));
}

#[test]
fn p4_welcome_is_the_first_frame_and_resumes_exactly_after_since() {
    let mut h = three();
    for i in 0..3 {
        h.frame("c_a", &merge(&format!("a{i}"), i));
    }
    h.open("c_r", Role::Read, ConnKind::WebSocket, Some(2)).unwrap();
    let first = &h.got("c_r")[0];
    assert_eq!(first["type"], "welcome");
    assert_eq!(first["resume"], "ops");
    let ops: Vec<u64> = first["ops"].as_array().unwrap().iter().filter_map(|o| o["version"].as_u64()).collect();
    assert_eq!(ops, vec![3, 4]);
    h.open("c_s", Role::Read, ConnKind::WebSocket, Some(4)).unwrap();
    assert_eq!(h.got("c_s")[0]["ops"], json!([]), "since = current: resume with no ops");
    h.open("c_t", Role::Read, ConnKind::WebSocket, None).unwrap();
    assert_eq!(h.got("c_t")[0]["resume"], "snapshot");
}

#[test]
fn p4_welcome_falls_back_to_a_snapshot_when_the_log_lost_ops() {
    let mut h = three();
    h.session.max_log = 2;
    for i in 0..5 {
        h.frame("c_a", &merge(&format!("a{i}"), i));
    }
    h.open("c_r", Role::Read, ConnKind::WebSocket, Some(1)).unwrap();
    assert_eq!(h.got("c_r")[0]["resume"], "snapshot");
}

#[test]
fn p5_stale_base_version_is_rejected_with_version_conflict() {
    let mut h = three();
    h.frame("c_a", &json!({"type": "set", "opId": "x", "baseVersion": 7, "state": {}}).to_string());
    let reject = &h.got_type("c_a", "reject")[0];
    assert_eq!(reject["code"], "version_conflict");
    assert_eq!(reject["version"], 1);
}

#[test]
fn p5_strict_session_rejects_writes_without_base_version() {
    let mut h = three();
    h.session.strict = true;
    h.frame("c_a", &merge("x", 1));
    assert_eq!(h.got_type("c_a", "reject")[0]["code"], "precondition_required");
    h.frame("c_a", &json!({"type": "patch", "opId": "y", "baseVersion": 1, "merge": {}}).to_string());
    assert_eq!(h.got_type("c_a", "ack").len(), 1, "with a base version it goes through");
}

#[test]
fn p6_duplicate_op_id_is_acked_as_duplicate_and_not_broadcast() {
    let mut h = three();
    h.frame("c_a", &merge("same", 1));
    h.advance(1000);
    h.frame("c_b", &merge("same", 2));
    h.advance(1000);
    assert_eq!(h.got_type("c_b", "ack"), vec![json!({"type": "ack", "opId": "same", "version": 2, "duplicate": true})]);
    assert_eq!(h.versions("c_c"), vec![2], "one update only");
    assert_eq!(h.session.version, 2);
}

#[test]
fn p7_read_only_connections_cannot_write_but_may_talk() {
    let mut h = three();
    h.ws("c_r", Role::Read);
    h.advance(1000);
    h.clear();
    h.frame("c_r", &merge("r1", 1));
    assert_eq!(h.got_type("c_r", "reject")[0]["code"], "read_only");
    assert_eq!(h.session.version, 1);
    h.frame("c_r", r#"{"type":"presence","data":{"name":"ro"}}"#);
    h.advance(100);
    h.frame("c_r", r#"{"type":"broadcast","data":1}"#);
    h.advance(100);
    h.frame("c_r", r#"{"type":"ping"}"#);
    h.frame("c_r", "hello");
    assert_eq!(h.presence_events("c_a"), vec![("update".into(), "c_r".into())]);
    assert_eq!(h.got_type("c_a", "broadcast").len(), 1);
    assert_eq!(h.got_type("c_r", "pong").len(), 1);
    assert!(h.got("c_a").contains(&json!("c_r says: hello")));
}

#[test]
fn p7_http_writes_with_a_read_key_are_refused() {
    let mut h = three();
    let Ok(Incoming::Write(req)) = parse_incoming(&merge("h", 1), &Limits::default()) else { panic!() };
    let err = h.room.on_http_write(req, Role::Read, h.now, &mut h.session).unwrap_err();
    assert_eq!(err.code(), "read_only");
}

#[test]
fn p10_malformed_frames_get_an_error_and_the_connection_stays_open() {
    let mut h = three();
    for bad in
        ["{not json", r#"{"type":"launch"}"#, r#"{"type":"set"}"#, r#"{"type":"broadcast","data":1,"volatile":"yes"}"#]
    {
        h.frame("c_a", bad);
    }
    let errors = h.got_type("c_a", "error");
    assert_eq!(errors.len(), 4);
    assert!(errors.iter().all(|e| e["code"] == "invalid_frame"));
    assert!(h.closed.is_empty());
    assert_eq!(h.session.version, 1);
}

#[test]
fn p11_oversized_frame_gets_message_too_large_and_close_1009() {
    let mut h = Host::new(Limits { max_message_bytes: 64, ..Limits::default() });
    h.ws("c_a", Role::Write);
    h.frame("c_a", &format!("{{\"type\":\"broadcast\",\"data\":\"{}\"}}", "x".repeat(100)));
    assert_eq!(h.got_type("c_a", "error")[0]["code"], "message_too_large");
    assert_eq!(h.closed, vec![(ConnId::from("c_a"), close::TOO_BIG)]);
}

#[test]
fn p11_frames_over_the_rate_are_dropped_then_the_connection_is_closed_4008() {
    let mut h = Host::new(Limits { max_messages_per_second: 2, ..Limits::default() });
    h.ws("c_a", Role::Write);
    h.clear();
    h.frame("c_a", r#"{"type":"ping"}"#);
    h.frame("c_a", r#"{"type":"ping"}"#);
    h.frame("c_a", r#"{"type":"ping"}"#);
    h.frame("c_a", &merge("w", 1));
    assert_eq!(h.got_type("c_a", "pong").len(), 2);
    assert_eq!(h.got_type("c_a", "error")[0]["code"], "rate_limited");
    let reject = &h.got_type("c_a", "reject")[0];
    assert_eq!((reject["code"].as_str(), reject["opId"].as_str()), (Some("rate_limited"), Some("w")));
    assert_eq!(h.session.version, 1, "the dropped write was not applied");
    for _ in 0..4 {
        h.frame("c_a", r#"{"type":"ping"}"#);
    }
    assert!(h.closed.is_empty(), "up to 4 times the limit is dropped, not closed");
    h.frame("c_a", r#"{"type":"ping"}"#);
    assert_eq!(h.closed, vec![(ConnId::from("c_a"), close::RATE_LIMITED)]);
    let mut fresh = Host::new(Limits { max_messages_per_second: 2, ..Limits::default() });
    fresh.ws("c_b", Role::Write);
    fresh.frame("c_b", r#"{"type":"ping"}"#);
    assert_eq!(fresh.got_type("c_b", "pong").len(), 1, "limits are per connection");
}

#[test]
fn p11_connection_beyond_max_clients_gets_session_full_and_4029() {
    let mut h = Host::new(Limits { max_clients: 2, ..Limits::default() });
    h.ws("c_a", Role::Write);
    h.ws("c_b", Role::Write);
    h.ws("c_c", Role::Write);
    assert_eq!(h.got("c_c")[0]["code"], "session_full");
    assert_eq!(h.closed, vec![(ConnId::from("c_c"), close::SESSION_FULL)]);
    assert_eq!(h.room.count(ConnKind::WebSocket), 2);
    assert!(h.presence_events("c_a").iter().all(|(_, who)| who != "c_c"), "a refused client never joins");
}

#[test]
fn p11_too_many_sse_streams_or_long_polls_are_refused() {
    let mut h = Host::new(Limits { max_sse_streams: 1, max_long_polls: 1, ..Limits::default() });
    h.open("s_1", Role::Read, ConnKind::Sse, None).unwrap();
    assert_eq!(h.open("s_2", Role::Read, ConnKind::Sse, None).unwrap_err().code(), "too_many_connections");
    h.open("l_1", Role::Read, ConnKind::LongPoll, Some(1)).unwrap();
    assert_eq!(h.open("l_2", Role::Read, ConnKind::LongPoll, Some(1)).unwrap_err().code(), "too_many_connections");
}

#[test]
fn p11_too_deep_presence_is_refused() {
    let mut h = Host::new(Limits { max_state_depth: 2, ..Limits::default() });
    h.ws("c_a", Role::Write);
    h.frame("c_a", r#"{"type":"presence","data":[[[1]]]}"#);
    assert_eq!(h.got_type("c_a", "error")[0]["code"], "state_too_deep");
    assert!(h.saved.is_empty());
}

#[test]
fn p12_plain_text_is_relayed_as_a_chat_line_to_the_others() {
    let mut h = three();
    h.open("s_1", Role::Read, ConnKind::Sse, None).unwrap();
    h.frame("c_a", "gg wp");
    let lines: Vec<serde_json::Value> = h.got("c_b").into_iter().filter(|f| f["type"] != "audience").collect();
    assert_eq!(lines, vec![json!("c_a says: gg wp")]);
    assert!(h.got("c_a").iter().all(|f| f["type"] == "audience"), "not echoed to the sender");
    assert!(h.got("s_1").iter().all(|f| f.is_object()), "SSE streams carry JSON only");
}

#[test]
fn p13_json_ping_gets_pong_and_plain_ping_gets_plain_pong() {
    let mut h = three();
    h.frame("c_a", r#"{"type":"ping"}"#);
    h.frame("c_a", "ping");
    assert_eq!(h.got("c_a"), vec![json!({"type": "pong"}), json!("pong")]);
    assert!(h.got("c_b").is_empty(), "a plain ping is no chat line");
}

#[test]
fn frames_from_an_unknown_connection_close_it() {
    let mut h = host();
    h.frame("c_ghost", r#"{"type":"ping"}"#);
    assert_eq!(h.closed, vec![(ConnId::from("c_ghost"), close::LOST)]);
    h.session.broken = true;
    let fx = h.room.on_frame(&ConnId::from("c_ghost"), "{}", 0, &mut h.session);
    assert!(fx.list.iter().all(|e| matches!(e, Effect::Close { .. })));
}
