//! Building responses: JSON bodies, JSON errors, and CORS headers.

use std::rc::Rc;

use worker::{Headers, Response};

use crate::core::doc::{FrameText, JsonChunks, Node};
use crate::core::error::ApiError;

/// Bodies larger than this are streamed.
const STREAM_ABOVE_BYTES: usize = 1_048_576;
/// The size of each streamed piece.
const STREAM_PIECE_BYTES: usize = 256 * 1024;

/// Turns runtime errors into `ApiError::Internal`, keeping the cause for the log.
pub trait OrInternal<T> {
    /// Maps the error to `ApiError::Internal` with its text.
    fn or_internal(self) -> Result<T, ApiError>;
}

impl<T, E: std::fmt::Display> OrInternal<T> for Result<T, E> {
    fn or_internal(self) -> Result<T, ApiError> {
        self.map_err(|e| ApiError::Internal(e.to_string()))
    }
}

/// A response with a JSON text body and a status.
pub fn json_text(status: u16, body: String) -> Result<Response, ApiError> {
    let headers = Headers::new();
    headers.set("Content-Type", "application/json").or_internal()?;
    headers.set("Cache-Control", "no-store").or_internal()?;
    Ok(Response::ok(body).or_internal()?.with_status(status).with_headers(headers))
}

/// A JSON response `object` with member `state` set to a document: built in one piece when it
/// is small, streamed in pieces otherwise, so a large state is never one string.
pub fn json_with_state(status: u16, object: &serde_json::Value, state: Rc<Node>) -> Result<Response, ApiError> {
    let bytes = state.bytes();
    let FrameText { head, tail, .. } = FrameText::with_member(object.to_string(), "state", state.clone());
    if head.len() + bytes + tail.len() <= STREAM_ABOVE_BYTES {
        return json_text(status, JsonChunks::new(head, state, tail, usize::MAX).collect());
    }
    let pieces = JsonChunks::new(head, state, tail, STREAM_PIECE_BYTES);
    let stream = futures_util::stream::iter(pieces.map(|p| Ok::<Vec<u8>, worker::Error>(p.into_bytes())));
    let headers = Headers::new();
    headers.set("Content-Type", "application/json").or_internal()?;
    headers.set("Cache-Control", "no-store").or_internal()?;
    Ok(Response::from_stream(stream).or_internal()?.with_status(status).with_headers(headers))
}

/// A response with a JSON value body and a status.
pub fn json(status: u16, body: &serde_json::Value) -> Result<Response, ApiError> {
    json_text(status, body.to_string())
}

/// Logs the cause of an internal error, which the client only sees as `internal`. Every place
/// that turns an `ApiError` into a response or a frame calls this first, so no cause is lost.
pub fn log_internal(err: &ApiError) {
    if let ApiError::Internal(detail) = err {
        worker::console_error!("internal error: {detail}");
    }
}

/// The JSON error response for `err`; internal details go to the log, not the client.
pub fn error_response(err: &ApiError) -> worker::Result<Response> {
    log_internal(err);
    let headers = Headers::new();
    headers.set("Content-Type", "application/json")?;
    headers.set("Cache-Control", "no-store")?;
    if matches!(err, ApiError::UpgradeRequired) {
        // RFC 6455 4.4: name the version to upgrade to. (`Upgrade: websocket` would be the
        // RFC 9110 15.5.22 answer, but the runtime drops it as a hop-by-hop header.)
        headers.set("Sec-WebSocket-Version", crate::core::routes::WEBSOCKET_VERSION)?;
    }
    if let Some(seconds) = err.retry_after() {
        headers.set("Retry-After", &seconds.to_string())?;
    }
    Ok(Response::ok(err.to_json())?.with_status(err.status()).with_headers(headers))
}

/// An empty response with a status (204, 304).
pub fn empty(status: u16) -> Result<Response, ApiError> {
    Ok(Response::empty().or_internal()?.with_status(status))
}

/// Sets one header on a response.
pub fn set_header(resp: &mut Response, name: &str, value: &str) -> Result<(), ApiError> {
    resp.headers_mut().set(name, value).or_internal()
}

/// CORS settings from `ALLOWED_ORIGINS` (`*` or a comma-separated list).
pub struct CorsPolicy {
    any: bool,
    origins: Vec<String>,
}

impl CorsPolicy {
    /// Parses the `ALLOWED_ORIGINS` value.
    pub fn from_var(value: Option<String>) -> Self {
        let value = value.unwrap_or_else(|| "*".into());
        let origins: Vec<String> =
            value.split(',').map(|o| o.trim().trim_end_matches('/').to_owned()).filter(|o| !o.is_empty()).collect();
        CorsPolicy { any: origins.iter().any(|o| o == "*"), origins }
    }

    /// The `Access-Control-Allow-Origin` value for a request `Origin`, if allowed. A list
    /// echoes the one matching origin: the header holds exactly one.
    pub fn allow_origin(&self, origin: Option<&str>) -> Option<String> {
        if self.any {
            return Some("*".into());
        }
        let origin = origin?;
        self.origins.iter().any(|o| o == origin).then(|| origin.to_owned())
    }

    /// Adds the CORS headers to a response (not to WebSocket upgrades, whose headers are fixed).
    /// Headers of a response fetched from the Durable Object are immutable, so they are copied.
    pub fn apply(&self, resp: Response, origin: Option<&str>) -> Response {
        let Some(allowed) = self.allow_origin(origin).filter(|_| resp.status_code() != 101) else {
            return resp;
        };
        let headers = resp.headers().clone();
        let _ = headers.set("Access-Control-Allow-Origin", &allowed);
        let _ = headers.set("Access-Control-Expose-Headers", "ETag, Location");
        if !self.any {
            let _ = headers.set("Vary", "Origin");
        }
        resp.with_headers(headers)
    }

    /// The answer to a preflight `OPTIONS` request.
    pub fn preflight(&self, origin: Option<&str>) -> worker::Result<Response> {
        let mut resp = Response::empty()?.with_status(204);
        if let Some(allowed) = self.allow_origin(origin) {
            let h = resp.headers_mut();
            h.set("Access-Control-Allow-Origin", &allowed)?;
            h.set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS")?;
            h.set(
                "Access-Control-Allow-Headers",
                "Content-Type, If-Match, If-None-Match, Idempotency-Key, Last-Event-ID",
            )?;
            h.set("Access-Control-Expose-Headers", "ETag, Location")?;
            h.set("Access-Control-Max-Age", "86400")?;
            if !self.any {
                h.set("Vary", "Origin")?;
            }
        }
        Ok(resp)
    }
}
