//! Turning one incoming WebSocket text frame into what the session should do with it,
//! and the per-connection rate limit. No I/O here: the Durable Object carries it out.

use serde_json::Value;

use super::bounded::Bounds;
use super::document::Change;
use super::error::ApiError;
use super::limits::Limits;
use super::protocol::ClientFrame;

/// Most characters in an op id.
pub const MAX_OP_ID_CHARS: usize = 64;

/// A write, from a WebSocket frame or an HTTP request.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteRequest {
    /// Names the write for acks and de-duplication.
    pub op_id: Option<String>,
    /// Apply only at this version.
    pub base_version: Option<u64>,
    /// What to change.
    pub change: Change,
}

/// What a frame asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// Change the state.
    Write(WriteRequest),
    /// Set this connection's presence value.
    Presence(Value),
    /// Relay `data` to the others or to `to`.
    Broadcast { to: Option<String>, data: Value, volatile: bool },
    /// Answer with `pong`.
    Ping,
    /// A plain-text chat line (not protocol JSON).
    Chat(String),
}

/// Why a frame could not be taken.
#[derive(Debug, Clone, PartialEq)]
pub enum FrameError {
    /// The frame as a whole is wrong: answer with an `error` frame.
    Frame(ApiError),
    /// A write is wrong: answer with a `reject` naming its op id.
    Write { op_id: Option<String>, error: ApiError },
}

/// Checks an op id: 1 to 64 characters.
pub fn check_op_id(op_id: &Option<String>) -> Result<(), ApiError> {
    match op_id {
        Some(id) if id.is_empty() || id.chars().count() > MAX_OP_ID_CHARS => Err(ApiError::InvalidOpId),
        _ => Ok(()),
    }
}

/// Parses one text frame under `limits`.
pub fn parse_incoming(text: &str, limits: &Limits) -> Result<Incoming, FrameError> {
    if text.len() > limits.max_message_bytes {
        return Err(FrameError::Frame(ApiError::MessageTooLarge { limit: limits.max_message_bytes }));
    }
    if !text.trim_start().starts_with('{') {
        return Ok(Incoming::Chat(text.to_owned()));
    }
    let frame: ClientFrame =
        serde_json::from_str(text).map_err(|e| FrameError::Frame(ApiError::InvalidFrame(e.to_string())))?;
    match frame {
        ClientFrame::Set { op_id, base_version, state } => write(op_id, base_version, |_| Change::set(&state)),
        ClientFrame::Patch { op_id, base_version, merge, ops } => write(op_id, base_version, |_| match (merge, ops) {
            (Some(m), None) => Ok(Change::Merge(m)),
            (None, Some(o)) => Change::json_patch(o),
            _ => Err(ApiError::InvalidFrame("a patch frame needs exactly one of `merge` or `ops`".into())),
        }),
        ClientFrame::Presence { data } => {
            let size = data.to_string().len();
            if size > limits.max_presence_bytes {
                return Err(FrameError::Frame(ApiError::PresenceTooLarge { limit: limits.max_presence_bytes }));
            }
            Bounds::of(limits).check_depth(&data).map_err(FrameError::Frame)?;
            Ok(Incoming::Presence(data))
        }
        ClientFrame::Broadcast { data, to, volatile } => Ok(Incoming::Broadcast { to, data, volatile }),
        ClientFrame::Ping => Ok(Incoming::Ping),
    }
}

fn write(
    op_id: Option<String>,
    base_version: Option<u64>,
    change: impl FnOnce(()) -> Result<Change, ApiError>,
) -> Result<Incoming, FrameError> {
    if let Err(error) = check_op_id(&op_id) {
        return Err(FrameError::Write { op_id: None, error });
    }
    match change(()) {
        Ok(change) => Ok(Incoming::Write(WriteRequest { op_id, base_version, change })),
        Err(error) => Err(FrameError::Write { op_id, error }),
    }
}

/// What the rate limiter decided about one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    /// Within the limit.
    Allow,
    /// Over the limit: drop the frame and say so.
    Drop,
    /// Far over the limit (4x): close the connection with 4008.
    Close,
}

/// A fixed one-second window counter for one connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateWindow {
    start_ms: i64,
    count: u32,
}

impl RateWindow {
    /// Counts one frame at `now_ms` against `per_second`.
    pub fn hit(&mut self, now_ms: i64, per_second: u32) -> RateDecision {
        if now_ms - self.start_ms >= 1000 || now_ms < self.start_ms {
            self.start_ms = now_ms;
            self.count = 0;
        }
        self.count = self.count.saturating_add(1);
        if self.count <= per_second {
            RateDecision::Allow
        } else if self.count <= per_second.saturating_mul(4) {
            RateDecision::Drop
        } else {
            RateDecision::Close
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(text: &str) -> Result<Incoming, FrameError> {
        parse_incoming(text, &Limits::default())
    }

    #[test]
    fn writes_parse_with_op_id_and_base_version() {
        let w = parse(r#"{"type":"patch","opId":"a","baseVersion":4,"merge":{"x":1}}"#).unwrap();
        assert_eq!(
            w,
            Incoming::Write(WriteRequest {
                op_id: Some("a".into()),
                base_version: Some(4),
                change: Change::Merge(json!({"x": 1}))
            })
        );
        assert!(matches!(parse(r#"{"type":"set","state":null}"#), Ok(Incoming::Write(_))));
    }

    #[test]
    fn patch_needs_exactly_one_kind() {
        let both = parse(r#"{"type":"patch","opId":"b","merge":{},"ops":[]}"#).unwrap_err();
        let FrameError::Write { op_id, error } = both else { panic!() };
        assert_eq!(op_id.as_deref(), Some("b"));
        assert_eq!(error.code(), "invalid_frame");
        assert!(matches!(parse(r#"{"type":"patch"}"#), Err(FrameError::Write { .. })));
        let bad_ops = parse(r#"{"type":"patch","opId":"c","ops":[{"op":"nope"}]}"#).unwrap_err();
        assert!(matches!(bad_ops, FrameError::Write { error: ApiError::InvalidPatch(_), .. }));
    }

    #[test]
    fn op_ids_are_bounded() {
        let long = "x".repeat(65);
        let err = parse(&format!(r#"{{"type":"set","opId":"{long}","state":1}}"#)).unwrap_err();
        assert!(matches!(err, FrameError::Write { error: ApiError::InvalidOpId, .. }));
        let err = parse(r#"{"type":"set","opId":"","state":1}"#).unwrap_err();
        assert!(matches!(err, FrameError::Write { error: ApiError::InvalidOpId, .. }));
    }

    #[test]
    fn plain_text_is_chat_and_broken_json_is_an_error() {
        assert_eq!(parse("hello there").unwrap(), Incoming::Chat("hello there".into()));
        assert_eq!(parse("[1,2]").unwrap(), Incoming::Chat("[1,2]".into()));
        assert!(matches!(parse("{not json"), Err(FrameError::Frame(ApiError::InvalidFrame(_)))));
        assert!(matches!(parse(r#"{"type":"launch"}"#), Err(FrameError::Frame(ApiError::InvalidFrame(_)))));
    }

    #[test]
    fn size_limits() {
        let limits = Limits { max_message_bytes: 20, max_presence_bytes: 5, ..Limits::default() };
        let err = parse_incoming(&"x".repeat(21), &limits).unwrap_err();
        assert_eq!(err, FrameError::Frame(ApiError::MessageTooLarge { limit: 20 }));
        let err = parse_incoming(
            r#"{"type":"presence","data":"abcdef"}"#,
            &Limits { max_presence_bytes: 5, ..Limits::default() },
        )
        .unwrap_err();
        assert!(matches!(err, FrameError::Frame(ApiError::PresenceTooLarge { .. })));
        assert!(parse(r#"{"type":"broadcast","to":"c_x","data":[1]}"#).is_ok());
        assert_eq!(parse(r#"{"type":"ping"}"#).unwrap(), Incoming::Ping);
    }

    #[test]
    fn rate_window_allows_drops_then_closes() {
        let mut w = RateWindow::default();
        let decisions: Vec<_> = (0..9).map(|_| w.hit(10_000, 2)).collect();
        assert_eq!(&decisions[..2], &[RateDecision::Allow; 2]);
        assert_eq!(&decisions[2..8], &[RateDecision::Drop; 6]);
        assert_eq!(decisions[8], RateDecision::Close);
        assert_eq!(w.hit(11_000, 2), RateDecision::Allow, "a new second starts afresh");
    }
}
