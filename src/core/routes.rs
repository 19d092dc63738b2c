//! What the HTTP routes accept before any session is involved: the methods each path allows
//! (the `Allow` header of a 405) and the client's half of a WebSocket handshake. The route
//! table itself lives in `edge::router`; a test here keeps the two lists in step.

use base64::Engine;

use super::error::ApiError;

/// The methods a path allows, for the `Allow` header of a 405; `None` when no route matches.
/// `OPTIONS` is listed everywhere because CORS preflights are answered on every path.
pub fn allowed_methods(path: &str) -> Option<&'static str> {
    let rest = path.strip_prefix("/api/v1/")?;
    match rest {
        "health" => return Some("GET, OPTIONS"),
        "sessions" => return Some("POST, OPTIONS"),
        _ => {}
    }
    let rest = rest.strip_prefix("sessions/")?;
    let (key, tail) = rest.split_once('/').unwrap_or((rest, ""));
    if key.is_empty() {
        return None;
    }
    match tail {
        "" => Some("GET, PUT, PATCH, DELETE, OPTIONS"),
        "rotate" | "messages" | "presence" | "checkpoints" | "restore" => Some("POST, OPTIONS"),
        "ws" | "events" | "info" | "versions" => Some("GET, OPTIONS"),
        _ => None,
    }
}

/// Whether `method` is one of RFC 9110's methods (exact case) that the router tells apart;
/// anything else (QUERY, PROPFIND, `get`) is answered 405 like any method a route lacks.
pub fn is_standard_method(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" | "CONNECT" | "TRACE")
}

/// The WebSocket protocol version this service speaks (RFC 6455), sent with a 426.
pub const WEBSOCKET_VERSION: &str = "13";

/// Checks the client's half of a WebSocket handshake (RFC 6455 section 4.2.1) before the
/// runtime sees it: the runtime answers a broken handshake in plain text, this API in JSON.
/// No `Upgrade: websocket` or another version is 426 `upgrade_required`; a missing or
/// malformed `Sec-WebSocket-Key` (16 bytes in base64) is 400 `invalid_request`.
pub fn websocket_handshake(upgrade: Option<&str>, version: Option<&str>, key: Option<&str>) -> Result<(), ApiError> {
    let wants_websocket = upgrade.is_some_and(|u| u.split(',').any(|p| p.trim().eq_ignore_ascii_case("websocket")));
    if !wants_websocket || version.map(str::trim) != Some(WEBSOCKET_VERSION) {
        return Err(ApiError::UpgradeRequired);
    }
    let key = key.map(str::trim).unwrap_or("");
    match base64::engine::general_purpose::STANDARD.decode(key) {
        Ok(bytes) if bytes.len() == 16 => Ok(()),
        _ => Err(ApiError::InvalidRequest(format!("Sec-WebSocket-Key must be 16 bytes in base64, got {key:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_lists_the_methods_of_each_route() {
        assert_eq!(allowed_methods("/api/v1/health"), Some("GET, OPTIONS"));
        assert_eq!(allowed_methods("/api/v1/sessions"), Some("POST, OPTIONS"));
        assert_eq!(allowed_methods("/api/v1/sessions/abc.def"), Some("GET, PUT, PATCH, DELETE, OPTIONS"));
        assert_eq!(allowed_methods("/api/v1/sessions/k/rotate"), Some("POST, OPTIONS"));
        assert_eq!(allowed_methods("/api/v1/sessions/k/messages"), Some("POST, OPTIONS"));
        assert_eq!(allowed_methods("/api/v1/sessions/k/checkpoints"), Some("POST, OPTIONS"));
        assert_eq!(allowed_methods("/api/v1/sessions/k/restore"), Some("POST, OPTIONS"));
        for tail in ["ws", "events", "info", "versions"] {
            assert_eq!(allowed_methods(&format!("/api/v1/sessions/k/{tail}")), Some("GET, OPTIONS"));
        }
        for none in ["/", "/api/v1/", "/api/v1/sessions/", "/api/v1/sessions/k/nope", "/api/v1/sessions/k/ws/x", "/x"] {
            assert_eq!(allowed_methods(none), None, "{none}");
        }
    }

    #[test]
    fn unknown_methods_are_not_read_as_get() {
        assert!(is_standard_method("GET") && is_standard_method("PATCH") && is_standard_method("TRACE"));
        for m in ["QUERY", "PROPFIND", "get", "", "G ET"] {
            assert!(!is_standard_method(m), "{m}");
        }
    }

    #[test]
    fn websocket_handshakes() {
        let key = Some("dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(websocket_handshake(Some("websocket"), Some("13"), key), Ok(()));
        assert_eq!(websocket_handshake(Some("WebSocket"), Some(" 13 "), key), Ok(()));
        let code = |u, v, k| websocket_handshake(u, v, k).unwrap_err().code();
        assert_eq!(code(None, Some("13"), key), "upgrade_required");
        assert_eq!(code(Some("h2c"), Some("13"), key), "upgrade_required");
        assert_eq!(code(Some("websocket"), None, key), "upgrade_required", "no version");
        assert_eq!(code(Some("websocket"), Some("8"), key), "upgrade_required", "old version");
        assert_eq!(code(Some("websocket"), Some("13"), None), "invalid_request", "no key");
        assert_eq!(code(Some("websocket"), Some("13"), Some("short")), "invalid_request");
        assert_eq!(code(Some("websocket"), Some("13"), Some("dGhlIHNhbXBsZSBub25jZQ")), "invalid_request", "unpadded");
        assert_eq!(ApiError::UpgradeRequired.status(), 426);
    }
}
