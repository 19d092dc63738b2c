//! What the router and the session object agree on: the operations the router forwards, the
//! internal headers that carry the session id and the presented secret, and reading the
//! limits from `[vars]`. Both depend on this module, not on each other.

use worker::Env;

use crate::core::limits::Limits;

/// Internal header carrying the session id from the router.
pub const HEADER_SESSION_ID: &str = "X-Session-Id";
/// Internal header carrying the presented secret from the router.
pub const HEADER_SECRET: &str = "X-Session-Secret";
/// Internal header naming a relay (P18): on the session object's answer to a viewer, the relay
/// to go to; on a request, the relay it is for (from the router) or from (its upstream).
pub const HEADER_RELAY: &str = "X-Relay-Index";

/// Whether a client-sent header name is one of the internal ones, which the router drops.
pub fn is_internal_header(name: &str) -> bool {
    [HEADER_SESSION_ID, HEADER_SECRET, HEADER_RELAY].iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// The status of the session object's answer "this viewer goes to a relay" (with `HEADER_RELAY`).
pub const STATUS_TO_RELAY: u16 = 307;

/// Reads the limits from the worker's `[vars]`.
pub fn limits_from_env(env: &Env) -> Limits {
    Limits::from_vars(|name| env.var(name).ok().map(|v| v.to_string()))
}

/// The operation the router asks the object to perform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Create the session.
    Create,
    /// GET, PUT, PATCH or DELETE the state.
    State,
    /// Rotate the write and read keys.
    Rotate,
    /// Open a WebSocket.
    Ws,
    /// Open an SSE stream.
    Events,
    /// Send an ephemeral message.
    Messages,
    /// Describe the session for the inspector.
    Info,
    /// Set the presence of an SSE or long-poll client.
    Presence,
    /// List the checkpoints of the version history.
    Versions,
    /// Take a checkpoint on demand.
    Checkpoints,
    /// Make a checkpoint's state the current one.
    Restore,
}

/// Every operation, for parsing.
const OPS: [Op; 11] = [
    Op::Create,
    Op::State,
    Op::Rotate,
    Op::Ws,
    Op::Events,
    Op::Messages,
    Op::Info,
    Op::Presence,
    Op::Versions,
    Op::Checkpoints,
    Op::Restore,
];

impl Op {
    /// The internal path segment.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::State => "state",
            Op::Rotate => "rotate",
            Op::Ws => "ws",
            Op::Events => "events",
            Op::Messages => "messages",
            Op::Info => "info",
            Op::Presence => "presence",
            Op::Versions => "versions",
            Op::Checkpoints => "checkpoints",
            Op::Restore => "restore",
        }
    }

    /// The operation an internal path names.
    pub fn from_path(path: &str) -> Option<Op> {
        OPS.into_iter().find(|op| path.trim_start_matches('/') == op.as_str())
    }
}
