//! P15 revised (adaptive coalescing) and P17 (volatile messages) of
//! docs/protocol.md: what each connection receives, and how many sends it costs.

use serde_json::json;

use super::effects::{ConnKind, Effect, To};
use super::fake::Host;
use super::RoomConfig;
use crate::core::keys::Role;
use crate::core::limits::Limits;
use crate::core::protocol::ServerFrame;

const TICK: i64 = 20;

fn merge(op: &str, n: usize) -> String {
    json!({"type": "patch", "opId": op, "merge": {"n": n}}).to_string()
}

/// A writer and `n` subscribers, all idle, inboxes cleared.
fn room(n: usize, coalesce: bool) -> Host {
    let limits = Limits {
        batch_tick_ms: TICK as u64,
        max_messages_per_second: 1_000_000,
        coalesce_updates: true,
        ..Limits::default()
    };
    let mut h = Host::with(RoomConfig { coalesce, ..RoomConfig::new(limits) });
    h.ws("c_w", Role::Write);
    for i in 0..n {
        h.ws(&format!("c_s{i}"), Role::Read);
    }
    h.advance(1000);
    h.clear();
    h
}

#[test]
fn p15_an_idle_connection_gets_the_update_at_once_in_one_send_to_all() {
    let mut h = room(3, true);
    let fx = h.room.on_frame(&"c_w".into(), &merge("w0", 0), h.now, &mut h.session);
    let sends: Vec<_> = fx.list.iter().filter_map(|e| if let Effect::Send(s) = e { Some(s) } else { None }).collect();
    assert_eq!(sends[0].to, To::All);
    assert_eq!((sends[0].event, sends[0].id), ("update", Some(2)));
    assert!(!fx.list.iter().any(|e| matches!(e, Effect::TickAt(_))), "nothing waits");
    h.run(fx);
    assert_eq!(h.versions("c_s2"), vec![2], "without waiting for a tick");
}

#[test]
fn p15_a_burst_is_one_frame_per_connection_per_tick_in_order_none_lost() {
    let mut h = room(5, true);
    for i in 0..50 {
        h.frame("c_w", &merge(&format!("w{i}"), i));
    }
    assert_eq!(h.versions("c_s0"), vec![2], "the first goes at once, the rest wait");
    assert_eq!(h.tick_at, Some(h.now + TICK));
    let before = h.sends;
    h.advance(TICK);
    assert_eq!(h.sends - before, 1, "one send for every connection with the same queue");
    for id in ["c_w", "c_s0", "c_s4"] {
        assert_eq!(h.versions(id), (2..=51).collect::<Vec<_>>(), "{id}");
        assert_eq!(h.got_type(id, "updates").len(), 1, "{id}");
    }
    let envelope = h.inbox[&"c_s0".into()].last().cloned().unwrap_or_default();
    assert!(matches!(serde_json::from_str::<ServerFrame>(&envelope), Ok(ServerFrame::Updates { .. })));
    assert_eq!(h.got_type("c_w", "ack").len(), 50, "acks are replies: never held back");
}

#[test]
fn p15_a_steady_stream_faster_than_the_tick_is_one_frame_per_tick() {
    let mut h = room(2, true);
    for i in 0..40 {
        h.frame("c_w", &merge(&format!("w{i}"), i));
        h.advance(5);
    }
    h.advance(100);
    assert_eq!(h.versions("c_s1"), (2..=41).collect::<Vec<_>>());
    let frames = h.got("c_s1").len();
    assert!((9..=12).contains(&frames), "200 ms of writes every 5 ms in {frames} frames");
}

#[test]
fn p15_updates_slower_than_the_tick_each_go_at_once() {
    let mut h = room(2, true);
    for i in 0..5 {
        h.frame("c_w", &merge(&format!("w{i}"), i));
        assert_eq!(h.versions("c_s0").len(), i + 1, "delivered when written");
        h.advance(TICK + 5);
    }
    assert!(h.got_type("c_s0", "updates").is_empty());
}

#[test]
fn p15_with_coalescing_off_every_update_is_its_own_frame_at_once() {
    let mut h = room(2, false);
    for i in 0..10 {
        h.frame("c_w", &merge(&format!("w{i}"), i));
    }
    assert_eq!(h.versions("c_s0"), (2..=11).collect::<Vec<_>>());
    assert!(h.got_type("c_s0", "updates").is_empty());
    assert_eq!(h.tick_at, None);
}

#[test]
fn p15_a_new_idle_connection_is_served_at_once_while_others_catch_up() {
    let mut h = room(2, true);
    h.frame("c_w", &merge("w0", 0));
    h.frame("c_w", &merge("w1", 1));
    h.open("c_late", Role::Read, ConnKind::WebSocket, Some(3)).unwrap();
    h.frame("c_w", &merge("w2", 2));
    assert_eq!(h.versions("c_late"), vec![4], "idle: at once");
    h.advance(TICK);
    assert_eq!(h.versions("c_s0"), vec![2, 3, 4]);
    assert_eq!(h.versions("c_late"), vec![4], "no repeats");
}

#[test]
fn p15_sse_streams_are_coalesced_like_sockets() {
    let mut h = room(1, true);
    h.open("s_1", Role::Read, ConnKind::Sse, None).unwrap();
    h.advance(1000);
    for i in 0..4 {
        h.frame("c_w", &merge(&format!("w{i}"), i));
    }
    h.advance(TICK);
    assert_eq!(h.versions("s_1"), vec![2, 3, 4, 5]);
    let frames = h.got("s_1").into_iter().filter(|f| f["type"] != "audience").count();
    assert_eq!(frames, 3, "welcome, the first update, one envelope");
}

#[test]
fn p17_volatile_broadcasts_keep_only_the_latest_per_sender_when_behind() {
    let mut h = room(1, true);
    h.ws("c_x", Role::Read);
    h.advance(1000);
    h.clear();
    for i in 0..10 {
        h.frame("c_w", &json!({"type": "broadcast", "volatile": true, "data": {"cursor": i}}).to_string());
        h.frame("c_x", &json!({"type": "broadcast", "volatile": true, "data": {"cursor": 100 + i}}).to_string());
    }
    h.frame("c_w", &json!({"type": "broadcast", "data": "kept"}).to_string());
    h.frame("c_w", &json!({"type": "broadcast", "data": "also kept"}).to_string());
    h.advance(TICK);
    let got = h.got("c_s0");
    assert_eq!(got.len(), 2);
    assert_eq!(got[0]["data"], json!({"cursor": 0}), "idle: the first at once");
    let list: Vec<_> = got[1]["broadcasts"].as_array().cloned().unwrap_or_default();
    // Each sender's newest value, where it was sent last; the plain broadcasts all, in order.
    let data: Vec<_> = list.iter().map(|b| (b["from"].clone(), b["data"].clone())).collect();
    assert_eq!(
        data,
        vec![
            (json!("c_w"), json!({"cursor": 9})),
            (json!("c_x"), json!({"cursor": 109})),
            (json!("c_w"), json!("kept")),
            (json!("c_w"), json!("also kept")),
        ]
    );
}

#[test]
fn p17_presence_updates_keep_only_the_latest_per_client_when_behind() {
    let mut h = room(1, true);
    for i in 0..5 {
        h.frame("c_w", &json!({"type": "presence", "data": {"x": i}}).to_string());
    }
    h.advance(TICK);
    let got = h.got("c_s0");
    assert_eq!(got[0]["data"], json!({"x": 0}));
    assert_eq!(got.len(), 2, "then the newest alone, as a plain frame");
    assert_eq!((got[1]["type"].as_str(), &got[1]["data"]), (Some("presence"), &json!({"x": 4})));
}

#[test]
fn p17_a_join_and_a_leave_in_the_same_tick_cancel_out() {
    let mut h = room(1, true);
    h.frame("c_w", r#"{"type":"presence","data":1}"#);
    h.ws("c_brief", Role::Read);
    h.frame("c_brief", r#"{"type":"presence","data":2}"#);
    h.close("c_brief");
    h.advance(TICK);
    let heard: Vec<String> = h.presence_events("c_s0").into_iter().map(|(_, who)| who).collect();
    assert_eq!(heard, vec!["c_w"], "never saw c_brief, so never told of it");
}

#[test]
fn p17_five_hundred_joins_cost_linear_sends_and_everyone_learns_of_everyone() {
    let n = 500;
    let mut h = Host::new(Limits { max_clients: 1000, batch_tick_ms: TICK as u64, ..Limits::default() });
    for i in 0..n {
        h.ws(&format!("c_{i:03}"), Role::Write);
    }
    h.advance(TICK);
    // One join frame to everyone before would be n * (n - 1) / 2 = 124,750 frames.
    assert!(h.deliveries < 4 * n, "{} frames delivered for {n} joins", h.deliveries);
    for i in [0, 250, 499] {
        let id = format!("c_{i:03}");
        let mut known: Vec<String> = h.got(&id)[0]["presence"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["clientId"].as_str().map(str::to_owned))
            .collect();
        known.extend(h.presence_events(&id).into_iter().map(|(_, who)| who));
        known.sort();
        known.dedup();
        assert_eq!(known.len(), n, "{id} knows everyone, once");
    }
}

#[test]
fn p15_an_updates_frame_is_one_sse_event_whose_id_is_its_last_version() {
    let mut h = room(1, true);
    for i in 0..3 {
        h.frame("c_w", &merge(&format!("w{i}"), i));
    }
    let fx = h.room.on_tick(h.now + TICK);
    let sends: Vec<_> = fx.list.iter().filter_map(|e| if let Effect::Send(s) = e { Some(s) } else { None }).collect();
    assert_eq!(sends.len(), 1);
    assert_eq!((sends[0].to.clone(), sends[0].event, sends[0].id), (To::All, "updates", Some(4)));
}

#[test]
fn p15_by_default_updates_wait_only_for_the_next_turn_and_batch_connections_for_the_tick() {
    let limits = Limits { batch_tick_ms: TICK as u64, max_messages_per_second: 1_000_000, ..Limits::default() };
    let mut h = Host::with(RoomConfig::new(limits));
    h.ws("c_w", Role::Write);
    h.ws("c_plain", Role::Read);
    let mut batch = Host::info("c_batch", Role::Read, super::ConnKind::WebSocket);
    batch.batch = true;
    h.connect(batch);
    h.clear();
    // Five writes handled back to back (a backlog): the next turn sends them as one frame.
    for i in 1..=5 {
        h.frame("c_w", &merge(&format!("o{i}"), i));
    }
    assert_eq!(h.versions("c_plain"), Vec::<u64>::new(), "nothing before the next turn");
    assert_eq!(h.versions("c_batch"), vec![2], "batch=1: the first at once, the rest wait for the tick");
    h.advance(0);
    assert_eq!(h.versions("c_plain"), vec![2, 3, 4, 5, 6], "at the next turn, all of them, in order");
    assert_eq!(h.got_type("c_plain", "updates").len(), 1, "in one frame");
    h.clear();
    // A lone update (a closed loop) goes out alone at the next turn: no time lost, no envelope.
    h.frame("c_w", &merge("lone", 9));
    h.advance(0);
    assert_eq!(h.got_type("c_plain", "update").len(), 1);
    h.advance(TICK);
    assert_eq!(h.versions("c_batch"), vec![3, 4, 5, 6, 7], "batch=1: the rest at the tick, in order");
}
