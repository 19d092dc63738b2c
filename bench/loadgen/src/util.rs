//! Small helpers shared by the load generator and the native server: clocks, CPU accounting,
//! percentiles, a tiny HTTP/1.1 client and cheap field extraction from JSON frames.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Nanoseconds since the process's first call (a monotonic clock shared by all tasks).
pub fn now_ns() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// CPU time (user + system) of this process, in milliseconds.
pub fn self_cpu_ms() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let us = |t: libc::timeval| t.tv_sec as f64 * 1000.0 + t.tv_usec as f64 / 1000.0;
    us(ru.ru_utime) + us(ru.ru_stime)
}

/// CPU time (user + system) of the given processes from /proc, in milliseconds.
pub fn pids_cpu_ms(pids: &[i32]) -> f64 {
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let mut total = 0.0;
    for pid in pids {
        if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            // fields after the ")" of the command name: state is field 3; utime 14, stime 15
            if let Some(rest) = s.rfind(')').map(|i| &s[i + 2..]) {
                let f: Vec<&str> = rest.split(' ').collect();
                if f.len() > 13 {
                    let ut: f64 = f[11].parse().unwrap_or(0.0);
                    let st: f64 = f[12].parse().unwrap_or(0.0);
                    total += (ut + st) * 1000.0 / hz;
                }
            }
        }
    }
    total
}

/// Waits until the given processes use less than ~10% of a core for 300 ms (at most `max`).
pub async fn wait_idle(pids: &[i32], max: Duration) {
    if pids.is_empty() {
        tokio::time::sleep(Duration::from_millis(200)).await;
        return;
    }
    let deadline = Instant::now() + max;
    let mut quiet = 0;
    let mut last = pids_cpu_ms(pids);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let c = pids_cpu_ms(pids);
        if c - last <= 10.0 {
            quiet += 1;
            if quiet >= 3 {
                return;
            }
        } else {
            quiet = 0;
        }
        last = c;
    }
}

/// Percentile (0..=100) of a sorted slice, nearest-rank.
pub fn pct(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64
}

/// p50/p95/p99/max of microsecond samples, as milliseconds.
pub fn summary_ms(samples: &mut Vec<u32>) -> serde_json::Value {
    samples.sort_unstable();
    serde_json::json!({
        "n": samples.len(),
        "p50_ms": pct(samples, 50.0) / 1000.0,
        "p95_ms": pct(samples, 95.0) / 1000.0,
        "p99_ms": pct(samples, 99.0) / 1000.0,
        "max_ms": samples.last().map(|v| *v as f64 / 1000.0).unwrap_or(f64::NAN),
    })
}

/// One HTTP/1.1 request with `Connection: close`; returns (status, body).
pub async fn http(addr: &str, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status: u16 = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
    let body = if chunked { dechunk(rest) } else { rest.to_string() };
    Ok((status, body))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n..];
        s = s.strip_prefix("\r\n").unwrap_or(s);
    }
    out
}

/// The value of `"key":"<string>"` in a frame (first occurrence), without a JSON parse.
pub fn str_field<'a>(frame: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("\"{key}\":\"");
    let i = frame.find(&pat)? + pat.len();
    let j = frame[i..].find('"')?;
    Some(&frame[i..i + j])
}

/// The value of `"key":<unsigned integer>` in a frame (first occurrence), without a JSON parse.
pub fn u64_field(frame: &str, key: &str) -> Option<u64> {
    let pat = format!("\"{key}\":");
    let i = frame.find(&pat)? + pat.len();
    let digits: &str = &frame[i..];
    let end = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
    digits[..end].parse().ok()
}

/// The `type` of a frame (the first `"type":"..."`; every frame's top-level type comes before
/// any nested one in all three servers, and the payloads here never contain that text).
pub fn frame_type(frame: &str) -> &str {
    str_field(frame, "type").unwrap_or("")
}
