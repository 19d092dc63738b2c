//! The benchmark scenarios. Each runs against one target (the Rust service, the JS baseline or
//! the native server), bounded in count and time, on 127.0.0.1 only, and returns records.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch, Notify};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::util::*;

pub type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;
pub type Ws = WebSocketStream<TcpStream>;

#[derive(Clone, Debug)]
pub struct Target {
    pub name: String,
    pub addr: String,
    pub prefix: String,
    pub pids: Vec<i32>,
}

/// One measurement: what ran, against which target, and what it cost on both sides.
pub struct Meter {
    wall: Instant,
    cpu: f64,
    srv: f64,
    pids: Vec<i32>,
}

impl Meter {
    pub fn start(t: &Target) -> Meter {
        Meter { wall: Instant::now(), cpu: self_cpu_ms(), srv: pids_cpu_ms(&t.pids), pids: t.pids.clone() }
    }
    pub fn finish(&self, mut m: Value) -> Value {
        let wall = self.wall.elapsed().as_secs_f64() * 1000.0;
        let cpu = self_cpu_ms() - self.cpu;
        let srv = pids_cpu_ms(&self.pids) - self.srv;
        m["wall_ms"] = json!(wall);
        m["loadgen_cpu_ms"] = json!(cpu);
        m["loadgen_cpu_pct"] = json!(100.0 * cpu / wall.max(0.001));
        m["server_cpu_ms"] = json!(srv);
        m["server_cpu_pct"] = json!(100.0 * srv / wall.max(0.001));
        m
    }
}

/// POST /api/v1/sessions; returns the write key and the request's time in ms.
pub async fn create(t: &Target) -> Res<(String, f64)> {
    let t0 = Instant::now();
    let (status, body) = http(&t.addr, "POST", &format!("{}/api/v1/sessions", t.prefix), "{}").await?;
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    if status != 201 {
        return Err(format!("{}: create session: HTTP {status}: {}", t.name, &body[..body.len().min(300)]).into());
    }
    let v: Value = serde_json::from_str(&body)?;
    let key = v["keys"]["write"].as_str().ok_or("no keys.write in create response")?.to_string();
    Ok((key, ms))
}

/// Opens a WebSocket to the session and returns it with its first frame (the welcome).
pub async fn connect(t: &Target, key: &str, since: Option<u64>) -> Res<(Ws, String)> {
    connect_query(t, key, since.map(|v| format!("?since={v}")).unwrap_or_default()).await
}

/// Opens a WebSocket with the given query string ("" or "?...").
pub async fn connect_query(t: &Target, key: &str, q: String) -> Res<(Ws, String)> {
    let url = format!("ws://{}{}/api/v1/sessions/{key}/ws{q}", t.addr, t.prefix);
    let stream = TcpStream::connect(&t.addr).await?;
    stream.set_nodelay(true)?;
    let (mut ws, _) = tokio_tungstenite::client_async(url, stream).await?;
    loop {
        match timeout(Duration::from_secs(30), ws.next()).await {
            Ok(Some(Ok(Message::Text(txt)))) => {
                let s = txt.as_str().to_string();
                if frame_type(&s) != "welcome" {
                    return Err(format!("first frame is not welcome: {}", &s[..s.len().min(200)]).into());
                }
                return Ok((ws, s));
            }
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(e))) => return Err(e.into()),
            Ok(None) => return Err("closed before welcome".into()),
            Err(_) => return Err("no welcome within 30 s".into()),
        }
    }
}

fn padding(bytes: usize) -> String {
    "x".repeat(bytes.saturating_sub(60).max(8))
}

fn patch_frame(op_id: &str, seq: usize, pad: &str, base: Option<u64>) -> String {
    match base {
        Some(b) => format!("{{\"type\":\"patch\",\"opId\":\"{op_id}\",\"baseVersion\":{b},\"merge\":{{\"s\":{seq},\"p\":\"{pad}\"}}}}"),
        None => format!("{{\"type\":\"patch\",\"opId\":\"{op_id}\",\"merge\":{{\"s\":{seq},\"p\":\"{pad}\"}}}}"),
    }
}

/// What one subscriber saw: (seq, latency in µs) per update, and order violations.
struct SubResult {
    lats: Vec<(u32, u32)>,
    bad_order: u64,
    updates: usize,
    /// frames that carried at least one update (fewer than `updates` when coalesced, P15)
    frames: usize,
}

/// Spawns `n` subscribers that each read until `expect` updates or `deadline`; every update's
/// opId is `<prefix><seq>` and its latency is measured against `send_ns[seq]`.
async fn spawn_subscribers(
    t: &Target,
    key: &str,
    n: usize,
    expect: usize,
    send_ns: Arc<Vec<AtomicU64>>,
    delivered: Arc<AtomicUsize>,
    expected: Arc<AtomicUsize>,
    notify: Arc<Notify>,
    deadline: Arc<AtomicU64>,
    batch: bool,
) -> Res<Vec<tokio::task::JoinHandle<Res<SubResult>>>> {
    let ready = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let mut subs = Vec::with_capacity(n);
    for _ in 0..n {
        let (t, key) = (t.clone(), key.to_string());
        let (send_ns, delivered, expected, notify, ready, failed, deadline) =
            (send_ns.clone(), delivered.clone(), expected.clone(), notify.clone(), ready.clone(), failed.clone(), deadline.clone());
        subs.push(tokio::spawn(async move {
            let q = if batch { "?batch=1".to_string() } else { String::new() };
            let (mut ws, welcome) = match connect_query(&t, &key, q).await {
                Ok(x) => x,
                Err(e) => {
                    failed.fetch_add(1, Relaxed);
                    return Err(e);
                }
            };
            let mut last = u64_field(&welcome, "version").unwrap_or(0);
            ready.fetch_add(1, Relaxed);
            let mut r = SubResult { lats: Vec::with_capacity(expect), bad_order: 0, updates: 0, frames: 0 };
            let mut last_seq: i64 = -1;
            while r.updates < expect {
                let dl_ns = deadline.load(Relaxed);
                let wait = Duration::from_nanos(dl_ns.saturating_sub(now_ns()));
                let txt = match timeout(wait, ws.next()).await {
                    Ok(Some(Ok(Message::Text(txt)))) => txt,
                    Ok(Some(Ok(_))) => continue,
                    Ok(_) => break,
                    Err(_) => {
                        if deadline.load(Relaxed) != dl_ns {
                            continue; // deadline was moved
                        }
                        break;
                    }
                };
                let now = now_ns();
                let frame = txt.as_str();
                // one `update`, or a P15 `updates` frame: each inner update counts once
                let chunks = crate::coalesce::update_chunks(frame);
                if chunks.is_empty() {
                    continue;
                }
                r.frames += 1;
                for s in chunks {
                let v = u64_field(s, "version").unwrap_or(0);
                if v != last + 1 {
                    r.bad_order += 1;
                }
                last = v;
                let seq = str_field(s, "opId")
                    .and_then(|o| o.trim_start_matches(|c: char| c.is_ascii_alphabetic()).parse::<usize>().ok())
                    .unwrap_or(usize::MAX);
                if seq < send_ns.len() {
                    if seq as i64 != last_seq + 1 {
                        r.bad_order += 1;
                    }
                    last_seq = seq as i64;
                    let lat = now.saturating_sub(send_ns[seq].load(Relaxed)) / 1000;
                    r.lats.push((seq as u32, lat.min(u32::MAX as u64) as u32));
                }
                r.updates += 1;
                let d = delivered.fetch_add(1, Relaxed) + 1;
                if d >= expected.load(Relaxed) {
                    notify.notify_one();
                }
                }
            }
            let _ = timeout(Duration::from_secs(2), ws.close(None)).await;
            Ok(r)
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while ready.load(Relaxed) + failed.load(Relaxed) < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    if ready.load(Relaxed) < n {
        for s in &subs {
            s.abort();
        }
        return Err(format!("{}: only {} of {n} subscribers connected ({} failed)", t.name, ready.load(Relaxed), failed.load(Relaxed)).into());
    }
    Ok(subs)
}

/// A writer connection whose incoming frames (acks, its own updates, presence) are drained by a
/// task that counts acks and rejects and records each ack's time by seq.
pub(crate) struct Writer {
    pub(crate) sink: futures_util::stream::SplitSink<Ws, Message>,
    pub(crate) acks: Arc<AtomicUsize>,
    pub(crate) rejects: Arc<AtomicUsize>,
    pub(crate) drain: tokio::task::JoinHandle<()>,
}

pub(crate) async fn writer(t: &Target, key: &str, sem: Option<Arc<tokio::sync::Semaphore>>) -> Res<(Writer, String)> {
    let (ws, welcome) = connect(t, key, None).await?;
    let (sink, mut source) = ws.split();
    let acks = Arc::new(AtomicUsize::new(0));
    let rejects = Arc::new(AtomicUsize::new(0));
    let (a, r) = (acks.clone(), rejects.clone());
    let drain = tokio::spawn(async move {
        while let Some(Ok(m)) = source.next().await {
            if let Message::Text(txt) = m {
                match frame_type(txt.as_str()) {
                    "ack" => {
                        a.fetch_add(1, Relaxed);
                        if let Some(s) = &sem {
                            s.add_permits(1);
                        }
                    }
                    "reject" => {
                        r.fetch_add(1, Relaxed);
                        if let Some(s) = &sem {
                            s.add_permits(1);
                        }
                    }
                    _ => {}
                }
            }
        }
    });
    Ok((Writer { sink, acks, rejects, drain }, welcome))
}

/// (1) Fan-out: one writer, `n` subscribers; closed loop (the next write goes out when every
/// subscriber has the previous one), per-delivery latency from send to receipt.
pub async fn fanout(t: &Target, n: usize, sizes: &[(usize, usize)]) -> Res<Vec<Value>> {
    let (key, _) = create(t).await?;
    let total: usize = sizes.iter().map(|s| s.1).sum();
    let send_ns: Arc<Vec<AtomicU64>> = Arc::new((0..total).map(|_| AtomicU64::new(0)).collect());
    let delivered = Arc::new(AtomicUsize::new(0));
    let expected = Arc::new(AtomicUsize::new(usize::MAX));
    let notify = Arc::new(Notify::new());
    let deadline = Arc::new(AtomicU64::new(now_ns() + 600_000_000_000));
    let subs = spawn_subscribers(t, &key, n, total, send_ns.clone(), delivered.clone(), expected.clone(), notify.clone(), deadline.clone(), false).await?;
    let (mut w, _) = writer(t, &key, None).await?;
    wait_idle(&t.pids, Duration::from_secs(10)).await; // let the join presence frames settle
    let mut out = Vec::new();
    let mut seq = 0usize;
    let mut groups = Vec::new();
    for &(bytes, writes) in sizes {
        let pad = padding(bytes);
        let meter = Meter::start(t);
        let first = seq;
        let mut timeouts = 0;
        for _ in 0..writes {
            let frame = crate::coalesce::write_frame(t, &format!("w{seq}"), seq, &pad);
            let target = (seq + 1) * n;
            expected.store(target, Relaxed);
            send_ns[seq].store(now_ns(), Relaxed);
            w.sink.send(Message::text(frame)).await?;
            while delivered.load(Relaxed) < target {
                if timeout(Duration::from_secs(5), notify.notified()).await.is_err() && delivered.load(Relaxed) < target {
                    timeouts += 1;
                    break;
                }
            }
            seq += 1;
            if timeouts >= 3 {
                break;
            }
        }
        let m = meter.finish(json!({"frame_bytes": bytes, "writes": seq - first, "timeouts": timeouts}));
        groups.push((bytes, first, seq, m));
        if timeouts >= 3 {
            break;
        }
    }
    deadline.store(now_ns() + 3_000_000_000, Relaxed);
    let _ = timeout(Duration::from_secs(2), w.sink.close()).await;
    w.drain.abort();
    let mut results = Vec::new();
    for s in subs {
        match timeout(Duration::from_secs(10), s).await {
            Ok(Ok(Ok(r))) => results.push(r),
            _ => {}
        }
    }
    let bad_order: u64 = results.iter().map(|r| r.bad_order).sum();
    let frames: usize = results.iter().map(|r| r.frames).sum();
    let updates: usize = results.iter().map(|r| r.updates).sum();
    for (bytes, first, last, mut m) in groups {
        let mut lats: Vec<u32> = results
            .iter()
            .flat_map(|r| r.lats.iter().filter(|(s, _)| (*s as usize) >= first && (*s as usize) < last).map(|x| x.1))
            .collect();
        let expected_deliveries = (last - first) * n;
        m["delivered"] = json!(lats.len());
        m["expected"] = json!(expected_deliveries);
        m["bad_order"] = json!(bad_order);
        m["subscribers_done"] = json!(results.len());
        m["frames_all_sizes"] = json!(frames);
        m["updates_all_sizes"] = json!(updates);
        m["lat"] = summary_ms(&mut lats);
        m["deliveries_per_s"] = json!(expected_deliveries as f64 / (m["wall_ms"].as_f64().unwrap() / 1000.0));
        out.push(json!({"scenario": "fanout", "params": {"subscribers": n, "bytes": bytes}, "metrics": m}));
    }
    Ok(out)
}

/// (2) Write throughput: `k` writers on one session, each closed loop (next write after its
/// ack or reject), with or without baseVersion, for `dur`.
pub async fn throughput(t: &Target, k: usize, with_base: bool, dur: Duration) -> Res<Value> {
    let (key, _) = create(t).await?;
    let mut conns = Vec::new();
    for _ in 0..k {
        conns.push(connect(t, &key, None).await?);
    }
    wait_idle(&t.pids, Duration::from_secs(5)).await;
    let pad = padding(100);
    let start = Instant::now() + Duration::from_millis(50);
    let end = start + dur;
    let meter = Meter::start(t);
    let mut tasks = Vec::new();
    for (i, (mut ws, welcome)) in conns.into_iter().enumerate() {
        let pad = pad.clone();
        tasks.push(tokio::spawn(async move {
            let mut version = u64_field(&welcome, "version").unwrap_or(1);
            let (mut acks, mut rejects, mut lats) = (0usize, 0usize, Vec::<u32>::new());
            tokio::time::sleep_until(start.into()).await;
            let mut n = 0usize;
            while Instant::now() < end {
                let op = format!("k{i}-{n}");
                let frame = patch_frame(&op, n, &pad, if with_base { Some(version) } else { None });
                let t0 = Instant::now();
                if ws.send(Message::text(frame)).await.is_err() {
                    break;
                }
                n += 1;
                // read until the answer to this write
                loop {
                    let txt = match timeout(Duration::from_secs(10), ws.next()).await {
                        Ok(Some(Ok(Message::Text(t)))) => t,
                        Ok(Some(Ok(_))) => continue,
                        _ => return (acks, rejects, lats, Instant::now(), true),
                    };
                    let s = txt.as_str();
                    let ty = frame_type(s);
                    if ty == "update" || ty == "updates" {
                        version = version.max(crate::coalesce::max_version(s).unwrap_or(0));
                    } else if (ty == "ack" || ty == "reject") && str_field(s, "opId") == Some(op.as_str()) {
                        version = version.max(u64_field(s, "version").unwrap_or(0));
                        if ty == "ack" {
                            acks += 1;
                            lats.push(t0.elapsed().as_micros() as u32);
                        } else {
                            rejects += 1;
                        }
                        break;
                    }
                }
            }
            let done = Instant::now();
            let _ = timeout(Duration::from_secs(2), ws.close(None)).await;
            (acks, rejects, lats, done, false)
        }));
    }
    let (mut acks, mut rejects, mut lats, mut last, mut errors) = (0, 0, Vec::new(), start, 0);
    for task in tasks {
        if let Ok((a, r, l, done, err)) = task.await {
            acks += a;
            rejects += r;
            lats.extend(l);
            last = last.max(done);
            errors += err as usize;
        }
    }
    let secs = (last - start).as_secs_f64();
    let mut m = meter.finish(json!({
        "acks": acks, "rejects": rejects, "errors": errors,
        "acked_per_s": acks as f64 / secs,
        "answered_per_s": (acks + rejects) as f64 / secs,
    }));
    m["ack_lat"] = summary_ms(&mut lats);
    Ok(json!({"scenario": "throughput", "params": {"writers": k, "base_version": with_base}, "metrics": m}))
}

/// (3) Connect storm: `m` clients connect at once; time until every one has its welcome.
pub async fn storm(t: &Target, m: usize) -> Res<Value> {
    let (key, _) = create(t).await?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Result<u32, String>>();
    let meter = Meter::start(t);
    let srv0 = pids_cpu_ms(&t.pids);
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..m {
        let (t, key, done_tx, mut stop_rx) = (t.clone(), key.clone(), done_tx.clone(), stop_rx.clone());
        tasks.push(tokio::spawn(async move {
            match connect(&t, &key, None).await {
                Ok((mut ws, _)) => {
                    let _ = done_tx.send(Ok(t0.elapsed().as_micros() as u32));
                    loop {
                        tokio::select! {
                            _ = stop_rx.changed() => break,
                            msg = ws.next() => if !matches!(msg, Some(Ok(_))) { break },
                        }
                    }
                    let _ = timeout(Duration::from_secs(2), ws.close(None)).await;
                }
                Err(e) => {
                    let _ = done_tx.send(Err(e.to_string()));
                }
            }
        }));
    }
    drop(done_tx);
    let mut times = Vec::new();
    let mut errors = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while times.len() + errors.len() < m {
        match tokio::time::timeout_at(deadline.into(), done_rx.recv()).await {
            Ok(Some(Ok(us))) => times.push(us),
            Ok(Some(Err(e))) => errors.push(e),
            _ => break,
        }
    }
    let all_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let mut mt = meter.finish(json!({
        "connected": times.len(), "failed": errors.len(), "first_error": errors.first(),
        "all_connected_ms": if times.len() == m { json!(times.iter().max().map(|v| *v as f64 / 1000.0)) } else { json!(null) },
        "until_last_answer_ms": all_ms,
    }));
    mt["connect"] = summary_ms(&mut times);
    // Server CPU until the server is idle again with every client still connected: join
    // announcements that wait for a coalescing tick (P15) are sent after the last welcome.
    wait_idle(&t.pids, Duration::from_secs(20)).await;
    mt["server_cpu_settled_ms"] = json!(pids_cpu_ms(&t.pids) - srv0);
    mt["settled_ms"] = json!(t0.elapsed().as_secs_f64() * 1000.0);
    let _ = stop_tx.send(true);
    for task in tasks {
        let _ = timeout(Duration::from_secs(10), task).await;
    }
    Ok(json!({"scenario": "storm", "params": {"clients": m}, "metrics": mt}))
}

/// (4) Resume: 1,000 writes (pipelined, 32 in flight), then a client reconnects with
/// `?since=` the version before them; time until its welcome with all 1,000 ops is parsed.
pub async fn resume(t: &Target, ops: usize) -> Res<Value> {
    let (key, _) = create(t).await?;
    let sem = Arc::new(tokio::sync::Semaphore::new(32));
    let (mut w, welcome) = writer(t, &key, Some(sem.clone())).await?;
    let since = u64_field(&welcome, "version").unwrap_or(1);
    let pad = padding(100);
    let fill = Instant::now();
    for i in 0..ops {
        sem.acquire().await?.forget();
        w.sink.send(Message::text(patch_frame(&format!("r{i}"), i, &pad, None))).await?;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while w.acks.load(Relaxed) + w.rejects.load(Relaxed) < ops && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let fill_ms = fill.elapsed().as_secs_f64() * 1000.0;
    let acked = w.acks.load(Relaxed);
    let _ = w.sink.close().await;
    w.drain.abort();
    wait_idle(&t.pids, Duration::from_secs(5)).await;

    let meter = Meter::start(t);
    let t0 = Instant::now();
    let (mut ws, welcome) = connect(t, &key, Some(since)).await?;
    let v: Value = serde_json::from_str(&welcome)?;
    let resume_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let got = v["ops"].as_array().map(|a| a.len()).unwrap_or(0);
    let in_order = v["ops"]
        .as_array()
        .map(|a| a.iter().enumerate().all(|(i, op)| op["version"].as_u64() == Some(since + 1 + i as u64)))
        .unwrap_or(false);
    let mut m = meter.finish(json!({
        "resume_ms": resume_ms, "resume": v["resume"], "ops_received": got, "ops_in_order": in_order,
        "welcome_bytes": welcome.len(), "fill_acked": acked, "fill_ms": fill_ms,
        "fill_writes_per_s": acked as f64 / (fill_ms / 1000.0),
    }));
    let _ = ws.close(None).await;
    let t1 = Instant::now();
    let (mut ws2, snap) = connect(t, &key, None).await?;
    m["snapshot_ms"] = json!(t1.elapsed().as_secs_f64() * 1000.0);
    m["snapshot_bytes"] = json!(snap.len());
    let _ = ws2.close(None).await;
    Ok(json!({"scenario": "resume", "params": {"ops": ops}, "metrics": m}))
}

/// (5) One open-loop step: writes scheduled at a fixed `rate` for `dur` to `n` subscribers;
/// latency from the scheduled send time (no coordinated omission). Passes when every update
/// reached every subscriber once and in order and p99 < `bound_ms`.
pub async fn open_step(t: &Target, n: usize, rate: f64, dur: Duration, bound_ms: f64, batch: bool) -> Res<Value> {
    let (key, _) = create(t).await?;
    let count = (rate * dur.as_secs_f64()).round().max(1.0) as usize;
    let send_ns: Arc<Vec<AtomicU64>> = Arc::new((0..count).map(|_| AtomicU64::new(0)).collect());
    let delivered = Arc::new(AtomicUsize::new(0));
    let expected = Arc::new(AtomicUsize::new(count * n));
    let notify = Arc::new(Notify::new());
    let deadline = Arc::new(AtomicU64::new(now_ns() + 600_000_000_000));
    let subs = spawn_subscribers(t, &key, n, count, send_ns.clone(), delivered.clone(), expected.clone(), notify.clone(), deadline.clone(), batch).await?;
    let (mut w, _) = writer(t, &key, None).await?;
    wait_idle(&t.pids, Duration::from_secs(10)).await;
    let pad = padding(100);
    let meter = Meter::start(t);
    let period_ns = 1e9 / rate;
    let t0 = now_ns() + 1_000_000;
    let mut seq = 0usize;
    let mut aborted = false;
    // stop early when the backlog exceeds half a second of deliveries (or 10 x the bound)
    let max_backlog = ((rate * n as f64) * 0.5).max(n as f64 * 10.0) as usize;
    while seq < count {
        let now = now_ns();
        let mut batch = 0;
        while seq < count && t0 + (seq as f64 * period_ns) as u64 <= now {
            send_ns[seq].store(t0 + (seq as f64 * period_ns) as u64, Relaxed);
            w.sink.feed(Message::text(patch_frame(&format!("o{seq}"), seq, &pad, None))).await?;
            seq += 1;
            batch += 1;
        }
        if batch > 0 {
            w.sink.flush().await?;
            if seq * n > delivered.load(Relaxed) + max_backlog {
                aborted = true;
                break;
            }
        }
        if seq < count {
            let next = t0 + (seq as f64 * period_ns) as u64;
            tokio::time::sleep(Duration::from_nanos(next.saturating_sub(now_ns()))).await;
        }
    }
    let sent = seq;
    let target = sent * n;
    expected.store(target, Relaxed);
    if !aborted {
        let drain_deadline = Instant::now() + Duration::from_secs(5);
        while delivered.load(Relaxed) < target && Instant::now() < drain_deadline {
            let _ = timeout(Duration::from_millis(50), notify.notified()).await;
        }
    }
    let mut m = meter.finish(json!({}));
    deadline.store(now_ns(), Relaxed);
    let acks = w.acks.load(Relaxed);
    let _ = timeout(Duration::from_secs(2), w.sink.close()).await;
    w.drain.abort();
    let mut results = Vec::new();
    for s in subs {
        if let Ok(Ok(Ok(r))) = timeout(Duration::from_secs(10), s).await {
            results.push(r);
        }
    }
    let bad_order: u64 = results.iter().map(|r| r.bad_order).sum();
    let frames: usize = results.iter().map(|r| r.frames).sum();
    let complete = results.len() == n && results.iter().all(|r| r.updates == sent);
    let mut lats: Vec<u32> = results.iter().flat_map(|r| r.lats.iter().map(|x| x.1)).collect();
    // The late updates (some subscriber got it more than 40 ms after its scheduled time): when
    // one update is late at every subscriber alike, the server held it, not one connection.
    m["late"] = crate::coalesce::late_updates(results.iter().map(|r| r.lats.as_slice()), &send_ns, 40_000);
    let delivered_n = lats.len();
    let lat = summary_ms(&mut lats);
    let p99 = lat["p99_ms"].as_f64().unwrap_or(f64::INFINITY);
    let pass = !aborted && complete && bad_order == 0 && sent == count && p99 < bound_ms;
    m["rate"] = json!(rate);
    m["sent"] = json!(sent);
    m["scheduled"] = json!(count);
    m["acks"] = json!(acks);
    m["delivered"] = json!(delivered_n);
    m["expected"] = json!(count * n);
    m["bad_order"] = json!(bad_order);
    m["aborted"] = json!(aborted);
    m["complete"] = json!(complete);
    m["frames"] = json!(frames);
    m["lat"] = lat;
    m["pass"] = json!(pass);
    m["deliveries_per_s"] = json!(rate * n as f64);
    Ok(json!({"scenario": "open_step", "params": {"subscribers": n, "rate": rate, "batch": batch}, "metrics": m}))
}
