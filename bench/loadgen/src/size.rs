//! State-size scenario (issue 11, item 6): for each state size (1 KB, 1 MB, 16 MB, 64 MB by
//! default) a new session is grown by HTTP merge patches (`application/merge-patch+json`) to a
//! map of ~1 KB items, `{"items":{"k000000":{"label":"item 0 ....","x":0,"y":0},...}}`, then:
//!
//! - acked writes/s and ack p50/p99 of 1 and of 8 WebSocket writers sending small merge patches
//!   closed loop (`{"items":{"kNNNNNN":{"x":seq}}}`; each writer connects with `?since=` the
//!   current version, so it does not download the snapshot);
//! - welcome time of a new WebSocket client: open -> the whole `welcome` received, P16 `part`
//!   frames joined (and, separately, the time to parse it);
//! - GET time: `GET /api/v1/sessions/<key>`, the whole body read (and time to first byte);
//! - workerd's memory (VmRSS / VmHWM of the runtime workerd process) before the session exists,
//!   after it is grown (loaded), after the writes and after the reads;
//! - that the welcome's state equals the GET's state.
//!
//! The JS baseline (`/js`) keeps the whole state in one SQLite value, so it is expected to fail
//! near 2 MB: when a growth patch fails the step is halved (down to 16 items) to find where, and
//! the error is recorded; larger sizes are then not attempted for that target.
//! Wake after a restart of `wrangler dev` is measured by bench/wake.mjs from these records.
//!
//! `loadgen size-probe ...` repeats one phase against an existing session (for CPU profiles).

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use crate::scenarios::{Meter, Res, Target, Ws};
use crate::util::*;

/// What the scenario runs (from the command line).
#[derive(Clone, Debug)]
pub struct SizeConf {
    /// State sizes in bytes of JSON text.
    pub sizes: Vec<usize>,
    /// Duration of each closed-loop write measurement.
    pub dur: Duration,
    /// Writer counts measured at every size.
    pub writers: Vec<usize>,
    /// Write measurements per writer count (the median one is reported).
    pub windows: usize,
    /// Welcome and GET measurements per size.
    pub reads: usize,
    /// The runtime workerd process (for VmRSS / VmHWM).
    pub workerd_pid: Option<i32>,
}

/// Items added per growth patch (about 1 MB of merge patch).
const STEP_ITEMS: usize = 1000;
/// Label length of a full item (an item is then about 1,040 bytes of JSON).
const LABEL: usize = 1000;

fn item_key(i: usize) -> String {
    format!("k{i:06}")
}

fn label(i: usize, len: usize) -> String {
    let mut s = format!("item {i} ");
    while s.len() < len {
        s.push('.');
    }
    s
}

/// `"k000000":{"label":"...","x":0,"y":0}` (keys sorted, as the server writes them).
fn entry(i: usize, label_len: usize) -> String {
    format!("\"{}\":{{\"label\":\"{}\",\"x\":{i},\"y\":{i}}}", item_key(i), label(i, label_len))
}

/// VmRSS and VmHWM of a process, in KiB.
pub fn mem_kb(pid: Option<i32>) -> Value {
    let Some(pid) = pid else { return json!(null) };
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status")) else { return json!(null) };
    let field = |name: &str| -> Option<u64> {
        s.lines().find(|l| l.starts_with(name)).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok())
    };
    json!({"rss_kb": field("VmRSS:"), "hwm_kb": field("VmHWM:")})
}

/// One HTTP/1.1 request with a body and content type; returns (status, body).
async fn request(addr: &str, method: &str, path: &str, ctype: &str, body: &str) -> Res<(u16, String)> {
    let mut s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await?;
    s.write_all(body.as_bytes()).await?;
    let mut buf = Vec::new();
    timeout(Duration::from_secs(300), s.read_to_end(&mut buf)).await.map_err(|_| "no answer in 300 s")??;
    let (status, body) = split_response(&buf);
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// Status and (de-chunked) body of a whole HTTP/1.1 response.
fn split_response(buf: &[u8]) -> (u16, Vec<u8>) {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4).unwrap_or(buf.len());
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let rest = &buf[end..];
    if !head.contains("transfer-encoding: chunked") {
        return (status, rest.to_vec());
    }
    let mut out = Vec::with_capacity(rest.len());
    let mut i = 0;
    while i < rest.len() {
        let Some(nl) = rest[i..].windows(2).position(|w| w == b"\r\n") else { break };
        let size_txt = String::from_utf8_lossy(&rest[i..i + nl]);
        let n = usize::from_str_radix(size_txt.split(';').next().unwrap_or("").trim(), 16).unwrap_or(0);
        i += nl + 2;
        if n == 0 || i + n > rest.len() {
            break;
        }
        out.extend_from_slice(&rest[i..i + n]);
        i += n + 2;
    }
    (status, out)
}

/// Times of one GET of the whole state.
pub struct GetTiming {
    pub status: u16,
    pub ttfb_ms: f64,
    pub total_ms: f64,
    pub body: Vec<u8>,
}

/// `GET /api/v1/sessions/<key>`: time to the first byte of the answer and to the end of its body.
pub async fn get_state(t: &Target, key: &str) -> Res<GetTiming> {
    let t0 = Instant::now();
    let mut s = TcpStream::connect(&t.addr).await?;
    s.set_nodelay(true)?;
    let req = format!("GET {}/api/v1/sessions/{key} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", t.prefix, t.addr);
    s.write_all(req.as_bytes()).await?;
    let mut buf = Vec::with_capacity(1 << 20);
    let mut chunk = vec![0u8; 1 << 16];
    let mut ttfb = None;
    loop {
        let n = timeout(Duration::from_secs(120), s.read(&mut chunk)).await.map_err(|_| "GET: no data for 120 s")??;
        if n == 0 {
            break;
        }
        ttfb.get_or_insert_with(|| t0.elapsed().as_secs_f64() * 1000.0);
        buf.extend_from_slice(&chunk[..n]);
    }
    let total_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let (status, body) = split_response(&buf);
    Ok(GetTiming { status, ttfb_ms: ttfb.unwrap_or(total_ms), total_ms, body })
}

#[derive(Deserialize)]
struct Part {
    #[serde(rename = "type")]
    ty: String,
    seq: u64,
    last: bool,
    data: String,
}

/// Times of one WebSocket open until the whole welcome.
pub struct WelcomeTiming {
    pub open_ms: f64,
    pub first_frame_ms: f64,
    pub total_ms: f64,
    pub parts: usize,
    pub part_parse_ms: f64,
    pub text: String,
}

/// Opens a WebSocket (query `q`, "" or "?since=V") and reads until the whole welcome: a
/// `welcome` frame, or P16 `part` frames joined in `seq` order up to the `last` one.
pub async fn open_welcome(t: &Target, key: &str, q: &str) -> Res<(Ws, WelcomeTiming)> {
    let t0 = Instant::now();
    let url = format!("ws://{}{}/api/v1/sessions/{key}/ws{q}", t.addr, t.prefix);
    let stream = TcpStream::connect(&t.addr).await?;
    stream.set_nodelay(true)?;
    let mut cfg = WebSocketConfig::default();
    cfg.max_message_size = Some(128 << 20);
    cfg.max_frame_size = Some(128 << 20);
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(cfg)).await?;
    let open_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let mut first = None;
    let mut joined = String::new();
    let mut parts = 0usize;
    let mut parse = Duration::ZERO;
    loop {
        let txt = match timeout(Duration::from_secs(120), ws.next()).await {
            Ok(Some(Ok(Message::Text(txt)))) => txt,
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(e))) => return Err(e.into()),
            Ok(None) => return Err("closed before the welcome".into()),
            Err(_) => return Err("no welcome frame for 120 s".into()),
        };
        first.get_or_insert_with(|| t0.elapsed().as_secs_f64() * 1000.0);
        let s = txt.as_str();
        match frame_type(s) {
            "welcome" if parts == 0 => {
                joined = s.to_string();
                break;
            }
            "part" => {
                let p0 = Instant::now();
                let p: Part = serde_json::from_str(s)?;
                parse += p0.elapsed();
                if p.ty != "part" || p.seq != parts as u64 {
                    return Err(format!("part {} arrived as number {parts}", p.seq).into());
                }
                parts += 1;
                joined.push_str(&p.data);
                if p.last {
                    break;
                }
            }
            other => return Err(format!("unexpected `{other}` frame before the whole welcome ({parts} parts so far)").into()),
        }
    }
    let total_ms = t0.elapsed().as_secs_f64() * 1000.0;
    if frame_type(&joined) != "welcome" {
        return Err(format!("joined parts are not a welcome: {}", &joined[..joined.len().min(120)]).into());
    }
    let first_frame_ms = first.unwrap_or(total_ms);
    Ok((ws, WelcomeTiming { open_ms, first_frame_ms, total_ms, parts, part_parse_ms: parse.as_secs_f64() * 1000.0, text: joined }))
}

/// Grows a new session to about `target` bytes of state. Returns (state bytes, patches, version,
/// items, failure).
struct Grown {
    bytes: usize,
    patches: usize,
    version: u64,
    items: usize,
    label_len: usize,
    failure: Option<Value>,
}

async fn grow(t: &Target, key: &str, target: usize) -> Res<Grown> {
    // {"items":{...}}: 12 bytes around the entries, one comma between entries
    // one item alone is a state of 46 + label bytes
    let label_len = if target < 2 * (LABEL + 50) { target.saturating_sub(46).max(8) } else { LABEL };
    let entry_len = |i: usize| entry(i, label_len).len();
    let mut g = Grown { bytes: 2, patches: 0, version: 1, items: 0, label_len, failure: None };
    let mut step = STEP_ITEMS;
    let path = format!("{}/api/v1/sessions/{key}", t.prefix);
    while g.bytes < target {
        // items of this patch: `step`, or fewer to land near the target
        let mut body = String::from("{\"items\":{");
        let mut add = 0;
        let mut bytes = if g.items == 0 { 12 } else { g.bytes };
        while add < step && bytes < target {
            let e = entry(g.items + add, label_len);
            if add > 0 {
                body.push(',');
            }
            body.push_str(&e);
            bytes += e.len() + usize::from(g.items + add > 0);
            add += 1;
        }
        body.push_str("}}");
        let (status, resp) = request(&t.addr, "PATCH", &path, "application/merge-patch+json", &body).await?;
        if status == 200 {
            g.patches += 1;
            g.items += add;
            g.bytes = bytes;
            g.version = serde_json::from_str::<Value>(&resp).ok().and_then(|v| v["version"].as_u64()).unwrap_or(g.version + 1);
            continue;
        }
        let fail = json!({"status": status, "body": &resp[..resp.len().min(400)], "state_bytes": g.bytes,
            "would_be_bytes": bytes, "patch_bytes": body.len(), "items": g.items});
        if step > 16 && t.name != "rust" {
            // the baseline's single-row limit: halve the patch to find where it is
            eprintln!("[bench] size {} grow: PATCH to {bytes} bytes failed (HTTP {status}); halving the patch", t.name);
            step /= 2;
            g.failure = Some(fail);
            continue;
        }
        g.failure = Some(fail);
        return Ok(g);
    }
    let _ = entry_len;
    if g.failure.is_some() {
        // smaller patches got there after all: keep the first failure as a note only
        g.failure = g.failure.map(|mut f| {
            f["recovered"] = json!(true);
            f
        });
    }
    Ok(g)
}

fn small_patch(op: &str, item: usize, seq: usize) -> String {
    format!("{{\"type\":\"patch\",\"opId\":\"{op}\",\"merge\":{{\"items\":{{\"{}\":{{\"x\":{seq}}}}}}}}}", item_key(item))
}

/// `k` writers, each closed loop (next patch after its ack or reject) for `dur`, on a session at
/// `version` with `items` items (writer i touches items i, i+k, ...).
pub async fn writes(t: &Target, key: &str, version: u64, items: usize, k: usize, dur: Duration, tag: &str) -> Res<Value> {
    let mut conns = Vec::new();
    for _ in 0..k {
        let (ws, w) = open_welcome(t, key, &format!("?since={version}")).await?;
        if w.parts > 0 {
            return Err(format!("writer welcome with since={version} came in {} parts (not a resume)", w.parts).into());
        }
        conns.push(ws);
    }
    wait_idle(&t.pids, Duration::from_secs(5)).await;
    let start = Instant::now() + Duration::from_millis(50);
    let end = start + dur;
    let meter = Meter::start(t);
    let mut tasks = Vec::new();
    for (i, mut ws) in conns.into_iter().enumerate() {
        let tag = tag.to_string();
        tasks.push(tokio::spawn(async move {
            let (mut acks, mut rejects, mut lats, mut last_version, mut err) = (0usize, 0usize, Vec::<u32>::new(), 0u64, None);
            tokio::time::sleep_until(start.into()).await;
            let mut n = 0usize;
            'outer: while Instant::now() < end {
                let op = format!("{tag}{i}-{n}");
                let item = (i + n * k) % items.max(1);
                let t0 = Instant::now();
                if let Err(e) = ws.send(Message::text(small_patch(&op, item, n))).await {
                    err = Some(e.to_string());
                    break;
                }
                n += 1;
                loop {
                    let txt = match timeout(Duration::from_secs(30), ws.next()).await {
                        Ok(Some(Ok(Message::Text(t)))) => t,
                        Ok(Some(Ok(_))) => continue,
                        Ok(Some(Err(e))) => {
                            err = Some(e.to_string());
                            break 'outer;
                        }
                        Ok(None) => {
                            err = Some("closed".into());
                            break 'outer;
                        }
                        Err(_) => {
                            err = Some("no answer for 30 s".into());
                            break 'outer;
                        }
                    };
                    let s = txt.as_str();
                    let ty = frame_type(s);
                    if (ty == "ack" || ty == "reject") && str_field(s, "opId") == Some(op.as_str()) {
                        if ty == "ack" {
                            acks += 1;
                            lats.push(t0.elapsed().as_micros() as u32);
                            last_version = last_version.max(u64_field(s, "version").unwrap_or(0));
                        } else {
                            rejects += 1;
                            if err.is_none() {
                                err = Some(format!("reject: {}", &s[..s.len().min(200)]));
                            }
                        }
                        break;
                    }
                }
            }
            let done = Instant::now();
            let _ = timeout(Duration::from_secs(2), ws.close(None)).await;
            (acks, rejects, lats, done, last_version, err)
        }));
    }
    let (mut acks, mut rejects, mut lats, mut last, mut version, mut errors) = (0, 0, Vec::new(), start, 0u64, Vec::new());
    for task in tasks {
        let (a, r, l, done, v, e) = task.await?;
        acks += a;
        rejects += r;
        lats.extend(l);
        last = last.max(done);
        version = version.max(v);
        errors.extend(e);
    }
    let secs = (last - start).as_secs_f64();
    let mut m = meter.finish(json!({
        "writers": k, "acks": acks, "rejects": rejects, "errors": errors.len(), "first_error": errors.first(),
        "acked_per_s": acks as f64 / secs, "version": version,
    }));
    m["ack_lat"] = summary_ms(&mut lats);
    Ok(m)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

fn ms(d: Instant) -> f64 {
    d.elapsed().as_secs_f64() * 1000.0
}

/// Warm-up before the first size (not recorded): a small session, then 1 s of closed-loop writes,
/// so that the first measurement does not pay for the runtime's first compilations.
pub async fn warm_up(t: &Target) -> Res<()> {
    let (key, _) = crate::scenarios::create(t).await?;
    let g = grow(t, &key, 1000).await?;
    let r = writes(t, &key, g.version, g.items, 1, Duration::from_secs(1), "warm").await?;
    let v = r["version"].as_u64().unwrap_or(g.version).max(g.version);
    writes(t, &key, v, g.items, 8, Duration::from_millis(500), "warm8").await?;
    Ok(())
}

/// The whole scenario at one size for one target: one record.
pub async fn size_one(t: &Target, target: usize, c: &SizeConf) -> Res<Value> {
    let mut m = json!({});
    m["mem_before"] = mem_kb(c.workerd_pid);
    let (key, _) = crate::scenarios::create(t).await?;
    m["key"] = json!(key);
    let t0 = Instant::now();
    let g = grow(t, &key, target).await?;
    m["grow_ms"] = json!(ms(t0));
    m["grow_patches"] = json!(g.patches);
    m["state_bytes"] = json!(g.bytes);
    m["items"] = json!(g.items);
    m["label_len"] = json!(g.label_len);
    m["version"] = json!(g.version);
    if let Some(f) = &g.failure {
        m["grow_failure"] = f.clone();
        if f["recovered"] != json!(true) {
            m["failed"] = json!(true);
            m["mem_loaded"] = mem_kb(c.workerd_pid);
            return Ok(json!({"scenario": "size", "params": {"bytes": target}, "metrics": m}));
        }
    }
    if t.name == "rust" {
        // the server's own count of the state's bytes
        if let Ok((200, info)) = request(&t.addr, "GET", &format!("/api/v1/sessions/{key}/info"), "application/json", "").await {
            if let Ok(v) = serde_json::from_str::<Value>(&info) {
                m["server_state_bytes"] = v["stateBytes"].clone();
            }
        }
    }
    wait_idle(&t.pids, Duration::from_secs(15)).await;
    m["mem_loaded"] = mem_kb(c.workerd_pid);

    let mut version = g.version;
    let mut w = serde_json::Map::new();
    for &k in &c.writers {
        // `windows` separate measurements; the one with the median rate is kept whole
        let mut runs: Vec<Value> = Vec::new();
        let mut error = None;
        for i in 0..c.windows.max(1) {
            match writes(t, &key, version, g.items, k, c.dur, &format!("s{k}w{i}-")).await {
                Ok(r) => {
                    version = version.max(r["version"].as_u64().unwrap_or(0));
                    runs.push(r);
                }
                Err(e) => error = Some(e.to_string()),
            }
            wait_idle(&t.pids, Duration::from_secs(15)).await;
        }
        if runs.is_empty() {
            w.insert(k.to_string(), json!({"error": error}));
            continue;
        }
        runs.sort_by(|a, b| a["acked_per_s"].as_f64().unwrap_or(0.0).partial_cmp(&b["acked_per_s"].as_f64().unwrap_or(0.0)).unwrap());
        let rates: Vec<Value> = runs.iter().map(|r| r["acked_per_s"].clone()).collect();
        let mut r = runs[runs.len() / 2].clone();
        r["windows_acked_per_s"] = json!(rates);
        if let Some(e) = error {
            r["window_error"] = json!(e);
        }
        w.insert(k.to_string(), r);
    }
    m["writes"] = Value::Object(w);
    m["version"] = json!(version);
    m["mem_after_writes"] = mem_kb(c.workerd_pid);

    // a new client's welcome (the whole snapshot), then GET
    let (mut wt, mut wf, mut wo, mut wp, mut parts, mut wbytes) = (vec![], vec![], vec![], vec![], 0, 0);
    let mut welcome_state: Option<Value> = None;
    let mut welcome_parse_ms = f64::NAN;
    for i in 0..c.reads {
        let (mut ws, w) = open_welcome(t, &key, "").await?;
        wt.push(w.total_ms);
        wf.push(w.first_frame_ms);
        wo.push(w.open_ms);
        wp.push(w.part_parse_ms);
        parts = w.parts;
        wbytes = w.text.len();
        let _ = timeout(Duration::from_secs(5), ws.close(None)).await;
        drop(ws);
        if i == 0 {
            let p0 = Instant::now();
            let v: Value = serde_json::from_str(&w.text)?;
            welcome_parse_ms = ms(p0);
            welcome_state = Some(v["state"].clone());
        }
        wait_idle(&t.pids, Duration::from_secs(15)).await;
    }
    m["welcome"] = json!({"ms": median(wt.clone()), "all_ms": wt, "first_frame_ms": median(wf), "open_ms": median(wo),
        "part_parse_ms": median(wp), "parts": parts, "bytes": wbytes, "parse_ms": welcome_parse_ms});
    let (mut gt, mut gf, mut gbytes, mut gstatus) = (vec![], vec![], 0, 0);
    let mut get_state_v: Option<Value> = None;
    for i in 0..c.reads {
        let r = get_state(t, &key).await?;
        gt.push(r.total_ms);
        gf.push(r.ttfb_ms);
        gbytes = r.body.len();
        gstatus = r.status;
        if i == 0 {
            let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
            get_state_v = Some(v["state"].clone());
        }
        wait_idle(&t.pids, Duration::from_secs(15)).await;
    }
    m["get"] = json!({"ms": median(gt.clone()), "all_ms": gt, "ttfb_ms": median(gf), "bytes": gbytes, "status": gstatus});
    m["mem_after_reads"] = mem_kb(c.workerd_pid);
    let same = matches!((&welcome_state, &get_state_v), (Some(a), Some(b)) if a == b && a.is_object());
    m["welcome_equals_get"] = json!(same);
    if let Some(Value::Object(s)) = &get_state_v {
        m["get_items"] = json!(s.get("items").and_then(|i| i.as_object()).map(|o| o.len()));
    }
    Ok(json!({"scenario": "size", "params": {"bytes": target}, "metrics": m}))
}

/// The one-line summary printed for a size record.
pub fn brief(m: &Value) -> String {
    if m["failed"] == json!(true) {
        let f = &m["grow_failure"];
        return format!("FAILED growing: state {} B, PATCH to {} B -> HTTP {}: {}", f["state_bytes"], f["would_be_bytes"], f["status"], f["body"].as_str().unwrap_or("").chars().take(160).collect::<String>());
    }
    let w = |k: &str, f: &str| m["writes"][k][f].clone();
    format!(
        "{} B grown in {:.0} ms; 1 writer {:.0}/s (p50 {} p99 {} ms), 8 writers {:.0}/s; welcome {:.0} ms ({} parts); GET {:.0} ms; rss {} -> {} KiB; same {}",
        m["state_bytes"],
        m["grow_ms"].as_f64().unwrap_or(0.0),
        w("1", "acked_per_s").as_f64().unwrap_or(0.0),
        m["writes"]["1"]["ack_lat"]["p50_ms"],
        m["writes"]["1"]["ack_lat"]["p99_ms"],
        w("8", "acked_per_s").as_f64().unwrap_or(0.0),
        m["welcome"]["ms"].as_f64().unwrap_or(0.0),
        m["welcome"]["parts"],
        m["get"]["ms"].as_f64().unwrap_or(0.0),
        m["mem_loaded"]["rss_kb"],
        m["mem_after_writes"]["rss_kb"],
        m["welcome_equals_get"],
    )
}

/// `loadgen size-probe --server A [--prefix /js] --key K --what writes|welcome|get [--version V]
/// [--items N] [--writers K] [--dur-ms D] [--reps R]`: one phase against an existing session,
/// printed as JSON (what bench/profile.mjs runs while it profiles the server).
pub async fn probe(args: &[String]) -> Res<()> {
    let opt = |k: &str| args.iter().position(|a| a == k).and_then(|i| args.get(i + 1)).cloned();
    let t = Target { name: "probe".into(), addr: opt("--server").ok_or("--server")?, prefix: opt("--prefix").unwrap_or_default(), pids: vec![] };
    let key = opt("--key").ok_or("--key")?;
    let reps: usize = opt("--reps").and_then(|v| v.parse().ok()).unwrap_or(1);
    let out = match opt("--what").as_deref() {
        Some("writes") => {
            let version = opt("--version").and_then(|v| v.parse().ok()).ok_or("--version")?;
            let items = opt("--items").and_then(|v| v.parse().ok()).unwrap_or(1);
            let k = opt("--writers").and_then(|v| v.parse().ok()).unwrap_or(1);
            let dur = Duration::from_millis(opt("--dur-ms").and_then(|v| v.parse().ok()).unwrap_or(3000));
            writes(&t, &key, version, items, k, dur, "probe").await?
        }
        Some("welcome") => {
            let mut all = vec![];
            for _ in 0..reps {
                let (mut ws, w) = open_welcome(&t, &key, "").await?;
                all.push(json!({"ms": w.total_ms, "first_frame_ms": w.first_frame_ms, "parts": w.parts}));
                let _ = ws.close(None).await;
            }
            json!(all)
        }
        Some("get") => {
            let mut all = vec![];
            for _ in 0..reps {
                let r = get_state(&t, &key).await?;
                all.push(json!({"ms": r.total_ms, "ttfb_ms": r.ttfb_ms, "bytes": r.body.len(), "status": r.status}));
            }
            json!(all)
        }
        _ => return Err("--what writes|welcome|get".into()),
    };
    println!("{out}");
    Ok(())
}
