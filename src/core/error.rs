//! The one error type of the core: every way a request or frame can fail, with its stable
//! machine `code()` and HTTP `status()`. Transport adapters turn it into a JSON body or an
//! `error`/`reject` frame; nothing here knows about either.

use std::fmt;

/// Why a request, write or frame was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// The body is not valid JSON (syntax).
    InvalidJson(String),
    /// The key in the URL is not `<sessionId>.<secret>`.
    InvalidKey,
    /// A query parameter, header or create-body field is malformed.
    InvalidRequest(String),
    /// A read key tried to write.
    ReadOnly,
    /// A write key tried an admin action.
    AdminRequired,
    /// No route matches the path.
    NotFound,
    /// No session has this id and secret, or it expired.
    SessionNotFound,
    /// The session keeps no checkpoint of this version.
    VersionNotFound(u64),
    /// The route exists but not with this method.
    MethodNotAllowed,
    /// A JSON Patch could not be applied to the current state.
    PatchConflict { reason: String, current_version: u64 },
    /// `If-Match` / `baseVersion` is not the current version.
    VersionConflict { expected: u64, current_version: u64 },
    /// The request body is larger than `MAX_BODY_BYTES`.
    BodyTooLarge { limit: usize },
    /// The new state would be larger than `MAX_STATE_BYTES`.
    StateTooLarge { size: usize, limit: usize },
    /// The new state (or a presence value) would nest deeper than `MAX_STATE_DEPTH`.
    StateTooDeep { depth: usize, limit: usize },
    /// A JSON Patch has more operations than `MAX_PATCH_OPS`.
    TooManyOps { count: usize, limit: usize },
    /// The key of this request was rotated while it waited.
    KeyRotated,
    /// A client address exceeded an abuse limit; retry after `retry_after` seconds.
    Throttled { what: &'static str, retry_after: u64 },
    /// The content type is not one this route accepts.
    UnsupportedMediaType(String),
    /// Well-formed JSON that is not a valid patch document.
    InvalidPatch(String),
    /// A WebSocket route was called without `Upgrade: websocket`.
    UpgradeRequired,
    /// A strict session got a write without a version precondition.
    PreconditionRequired,
    /// Too many SSE / long-poll waiters or WebSocket clients.
    TooManyConnections,
    /// A WebSocket frame is not protocol JSON of a known type and shape.
    InvalidFrame(String),
    /// An op id is empty or too long.
    InvalidOpId,
    /// A presence value is larger than allowed.
    PresenceTooLarge { limit: usize },
    /// A broadcast names a client that is not connected.
    UnknownClient(String),
    /// A WebSocket frame is larger than allowed.
    MessageTooLarge { limit: usize },
    /// A connection sent more frames per second than allowed.
    RateLimited,
    /// The session already has its maximum number of WebSocket clients.
    SessionFull { limit: usize },
    /// The session already has `MAX_VIEWERS` read-key viewers (direct and behind relays).
    AudienceFull { limit: usize },
    /// A relay could not serve this viewer now (its upstream is changing keys); retry.
    Unavailable(String),
    /// Something failed inside the service (storage, runtime); details go to the log only.
    Internal(String),
}

impl ApiError {
    /// The stable machine-readable code clients switch on.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::InvalidKey => "invalid_key",
            ApiError::InvalidRequest(_) => "invalid_request",
            ApiError::ReadOnly => "read_only",
            ApiError::AdminRequired => "admin_required",
            ApiError::NotFound => "not_found",
            ApiError::SessionNotFound => "session_not_found",
            ApiError::VersionNotFound(_) => "version_not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::PatchConflict { .. } => "patch_conflict",
            ApiError::VersionConflict { .. } => "version_conflict",
            ApiError::BodyTooLarge { .. } => "body_too_large",
            ApiError::StateTooLarge { .. } => "state_too_large",
            ApiError::StateTooDeep { .. } => "state_too_deep",
            ApiError::TooManyOps { .. } => "too_many_ops",
            ApiError::KeyRotated => "key_rotated",
            ApiError::Throttled { .. } => "throttled",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::InvalidPatch(_) => "invalid_patch",
            ApiError::UpgradeRequired => "upgrade_required",
            ApiError::PreconditionRequired => "precondition_required",
            ApiError::TooManyConnections => "too_many_connections",
            ApiError::InvalidFrame(_) => "invalid_frame",
            ApiError::InvalidOpId => "invalid_op_id",
            ApiError::PresenceTooLarge { .. } => "presence_too_large",
            ApiError::UnknownClient(_) => "unknown_client",
            ApiError::MessageTooLarge { .. } => "message_too_large",
            ApiError::RateLimited => "rate_limited",
            ApiError::SessionFull { .. } => "session_full",
            ApiError::AudienceFull { .. } => "audience_full",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::InvalidJson(_)
            | ApiError::InvalidKey
            | ApiError::InvalidRequest(_)
            | ApiError::InvalidFrame(_)
            | ApiError::InvalidOpId
            | ApiError::PresenceTooLarge { .. }
            | ApiError::UnknownClient(_) => 400,
            ApiError::ReadOnly | ApiError::AdminRequired | ApiError::KeyRotated => 403,
            ApiError::NotFound | ApiError::SessionNotFound | ApiError::VersionNotFound(_) => 404,
            ApiError::MethodNotAllowed => 405,
            ApiError::PatchConflict { .. } => 409,
            ApiError::VersionConflict { .. } => 412,
            ApiError::BodyTooLarge { .. }
            | ApiError::StateTooLarge { .. }
            | ApiError::StateTooDeep { .. }
            | ApiError::TooManyOps { .. }
            | ApiError::MessageTooLarge { .. } => 413,
            ApiError::UnsupportedMediaType(_) => 415,
            ApiError::InvalidPatch(_) => 422,
            ApiError::UpgradeRequired => 426,
            ApiError::PreconditionRequired => 428,
            ApiError::TooManyConnections
            | ApiError::RateLimited
            | ApiError::SessionFull { .. }
            | ApiError::AudienceFull { .. }
            | ApiError::Throttled { .. } => 429,
            ApiError::Internal(_) => 500,
            ApiError::Unavailable(_) => 503,
        }
    }

    /// The session's current version, for errors that tell the client where it stands.
    pub fn current_version(&self) -> Option<u64> {
        match self {
            ApiError::VersionConflict { current_version, .. } | ApiError::PatchConflict { current_version, .. } => {
                Some(*current_version)
            }
            _ => None,
        }
    }

    /// Seconds a throttled client should wait before retrying (the `Retry-After` header).
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::Throttled { retry_after, .. } => Some(*retry_after),
            ApiError::RateLimited | ApiError::TooManyConnections | ApiError::Unavailable(_) => Some(1),
            _ => None,
        }
    }

    /// The JSON error body: `{"error":{"code","message"}}` plus `currentVersion` where known.
    pub fn to_json(&self) -> String {
        let mut body = serde_json::json!({
            "error": { "code": self.code(), "message": self.to_string() }
        });
        if let Some(v) = self.current_version() {
            body["currentVersion"] = v.into();
        }
        body.to_string()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::InvalidJson(e) => write!(f, "body is not valid json: {e}"),
            ApiError::InvalidKey => write!(f, "key is not a session key of the form <sessionId>.<secret>"),
            ApiError::InvalidRequest(e) => write!(f, "invalid request: {e}"),
            ApiError::ReadOnly => write!(f, "this key is read-only and cannot change the session"),
            ApiError::AdminRequired => write!(f, "this action needs the session's admin key"),
            ApiError::NotFound => write!(f, "no such route"),
            ApiError::SessionNotFound => write!(f, "no session with this key (it may have expired or been deleted)"),
            ApiError::VersionNotFound(v) => write!(f, "this session keeps no checkpoint of version {v}"),
            ApiError::MethodNotAllowed => write!(f, "method not allowed on this route"),
            ApiError::PatchConflict { reason, .. } => {
                write!(f, "json patch cannot be applied to the current state: {reason}")
            }
            ApiError::VersionConflict { expected, current_version } => {
                write!(f, "base version {expected} is not the current version {current_version}")
            }
            ApiError::BodyTooLarge { limit } => write!(f, "request body exceeds the limit of {limit} bytes"),
            ApiError::StateTooLarge { size, limit } => {
                write!(f, "state would be {size} bytes, over the limit of {limit} bytes")
            }
            ApiError::StateTooDeep { depth, limit } => {
                write!(f, "value would nest {depth} levels deep, over the limit of {limit}")
            }
            ApiError::TooManyOps { count, limit } => {
                write!(f, "json patch has {count} operations, over the limit of {limit}")
            }
            ApiError::KeyRotated => write!(f, "the key of this request was rotated"),
            ApiError::Throttled { what, retry_after } => {
                write!(f, "too many {what} from this address; retry in {retry_after} s")
            }
            ApiError::UnsupportedMediaType(t) => write!(f, "unsupported content type {t:?}"),
            ApiError::InvalidPatch(e) => write!(f, "invalid patch document: {e}"),
            ApiError::UpgradeRequired => write!(f, "this route needs a websocket upgrade"),
            ApiError::PreconditionRequired => {
                write!(f, "this session is strict: writes need If-Match (http) or baseVersion (websocket)")
            }
            ApiError::TooManyConnections => write!(f, "too many open connections to this session"),
            ApiError::InvalidFrame(e) => write!(f, "frame is not valid protocol json: {e}"),
            ApiError::InvalidOpId => write!(f, "opId must be a string of 1 to 64 characters"),
            ApiError::PresenceTooLarge { limit } => write!(f, "presence value exceeds {limit} bytes"),
            ApiError::UnknownClient(id) => write!(f, "no connected client with id {id:?}"),
            ApiError::MessageTooLarge { limit } => write!(f, "frame exceeds the limit of {limit} bytes"),
            ApiError::RateLimited => write!(f, "too many messages per second on this connection"),
            ApiError::SessionFull { limit } => write!(f, "session already has {limit} connected clients"),
            ApiError::AudienceFull { limit } => write!(f, "session already has {limit} viewers"),
            ApiError::Unavailable(why) => write!(f, "try again: {why}"),
            ApiError::Internal(_) => write!(f, "internal error"),
        }
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_code_message_and_version() {
        let e = ApiError::VersionConflict { expected: 3, current_version: 5 };
        let v: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(v["error"]["code"], "version_conflict");
        assert_eq!(v["currentVersion"], 5);
        assert_eq!(e.status(), 412);
    }

    #[test]
    fn internal_errors_hide_details() {
        let e = ApiError::Internal("sqlite said no at row 3".into());
        assert!(!e.to_json().contains("sqlite"));
        assert_eq!(e.status(), 500);
    }

    #[test]
    fn statuses_match_the_contract() {
        let cases = [
            (ApiError::InvalidJson("x".into()), 400),
            (ApiError::ReadOnly, 403),
            (ApiError::SessionNotFound, 404),
            (ApiError::VersionNotFound(3), 404),
            (ApiError::MethodNotAllowed, 405),
            (ApiError::BodyTooLarge { limit: 1 }, 413),
            (ApiError::UnsupportedMediaType("text/plain".into()), 415),
            (ApiError::InvalidPatch("x".into()), 422),
            (ApiError::UpgradeRequired, 426),
            (ApiError::PreconditionRequired, 428),
            (ApiError::StateTooDeep { depth: 9, limit: 8 }, 413),
            (ApiError::TooManyOps { count: 9, limit: 8 }, 413),
            (ApiError::KeyRotated, 403),
            (ApiError::Throttled { what: "sessions", retry_after: 60 }, 429),
        ];
        for (e, status) in cases {
            assert_eq!(e.status(), status, "{}", e.code());
        }
    }
}
