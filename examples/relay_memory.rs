//! Measures the heap a relay needs to take its first welcome of a large state (P16 parts),
//! against the way it used to do it, in the same run: `cargo run --release --example
//! relay_memory [MiB]`. Prints the peak heap above the starting point, as a multiple of the
//! state's size. Results go in docs/scale.md ("Memory").

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;
use session_sync::core::limits::Limits;
use session_sync::core::relay::{Mirror, Relay, UpstreamFrame};
use session_sync::core::room::{Room, RoomConfig};

/// The system allocator, counting the bytes in use and the most ever in use.
struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = IN_USE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns what it returned with the peak heap above the start, in bytes.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let start = IN_USE.load(Ordering::Relaxed);
    PEAK.store(start, Ordering::Relaxed);
    let out = f();
    (out, PEAK.load(Ordering::Relaxed) - start)
}

const PART_BYTES: usize = 1 << 20;

/// The welcome's text cut into P16 part frames, made one at a time as they would arrive.
fn part_frames(welcome: &str) -> impl Iterator<Item = String> + '_ {
    let n = welcome.len().div_ceil(PART_BYTES);
    (0..n).map(move |seq| {
        let data = &welcome[seq * PART_BYTES..((seq + 1) * PART_BYTES).min(welcome.len())];
        json!({"type": "part", "seq": seq, "last": seq + 1 == n, "data": data}).to_string()
    })
}

fn main() {
    let mib: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(16);
    let limits = Limits { max_state_bytes: 80 << 20, ..Limits::default() };
    let items: Vec<_> = (0..mib * 1024).map(|i| json!({"i": i, "text": "x".repeat(1000)})).collect();
    let state = json!({ "items": items }).to_string();
    drop(items);
    let welcome = json!({"type": "welcome", "version": 7, "updatedAt": 1, "resume": "snapshot",
        "state": serde_json::value::RawValue::from_string(state.clone()).expect("json"), "presence": []})
    .to_string();
    let size = state.len() as f64;
    drop(state);

    // The tree alone: what any holder of the state keeps.
    let (tree, kept) = peak_of(|| {
        let frame = UpstreamFrame::parse(&welcome).expect("welcome");
        let UpstreamFrame::Welcome(w) = frame else { panic!("not a welcome") };
        let text = w.state.expect("state");
        Mirror::from_snapshot(text.get(), 7, 1, Vec::new(), &limits).expect("tree")
    });
    let retained = IN_USE.load(Ordering::Relaxed);
    drop(tree);
    let tree_bytes = retained - IN_USE.load(Ordering::Relaxed);

    // As before: every part kept, joined, the state copied out of the joined frame, then parsed.
    let ((), before) = peak_of(|| {
        let parts: Vec<String> = part_frames(&welcome)
            .map(|p| match UpstreamFrame::parse(&p) {
                Ok(UpstreamFrame::Part { data, .. }) => data,
                _ => panic!("not a part"),
            })
            .collect();
        let whole = parts.concat();
        drop(parts);
        let Ok(UpstreamFrame::Welcome(w)) = UpstreamFrame::parse(&whole) else { panic!("not a welcome") };
        let mirror = Mirror::from_snapshot(w.state.expect("state").get(), 7, 1, Vec::new(), &limits);
        drop(mirror);
    });

    // Now: the relay itself, fed the parts one at a time.
    let ((), now) = peak_of(|| {
        let mut relay = Relay::new(limits.clone());
        let mut room = Room::new(RoomConfig::relay(limits.clone()));
        for part in part_frames(&welcome) {
            let _ = relay.on_upstream(&mut room, &part, 0);
        }
        assert_eq!(relay.since(), Some(7), "the relay has its copy");
    });

    let x = |b: usize| b as f64 / size;
    println!("state: {:.1} MiB as JSON; its tree: {:.2} x", size / (1 << 20) as f64, x(tree_bytes));
    println!("peak heap while parsing the state alone: {:.2} x", x(kept));
    println!("peak heap for a welcome in parts, as before: {:.2} x", x(before));
    println!(
        "peak heap for a welcome in parts, now:       {:.2} x ({:.2} of before)",
        x(now),
        now as f64 / before as f64
    );
}
