//! P18 of docs/protocol.md: a session room and a relay room wired through a relay's upstream
//! connection, each with a pretend host. What viewers behind the relay receive must be what
//! direct viewers receive: every update once and in order, the same frames.

use serde_json::{json, Value};

use super::{Next, Relay};
use crate::core::error::ApiError;
use crate::core::keys::Role;
use crate::core::limits::Limits;
use crate::core::room::fake::Host;
use crate::core::room::{close, ConnId, ConnInfo, ConnKind, RoomConfig};

const RELAY: &str = "c_relay0";

fn limits() -> Limits {
    Limits { max_messages_per_second: 1_000_000, audience_interval_ms: 1000, ..Limits::default() }
}

fn merge(op: &str, n: u64) -> String {
    json!({"type": "patch", "opId": op, "merge": {"n": n}}).to_string()
}

fn info(id: &str, role: Role, relay: Option<u32>) -> ConnInfo {
    ConnInfo {
        id: ConnId::from(id),
        role,
        kind: ConnKind::WebSocket,
        address: format!("addr-{id}"),
        batch: false,
        relay,
    }
}

/// The session object (with writer `c_w`), one relay and what passes between them.
struct Pair {
    s: Host,
    r: Host,
    relay: Relay,
    /// What `pump` decided last (reconnect, stop).
    next: Vec<Next>,
}

impl Pair {
    fn new(limits: Limits) -> Pair {
        Pair::after_writes(limits, 0)
    }

    /// The relay connects after `writes` writes by `c_w`.
    fn after_writes(limits: Limits, writes: u64) -> Pair {
        let mut s = Host::with(RoomConfig::new(limits.clone()));
        s.ws("c_w", Role::Write);
        for i in 0..writes {
            s.frame("c_w", &merge(&format!("early{i}"), i));
        }
        s.connect(info(RELAY, Role::Read, Some(0)));
        let r = Host::with(RoomConfig::relay(limits.clone()));
        let mut p = Pair { s, r, relay: Relay::new(limits), next: Vec::new() };
        p.pump();
        assert!(p.relay.is_ready(), "the relay has its copy after the welcome");
        p
    }

    /// Delivers what each side sent the other until both are quiet.
    fn pump(&mut self) {
        loop {
            let down = self.s.inbox.remove(&ConnId::from(RELAY)).unwrap_or_default();
            let up = std::mem::take(&mut self.r.upstream);
            if down.is_empty() && up.is_empty() {
                return;
            }
            for text in down {
                let (fx, next) = self.relay.on_upstream(&mut self.r.room, &text, self.r.now);
                self.r.run(fx);
                if next != Next::Continue {
                    self.next.push(next);
                }
            }
            for text in up {
                let fx = self.s.room.on_frame(&ConnId::from(RELAY), &text, self.s.now, &mut self.s.session);
                self.s.run(fx);
            }
        }
    }

    fn viewer(&mut self, id: &str, since: Option<u64>) -> Result<(), ApiError> {
        self.r.open.push(ConnId::from(id));
        let mut writes = self.relay.writes();
        let fx = self.r.room.on_connect(info(id, Role::Read, None), since, self.r.now, &mut writes)?;
        self.r.run(fx);
        self.pump();
        Ok(())
    }

    fn viewer_frame(&mut self, id: &str, text: &str) {
        let mut writes = self.relay.writes();
        let fx = self.r.room.on_frame(&ConnId::from(id), text, self.r.now, &mut writes);
        self.r.run(fx);
        self.pump();
    }

    /// A write by `c_w`, flushed at the next turn as the host would.
    fn write(&mut self, op: &str, n: u64) {
        self.s.frame("c_w", &merge(op, n));
        self.s.advance(0);
        self.pump();
        self.r.advance(0);
    }

    /// Lets `ms` pass on both sides, ticking where asked.
    fn advance(&mut self, ms: i64) {
        for _ in 0..ms / 10 {
            self.s.advance(10);
            self.r.advance(10);
            self.pump();
        }
    }
}

#[test]
fn p18_viewers_behind_a_relay_get_every_update_once_in_order_with_the_same_frames() {
    let mut p = Pair::new(limits());
    for v in 0..3 {
        p.viewer(&format!("c_v{v}"), None).unwrap();
    }
    p.advance(100);
    for i in 0..5 {
        p.write(&format!("w{i}"), i);
        p.advance(30);
    }
    let want: Vec<u64> = (2..=6).collect();
    for v in 0..3 {
        assert_eq!(p.r.versions(&format!("c_v{v}")), want, "viewer {v}");
    }
    assert_eq!(p.s.versions("c_w"), want);
    // The same update frames as the writer got (the writer's are the session's own).
    let upd = |h: &Host, id: &str| -> Vec<Value> { h.got_type(id, "update") };
    assert_eq!(upd(&p.r, "c_v0"), upd(&p.s, "c_w"));
    let copy = p.relay.mirror().map(|m| m.state_json());
    assert_eq!(copy.as_deref(), Some(r#"{"n":4}"#), "the relay's copy follows the session");
}

#[test]
fn p18_a_viewer_resumes_exactly_from_the_relays_copy() {
    let mut p = Pair::new(limits());
    for i in 0..4 {
        p.write(&format!("w{i}"), i);
    }
    p.viewer("c_back", Some(3)).unwrap();
    let welcome = &p.r.got_type("c_back", "welcome")[0];
    assert_eq!(welcome["resume"], "ops");
    let ops: Vec<u64> = welcome["ops"].as_array().unwrap().iter().filter_map(|o| o["version"].as_u64()).collect();
    assert_eq!(ops, vec![4, 5]);
    p.viewer("c_new", None).unwrap();
    let welcome = &p.r.got_type("c_new", "welcome")[0];
    assert_eq!((welcome["resume"].clone(), welcome["state"].clone()), (json!("snapshot"), json!({"n": 3})));
    assert_eq!(welcome["version"], 5);
}

#[test]
fn p18_a_relay_that_starts_late_answers_resumes_from_the_sessions_history() {
    let mut p = Pair::after_writes(limits(), 4);
    p.viewer("c_back", Some(2)).unwrap();
    let welcome = &p.r.got_type("c_back", "welcome")[0];
    assert_eq!(welcome["resume"], "ops", "{welcome}");
    let ops: Vec<u64> = welcome["ops"].as_array().unwrap().iter().filter_map(|o| o["version"].as_u64()).collect();
    assert_eq!(ops, vec![3, 4, 5]);
}

#[test]
fn p18_a_viewer_cannot_write_through_a_relay() {
    let mut p = Pair::new(limits());
    p.viewer("c_v", None).unwrap();
    p.viewer_frame("c_v", &merge("sneaky", 9));
    let reject = &p.r.got_type("c_v", "reject")[0];
    assert_eq!(reject["code"], "read_only");
    assert_eq!(p.s.session.version, 1, "nothing reached the session");
}

#[test]
fn p18_viewers_are_counted_not_announced() {
    let mut p = Pair::new(limits());
    p.advance(2000);
    p.s.clear();
    for v in 0..5 {
        p.viewer(&format!("c_v{v}"), None).unwrap();
    }
    p.advance(2000);
    assert!(p.s.presence_events("c_w").is_empty(), "no join for viewers behind the relay");
    let counts: Vec<u64> = p.s.got_type("c_w", "audience").iter().filter_map(|f| f["viewers"].as_u64()).collect();
    assert_eq!(counts.last(), Some(&5), "the writer sees the count: {counts:?}");
    assert!(counts.len() <= 3, "at a bounded rate, not per join: {counts:?}");
    let seen: Vec<u64> = p.r.got_type("c_v4", "audience").iter().filter_map(|f| f["viewers"].as_u64()).collect();
    assert_eq!(seen.last(), Some(&5), "viewers behind the relay see it too");
    assert_eq!(p.s.room.audience(), 5);
}

#[test]
fn p18_a_viewers_messages_reach_the_presenter_once_per_tick_and_the_presenters_reach_every_viewer() {
    let mut p = Pair::new(limits());
    p.viewer("c_a", None).unwrap();
    p.viewer("c_b", None).unwrap();
    p.advance(1000);
    p.s.clear();
    p.r.clear();
    for i in 0..3 {
        p.viewer_frame("c_a", &json!({"type": "broadcast", "data": {"clap": i}}).to_string());
    }
    assert!(p.r.upstream.is_empty() && p.s.got("c_w").is_empty(), "held for the tick");
    p.advance(100);
    let want = vec![json!({"clap": 0}), json!({"clap": 1}), json!({"clap": 2})];
    assert_eq!(broadcasts(&p.s, "c_w"), want, "the presenter, in order");
    assert!(
        broadcasts(&p.r, "c_b").is_empty(),
        "not the audience: a viewer's message costs no fan-out to every viewer"
    );
    assert!(broadcasts(&p.r, "c_a").is_empty(), "not back to the sender");
    // The presenter's pointer reaches every viewer behind the relay.
    p.s.frame("c_w", &json!({"type": "broadcast", "volatile": true, "data": {"pointer": [1, 2]}}).to_string());
    p.pump();
    p.advance(100);
    for v in ["c_a", "c_b"] {
        assert_eq!(broadcasts(&p.r, v), vec![json!({"pointer": [1, 2]})], "{v}");
    }
}

#[test]
fn p18_a_relay_that_missed_updates_reconnects_and_viewers_see_no_gap() {
    let mut p = Pair::new(limits());
    p.viewer("c_v", None).unwrap();
    p.write("w0", 0);
    // The upstream drops: two writes happen while the relay is away.
    p.s.close(RELAY);
    p.write("w1", 1);
    p.write("w2", 2);
    let (fx, next) = p.relay.on_upstream_closed(&mut p.r.room, 1006, p.r.now);
    p.r.run(fx);
    assert_eq!(next, Next::Reconnect);
    // It reconnects from its version and resumes.
    let since = p.relay.since();
    assert_eq!(since, Some(2));
    p.s.open.push(ConnId::from(RELAY));
    let fx = p.s.room.on_connect(info(RELAY, Role::Read, Some(0)), since, p.s.now, &mut p.s.session).unwrap();
    p.s.run(fx);
    p.pump();
    p.write("w3", 3);
    p.advance(50);
    assert_eq!(p.r.versions("c_v"), vec![2, 3, 4, 5], "every update once, in order");
    assert!(p.r.closed.is_empty(), "the viewer stayed connected");
}

/// The `data` of every broadcast `id` got on `h`, loose or in `updates` frames, in order.
fn broadcasts(h: &Host, id: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for f in h.got(id) {
        match f["type"].as_str() {
            Some("broadcast") => out.push(f["data"].clone()),
            Some("updates") => out.extend(f["broadcasts"].as_array().into_iter().flatten().map(|b| b["data"].clone())),
            _ => {}
        }
    }
    out
}

/// Drops the relay's upstream, lets `c_v` send `messages`, reconnects; what the writer got.
fn said_while_down(messages: impl IntoIterator<Item = Value>) -> Vec<Value> {
    let mut p = Pair::new(limits());
    p.viewer("c_v", None).unwrap();
    p.advance(1000);
    p.s.clear();
    p.s.close(RELAY);
    let (fx, _) = p.relay.on_upstream_closed(&mut p.r.room, 1006, p.r.now);
    p.r.run(fx);
    for data in messages {
        p.viewer_frame("c_v", &json!({"type": "broadcast", "data": data}).to_string());
    }
    p.advance(100);
    assert!(p.r.upstream.is_empty(), "nothing sent into a connection that is gone");
    let since = p.relay.since();
    p.s.open.push(ConnId::from(RELAY));
    let fx = p.s.room.on_connect(info(RELAY, Role::Read, Some(0)), since, p.s.now, &mut p.s.session).unwrap();
    p.s.run(fx);
    p.pump();
    p.advance(100);
    broadcasts(&p.s, "c_w")
}

#[test]
fn p18_a_viewers_message_during_a_reconnection_waits_for_the_new_connection() {
    let got = said_while_down([json!({"hand": 1})]);
    assert_eq!(got, vec![json!({"hand": 1})], "it reached the presenter once, after the reconnection");
}

#[test]
fn p18_a_long_reconnection_keeps_the_newest_1024_messages_or_1_mib() {
    let got = said_while_down((0..1100).map(|i| json!({"i": i})));
    let want: Vec<Value> = (76..1100).map(|i| json!({"i": i})).collect();
    assert_eq!(got, want, "the newest 1,024, in order");
    let big = "x".repeat(60_000);
    let got = said_while_down((0..30).map(|i| json!({"i": i, "pad": big})));
    let kept: Vec<u64> = got.iter().filter_map(|d| d["i"].as_u64()).collect();
    assert_eq!(kept.last(), Some(&29), "the newest is kept");
    assert!(kept.len() < 18 && kept.len() > 10, "about 1 MiB of 60 KB messages: {kept:?}");
    assert!(kept.windows(2).all(|w| w[1] == w[0] + 1), "a run of the newest: {kept:?}");
}

#[test]
fn p18_an_update_past_the_next_version_asks_for_a_reconnect() {
    let mut p = Pair::new(limits());
    let frame = json!({"type": "update", "version": 5, "updatedAt": 1, "opId": null, "author": "x", "merge": {}});
    let (_, next) = p.relay.on_upstream(&mut p.r.room, &frame.to_string(), 0);
    assert_eq!(next, Next::Reconnect);
    assert_eq!(p.relay.since(), Some(1), "nothing applied past the gap");
}

#[test]
fn p18_session_end_and_key_rotation_reach_viewers_behind_the_relay() {
    for (ended, code, frame) in
        [(true, close::SESSION_ENDED, "session_ended"), (false, close::KEY_ROTATED, "key_rotated")]
    {
        let mut p = Pair::new(limits());
        p.viewer("c_v", None).unwrap();
        let fx = if ended { p.s.room.on_session_ended() } else { p.s.room.on_key_rotated(p.s.now) };
        p.s.run(fx);
        p.pump();
        assert_eq!(p.r.got_type("c_v", "error")[0]["code"], frame);
        assert_eq!(p.r.closed, vec![(ConnId::from("c_v"), code)]);
        assert_eq!(p.next, vec![Next::Stop]);
        assert!(!p.relay.is_ready());
        assert_eq!(p.s.room.audience(), 0, "the relay's viewers are gone from the count");
        assert!(p.s.room.relays().iter().all(|(_, r)| !r.connected));
    }
}

#[test]
fn p18_long_frames_arrive_in_parts_and_are_put_together() {
    let mut p = Pair::new(limits());
    p.viewer("c_v", None).unwrap();
    let update = json!({"type": "update", "version": 2, "updatedAt": 1, "opId": null, "author": "x",
        "merge": {"big": "y".repeat(3000)}})
    .to_string();
    let (a, b) = update.split_at(1000);
    for (seq, (data, last)) in [(a, false), (b, true)].into_iter().enumerate() {
        let part = json!({"type": "part", "seq": seq, "last": last, "data": data}).to_string();
        let (fx, next) = p.relay.on_upstream(&mut p.r.room, &part, p.r.now);
        p.r.run(fx);
        assert_eq!(next, Next::Continue);
    }
    p.advance(30);
    assert_eq!(p.r.versions("c_v"), vec![2]);
}

#[test]
fn p18_placement_fills_the_object_then_spreads_over_the_least_loaded_relays() {
    let l = Limits { relay_threshold: 2, relay_viewers: 3, relay_min: 2, max_viewers: 9, ..limits() };
    let mut h = Host::with(RoomConfig::new(l));
    h.ws("c_w", Role::Write);
    assert_eq!(h.room.place_viewer(), Ok(None));
    h.ws("c_d0", Role::Read);
    h.ws("c_d1", Role::Read);
    let placed: Vec<Option<u32>> = (0..7).map(|_| h.room.place_viewer().unwrap()).collect();
    assert_eq!(placed, vec![Some(0), Some(1), Some(0), Some(1), Some(0), Some(1), Some(2)]);
    assert_eq!(h.room.place_viewer(), Err(ApiError::AudienceFull { limit: 9 }));
    // A relay's report replaces what was placed in it.
    h.connect(info("c_r1", Role::Read, Some(1)));
    // Relay 1 was sent three viewers; one arrived and left again, one arrived, one is on its way.
    h.frame("c_r1", r#"{"type":"audience","viewers":1,"joined":2}"#);
    assert_eq!(h.room.audience(), 3, "two direct, one behind relay 1");
    assert_eq!(h.room.place_viewer(), Ok(Some(2)), "relay 2 weighs 1, relay 1 two (one there, one on its way)");
    assert_eq!(h.room.place_viewer(), Err(ApiError::AudienceFull { limit: 9 }));
}

#[test]
fn p18_relays_are_not_clients_and_not_in_presence() {
    let l = Limits { max_clients: 2, ..limits() };
    let mut h = Host::with(RoomConfig::new(l));
    h.ws("c_w", Role::Write);
    for k in 0..3 {
        h.connect(info(&format!("c_relay{k}"), Role::Read, Some(k)));
    }
    h.ws("c_w2", Role::Write);
    assert!(h.got_type("c_w2", "error").is_empty(), "relays do not fill MAX_CLIENTS");
    let listed: Vec<String> = h.room.presence_list().into_iter().map(|p| p.client_id).collect();
    assert_eq!(listed, vec!["c_w", "c_w2"]);
    assert!(h.presence_events("c_w").iter().all(|(_, who)| !who.starts_with("c_relay")));
}

#[test]
fn p18_a_relays_newer_upstream_replaces_its_older_one() {
    let mut h = Host::with(RoomConfig::new(limits()));
    h.ws("c_w", Role::Write);
    h.connect(info("c_old", Role::Read, Some(3)));
    h.frame("c_old", r#"{"type":"audience","viewers":7,"joined":7}"#);
    h.connect(info("c_new", Role::Read, Some(3)));
    assert_eq!(h.closed, vec![(ConnId::from("c_old"), 1000)]);
    assert_eq!(h.room.relays().len(), 1);
    h.clear();
    h.frame("c_w", &merge("w", 1));
    h.advance(0);
    assert_eq!(h.versions("c_new"), vec![2]);
    assert!(h.got("c_old").is_empty(), "the old upstream gets nothing more");
}

#[test]
fn p18_a_viewer_ahead_of_its_relay_is_asked_to_retry_not_sent_back_in_time() {
    let mut p = Pair::new(limits());
    p.write("w0", 0);
    assert_eq!(p.viewer("c_ahead", Some(9)), Err(ApiError::Unavailable("the relay is at version 2".into())));
    assert!(p.r.got("c_ahead").is_empty(), "no welcome");
}
