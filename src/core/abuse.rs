//! Abuse limits keyed by client address: which per-address limit a request counts against
//! (enforced at the edge by Workers' Rate Limiting bindings), and the per-address byte budget
//! for ephemeral messages that a session enforces itself, so that reconnecting resets nothing.

use std::collections::HashMap;

/// The per-address request limits, one Rate Limiting binding each (wrangler.toml `[[ratelimits]]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestLimit {
    /// `POST /sessions`.
    Create,
    /// HTTP writes (`PUT`, `PATCH`, `POST .../restore`, `POST .../checkpoints`) and `POST .../messages`.
    Write,
    /// Opening a listener: WebSocket, SSE stream or long-poll.
    Listen,
}

impl RequestLimit {
    /// The binding's name in wrangler.toml.
    pub fn binding(self) -> &'static str {
        match self {
            RequestLimit::Create => "CREATE_LIMITER",
            RequestLimit::Write => "WRITE_LIMITER",
            RequestLimit::Listen => "LISTEN_LIMITER",
        }
    }

    /// The binding's period in seconds (wrangler.toml `simple.period`): the `Retry-After`.
    pub fn period_seconds(self) -> u64 {
        match self {
            RequestLimit::Create => 60,
            RequestLimit::Write | RequestLimit::Listen => 10,
        }
    }

    /// What is counted, for the error message.
    pub fn what(self) -> &'static str {
        match self {
            RequestLimit::Create => "new sessions",
            RequestLimit::Write => "writes and messages",
            RequestLimit::Listen => "connections",
        }
    }

    /// The limit a session request counts against: `method` on the route `op` (`state`,
    /// `ws`, `events`, `messages`, ...), `long_poll` when a GET carries `after`.
    pub fn of(method: &str, op: &str, long_poll: bool) -> Option<RequestLimit> {
        match (method, op) {
            ("POST", "create") => Some(RequestLimit::Create),
            ("PUT" | "PATCH", "state") | ("POST", "messages" | "presence" | "checkpoints" | "restore") => {
                Some(RequestLimit::Write)
            }
            ("GET", "ws" | "events") => Some(RequestLimit::Listen),
            ("GET", "state") if long_poll => Some(RequestLimit::Listen),
            _ => None,
        }
    }
}

/// Bytes of ephemeral messages delivered per client address in the current second. The cost
/// of a message is its frame size times its recipients, since that is what it makes the
/// session send.
#[derive(Debug, Default)]
pub struct RelayBudget {
    second: i64,
    spent: HashMap<String, usize>,
}

impl RelayBudget {
    /// Charges `bytes` to `address` at `now_ms`; false (and nothing charged) when that would
    /// exceed `per_second`. A single message larger than the budget is refused too.
    pub fn charge(&mut self, address: &str, bytes: usize, now_ms: i64, per_second: usize) -> bool {
        let second = now_ms.div_euclid(1000);
        if second != self.second {
            self.second = second;
            self.spent.clear();
        }
        let spent = self.spent.entry(address.to_owned()).or_default();
        if *spent + bytes > per_second {
            return false;
        }
        *spent += bytes;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_map_to_their_limits() {
        assert_eq!(RequestLimit::of("POST", "create", false), Some(RequestLimit::Create));
        assert_eq!(RequestLimit::of("PATCH", "state", false), Some(RequestLimit::Write));
        assert_eq!(RequestLimit::of("POST", "messages", false), Some(RequestLimit::Write));
        assert_eq!(RequestLimit::of("POST", "presence", false), Some(RequestLimit::Write));
        assert_eq!(RequestLimit::of("POST", "restore", false), Some(RequestLimit::Write));
        assert_eq!(RequestLimit::of("POST", "checkpoints", false), Some(RequestLimit::Write));
        assert_eq!(RequestLimit::of("GET", "events", false), Some(RequestLimit::Listen));
        assert_eq!(RequestLimit::of("GET", "state", true), Some(RequestLimit::Listen));
        assert_eq!(RequestLimit::of("GET", "state", false), None, "plain reads are cheap and cacheable");
        assert_eq!(RequestLimit::of("DELETE", "state", false), None);
    }

    #[test]
    fn relay_budget_is_per_address_per_second_and_survives_reconnects() {
        let mut b = RelayBudget::default();
        assert!(b.charge("1.2.3.4", 600, 10_000, 1000));
        assert!(!b.charge("1.2.3.4", 600, 10_500, 1000), "same address, same second: over");
        assert!(b.charge("5.6.7.8", 600, 10_500, 1000), "another address has its own budget");
        assert!(b.charge("1.2.3.4", 400, 10_999, 1000), "what fits still goes");
        assert!(b.charge("1.2.3.4", 1000, 11_000, 1000), "a new second starts afresh");
        assert!(!b.charge("1.2.3.4", 1001, 12_000, 1000), "larger than the whole budget");
    }
}
