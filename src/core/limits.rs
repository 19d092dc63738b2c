//! Configurable limits, read from the worker's `[vars]` with safe defaults and hard ceilings.

use serde::Serialize;

/// Every limit the service enforces.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    /// Largest serialized state, in bytes (at most `STATE_CEILING`, 64 MiB).
    pub max_state_bytes: usize,
    /// Largest HTTP request body, in bytes.
    pub max_body_bytes: usize,
    /// Idle time to live of a session when the creator gives none, in seconds.
    pub default_ttl_seconds: u64,
    /// Largest idle time to live a creator may ask for, in seconds.
    pub max_ttl_seconds: u64,
    /// Most WebSocket clients one session accepts.
    pub max_clients: usize,
    /// Largest WebSocket frame, in bytes.
    pub max_message_bytes: usize,
    /// Most frames one connection may send per second.
    pub max_messages_per_second: u32,
    /// Largest presence value, in bytes.
    pub max_presence_bytes: usize,
    /// Most ops kept in the op log for resume.
    pub oplog_max_ops: u64,
    /// Most bytes of frames kept in the op log for resume.
    pub oplog_max_bytes: u64,
    /// Longest long-poll wait, in seconds.
    pub max_long_poll_seconds: u64,
    /// The coalescing tick in ms (P15); 0 switches coalescing off.
    pub batch_tick_ms: u64,
    /// Whether updates are coalesced for every connection, not only those opened with
    /// `batch=1` (presence and broadcasts always are).
    pub coalesce_updates: bool,
    /// Deepest nesting of arrays and objects in a stored state or a presence value.
    pub max_state_depth: usize,
    /// Most operations in one JSON Patch.
    pub max_patch_ops: usize,
    /// Most parked long-polls one session holds at once.
    pub max_long_polls: usize,
    /// Most open SSE streams one session holds at once.
    pub max_sse_streams: usize,
    /// Most bytes of broadcast and message payloads one client address may send to a
    /// session per second (over every connection and HTTP together).
    pub max_relay_bytes_per_second: usize,
    /// Most bytes of recent ops `/info` lists.
    pub info_ops_bytes: usize,
    /// Seconds an HTTP client's presence lasts unless renewed (long-poll clients renew it).
    pub http_presence_ttl_seconds: u64,
    /// A checkpoint is taken once this many versions passed since the last one.
    pub checkpoint_every_versions: u64,
    /// A checkpoint is taken once this many bytes of updates passed since the last one.
    pub checkpoint_every_bytes: u64,
    /// Most checkpoints a session keeps (the oldest are dropped).
    pub history_max_checkpoints: usize,
    /// Most bytes of checkpointed states a session keeps (the oldest are dropped).
    pub history_max_bytes: u64,
    /// Read-key viewers the session object serves itself; beyond, new viewers are placed in
    /// relay objects (docs/scale.md).
    pub relay_threshold: usize,
    /// Viewers per relay the placement aims at: relays are added as the audience grows.
    pub relay_viewers: usize,
    /// The least number of relays viewers are spread over once relaying starts.
    pub relay_min: usize,
    /// Most read-key viewers of one session, direct and behind relays together.
    pub max_viewers: usize,
    /// Shortest time between two `audience` counts sent to clients (and relay reports), in ms.
    pub audience_interval_ms: u64,
}

/// The largest state a session may be configured to hold: 64 MiB. The state is stored as a
/// snapshot in chunk rows plus an op log (docs/storage.md), never as one value, and held in
/// memory as a tree close to its JSON size, so this keeps one session well inside the 128 MB
/// isolate.
pub const STATE_CEILING: usize = 67_108_864;
/// The JSON parser stops at 128 levels; frames wrap the state in up to four more (an `update`
/// frame's `ops[i].value`), and every reader (the SDK, `serde_json`) must read what is stored.
pub const DEPTH_CEILING: usize = 100;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_state_bytes: 16_777_216,
            max_body_bytes: 16_842_752,
            default_ttl_seconds: 86_400,
            max_ttl_seconds: 2_592_000,
            max_clients: 256,
            max_message_bytes: 262_144,
            max_messages_per_second: 100,
            max_presence_bytes: 2048,
            oplog_max_ops: 1000,
            oplog_max_bytes: 1_048_576,
            max_long_poll_seconds: 60,
            batch_tick_ms: 20,
            coalesce_updates: false,
            max_state_depth: 64,
            max_patch_ops: 1000,
            max_long_polls: 256,
            max_sse_streams: 256,
            max_relay_bytes_per_second: 4_194_304,
            info_ops_bytes: 65_536,
            http_presence_ttl_seconds: 30,
            checkpoint_every_versions: 50,
            checkpoint_every_bytes: 65_536,
            history_max_checkpoints: 100,
            history_max_bytes: 8_388_608,
            relay_threshold: 64,
            relay_viewers: 200,
            relay_min: 4,
            max_viewers: 100_000,
            audience_interval_ms: 1000,
        }
    }
}

impl Limits {
    /// Builds limits from a `[vars]` lookup; missing or unparsable values keep their default.
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let d = Limits::default();
        let num = |name: &str, default: u64| -> u64 {
            lookup(name).and_then(|v| v.trim().parse::<u64>().ok()).filter(|v| *v > 0).unwrap_or(default)
        };
        let max_state_bytes = (num("MAX_STATE_BYTES", d.max_state_bytes as u64) as usize).min(STATE_CEILING);
        Limits {
            max_state_bytes,
            max_body_bytes: num("MAX_BODY_BYTES", d.max_body_bytes as u64) as usize,
            default_ttl_seconds: num("DEFAULT_TTL_SECONDS", d.default_ttl_seconds),
            max_ttl_seconds: num("MAX_TTL_SECONDS", d.max_ttl_seconds),
            max_clients: num("MAX_CLIENTS", d.max_clients as u64) as usize,
            max_message_bytes: num("MAX_MESSAGE_BYTES", d.max_message_bytes as u64) as usize,
            max_messages_per_second: num("MAX_MESSAGES_PER_SECOND", u64::from(d.max_messages_per_second))
                .min(u64::from(u32::MAX)) as u32,
            max_presence_bytes: num("MAX_PRESENCE_BYTES", d.max_presence_bytes as u64) as usize,
            oplog_max_ops: num("OPLOG_MAX_OPS", d.oplog_max_ops),
            oplog_max_bytes: num("OPLOG_MAX_BYTES", d.oplog_max_bytes),
            max_long_poll_seconds: num("MAX_LONG_POLL_SECONDS", d.max_long_poll_seconds),
            coalesce_updates: lookup("COALESCE_UPDATES").is_some_and(|v| matches!(v.trim(), "1" | "true")),
            // 0 is allowed here: it switches coalescing off (every frame at once; for benchmarks).
            batch_tick_ms: lookup("BATCH_TICK_MS")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(d.batch_tick_ms)
                .min(1000),
            max_state_depth: (num("MAX_STATE_DEPTH", d.max_state_depth as u64) as usize).min(DEPTH_CEILING),
            max_patch_ops: num("MAX_PATCH_OPS", d.max_patch_ops as u64) as usize,
            max_long_polls: num("MAX_LONG_POLLS", d.max_long_polls as u64) as usize,
            max_sse_streams: num("MAX_SSE_STREAMS", d.max_sse_streams as u64) as usize,
            max_relay_bytes_per_second: num("MAX_RELAY_BYTES_PER_SECOND", d.max_relay_bytes_per_second as u64) as usize,
            info_ops_bytes: num("INFO_OPS_BYTES", d.info_ops_bytes as u64) as usize,
            http_presence_ttl_seconds: num("HTTP_PRESENCE_TTL_SECONDS", d.http_presence_ttl_seconds),
            checkpoint_every_versions: num("CHECKPOINT_EVERY_VERSIONS", d.checkpoint_every_versions),
            checkpoint_every_bytes: num("CHECKPOINT_EVERY_BYTES", d.checkpoint_every_bytes),
            history_max_checkpoints: num("HISTORY_MAX_CHECKPOINTS", d.history_max_checkpoints as u64) as usize,
            history_max_bytes: num("HISTORY_MAX_BYTES", d.history_max_bytes),
            // 0 is allowed here: every read-key viewer goes to a relay.
            relay_threshold: lookup("RELAY_THRESHOLD")
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(d.relay_threshold),
            relay_viewers: num("RELAY_VIEWERS", d.relay_viewers as u64) as usize,
            relay_min: num("RELAY_MIN", d.relay_min as u64) as usize,
            max_viewers: num("MAX_VIEWERS", d.max_viewers as u64) as usize,
            audience_interval_ms: num("AUDIENCE_INTERVAL_MS", d.audience_interval_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vars_override_defaults_and_bad_values_are_ignored() {
        let l = Limits::from_vars(|k| match k {
            "MAX_STATE_BYTES" => Some("1000".into()),
            "MAX_CLIENTS" => Some("nope".into()),
            "OPLOG_MAX_OPS" => Some("0".into()),
            _ => None,
        });
        assert_eq!(l.max_state_bytes, 1000);
        assert_eq!(l.max_clients, 256);
        assert_eq!(l.oplog_max_ops, 1000);
    }

    #[test]
    fn state_limit_stays_below_sqlite_value_limit() {
        let l = Limits::from_vars(|k| (k == "MAX_STATE_BYTES").then(|| "99999999".into()));
        assert_eq!(l.max_state_bytes, STATE_CEILING);
    }

    #[test]
    fn depth_limit_stays_below_what_parsers_read() {
        let l = Limits::from_vars(|k| (k == "MAX_STATE_DEPTH").then(|| "5000".into()));
        assert_eq!(l.max_state_depth, DEPTH_CEILING);
    }
}
