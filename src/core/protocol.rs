//! Wire types of the WebSocket protocol (docs/protocol.md): one serde enum per direction,
//! tagged by a snake_case `type`. Server frames are also the SSE event payloads.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use super::error::ApiError;
use super::keys::Role;

/// The protocol version sent in `welcome`.
pub const PROTOCOL_VERSION: u32 = 1;

/// A frame a client sends.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    /// Replace the state.
    Set {
        /// Names the write for acks and de-duplication.
        #[serde(rename = "opId", default)]
        op_id: Option<String>,
        /// Apply only if the session is at this version.
        #[serde(rename = "baseVersion", default)]
        base_version: Option<u64>,
        /// The new state.
        state: Value,
    },
    /// Apply a merge patch (`merge`) or a JSON Patch (`ops`).
    Patch {
        /// Names the write for acks and de-duplication.
        #[serde(rename = "opId", default)]
        op_id: Option<String>,
        /// Apply only if the session is at this version.
        #[serde(rename = "baseVersion", default)]
        base_version: Option<u64>,
        /// An RFC 7396 merge patch.
        #[serde(default)]
        merge: Option<Value>,
        /// An RFC 6902 JSON Patch.
        #[serde(default)]
        ops: Option<Value>,
    },
    /// Set this connection's presence value.
    Presence {
        /// The value; any JSON up to the presence size limit.
        data: Value,
    },
    /// Relay an ephemeral message to the others, or to one client.
    Broadcast {
        /// The message.
        data: Value,
        /// One recipient's client id; all others when absent.
        #[serde(default)]
        to: Option<String>,
        /// Only the newest waiting value of this sender matters (P17).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        volatile: bool,
    },
    /// Ask for a `pong`.
    Ping,
}

/// How a `welcome` brings the client up to date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resume {
    /// The full state is in `state`.
    Snapshot,
    /// The missed updates are in `ops`.
    Ops,
}

/// One connected client as listed in presence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PresenceEntry {
    /// The connection's id.
    #[serde(rename = "clientId")]
    pub client_id: String,
    /// Its presence value.
    pub data: Value,
}

/// The limits a client should respect, as sent in `welcome`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireLimits {
    /// Largest frame in bytes.
    pub max_message_bytes: usize,
    /// Most frames per second.
    pub max_messages_per_second: u32,
    /// Largest presence value in bytes.
    pub max_presence_bytes: usize,
    /// Most clients per session.
    pub max_clients: usize,
    /// Largest serialized state in bytes.
    pub max_state_bytes: usize,
    /// Deepest nesting of a state or presence value.
    pub max_state_depth: usize,
    /// Largest HTTP request body in bytes (the SSE and long-poll transports write over HTTP).
    pub max_body_bytes: usize,
}

/// The first frame of every connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Welcome {
    /// `PROTOCOL_VERSION`.
    pub protocol: u32,
    /// This connection's id.
    pub client_id: String,
    /// What this connection may do.
    pub role: Role,
    /// The session's current version.
    pub version: u64,
    /// Time of the last write (ms).
    pub updated_at: i64,
    /// Whether `state` or `ops` brings the client up to date.
    pub resume: Resume,
    /// The full state, with `resume: snapshot`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub state: Option<Value>,
    /// The missed `update` frames, as stored, with `resume: ops`.
    #[serde(skip_serializing_if = "Option::is_none", default, deserialize_with = "raw_ops")]
    pub ops: Option<Vec<Box<RawValue>>>,
    /// Every connected client.
    pub presence: Vec<PresenceEntry>,
    /// Limits to respect.
    pub limits: WireLimits,
}

/// One applied write, as broadcast and as stored in the op log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Update {
    /// The version this write produced.
    pub version: u64,
    /// Its timestamp (ms).
    pub updated_at: i64,
    /// The writer's op id, or null.
    pub op_id: Option<String>,
    /// The writer's client id, or `http`.
    pub author: String,
    /// The new state, for a replace.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub set: Option<Value>,
    /// The merge patch, for a merge.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub merge: Option<Value>,
    /// The JSON Patch, for a patch.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ops: Option<Value>,
}

/// Reads stored ops back through `Value`: `RawValue` cannot be read inside a tagged enum.
fn raw_ops<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<Box<RawValue>>>, D::Error> {
    let values: Option<Vec<Value>> = Deserialize::deserialize(d)?;
    values
        .map(|vs| vs.iter().map(|v| RawValue::from_string(v.to_string())).collect::<Result<Vec<_>, _>>())
        .transpose()
        .map_err(serde::de::Error::custom)
}

/// Reads a list of frames back through `Value`, for the same reason as `raw_ops`.
fn raw_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Box<RawValue>>, D::Error> {
    raw_ops(d).map(Option::unwrap_or_default)
}

/// A frame the server sends.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// First frame of a connection.
    Welcome(Welcome),
    /// An applied write.
    Update(Update),
    /// Several applied writes, in version order, for connections that opted into batching.
    Updates {
        /// The `update` frames, as stored.
        #[serde(deserialize_with = "raw_list")]
        updates: Vec<Box<RawValue>>,
        /// `presence` frames that waited with them, in order (P15).
        #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "raw_list")]
        presence: Vec<Box<RawValue>>,
        /// Relayed `broadcast` frames that waited with them, in order (P15).
        #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "raw_list")]
        broadcasts: Vec<Box<RawValue>>,
    },
    /// A write was applied (or had been, with `duplicate`).
    Ack {
        /// The write's op id.
        #[serde(rename = "opId")]
        op_id: String,
        /// The version it produced.
        version: u64,
        /// True when the op id had already been applied.
        #[serde(skip_serializing_if = "std::ops::Not::not", default)]
        duplicate: bool,
    },
    /// A write was not applied.
    Reject {
        /// The write's op id.
        #[serde(rename = "opId")]
        op_id: Option<String>,
        /// Why, as a stable code.
        code: String,
        /// Why, for people.
        message: String,
        /// The session's current version.
        version: u64,
    },
    /// A client joined, left or changed its presence value.
    Presence {
        /// `join`, `update` or `leave`.
        event: PresenceEvent,
        /// Which client.
        #[serde(rename = "clientId")]
        client_id: String,
        /// Its presence value.
        data: Value,
    },
    /// An ephemeral message from another client.
    Broadcast {
        /// The sender's client id, or `http`.
        from: String,
        /// The message.
        data: Value,
    },
    /// Something about the last frame was wrong.
    Error {
        /// A stable code.
        code: String,
        /// For people.
        message: String,
    },
    /// Answer to `ping`.
    Pong,
    /// How many read-key viewers the session has, direct and behind relays (P18).
    Audience {
        /// The count.
        viewers: usize,
    },
    /// To a relay's upstream connection after its welcome: the session's recent updates, as
    /// stored, ending at the welcome's version (P18).
    History {
        /// The `update` frames, oldest first.
        #[serde(deserialize_with = "raw_list")]
        ops: Vec<Box<RawValue>>,
    },
    /// One slice of a frame longer than 1 MiB (P16); the `data` of a frame's parts, joined in
    /// `seq` order, is that frame's JSON text.
    Part {
        /// The slice's position, from 0.
        seq: u64,
        /// Whether this is the frame's last slice.
        last: bool,
        /// The slice of the frame's text.
        data: String,
    },
}

/// What happened to a client's presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceEvent {
    /// It connected.
    Join,
    /// It changed its presence value.
    Update,
    /// It disconnected.
    Leave,
}

impl ServerFrame {
    /// Serializes the frame as one JSON text.
    pub fn to_json(&self) -> String {
        // Serializing these types cannot fail: all map keys are strings.
        serde_json::to_string(self)
            .unwrap_or_else(|e| format!("{{\"type\":\"error\",\"code\":\"internal\",\"message\":\"{e}\"}}"))
    }

    /// An `error` frame for `err`.
    pub fn error(err: &ApiError) -> ServerFrame {
        ServerFrame::Error { code: err.code().to_owned(), message: err.to_string() }
    }

    /// A `reject` frame for a write that failed with `err`.
    pub fn reject(op_id: Option<String>, err: &ApiError, current_version: u64) -> ServerFrame {
        ServerFrame::Reject {
            op_id,
            code: err.code().to_owned(),
            message: err.to_string(),
            version: err.current_version().unwrap_or(current_version),
        }
    }
}

/// Formats one Server-Sent Events event carrying a frame.
pub fn sse_event(event: &str, id: Option<u64>, data: &str) -> String {
    let id = id.map(|v| format!("id: {v}\n")).unwrap_or_default();
    format!("event: {event}\n{id}data: {data}\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every ```json block of docs/protocol.md, in order.
    fn spec_examples() -> Vec<String> {
        let spec = include_str!("../../docs/protocol.md");
        let mut out = Vec::new();
        let mut lines = spec.lines();
        while let Some(line) = lines.next() {
            if line.trim() == "```json" {
                let block: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
                out.push(block.join("\n"));
            }
        }
        out
    }

    #[test]
    fn every_spec_example_parses_into_the_rust_types() {
        let examples = spec_examples();
        assert!(examples.len() >= 15, "found only {} examples", examples.len());
        for text in examples {
            let spec: Value = serde_json::from_str(&text).unwrap();
            if serde_json::from_str::<ClientFrame>(&text).is_ok() {
                continue;
            }
            // Round trip: what we would send is exactly what the spec shows (as a server frame,
            // or as a relay's frame to its session, P18).
            let server = serde_json::from_str::<ServerFrame>(&text).map(|f| f.to_json());
            let relay = serde_json::from_str::<crate::core::room::RelayFrame>(&text)
                .map(|f| serde_json::to_string(&f).unwrap_or_default());
            let same = |ours: &str| serde_json::from_str::<Value>(ours).is_ok_and(|v| v == spec);
            match (&server, &relay) {
                (Ok(ours), _) if same(ours) => {}
                (_, Ok(ours)) if same(ours) => {}
                (Ok(ours), _) => panic!("server frame drifted from the spec:\n{text}\nours: {ours}"),
                _ => panic!("spec example parses in no direction:\n{text}\nserver: {server:?}\nrelay: {relay:?}"),
            }
        }
    }

    #[test]
    fn p16_part_frames_parse_and_join_to_the_frame() {
        let frame = format!(r#"{{"type":"welcome","state":"{}"}}"#, "\\\"ü".repeat(400_000));
        let mut parts = Vec::new();
        crate::core::doc::send_text(&frame, |p| parts.push(p));
        assert!(parts.len() >= 2);
        let mut joined = String::new();
        for (i, text) in parts.iter().enumerate() {
            assert!(text.len() <= crate::core::doc::MAX_FRAME_BYTES);
            let Ok(ServerFrame::Part { seq, last, data }) = serde_json::from_str::<ServerFrame>(text) else {
                panic!("part {i} is not a part frame")
            };
            assert_eq!((seq, last), (i as u64, i + 1 == parts.len()));
            joined.push_str(&data);
        }
        assert_eq!(joined, frame);
    }

    #[test]
    fn unknown_types_and_fields_are_rejected() {
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"nuke"}"#).is_err());
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"set","state":1,"extra":2}"#).is_err());
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"set"}"#).is_err());
    }

    #[test]
    fn sse_events_follow_the_event_stream_format() {
        assert_eq!(sse_event("update", Some(3), "{}"), "event: update\nid: 3\ndata: {}\n\n");
        assert_eq!(sse_event("broadcast", None, "1"), "event: broadcast\ndata: 1\n\n");
    }

    #[test]
    fn reject_carries_the_current_version() {
        let err = ApiError::VersionConflict { expected: 1, current_version: 9 };
        let v: Value = serde_json::from_str(&ServerFrame::reject(Some("a".into()), &err, 3).to_json()).unwrap();
        assert_eq!(v["version"], 9);
        assert_eq!(v["code"], "version_conflict");
        let v: Value = serde_json::from_str(&ServerFrame::reject(None, &ApiError::ReadOnly, 3).to_json()).unwrap();
        assert_eq!(v["version"], 3);
        assert_eq!(v["opId"], Value::Null);
    }
}
