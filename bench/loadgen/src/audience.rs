//! Issue 13 in the load generator: the `audience` scenario. One writer and V read-key viewers of
//! one session. Past `RELAY_THRESHOLD` direct viewers the service spreads viewers over relay
//! Durable Objects. Writes go out open loop at a fixed rate. Measured: the join time of all V,
//! delivery latency, whether every viewer got every update once and in order, server CPU per
//! delivery, and the relay spread from `/info`. The `rust_single` target (a second
//! `wrangler dev` with `RELAY_THRESHOLD=1000000`) is the same build with relays off.
//! Also here: the RLIMIT_NOFILE raise that lets one process hold thousands of sockets.
//! Not here: the other scenarios (src/scenarios.rs) and the report (bench/report-audience.mjs).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::{Notify, Semaphore};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

use crate::coalesce::update_chunks;
use crate::scenarios::{connect_query, writer, Meter, Res, Target};
use crate::util::*;

/// The same build with relays off (`--var RELAY_THRESHOLD:1000000`): every viewer is direct.
pub const RUST_SINGLE: &str = "rust_single";
/// Viewers one session object can hold beside the writer under the default `MAX_CLIENTS` (256).
pub const SINGLE_MAX_VIEWERS: usize = 255;

/// What the audience scenario runs: viewer counts, write rate, write window, connect concurrency.
#[derive(Clone, Debug)]
pub struct AudienceConf {
    pub viewers: Vec<usize>,
    pub rate: f64,
    pub dur: Duration,
    /// viewers connecting at once (the ramp); join time is first attempt to last welcome
    pub concurrency: usize,
    pub reps: u32,
}

/// Whether `target` takes part in `scenario` as far as issue 13 is concerned: the audience
/// scenario runs against the service only (relays on, and the single-object server), and the
/// single-object server takes part in nothing else.
pub fn applies(target: &Target, scenario: &str) -> bool {
    if scenario == "audience" {
        return target.name == "rust" || target.name == RUST_SINGLE;
    }
    target.name != RUST_SINGLE
}

/// The viewer counts `target` is measured at: all of them through relays; at most
/// `SINGLE_MAX_VIEWERS` on the single object (255 when the list has no smaller value).
pub fn viewer_counts(target: &Target, conf: &AudienceConf) -> Vec<usize> {
    if target.name != RUST_SINGLE {
        return conf.viewers.clone();
    }
    let v: Vec<usize> = conf.viewers.iter().copied().filter(|&v| v <= SINGLE_MAX_VIEWERS).collect();
    if v.is_empty() {
        vec![SINGLE_MAX_VIEWERS]
    } else {
        v
    }
}

/// Raises this process's soft RLIMIT_NOFILE to its hard limit (2,000 viewers need 2,000
/// sockets; the usual soft limit is 1,024). Returns the soft limit in effect afterwards.
pub fn raise_nofile() -> u64 {
    let mut rl = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) != 0 {
            return 0;
        }
        if rl.rlim_cur < rl.rlim_max {
            let want = libc::rlimit { rlim_cur: rl.rlim_max, rlim_max: rl.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                rl.rlim_cur = rl.rlim_max;
            }
        }
    }
    rl.rlim_cur as u64
}

/// POST /api/v1/sessions; returns (write key, read key).
async fn create_keys(t: &Target) -> Res<(String, String)> {
    let (status, body) = http(&t.addr, "POST", &format!("{}/api/v1/sessions", t.prefix), "{}").await?;
    if status != 201 {
        return Err(format!("{}: create session: HTTP {status}: {}", t.name, &body[..body.len().min(300)]).into());
    }
    let v: Value = serde_json::from_str(&body)?;
    let key = |k: &str| v["keys"][k].as_str().map(str::to_string).ok_or_else(|| format!("no keys.{k} in create response"));
    Ok((key("write")?, key("read")?))
}

/// What `/info` says about the audience: the `audience` member when the build has one
/// (`{viewers, direct, relays: [{index, viewers}]}`), with the relay count and the least and
/// most viewers on one relay; otherwise only the read connections the object lists itself.
async fn audience_info(t: &Target, write_key: &str) -> Value {
    let info = match http(&t.addr, "GET", &format!("{}/api/v1/sessions/{write_key}/info", t.prefix), "").await {
        Ok((200, body)) => serde_json::from_str::<Value>(&body).unwrap_or(Value::Null),
        Ok((status, body)) => return json!({"error": format!("HTTP {status}: {}", &body[..body.len().min(200)])}),
        Err(e) => return json!({"error": e.to_string()}),
    };
    let readers = info["clients"].as_array().map(|c| c.iter().filter(|c| c["role"] == "read").count());
    let a = &info["audience"];
    if !a.is_object() {
        return json!({"present": false, "direct_listed": readers});
    }
    let per: Vec<u64> = a["relays"].as_array().map(|r| r.iter().filter_map(|x| x["viewers"].as_u64()).collect()).unwrap_or_default();
    let used: Vec<u64> = per.iter().copied().filter(|&n| n > 0).collect();
    json!({
        "present": true, "viewers": a["viewers"], "direct": a["direct"], "direct_listed": readers,
        "relays": per.len(), "relays_used": used.len(),
        "relay_min": used.iter().min(), "relay_max": used.iter().max(), "per_relay": per,
    })
}

/// Shared between the viewers and the driver of one measurement.
struct Shared {
    /// scheduled send time of write `seq` (ns, `now_ns` clock)
    send_ns: Vec<AtomicU64>,
    joined: AtomicUsize,
    failed: AtomicUsize,
    last_welcome_ns: AtomicU64,
    /// distinct (viewer, update) pairs received so far
    delivered: AtomicUsize,
    /// `delivered` at which `notify` fires
    expected: AtomicUsize,
    notify: Notify,
    /// viewers read until this time (ns); moved when the writes are done
    deadline: AtomicU64,
}

/// What one viewer saw.
#[derive(Default)]
struct ViewerResult {
    error: Option<String>,
    /// first connect attempt to welcome, µs
    connect_us: u32,
    /// latency (µs) of each distinct update, from its scheduled send time
    lats: Vec<u32>,
    distinct: usize,
    duplicates: u64,
    /// updates that came after a later one of ours
    out_of_order: u64,
    /// updates whose version was not the previous one + 1
    version_gaps: u64,
    /// frames carrying at least one update
    frames: usize,
}

/// The viewer tasks of one measurement; aborted when dropped, so a measurement that ends early
/// (an error on the writer's side) leaves no viewer connected behind it.
struct Viewers(Vec<tokio::task::JoinHandle<ViewerResult>>);

impl Drop for Viewers {
    fn drop(&mut self) {
        self.0.iter().for_each(|t| t.abort());
    }
}

/// One viewer: waits for a connect slot, joins with the read key, then reads every frame until
/// the deadline, recording each of the writer's updates (opId `a<seq>`) once.
async fn viewer(t: Target, key: String, slots: Arc<Semaphore>, sh: Arc<Shared>) -> ViewerResult {
    let mut r = ViewerResult::default();
    let permit = slots.acquire_owned().await;
    let t0 = Instant::now();
    let conn = timeout(Duration::from_secs(60), connect_query(&t, &key, String::new())).await;
    drop(permit);
    let (mut ws, welcome) = match conn {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => {
            sh.failed.fetch_add(1, Relaxed);
            r.error = Some(e.to_string());
            return r;
        }
        Err(_) => {
            sh.failed.fetch_add(1, Relaxed);
            r.error = Some("no welcome within 60 s".into());
            return r;
        }
    };
    r.connect_us = t0.elapsed().as_micros().min(u32::MAX as u128) as u32;
    sh.last_welcome_ns.fetch_max(now_ns(), Relaxed);
    sh.joined.fetch_add(1, Relaxed);
    let count = sh.send_ns.len();
    let mut seen = vec![false; count];
    let mut last_version = u64_field(&welcome, "version").unwrap_or(0);
    let mut max_seq: i64 = -1;
    loop {
        let dl = sh.deadline.load(Relaxed);
        let wait = Duration::from_nanos(dl.saturating_sub(now_ns()));
        let txt = match timeout(wait, ws.next()).await {
            Ok(Some(Ok(Message::Text(txt)))) => txt,
            Ok(Some(Ok(_))) => continue,
            Ok(_) => break,
            Err(_) if sh.deadline.load(Relaxed) != dl => continue, // the deadline was moved
            Err(_) => break,
        };
        let now = now_ns();
        // `update` or `updates` frames; presence, broadcast and `audience` frames carry none
        let chunks = update_chunks(txt.as_str());
        if chunks.is_empty() {
            continue;
        }
        r.frames += 1;
        for s in chunks {
            let v = u64_field(s, "version").unwrap_or(0);
            if v != last_version + 1 {
                r.version_gaps += 1;
            }
            last_version = last_version.max(v);
            let seq = str_field(s, "opId").and_then(|o| o.strip_prefix('a')).and_then(|n| n.parse::<usize>().ok());
            let Some(seq) = seq.filter(|&s| s < count) else { continue };
            if seen[seq] {
                r.duplicates += 1;
                continue;
            }
            seen[seq] = true;
            r.distinct += 1;
            if (seq as i64) < max_seq {
                r.out_of_order += 1;
            }
            max_seq = max_seq.max(seq as i64);
            r.lats.push((now.saturating_sub(sh.send_ns[seq].load(Relaxed)) / 1000).min(u32::MAX as u64) as u32);
            if sh.delivered.fetch_add(1, Relaxed) + 1 >= sh.expected.load(Relaxed) {
                sh.notify.notify_one();
            }
        }
    }
    let _ = timeout(Duration::from_secs(2), ws.close(None)).await;
    r
}

/// One measurement: a new session, `v` viewers joined `conf.concurrency` at a time, then one
/// writer sending 100-byte merge patches at `conf.rate` per second for `conf.dur` (scheduled
/// times, no coordinated omission), and a drain of at most 10 s.
pub async fn audience(t: &Target, v: usize, conf: &AudienceConf) -> Res<Value> {
    let (wkey, rkey) = create_keys(t).await?;
    let count = (conf.rate * conf.dur.as_secs_f64()).round().max(1.0) as usize;
    let sh = Arc::new(Shared {
        send_ns: (0..count).map(|_| AtomicU64::new(0)).collect(),
        joined: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        last_welcome_ns: AtomicU64::new(0),
        delivered: AtomicUsize::new(0),
        expected: AtomicUsize::new(usize::MAX),
        notify: Notify::new(),
        deadline: AtomicU64::new(now_ns() + 900_000_000_000),
    });

    // ---- join: every viewer, at most `concurrency` connecting at once ----
    let join_meter = Meter::start(t);
    let srv0 = pids_cpu_ms(&t.pids);
    let slots = Arc::new(Semaphore::new(conf.concurrency.max(1)));
    let j0 = now_ns();
    let mut tasks = Viewers((0..v).map(|_| tokio::spawn(viewer(t.clone(), rkey.clone(), slots.clone(), sh.clone()))).collect());
    let join_deadline = Instant::now() + Duration::from_secs(180);
    while sh.joined.load(Relaxed) + sh.failed.load(Relaxed) < v && Instant::now() < join_deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let joined = sh.joined.load(Relaxed);
    let join_ms = sh.last_welcome_ns.load(Relaxed).saturating_sub(j0) as f64 / 1e6;
    let join = join_meter.finish(json!({}));
    // join announcements that wait for a tick, and relays' upstream joins, land after the last welcome
    wait_idle(&t.pids, Duration::from_secs(20)).await;
    let join_cpu_settled_ms = pids_cpu_ms(&t.pids) - srv0;

    // ---- the writer joins; the spread of the viewers over relays ----
    let (mut w, _) = writer(t, &wkey, None).await?;
    wait_idle(&t.pids, Duration::from_secs(10)).await;
    // relays report their counts at a bounded rate (about 1/s): wait up to 5 s for all of them
    let info_t0 = Instant::now();
    let mut info = audience_info(t, &wkey).await;
    while info["present"] == json!(true)
        && info["viewers"].as_u64().unwrap_or(0) < sh.joined.load(Relaxed) as u64
        && info_t0.elapsed() < Duration::from_secs(5)
    {
        tokio::time::sleep(Duration::from_millis(250)).await;
        info = audience_info(t, &wkey).await;
    }
    info["wait_ms"] = json!(info_t0.elapsed().as_secs_f64() * 1000.0);

    // ---- open-loop writes ----
    let expected = count * joined;
    sh.expected.store(expected, Relaxed);
    let meter = Meter::start(t);
    let period_ns = 1e9 / conf.rate;
    let t0 = now_ns() + 1_000_000;
    let mut seq = 0usize;
    while seq < count {
        let now = now_ns();
        let mut n = 0;
        while seq < count && t0 + (seq as f64 * period_ns) as u64 <= now {
            let at = t0 + (seq as f64 * period_ns) as u64;
            sh.send_ns[seq].store(at, Relaxed);
            let frame = format!("{{\"type\":\"patch\",\"opId\":\"a{seq}\",\"merge\":{{\"n\":{seq},\"t\":{at},\"p\":\"{}\"}}}}", "x".repeat(40));
            w.sink.feed(Message::text(frame)).await?;
            seq += 1;
            n += 1;
        }
        if n > 0 {
            w.sink.flush().await?;
        }
        if seq < count {
            let next = t0 + (seq as f64 * period_ns) as u64;
            tokio::time::sleep(Duration::from_nanos(next.saturating_sub(now_ns()))).await;
        }
    }
    let writes_done = Instant::now();
    let drain_deadline = writes_done + Duration::from_secs(10);
    while sh.delivered.load(Relaxed) < expected && Instant::now() < drain_deadline {
        let _ = timeout(Duration::from_millis(50), sh.notify.notified()).await;
    }
    let drain_ms = writes_done.elapsed().as_secs_f64() * 1000.0;
    let mut m = meter.finish(json!({}));
    // a little longer, so that a late duplicate is still seen
    sh.deadline.store(now_ns() + 300_000_000, Relaxed);
    let acks = w.acks.load(Relaxed);
    let rejects = w.rejects.load(Relaxed);
    let _ = timeout(Duration::from_secs(2), w.sink.close()).await;
    w.drain.abort();
    let mut results = Vec::with_capacity(v);
    for task in std::mem::take(&mut tasks.0) {
        if let Ok(Ok(r)) = timeout(Duration::from_secs(20), task).await {
            results.push(r);
        }
    }

    // Let the server finish with this audience (every viewer's close, the relays letting go)
    // before the next measurement starts, so one run's teardown is not the next run's load.
    let settle_t0 = Instant::now();
    loop {
        let now = audience_info(t, &wkey).await;
        let busy = now["viewers"].as_u64().unwrap_or(0) > 0 || now["relays"].as_u64().unwrap_or(0) > 0;
        if !busy || settle_t0.elapsed() > Duration::from_secs(15) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // After a large audience, the runtime evicts its objects and collects their memory some
    // seconds later, in the same process: a measurement started then saw a stall of about 1 s
    // (runs 20261125T000709Z, 20261125T002315Z), gone with this pause (20261125T002744Z: see
    // bench/audience-notes.md). BENCH_AUDIENCE_PAUSE_MS sets it for every size.
    let pause = std::env::var("BENCH_AUDIENCE_PAUSE_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(if v >= 1000 { 30_000 } else { 0 });
    tokio::time::sleep(Duration::from_millis(pause)).await;
    let settle_ms = settle_t0.elapsed().as_secs_f64() * 1000.0;
    let ok: Vec<&ViewerResult> = results.iter().filter(|r| r.error.is_none()).collect();
    let delivered: usize = ok.iter().map(|r| r.distinct).sum();
    let duplicates: u64 = ok.iter().map(|r| r.duplicates).sum();
    let out_of_order: u64 = ok.iter().map(|r| r.out_of_order).sum();
    let version_gaps: u64 = ok.iter().map(|r| r.version_gaps).sum();
    let frames: usize = ok.iter().map(|r| r.frames).sum();
    let missing = (count * v).saturating_sub(delivered);
    let complete = joined == v && missing == 0 && duplicates == 0 && out_of_order == 0 && version_gaps == 0;
    let mut lats: Vec<u32> = ok.iter().flat_map(|r| r.lats.iter().copied()).collect();
    let mut connects: Vec<u32> = ok.iter().map(|r| r.connect_us).collect();
    let first_error = results.iter().find_map(|r| r.error.clone());
    let secs = m["wall_ms"].as_f64().unwrap_or(0.0) / 1000.0;
    let srv = m["server_cpu_ms"].as_f64().unwrap_or(0.0);
    m["viewers"] = json!(v);
    m["joined"] = json!(joined);
    m["failed"] = json!(v - joined);
    m["first_error"] = json!(first_error);
    m["join_ms"] = json!(if joined > 0 { json!(join_ms) } else { Value::Null });
    m["connect"] = summary_ms(&mut connects);
    m["join_server_cpu_ms"] = join["server_cpu_ms"].clone();
    m["join_server_cpu_settled_ms"] = json!(join_cpu_settled_ms);
    m["join_cpu_ms_per_viewer"] = json!(join_cpu_settled_ms / v.max(1) as f64);
    m["join_loadgen_cpu_pct"] = join["loadgen_cpu_pct"].clone();
    m["rate"] = json!(conf.rate);
    m["sent"] = json!(count);
    m["acks"] = json!(acks);
    m["rejects"] = json!(rejects);
    m["expected"] = json!(count * v);
    m["delivered"] = json!(delivered);
    m["missing"] = json!(missing);
    m["duplicates"] = json!(duplicates);
    m["out_of_order"] = json!(out_of_order);
    m["version_gaps"] = json!(version_gaps);
    m["complete"] = json!(complete);
    m["frames"] = json!(frames);
    m["drain_ms"] = json!(drain_ms);
    m["lat"] = summary_ms(&mut lats);
    m["deliveries_per_s"] = json!(delivered as f64 / secs.max(0.001));
    m["server_cpu_us_per_delivery"] = json!(if delivered > 0 { json!(1000.0 * srv / delivered as f64) } else { Value::Null });
    m["info"] = info;
    m["settle_ms"] = json!(settle_ms);
    m["nofile"] = json!(raise_nofile());
    Ok(json!({"scenario": "audience", "params": {"viewers": v, "rate": conf.rate, "dur_ms": conf.dur.as_millis() as u64}, "metrics": m}))
}

/// The one-line summary the load generator prints for an audience record.
pub fn brief(m: &Value) -> String {
    let i = &m["info"];
    let spread = if i["present"] == json!(true) && i["relays_used"] == json!(0) {
        format!("{} direct, no relays", i["direct"])
    } else if i["present"] == json!(true) {
        format!("{} direct + {} relays ({}..{} each)", i["direct"], i["relays_used"], i["relay_min"], i["relay_max"])
    } else {
        format!("no audience in /info ({} read clients listed)", i["direct_listed"])
    };
    format!(
        "{}/{} joined in {:.0} ms; p50 {:.2} p99 {:.2} max {:.2} ms; {}/{} delivered, {} missing, {} dup, {} out of order, {} version gaps -> {}; {:.0} µs server cpu per delivery; {spread}",
        m["joined"], m["viewers"], m["join_ms"].as_f64().unwrap_or(f64::NAN),
        m["lat"]["p50_ms"].as_f64().unwrap_or(f64::NAN), m["lat"]["p99_ms"].as_f64().unwrap_or(f64::NAN), m["lat"]["max_ms"].as_f64().unwrap_or(f64::NAN),
        m["delivered"], m["expected"], m["missing"], m["duplicates"], m["out_of_order"], m["version_gaps"],
        if m["complete"] == json!(true) { "complete" } else { "INCOMPLETE" },
        m["server_cpu_us_per_delivery"].as_f64().unwrap_or(f64::NAN),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(name: &str) -> Target {
        Target { name: name.into(), addr: String::new(), prefix: String::new(), pids: vec![] }
    }

    #[test]
    fn viewer_counts_and_targets() {
        let conf = AudienceConf { viewers: vec![255, 500, 2000], rate: 10.0, dur: Duration::from_secs(1), concurrency: 50, reps: 1 };
        assert_eq!(viewer_counts(&target("rust"), &conf), vec![255, 500, 2000]);
        assert_eq!(viewer_counts(&target(RUST_SINGLE), &conf), vec![255]);
        let big = AudienceConf { viewers: vec![2000], ..conf.clone() };
        assert_eq!(viewer_counts(&target(RUST_SINGLE), &big), vec![SINGLE_MAX_VIEWERS]);
        assert!(applies(&target("rust"), "audience") && applies(&target(RUST_SINGLE), "audience"));
        assert!(!applies(&target("js"), "audience") && !applies(&target(RUST_SINGLE), "fanout"));
        assert!(crate::coalesce::applies(&target("native"), "fanout") && !crate::coalesce::applies(&target("native"), "audience"));
    }
}
