//! The router's short memory of a session's relays (P18), so that a crowd joining a large
//! audience does not make one request to the session object per viewer. When the session
//! object sends a read-key viewer to a relay it also says how many relays it uses and how many
//! viewers the router may place itself; for `TTL_MS` this isolate then sends viewers that
//! present the same (read) secret straight to those relays, in turn. The relay checks the key
//! with the session when it connects, and the session object stays the only one that lets a
//! viewer in past `RELAY_THRESHOLD` and near `MAX_VIEWERS` (it grants nothing there).

use std::cell::RefCell;
use std::collections::HashMap;

use crate::core::keys::constant_time_eq;

/// How long a grant lasts, in ms.
const TTL_MS: f64 = 2000.0;
/// Most sessions remembered at once; beyond, the memory starts over.
const MAX_SESSIONS: usize = 10_000;

/// What the session object granted for one session.
struct Grant {
    secret: String,
    relays: u32,
    next: u32,
    left: u32,
    until: f64,
}

thread_local! {
    static GRANTS: RefCell<HashMap<String, Grant>> = RefCell::new(HashMap::new());
}

/// Remembers that `secret` of `session_id` is a read key whose viewers go to `relays` relays,
/// `budget` of them without asking again.
pub fn remember(session_id: &str, secret: &str, relays: u32, budget: u32, now: f64) {
    if relays == 0 || budget == 0 {
        return;
    }
    GRANTS.with(|g| {
        let mut g = g.borrow_mut();
        if g.len() >= MAX_SESSIONS {
            g.clear();
        }
        let grant = Grant { secret: secret.to_owned(), relays, next: 0, left: budget, until: now + TTL_MS };
        g.insert(session_id.to_owned(), grant);
    });
}

/// The relay for a viewer presenting `secret`, when a live grant covers it.
pub fn place(session_id: &str, secret: &str, now: f64) -> Option<u32> {
    GRANTS.with(|g| {
        let mut g = g.borrow_mut();
        let grant = g.get_mut(session_id)?;
        if now > grant.until || grant.left == 0 || !constant_time_eq(grant.secret.as_bytes(), secret.as_bytes()) {
            return None;
        }
        grant.left -= 1;
        grant.next = grant.next.wrapping_add(1);
        Some(grant.next % grant.relays)
    })
}
