//! HTTP request parsing that needs no runtime: body limits, content types, the create body,
//! `If-Match` / `If-None-Match`, and long-poll and resume query parameters.

use serde::Deserialize;
use serde_json::Value;

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

fn require_json(content_type: Option<&str>) -> Result<(), ApiError> {
    match media_type(content_type).as_deref() {
        None | Some("application/json") => Ok(()),
        Some(other) => Err(ApiError::UnsupportedMediaType(format!("{other} (expected application/json)"))),
    }
}

/// The change a PUT body asks for: the whole new state, as `application/json`.
pub fn put_change(content_type: Option<&str>, body: &[u8], limits: &Limits) -> Result<Change, ApiError> {
    check_body_size(body.len(), limits)?;
    require_json(content_type)?;
    Ok(Change::Set(parse_json(body)?))
}

/// The change a PATCH body asks for, chosen by its content type.
pub fn patch_change(content_type: Option<&str>, body: &[u8], limits: &Limits) -> Result<Change, ApiError> {
    check_body_size(body.len(), limits)?;
    match media_type(content_type).as_deref() {
        Some(MERGE_PATCH) => Ok(Change::Merge(parse_json(body)?)),
        Some(JSON_PATCH) => Change::json_patch(parse_json(body)?),
        other => Err(ApiError::UnsupportedMediaType(format!(
            "{} (expected {MERGE_PATCH} or {JSON_PATCH})",
            other.unwrap_or("no content type")
        ))),
    }
}

/// The optional body of `POST /api/v1/sessions`.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    /// The initial state (default `{}`).
    #[serde(default)]
    pub state: Option<Value>,
    /// The idle time to live in seconds.
    #[serde(default)]
    pub ttl: Option<u64>,
    /// Whether writes must carry a version precondition.
    #[serde(default)]
    pub strict: Option<bool>,
}

/// A validated create request.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateRequest {
    /// The initial state.
    pub state: Value,
    /// Its serialized form.
    pub state_json: String,
    /// The idle time to live in seconds.
    pub ttl_seconds: u64,
    /// Whether writes must carry a version precondition.
    pub strict: bool,
}

/// Parses and checks a create body (empty means all defaults).
pub fn create_request(content_type: Option<&str>, body: &[u8], limits: &Limits) -> Result<CreateRequest, ApiError> {
    check_body_size(body.len(), limits)?;
    let parsed = if body.iter().all(u8::is_ascii_whitespace) {
        CreateBody::default()
    } else {
        require_json(content_type)?;
        let value = parse_json(body)?;
        if !value.is_object() {
            return Err(ApiError::InvalidRequest("create body must be a json object".into()));
        }
        serde_json::from_value::<CreateBody>(value)
            .map_err(|e| ApiError::InvalidRequest(format!("create body: {e}")))?
    };
    let ttl_seconds = parsed.ttl.unwrap_or(limits.default_ttl_seconds.min(limits.max_ttl_seconds));
    if ttl_seconds == 0 || ttl_seconds > limits.max_ttl_seconds {
        return Err(ApiError::InvalidRequest(format!("ttl must be 1 to {} seconds", limits.max_ttl_seconds)));
    }
    let state = parsed.state.unwrap_or_else(|| Value::Object(Default::default()));
    super::bounded::Bounds::of(limits).check_depth(&state)?;
    let state_json = state.to_string();
    if state_json.len() > limits.max_state_bytes {
        return Err(ApiError::StateTooLarge { size: state_json.len(), limit: limits.max_state_bytes });
    }
    Ok(CreateRequest { state, state_json, ttl_seconds, strict: parsed.strict.unwrap_or(false) })
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
    serde_json::from_value(value).map_err(|e| ApiError::InvalidRequest(format!("message body: {e}")))
}

/// Parses one entity tag: `"5"`, `W/"5"` or `5` into the version 5.
fn parse_etag(tag: &str) -> Option<u64> {
    let tag = tag.trim();
    let tag = tag.strip_prefix("W/").unwrap_or(tag);
    let tag = tag.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(tag);
    tag.parse().ok()
}

/// The version an `If-Match` header requires, if any; a malformed one is `invalid_request`.
pub fn if_match(header: Option<&str>) -> Result<Option<u64>, ApiError> {
    match header {
        None => Ok(None),
        Some(h) => parse_etag(h)
            .map(Some)
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
            id.trim()
                .parse::<u64>()
                .map_err(|_| ApiError::InvalidRequest(format!("Last-Event-ID must be a version, got {id:?}")))
        })
        .transpose()
}

/// Parses `after`, `wait`, `since` and `batch` from a query string; unknown parameters are ignored.
pub fn read_query(query: Option<&str>, limits: &Limits) -> Result<ReadQuery, ApiError> {
    let mut q = ReadQuery::default();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let num =
            || v.parse::<u64>().map_err(|_| ApiError::InvalidRequest(format!("{k} must be a whole number, got {v:?}")));
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
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn media_types() {
        assert_eq!(media_type(Some("Application/JSON; charset=utf-8")).as_deref(), Some("application/json"));
        assert_eq!(media_type(None), None);
        assert_eq!(media_type(Some("  ")), None);
    }

    #[test]
    fn put_body_rules() {
        let l = Limits { max_body_bytes: 10, ..Limits::default() };
        assert_eq!(put_change(Some("application/json"), b"[1]", &l).unwrap(), Change::Set(json!([1])));
        assert_eq!(put_change(None, b"{}", &l).unwrap(), Change::Set(json!({})));
        assert_eq!(put_change(Some("text/plain"), b"{}", &l).unwrap_err().status(), 415);
        assert_eq!(put_change(None, b"{oops", &l).unwrap_err().code(), "invalid_json");
        assert_eq!(put_change(None, b"[1,2,3,4,5,6]", &l).unwrap_err().code(), "body_too_large");
    }

    #[test]
    fn patch_body_rules() {
        let l = Limits::default();
        assert!(matches!(patch_change(Some(MERGE_PATCH), b"{\"a\":null}", &l), Ok(Change::Merge(_))));
        assert!(matches!(patch_change(Some(JSON_PATCH), b"[]", &l), Ok(Change::Ops { .. })));
        assert_eq!(patch_change(Some(JSON_PATCH), b"{\"op\":1}", &l).unwrap_err().status(), 422);
        assert_eq!(patch_change(Some(JSON_PATCH), b"[", &l).unwrap_err().status(), 400);
        assert_eq!(patch_change(Some("application/json"), b"{}", &l).unwrap_err().status(), 415);
        assert_eq!(patch_change(None, b"{}", &l).unwrap_err().status(), 415);
    }

    #[test]
    fn create_body_rules() {
        let l = Limits { max_ttl_seconds: 100, max_state_bytes: 20, ..Limits::default() };
        let c = create_request(None, b"", &l).unwrap();
        assert_eq!(c.state, json!({}));
        assert_eq!(c.ttl_seconds, 100, "the default is clamped to the maximum");
        assert!(!c.strict);
        let c = create_request(Some("application/json"), br#"{"state":[1],"ttl":5,"strict":true}"#, &l).unwrap();
        assert_eq!((c.state, c.ttl_seconds, c.strict), (json!([1]), 5, true));
        assert_eq!(create_request(None, br#"{"ttl":0}"#, &l).unwrap_err().code(), "invalid_request");
        assert_eq!(create_request(None, br#"{"ttl":101}"#, &l).unwrap_err().code(), "invalid_request");
        assert_eq!(create_request(None, br#"{"ttl":"x"}"#, &l).unwrap_err().code(), "invalid_request");
        assert_eq!(create_request(None, br#"{"stat":1}"#, &l).unwrap_err().code(), "invalid_request");
        assert_eq!(
            create_request(None, br#"{"state":"012345678901234567890"}"#, &l).unwrap_err().code(),
            "state_too_large"
        );
        assert_eq!(create_request(None, b"{", &l).unwrap_err().code(), "invalid_json");
        assert_eq!(create_request(None, b"[1,2]", &l).unwrap_err().code(), "invalid_request", "not read as a tuple");
    }

    #[test]
    fn message_bodies() {
        let l = Limits::default();
        let json = Some("application/json");
        assert_eq!(message_body(json, br#"{"data":1,"to":"c_x"}"#, &l).unwrap().to.as_deref(), Some("c_x"));
        assert_eq!(message_body(None, br#"{"data":1}"#, &l).unwrap().data, json!(1));
        assert_eq!(message_body(Some("text/plain"), br#"{"data":1}"#, &l).unwrap_err().status(), 415);
        assert_eq!(message_body(json, br#"[1, "c_x"]"#, &l).unwrap_err().code(), "invalid_request");
        assert_eq!(message_body(json, br#"{"to":"c_x"}"#, &l).unwrap_err().code(), "invalid_request");
        assert_eq!(message_body(json, br#"{"data":1,"to":5}"#, &l).unwrap_err().code(), "invalid_request");
        assert_eq!(message_body(json, b"{", &l).unwrap_err().code(), "invalid_json");
    }

    #[test]
    fn preconditions() {
        assert_eq!(if_match(None).unwrap(), None);
        assert_eq!(if_match(Some("\"7\"")).unwrap(), Some(7));
        assert_eq!(if_match(Some("W/\"7\"")).unwrap(), Some(7));
        assert_eq!(if_match(Some("7")).unwrap(), Some(7));
        assert_eq!(if_match(Some("\"x\"")).unwrap_err().code(), "invalid_request");
        assert!(if_none_match_hits(Some("\"3\", \"7\""), 7));
        assert!(!if_none_match_hits(Some("\"3\""), 7));
        assert!(if_none_match_hits(Some("*"), 7));
        assert!(!if_none_match_hits(None, 7));
    }

    #[test]
    fn read_queries() {
        let l = Limits { max_long_poll_seconds: 30, ..Limits::default() };
        let q = read_query(Some("after=4&wait=99&x=1"), &l).unwrap();
        assert_eq!((q.after, q.wait_seconds, q.since), (Some(4), Some(30), None));
        assert_eq!(read_query(Some("since=12"), &l).unwrap().since, Some(12));
        assert!(read_query(Some("batch=1"), &l).unwrap().batch);
        assert!(!read_query(Some("batch=0"), &l).unwrap().batch);
        assert_eq!(read_query(Some("batch=yes"), &l).unwrap_err().code(), "invalid_request");
        assert_eq!(read_query(Some("after=-1"), &l).unwrap_err().code(), "invalid_request");
        assert_eq!(read_query(None, &l).unwrap(), ReadQuery::default());
    }
}
