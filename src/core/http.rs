//! HTTP request parsing that needs no runtime: body limits, content types, the create body,
//! `If-Match` / `If-None-Match`, and long-poll and resume query parameters.

use serde::Deserialize;
use std::rc::Rc;

use serde_json::value::RawValue;
use serde_json::Value;

use super::doc::{parse_document, parse_document_slice, Node};

use super::document::Change;
use super::error::ApiError;
use super::limits::Limits;

/// The media type of a JSON Merge Patch (RFC 7396).
pub const MERGE_PATCH: &str = "application/merge-patch+json";
/// The media type of a JSON Patch (RFC 6902).
pub const JSON_PATCH: &str = "application/json-patch+json";

/// The bare media type of a `Content-Type` header: lowercase, without parameters.
pub fn media_type(content_type: Option<&str>) -> Option<String> {
    content_type.map(|ct| ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase()).filter(|t| !t.is_empty())
}

/// Rejects a body over the limit.
pub fn check_body_size(len: usize, limits: &Limits) -> Result<(), ApiError> {
    if len > limits.max_body_bytes {
        Err(ApiError::BodyTooLarge { limit: limits.max_body_bytes })
    } else {
        Ok(())
    }
}

/// Parses JSON, reporting syntax errors as `invalid_json`.
pub fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::InvalidJson(e.to_string()))
}

/// Checks that the content type, if any, is `application/json`.
pub fn require_json(content_type: Option<&str>) -> Result<(), ApiError> {
    match media_type(content_type).as_deref() {
        None | Some("application/json") => Ok(()),
        Some(other) => Err(ApiError::UnsupportedMediaType(format!("{other} (expected application/json)"))),
    }
}

/// The change a PUT body asks for: the whole new state, as `application/json`.
pub fn put_change(content_type: Option<&str>, body: &[u8], limits: &Limits) -> Result<Change, ApiError> {
    check_body_size(body.len(), limits)?;
    require_json(content_type)?;
    // Straight into the document tree: a large state never exists as a `Value`.
    let node = parse_document_slice(body).map_err(|e| ApiError::InvalidJson(e.to_string()))?;
    Ok(Change::Set(Rc::new(node)))
}

/// The change a PATCH body asks for, chosen by its content type.
pub fn patch_change(content_type: Option<&str>, body: &[u8], limits: &Limits) -> Result<Change, ApiError> {
    check_body_size(body.len(), limits)?;
    match media_type(content_type).as_deref() {
        Some(MERGE_PATCH) => Ok(Change::Merge(parse_json(body)?)),
        Some(JSON_PATCH) => match Change::json_patch(parse_json(body)?)? {
            // Refused before anything else, so a repeated Idempotency-Key cannot make it a 200.
            Change::Ops { patch, .. } if patch.len() > limits.max_patch_ops => {
                Err(ApiError::TooManyOps { count: patch.len(), limit: limits.max_patch_ops })
            }
            change => Ok(change),
        },
        other => Err(ApiError::UnsupportedMediaType(format!(
            "{} (expected {MERGE_PATCH} or {JSON_PATCH})",
            other.unwrap_or("no content type")
        ))),
    }
}

/// The members of a JSON object, in order, as raw text.
struct RawFields<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for RawFields<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = RawFields<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a json object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<RawFields<'de>, A::Error> {
                let mut fields = Vec::new();
                while let Some(entry) = map.next_entry::<String, &'de RawValue>()? {
                    fields.push(entry);
                }
                Ok(RawFields(fields))
            }
        }
        d.deserialize_map(Fields)
    }
}

/// A validated create request.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateRequest {
    /// The initial state.
    pub state: Rc<Node>,
    /// The idle time to live in seconds.
    pub ttl_seconds: u64,
    /// Whether writes must carry a version precondition.
    pub strict: bool,
}

/// Parses and checks a create body (empty means all defaults).
pub fn create_request(content_type: Option<&str>, body: &[u8], limits: &Limits) -> Result<CreateRequest, ApiError> {
    check_body_size(body.len(), limits)?;
    let (mut state, mut ttl, mut strict) = (None, None, None);
    if !body.iter().all(u8::is_ascii_whitespace) {
        require_json(content_type)?;
        // Fields as raw text, so a large state goes straight into the document tree.
        let raw: &RawValue = serde_json::from_slice(body).map_err(|e| ApiError::InvalidJson(e.to_string()))?;
        if !raw.get().starts_with('{') {
            return Err(ApiError::InvalidRequest("create body must be a json object".into()));
        }
        let fields: Vec<(String, &RawValue)> =
            serde_json::from_str::<RawFields>(raw.get()).map_err(|e| ApiError::InvalidJson(e.to_string()))?.0;
        for (name, raw_value) in fields {
            if name == "state" {
                // `null` is a state like any other; only an absent field means the default `{}`.
                let node = parse_document(raw_value.get()).map_err(|e| ApiError::InvalidJson(e.to_string()))?;
                state = Some(node);
                continue;
            }
            let value: Value =
                serde_json::from_str(raw_value.get()).map_err(|e| ApiError::InvalidJson(e.to_string()))?;
            let bad = |what: &str| ApiError::InvalidRequest(format!("create body: {name} must be {what}, got {value}"));
            match name.as_str() {
                "ttl" => ttl = Some(json_whole_number(&value).ok_or_else(|| bad("a whole number of seconds"))?),
                "strict" => strict = Some(value.as_bool().ok_or_else(|| bad("true or false"))?),
                _ => {
                    return Err(ApiError::InvalidRequest(format!(
                        "create body: unknown field {name:?}, expected state, ttl or strict"
                    )))
                }
            }
        }
    }
    let ttl_seconds = ttl.unwrap_or(limits.default_ttl_seconds.min(limits.max_ttl_seconds));
    if ttl_seconds == 0 || ttl_seconds > limits.max_ttl_seconds {
        return Err(ApiError::InvalidRequest(format!("ttl must be 1 to {} seconds", limits.max_ttl_seconds)));
    }
    let state = match state {
        Some(node) => node,
        None => Node::from_value(&Value::Object(Default::default()))?,
    };
    let depth = state.depth();
    if depth > limits.max_state_depth {
        return Err(ApiError::StateTooDeep { depth, limit: limits.max_state_depth });
    }
    if state.bytes() > limits.max_state_bytes {
        return Err(ApiError::StateTooLarge { size: state.bytes(), limit: limits.max_state_bytes });
    }
    Ok(CreateRequest { state: Rc::new(state), ttl_seconds, strict: strict.unwrap_or(false) })
}

/// A JSON number that is a whole number, as JSON Schema's `integer` counts them (`190.0` and
/// `1.9e2` are 190); `None` for fractions, negatives and non-numbers. Saturates at `u64::MAX`.
pub fn json_whole_number(value: &Value) -> Option<u64> {
    if let Some(n) = value.as_u64() {
        return Some(n);
    }
    let f = value.as_f64()?;
    // `as` saturates: anything at or above 2^64 becomes u64::MAX.
    (f >= 0.0 && f.fract() == 0.0).then_some(f as u64)
}

/// The `key=value` pairs of a query string (`key` alone reads as `key=`).
pub fn query_pairs(query: Option<&str>) -> impl Iterator<Item = (&str, &str)> {
    query.unwrap_or("").split('&').filter(|p| !p.is_empty()).map(|p| p.split_once('=').unwrap_or((p, "")))
}

/// Query parameter `key`'s value as a whole number, or `invalid_request` naming it.
pub fn whole_param(key: &str, value: &str) -> Result<u64, ApiError> {
    whole_number(value).ok_or_else(|| ApiError::InvalidRequest(format!("{key} must be a whole number, got {value:?}")))
}

/// A whole number in a header or query string: ASCII digits only, any length; beyond
/// `u64::MAX` it saturates (a version that large is one no session reaches).
pub fn whole_number(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.parse::<u64>().unwrap_or(u64::MAX))
}

/// The body of `POST .../messages`: an ephemeral message and an optional recipient.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageBody {
    /// The message.
    pub data: Value,
    /// One recipient's client id; all others when absent.
    #[serde(default)]
    pub to: Option<String>,
    /// Only the newest waiting value of this sender matters (P17).
    #[serde(default)]
    pub volatile: bool,
}

/// Parses and checks a message body.
pub fn message_body(content_type: Option<&str>, body: &[u8], limits: &Limits) -> Result<MessageBody, ApiError> {
    check_body_size(body.len(), limits)?;
    require_json(content_type)?;
    if body.len() > limits.max_message_bytes {
        return Err(ApiError::MessageTooLarge { limit: limits.max_message_bytes });
    }
    let value = parse_json(body)?;
    if !value.is_object() {
        return Err(ApiError::InvalidRequest("message body must be a json object {data, to?}".into()));
    }
    if let Some(to) = value.get("to").filter(|to| !to.is_string()) {
        return Err(ApiError::InvalidRequest(format!("message body: to must be a client id string, got {to}")));
    }
    serde_json::from_value(value).map_err(|e| ApiError::InvalidRequest(format!("message body: {e}")))
}

/// Parses one entity tag: `"5"`, `W/"5"` or `5` into the version 5.
fn parse_etag(tag: &str) -> Option<u64> {
    let tag = tag.trim();
    let tag = tag.strip_prefix("W/").unwrap_or(tag);
    let tag = tag.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(tag);
    whole_number(tag)
}

/// What an `If-Match` header asks of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfMatch {
    /// `*`: any current representation (RFC 9110 section 13.1.1), so no version check; it is still
    /// a precondition, which a strict session requires.
    Any,
    /// Exactly this version.
    Version(u64),
}

impl IfMatch {
    /// The base version the write is checked against, given the session's current one.
    pub fn base_version(self, current: u64) -> u64 {
        match self {
            IfMatch::Any => current,
            IfMatch::Version(v) => v,
        }
    }
}

/// What an `If-Match` header requires, if any; a malformed one is `invalid_request`.
pub fn if_match(header: Option<&str>) -> Result<Option<IfMatch>, ApiError> {
    match header {
        None => Ok(None),
        Some(h) if h.trim().is_empty() => Ok(None),
        Some(h) if h.trim() == "*" => Ok(Some(IfMatch::Any)),
        Some(h) => parse_etag(h)
            .map(|v| Some(IfMatch::Version(v)))
            .ok_or_else(|| ApiError::InvalidRequest(format!("If-Match must be a version like \"5\", got {h:?}"))),
    }
}

/// Whether an `If-None-Match` header matches the current version (so the answer is 304).
pub fn if_none_match_hits(header: Option<&str>, version: u64) -> bool {
    match header {
        None => false,
        Some(h) if h.trim() == "*" => true,
        Some(h) => h.split(',').filter_map(parse_etag).any(|v| v == version),
    }
}

/// Query parameters of a GET: long-poll (`after`, `wait`) and resume (`since`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReadQuery {
    /// Long-poll: answer once the version exceeds this.
    pub after: Option<u64>,
    /// Long-poll: longest wait in seconds (clamped to the limit).
    pub wait_seconds: Option<u64>,
    /// Resume point for WebSocket and SSE.
    pub since: Option<u64>,
    /// WebSocket: receive updates in `updates` batches at the session's batch tick.
    pub batch: bool,
}

/// Parses an SSE `Last-Event-ID` header: the version the client has applied.
pub fn last_event_id(header: Option<&str>) -> Result<Option<u64>, ApiError> {
    header
        .map(|id| {
            whole_number(id.trim())
                .ok_or_else(|| ApiError::InvalidRequest(format!("Last-Event-ID must be a version, got {id:?}")))
        })
        .transpose()
}

/// Parses `after`, `wait`, `since` and `batch` from a query string; unknown parameters are ignored.
pub fn read_query(query: Option<&str>, limits: &Limits) -> Result<ReadQuery, ApiError> {
    let mut q = ReadQuery::default();
    for (k, v) in query_pairs(query) {
        let num = || whole_param(k, v);
        match k {
            "after" => q.after = Some(num()?),
            "wait" => q.wait_seconds = Some(num()?.min(limits.max_long_poll_seconds)),
            "since" => q.since = Some(num()?),
            "batch" => {
                q.batch = match v {
                    "1" | "true" => true,
                    "0" | "false" => false,
                    _ => return Err(ApiError::InvalidRequest(format!("batch must be 1 or 0, got {v:?}"))),
                }
            }
            _ => {}
        }
    }
    Ok(q)
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
