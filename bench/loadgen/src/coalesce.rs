//! Issue 12 in the load generator: P15 `updates` frames, the runtime floor target
//! (bench/floor/), the coalescing-off target (a second `wrangler dev` with
//! `BATCH_TICK_MS=0`), which scenarios each target takes part in, and `open-probe` (one
//! open-loop step, for CPU profiles of the sustained rate).

use std::time::Duration;

use serde_json::json;

use crate::scenarios::{open_step, Target};
use crate::util::{frame_type, u64_field};

/// Target names. `rust` is the service as configured (coalescing on, the default);
/// `rust_off` the same build with `BATCH_TICK_MS=0`; `floor` the relay-only JS object.
pub const RUST_OFF: &str = "rust_off";
pub const FLOOR: &str = "floor";

/// Whether `target` takes part in `scenario`. The floor only relays, sends no acks and keeps
/// no state, so it has closed-loop fan-out only; the coalescing-off server is measured where
/// coalescing can matter (fan-out, connect storm, open loop).
pub fn applies(target: &Target, scenario: &str) -> bool {
    // issue 13: the audience scenario and the single-object server (src/audience.rs)
    if scenario == "audience" || target.name == crate::audience::RUST_SINGLE {
        return crate::audience::applies(target, scenario);
    }
    match target.name.as_str() {
        FLOOR => scenario == "fanout",
        RUST_OFF => matches!(scenario, "fanout" | "storm" | "open"),
        _ => true,
    }
}

/// The update texts a stream frame carries, in the order it carries them: an `update` frame
/// is one; an `updates` frame (P15) holds `{"type":"update",...}` objects in its `updates`
/// list (its `presence` and `broadcasts` lists follow and are not updates); anything else
/// carries none. Each returned slice starts at one update and ends before the next; the
/// fields read from it (`version`, `opId`) are the update's own, as they come before any
/// nested object in every server's output and the benchmark's payloads hold no such text.
pub fn update_chunks(frame: &str) -> Vec<&str> {
    match frame_type(frame) {
        "update" => vec![frame],
        "updates" => {
            // only the `updates` list: cut at the `presence` / `broadcasts` lists that follow it
            let list = match frame.find("\"updates\":[") {
                Some(i) => &frame[i..],
                None => return Vec::new(),
            };
            let end = [list.find("],\"presence\":["), list.find("],\"broadcasts\":[")].into_iter().flatten().min().unwrap_or(list.len());
            list[..end].split("{\"type\":\"update\"").skip(1).collect()
        }
        _ => Vec::new(),
    }
}

/// The highest update version a stream frame carries (`update` or `updates`), if any.
pub fn max_version(frame: &str) -> Option<u64> {
    update_chunks(frame).into_iter().filter_map(|s| u64_field(s, "version")).max()
}

/// The frame the writer sends for write `seq`: a merge patch for the services; for the floor,
/// which relays verbatim, a frame already shaped like the update it stands for (version
/// `seq + 1`: the floor's welcome says version 0).
pub fn write_frame(t: &Target, op_id: &str, seq: usize, pad: &str) -> String {
    if t.name == FLOOR {
        format!("{{\"type\":\"update\",\"version\":{},\"opId\":\"{op_id}\",\"author\":\"floor\",\"merge\":{{\"s\":{seq},\"p\":\"{pad}\"}}}}", seq + 1)
    } else {
        format!("{{\"type\":\"patch\",\"opId\":\"{op_id}\",\"merge\":{{\"s\":{seq},\"p\":\"{pad}\"}}}}")
    }
}

/// The updates that reached some subscriber more than `over_us` after their scheduled send,
/// as `[seq, scheduled ms since the first, min latency ms, max latency ms, subscribers late]`
/// (at most 40, the first ones), from each subscriber's `(seq, latency µs)` list.
pub fn late_updates<'a>(subs: impl Iterator<Item = &'a [(u32, u32)]>, send_ns: &[std::sync::atomic::AtomicU64], over_us: u32) -> serde_json::Value {
    use std::collections::BTreeMap;
    let mut per: BTreeMap<u32, (u32, u32, usize)> = BTreeMap::new();
    let mut all: BTreeMap<u32, (u32, u32)> = BTreeMap::new();
    for lats in subs {
        for &(seq, lat) in lats {
            let e = all.entry(seq).or_insert((u32::MAX, 0));
            e.0 = e.0.min(lat);
            e.1 = e.1.max(lat);
            if lat > over_us {
                per.entry(seq).or_insert((0, 0, 0)).2 += 1;
            }
        }
    }
    let t0 = send_ns.first().map(|a| a.load(std::sync::atomic::Ordering::Relaxed)).unwrap_or(0);
    let rows: Vec<serde_json::Value> = per
        .into_iter()
        .take(40)
        .map(|(seq, (_, _, n))| {
            let (lo, hi) = all[&seq];
            let at = send_ns.get(seq as usize).map(|a| a.load(std::sync::atomic::Ordering::Relaxed).saturating_sub(t0)).unwrap_or(0);
            json!([seq, at as f64 / 1e6, lo as f64 / 1000.0, hi as f64 / 1000.0, n])
        })
        .collect();
    json!(rows)
}

/// `loadgen open-probe --server HOST:PORT [--prefix /js] [--rate 200] [--dur-ms 3000]
/// [--subs 100] [--reps 1]`: open-loop steps at one rate (for `bench/profile.mjs`); prints one
/// JSON line per step (rate, pass, p99, delivered, server CPU).
pub async fn open_probe(args: &[String]) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let opt = |k: &str| args.iter().position(|a| a == k).and_then(|i| args.get(i + 1)).cloned();
    let server = opt("--server").ok_or("--server HOST:PORT")?;
    let prefix = opt("--prefix").unwrap_or_default();
    let rate: f64 = opt("--rate").and_then(|v| v.parse().ok()).unwrap_or(200.0);
    let dur = Duration::from_millis(opt("--dur-ms").and_then(|v| v.parse().ok()).unwrap_or(3000));
    let subs: usize = opt("--subs").and_then(|v| v.parse().ok()).unwrap_or(100);
    let reps: usize = opt("--reps").and_then(|v| v.parse().ok()).unwrap_or(1);
    let pids = opt("--server-pids").map(|v| v.split(',').filter_map(|p| p.parse().ok()).collect()).unwrap_or_default();
    let t = Target { name: if prefix.is_empty() { "rust".into() } else { prefix.trim_start_matches('/').into() }, addr: server, prefix, pids };
    for _ in 0..reps {
        let r = open_step(&t, subs, rate, dur, 50.0, false).await?;
        let m = &r["metrics"];
        println!(
            "{}",
            json!({"rate": rate, "pass": m["pass"], "p50_ms": m["lat"]["p50_ms"], "p99_ms": m["lat"]["p99_ms"], "delivered": m["delivered"],
                "expected": m["expected"], "aborted": m["aborted"], "server_cpu_pct": m["server_cpu_pct"], "loadgen_cpu_pct": m["loadgen_cpu_pct"],
                "frames": m["frames"], "late": m["late"]})
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_of_update_and_updates_frames() {
        let one = r#"{"type":"update","version":3,"opId":"w2","merge":{"s":2}}"#;
        assert_eq!(update_chunks(one), vec![one]);
        let many = r#"{"type":"updates","updates":[{"type":"update","version":4,"opId":"w3","merge":{}},{"type":"update","version":5,"opId":"w4","merge":{}}],"presence":[{"type":"presence","event":"join","clientId":"c","data":{"type":"update","version":99}}]}"#;
        let c = update_chunks(many);
        assert_eq!(c.len(), 2);
        assert_eq!(u64_field(c[0], "version"), Some(4));
        assert_eq!(u64_field(c[1], "version"), Some(5));
        assert_eq!(max_version(many), Some(5));
        let only_presence = r#"{"type":"updates","updates":[],"presence":[{"type":"presence","event":"join"}]}"#;
        assert!(update_chunks(only_presence).is_empty());
        assert!(update_chunks(r#"{"type":"presence","event":"join"}"#).is_empty());
    }
}
