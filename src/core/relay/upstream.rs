//! Reading what the session object sends a relay's upstream connection: only what the relay
//! needs from each frame, with the frame's text kept as it came (viewers get the same frames).
//! A welcome's state is read as raw text and parsed straight into the copy's tree.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::core::protocol::{PresenceEntry, PresenceEvent};

/// A welcome, as a relay needs it.
#[derive(Debug)]
pub struct WelcomeIn {
    /// The session's version.
    pub version: u64,
    /// Time of its last write.
    pub updated_at: i64,
    /// The state's JSON text, for a snapshot.
    pub state: Option<Box<RawValue>>,
    /// The missed updates as (version, frame), for a resume.
    pub ops: Vec<(u64, String)>,
    /// Everyone announced on the session.
    pub presence: Vec<PresenceEntry>,
}

/// One frame from the session object.
#[derive(Debug)]
pub enum UpstreamFrame {
    /// The connection's first frame.
    Welcome(WelcomeIn),
    /// An `update`.
    Update {
        /// Its version.
        version: u64,
        /// The frame.
        text: String,
    },
    /// The frames of an `updates` envelope, in the order a client applies them.
    Updates(Vec<UpstreamFrame>),
    /// A `presence` event.
    Presence {
        /// Which client.
        client: String,
        /// What happened.
        event: PresenceEvent,
        /// Its value.
        data: Value,
        /// The frame.
        text: String,
    },
    /// A `broadcast`.
    Broadcast {
        /// The sender.
        from: String,
        /// The frame.
        text: String,
    },
    /// The session's viewer count.
    Audience(usize),
    /// The session's recent updates as (version, frame), after a relay's welcome.
    History(Vec<(u64, String)>),
    /// One slice of a long frame (P16).
    Part {
        /// Its position.
        seq: u64,
        /// Whether it is the last.
        last: bool,
        /// The slice.
        data: String,
    },
    /// `session_ended` (or, with `rotated`, `key_rotated`): the connection is about to close.
    Ended {
        /// The key was rotated rather than the session ended.
        rotated: bool,
    },
    /// Anything else (`pong`, other errors): nothing for viewers.
    Ignored,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Fields<'a> {
    #[serde(rename = "type")]
    ty: String,
    #[serde(default)]
    version: Option<u64>,
    #[serde(default)]
    updated_at: Option<i64>,
    #[serde(default, borrow)]
    state: Option<&'a RawValue>,
    #[serde(default, borrow)]
    ops: Option<Vec<&'a RawValue>>,
    #[serde(default)]
    presence: Option<Value>,
    #[serde(default, borrow)]
    updates: Option<Vec<&'a RawValue>>,
    #[serde(default, borrow)]
    broadcasts: Option<Vec<&'a RawValue>>,
    #[serde(default)]
    event: Option<PresenceEvent>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    data: Option<Value>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    viewers: Option<usize>,
    #[serde(default)]
    seq: Option<u64>,
    #[serde(default)]
    last: Option<bool>,
    #[serde(default)]
    code: Option<String>,
}

impl UpstreamFrame {
    /// Reads one frame's text.
    pub fn parse(text: &str) -> Result<UpstreamFrame, String> {
        let f: Fields = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let need = |what: &str| format!("{} frame without {what}", f.ty);
        Ok(match f.ty.as_str() {
            "welcome" | "history" => {
                let mut ops = Vec::new();
                for raw in f.ops.unwrap_or_default() {
                    match UpstreamFrame::parse(raw.get())? {
                        UpstreamFrame::Update { version, text } => ops.push((version, text)),
                        _ => return Err("an op is not an update".into()),
                    }
                }
                if f.ty == "history" {
                    return Ok(UpstreamFrame::History(ops));
                }
                let presence: Vec<PresenceEntry> = match f.presence {
                    Some(p) => serde_json::from_value(p).map_err(|e| e.to_string())?,
                    None => Vec::new(),
                };
                UpstreamFrame::Welcome(WelcomeIn {
                    version: f.version.ok_or_else(|| need("version"))?,
                    updated_at: f.updated_at.unwrap_or(0),
                    state: f.state.map(RawValue::to_owned),
                    ops,
                    presence,
                })
            }
            "update" => UpstreamFrame::Update { version: f.version.ok_or_else(|| need("version"))?, text: text.into() },
            "updates" => {
                let presence: Vec<Value> = match f.presence {
                    Some(Value::Array(list)) => list,
                    _ => Vec::new(),
                };
                let mut list = Vec::new();
                for raw in f.updates.unwrap_or_default() {
                    list.push(UpstreamFrame::parse(raw.get())?);
                }
                for p in presence {
                    list.push(UpstreamFrame::parse(&p.to_string())?);
                }
                for raw in f.broadcasts.unwrap_or_default() {
                    list.push(UpstreamFrame::parse(raw.get())?);
                }
                UpstreamFrame::Updates(list)
            }
            "presence" => UpstreamFrame::Presence {
                client: f.client_id.ok_or_else(|| need("clientId"))?,
                event: f.event.ok_or_else(|| need("event"))?,
                data: f.data.unwrap_or(Value::Null),
                text: text.into(),
            },
            "broadcast" => UpstreamFrame::Broadcast { from: f.from.ok_or_else(|| need("from"))?, text: text.into() },
            "audience" => UpstreamFrame::Audience(f.viewers.ok_or_else(|| need("viewers"))?),
            "part" => UpstreamFrame::Part {
                seq: f.seq.ok_or_else(|| need("seq"))?,
                last: f.last.unwrap_or(false),
                data: match f.data {
                    Some(Value::String(s)) => s,
                    _ => return Err(need("data")),
                },
            },
            "error" => match f.code.as_deref() {
                Some("session_ended") => UpstreamFrame::Ended { rotated: false },
                Some("key_rotated") => UpstreamFrame::Ended { rotated: true },
                _ => UpstreamFrame::Ignored,
            },
            _ => UpstreamFrame::Ignored,
        })
    }
}
