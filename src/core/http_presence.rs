//! Presence of clients without a WebSocket: an SSE stream or a long-poll loop says who it is
//! with `POST .../presence`. An entry tied to an SSE stream leaves when the stream closes; any
//! other entry leaves when it has not been renewed within its time to live.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::bounded::Bounds;
use super::error::ApiError;
use super::http::{parse_json, require_json};
use super::limits::Limits;
use super::protocol::{PresenceEntry, PresenceEvent};

/// The body of `POST .../presence`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PresenceBody {
    /// The presence value.
    pub data: Value,
    /// The id this client already has: its SSE stream's `clientId`, or the id a previous
    /// call returned. Absent on the first call of a long-poll client.
    #[serde(default)]
    pub client_id: Option<String>,
}

/// Parses and checks a presence body: JSON, the value within the size and depth limits, the
/// id at most 64 characters of `[A-Za-z0-9_-]`.
pub fn presence_body(content_type: Option<&str>, body: &[u8], limits: &Limits) -> Result<PresenceBody, ApiError> {
    require_json(content_type)?;
    let value = parse_json(body)?;
    // serde would read `[data, clientId]` as the struct too; the body is an object (the spec says so).
    if !value.is_object() {
        return Err(ApiError::InvalidRequest("presence body must be a json object {data, clientId?}".into()));
    }
    let parsed: PresenceBody =
        serde_json::from_value(value).map_err(|e| ApiError::InvalidRequest(format!("presence body: {e}")))?;
    if parsed.data.to_string().len() > limits.max_presence_bytes {
        return Err(ApiError::PresenceTooLarge { limit: limits.max_presence_bytes });
    }
    Bounds::of(limits).check_depth(&parsed.data)?;
    if let Some(id) = &parsed.client_id {
        let valid =
            !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            return Err(ApiError::InvalidRequest("clientId must be 1 to 64 of A-Z a-z 0-9 _ -".into()));
        }
    }
    Ok(parsed)
}

#[derive(Debug, Clone, PartialEq)]
struct Entry {
    data: Value,
    /// When it leaves unless renewed; `None` while its SSE stream is open.
    expires_at: Option<i64>,
}

/// The HTTP clients present in one session, in memory.
#[derive(Debug, Default)]
pub struct HttpPresence {
    entries: BTreeMap<String, Entry>,
}

impl HttpPresence {
    /// Sets `client_id`'s value, until `expires_at` (or while its stream is open when `None`);
    /// says whether it joined or updated.
    pub fn set(&mut self, client_id: &str, data: Value, expires_at: Option<i64>) -> PresenceEvent {
        let joined = self.entries.insert(client_id.to_owned(), Entry { data, expires_at }).is_none();
        if joined {
            PresenceEvent::Join
        } else {
            PresenceEvent::Update
        }
    }

    /// Whether `client_id` is present.
    pub fn contains(&self, client_id: &str) -> bool {
        self.entries.contains_key(client_id)
    }

    /// Removes the entries that expired at `now`, and the stream-bound ones whose stream is no
    /// longer open; returns their ids (each one is a `leave`).
    pub fn sweep(&mut self, now: i64, stream_open: impl Fn(&str) -> bool) -> Vec<String> {
        let gone: Vec<String> = self
            .entries
            .iter()
            .filter(|(id, e)| match e.expires_at {
                Some(at) => now >= at,
                None => !stream_open(id),
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in &gone {
            self.entries.remove(id);
        }
        gone
    }

    /// Every present HTTP client, for `welcome` presence lists.
    pub fn list(&self) -> Vec<PresenceEntry> {
        self.entries.iter().map(|(id, e)| PresenceEntry { client_id: id.clone(), data: e.data.clone() }).collect()
    }

    /// How many HTTP clients are present.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no HTTP client is present.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn join_update_then_leave_by_ttl() {
        let mut p = HttpPresence::default();
        assert_eq!(p.set("h_1", json!({"name": "ann"}), Some(1_000)), PresenceEvent::Join);
        assert_eq!(p.set("h_1", json!({"name": "ann", "typing": true}), Some(2_000)), PresenceEvent::Update);
        assert!(p.sweep(1_999, |_| true).is_empty(), "renewed: still here");
        assert_eq!(p.sweep(2_000, |_| true), vec!["h_1".to_owned()]);
        assert!(p.is_empty());
    }

    #[test]
    fn stream_bound_entries_leave_with_their_stream() {
        let mut p = HttpPresence::default();
        p.set("s_a", json!(1), None);
        p.set("s_b", json!(2), None);
        assert_eq!(p.sweep(i64::MAX, |id| id == "s_a"), vec!["s_b".to_owned()], "no TTL for an open stream");
        assert_eq!(p.list(), vec![PresenceEntry { client_id: "s_a".into(), data: json!(1) }]);
    }

    #[test]
    fn bodies_are_checked() {
        let limits = Limits { max_presence_bytes: 20, ..Limits::default() };
        let ok = presence_body(Some("application/json"), br#"{"data":{"n":"a"},"clientId":"s_x1"}"#, &limits).unwrap();
        assert_eq!(ok.client_id.as_deref(), Some("s_x1"));
        let big = presence_body(Some("application/json"), br#"{"data":"0123456789012345678901"}"#, &limits);
        assert_eq!(big.unwrap_err().code(), "presence_too_large");
        let bad_id = presence_body(Some("application/json"), br#"{"data":1,"clientId":"a b"}"#, &limits);
        assert_eq!(bad_id.unwrap_err().code(), "invalid_request");
        let unknown = presence_body(Some("application/json"), br#"{"data":1,"who":2}"#, &limits);
        assert_eq!(unknown.unwrap_err().code(), "invalid_request");
        let array = presence_body(Some("application/json"), br#"[null, null]"#, &limits);
        assert_eq!(array.unwrap_err().code(), "invalid_request", "not read as a tuple");
        let missing = presence_body(Some("application/json"), br#"{"clientId":"x"}"#, &limits);
        assert_eq!(missing.unwrap_err().code(), "invalid_request");
        assert_eq!(presence_body(Some("text/plain"), b"{}", &limits).unwrap_err().code(), "unsupported_media_type");
    }
}
