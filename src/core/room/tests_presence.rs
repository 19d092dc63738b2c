//! Rules P8 (presence, also after hibernation), P9 (broadcast) and P14 (endings) of
//! docs/protocol.md, through the room with a fake session and a pretend host.

use serde_json::{json, Value};

use super::effects::{close, ConnId, ConnKind, RestoredConn};
use super::fake::Host;
use super::RoomConfig;
use crate::core::http_presence::PresenceBody;
use crate::core::keys::Role;
use crate::core::limits::Limits;

fn ids(list: &Value) -> Vec<String> {
    list.as_array().into_iter().flatten().filter_map(|e| e["clientId"].as_str().map(str::to_owned)).collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(e, c)| (e.to_string(), c.to_string())).collect()
}

#[test]
fn p8_welcome_lists_everyone_and_the_others_hear_joins_updates_and_leaves() {
    let mut h = Host::new(Limits::default());
    h.ws("c_a", Role::Write);
    h.frame("c_a", r#"{"type":"presence","data":{"name":"Ada"}}"#);
    h.advance(1000);
    h.ws("c_b", Role::Read);
    let welcome = &h.got("c_b")[0];
    assert_eq!(ids(&welcome["presence"]), vec!["c_a", "c_b"]);
    assert_eq!(welcome["presence"][0]["data"], json!({"name": "Ada"}));
    h.advance(1000);
    h.frame("c_b", r#"{"type":"presence","data":{"name":"Bo"}}"#);
    h.advance(1000);
    h.close("c_b");
    h.advance(1000);
    assert_eq!(h.presence_events("c_a"), pairs(&[("join", "c_b"), ("update", "c_b"), ("leave", "c_b")]));
    assert!(h.presence_events("c_b").iter().all(|(_, who)| who != "c_b"), "not told about itself");
    assert_eq!(h.saved.last().map(|(c, d)| (c.as_str(), d.as_str())), Some(("c_b", r#"{"name":"Bo"}"#)));
}

#[test]
fn p8_presence_is_rebuilt_after_hibernation_by_restore() {
    let config = RoomConfig::new(Limits::default());
    // The object woke up with two hibernated sockets and nothing in memory.
    let mut h = Host::with(config);
    assert!(h.room.needs_restore());
    let restored =
        |id: &str, data: Value| RestoredConn { info: Host::info(id, Role::Write, ConnKind::WebSocket), presence: data };
    h.room.restore(vec![restored("c_a", json!({"name": "Ada"})), restored("c_b", Value::Null)]);
    h.open.extend([ConnId::from("c_a"), ConnId::from("c_b")]);
    assert!(!h.room.needs_restore());
    h.ws("c_c", Role::Read);
    let welcome = &h.got("c_c")[0];
    assert_eq!(ids(&welcome["presence"]), vec!["c_a", "c_b", "c_c"]);
    assert_eq!(welcome["presence"][0]["data"], json!({"name": "Ada"}));
    h.advance(1000);
    h.close("c_a");
    h.advance(1000);
    assert_eq!(h.presence_events("c_b"), pairs(&[("join", "c_c"), ("leave", "c_a")]));
    h.room.restore(vec![restored("c_b", json!("stale"))]);
    assert_eq!(h.room.presence_list().len(), 2, "restore keeps what the room already knows");
}

#[test]
fn p8_http_clients_join_update_and_leave_by_ttl_or_with_their_stream() {
    let mut h = Host::new(Limits { http_presence_ttl_seconds: 30, ..Limits::default() });
    h.ws("c_a", Role::Write);
    h.open("s_1", Role::Read, ConnKind::Sse, None).unwrap();
    let body = |id: Option<&str>, data: Value| PresenceBody { data, client_id: id.map(str::to_owned) };
    let (reply, fx) = h.room.on_http_presence(body(None, json!("lp")), "h_new".into(), h.now);
    h.run(fx);
    let reply = reply.unwrap();
    assert_eq!((reply.client_id.as_str(), reply.ttl, reply.joined), ("h_new", Some(30), true));
    assert_eq!(reply.presence.iter().map(|p| p.client_id.as_str()).collect::<Vec<_>>(), vec!["c_a", "h_new"]);
    h.advance(1000);
    let (reply, fx) = h.room.on_http_presence(body(Some("s_1"), json!("sse")), "h_unused".into(), h.now);
    h.run(fx);
    assert_eq!(reply.unwrap().ttl, None, "tied to its open stream");
    let (reply, _) = h.room.on_http_presence(body(Some("h_nobody"), json!(1)), "h_x".into(), h.now);
    assert_eq!(reply.unwrap_err().code(), "unknown_client");
    h.advance(1000);
    h.close("s_1");
    h.advance(31_000);
    let fx = h.room.sweep(h.now);
    h.run(fx);
    h.advance(1000);
    assert_eq!(
        h.presence_events("c_a"),
        pairs(&[("join", "h_new"), ("join", "s_1"), ("leave", "s_1"), ("leave", "h_new")])
    );
    assert!(!h.room.has_http_presence());
}

#[test]
fn p9_broadcast_reaches_the_others_or_the_one_named_and_changes_nothing() {
    let mut h = Host::new(Limits::default());
    for id in ["c_a", "c_b", "c_c"] {
        h.ws(id, Role::Read);
    }
    h.open("s_1", Role::Read, ConnKind::Sse, None).unwrap();
    h.advance(1000);
    h.clear();
    h.frame("c_a", r#"{"type":"broadcast","data":{"emoji":"wave"}}"#);
    h.advance(1000);
    h.frame("c_a", r#"{"type":"broadcast","to":"c_c","data":"psst"}"#);
    h.advance(1000);
    let expected = json!({"type": "broadcast", "from": "c_a", "data": {"emoji": "wave"}});
    assert_eq!(h.got("c_b"), vec![expected.clone()]);
    assert_eq!(h.got("s_1"), vec![expected]);
    assert_eq!(h.got("c_c").len(), 2);
    assert!(h.got("c_a").is_empty());
    assert_eq!(h.session.version, 1, "never stored");
    let (reached, fx) = h.room.on_http_message("1.2.3.4", None, json!(1), false, h.now).unwrap();
    h.run(fx);
    assert_eq!(reached, 4);
    assert_eq!(h.got_type("c_a", "broadcast")[0]["from"], "http");
}

#[test]
fn p9_broadcast_to_an_unknown_client_is_an_error() {
    let mut h = Host::new(Limits::default());
    h.ws("c_a", Role::Write);
    h.open("s_1", Role::Read, ConnKind::Sse, None).unwrap();
    h.frame("c_a", r#"{"type":"broadcast","to":"c_zzz","data":1}"#);
    h.frame("c_a", r#"{"type":"broadcast","to":"s_1","data":1}"#);
    let errors = h.got_type("c_a", "error");
    assert_eq!(errors.iter().map(|e| e["code"].as_str().unwrap_or("")).collect::<Vec<_>>(), ["unknown_client"; 2]);
}

#[test]
fn p11_broadcasts_over_the_address_budget_are_throttled() {
    let mut h = Host::new(Limits { max_relay_bytes_per_second: 250, ..Limits::default() });
    h.ws("c_a", Role::Write);
    h.ws("c_b", Role::Write);
    let big = format!(r#"{{"type":"broadcast","data":"{}"}}"#, "x".repeat(60));
    // About 100 bytes times 2 recipients: one fits in a second, the second does not.
    h.frame("c_a", &big);
    assert!(h.got_type("c_a", "error").is_empty());
    h.frame("c_a", &big);
    assert_eq!(h.got_type("c_a", "error")[0]["code"], "throttled");
    assert_eq!(h.got_type("c_b", "broadcast").len(), 1, "not relayed");
    h.now += 1000;
    h.frame("c_a", &big);
    assert_eq!(h.got_type("c_a", "error").len(), 1, "a new second, a new budget");
}

#[test]
fn p14_key_rotation_ends_write_and_read_connections_with_a_notice_then_4003() {
    let mut h = Host::new(Limits::default());
    h.ws("c_admin", Role::Admin);
    h.ws("c_w", Role::Write);
    h.open("s_r", Role::Read, ConnKind::Sse, None).unwrap();
    h.open("l_r", Role::Read, ConnKind::LongPoll, Some(1)).unwrap();
    h.advance(1000);
    h.clear();
    let fx = h.room.on_key_rotated(h.now);
    h.run(fx);
    h.advance(1000);
    for id in ["c_w", "s_r"] {
        assert_eq!(h.got(id)[0]["code"], "key_rotated", "{id}: the frame comes first");
    }
    let mut closed: Vec<(&str, u16)> = h.closed.iter().map(|(c, code)| (c.as_str(), *code)).collect();
    closed.sort();
    assert_eq!(closed, vec![("c_w", close::KEY_ROTATED), ("l_r", close::KEY_ROTATED), ("s_r", close::KEY_ROTATED)]);
    assert_eq!(h.presence_events("c_admin"), pairs(&[("leave", "c_w")]));
    assert_eq!(h.room.clients().len(), 1);
}

#[test]
fn p14_session_end_closes_every_connection_with_a_notice_then_4004() {
    let mut h = Host::new(Limits::default());
    h.ws("c_a", Role::Admin);
    h.open("s_r", Role::Read, ConnKind::Sse, None).unwrap();
    h.clear();
    let fx = h.room.on_session_ended();
    h.run(fx);
    assert_eq!(h.got("c_a")[0]["code"], "session_ended");
    assert_eq!(h.got("s_r")[0]["code"], "session_ended");
    assert_eq!(h.closed.len(), 2);
    assert!(h.closed.iter().all(|(_, code)| *code == close::SESSION_ENDED));
    assert!(!h.room.is_watched());
}

#[test]
fn p14_a_write_to_an_ended_session_closes_4004() {
    let mut h = Host::new(Limits::default());
    h.ws("c_a", Role::Write);
    h.session.ended = true;
    h.frame("c_a", r#"{"type":"set","state":1}"#);
    assert_eq!(h.got_type("c_a", "error")[0]["code"], "session_ended");
    assert_eq!(h.closed, vec![(ConnId::from("c_a"), close::SESSION_ENDED)]);
}
