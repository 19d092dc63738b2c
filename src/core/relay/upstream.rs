//! Reading what the session object sends a relay's upstream connection: only what the relay
//! needs from each frame, with the frame's text kept as it came (viewers get the same frames).
//! A welcome's state is read as raw text and parsed straight into the copy's tree; a welcome
//! put together from parts keeps that text where it is, in the joined frame, not in a copy.

use std::ops::Range;

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
    pub state: Option<StateText>,
    /// The missed updates as (version, frame), for a resume.
    pub ops: Vec<(u64, String)>,
    /// Everyone announced on the session.
    pub presence: Vec<PresenceEntry>,
}

/// A welcome's state as JSON text: a range of the frame it came in, which it keeps.
#[derive(Debug)]
pub struct StateText {
    frame: String,
    range: Range<usize>,
}

impl StateText {
    /// The state's JSON text.
    pub fn get(&self) -> &str {
        self.frame.get(self.range.clone()).unwrap_or_default()
    }
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
        let (mut frame, state) = UpstreamFrame::read(text)?;
        if let (UpstreamFrame::Welcome(w), Some(range)) = (&mut frame, state) {
            let json = text.get(range).unwrap_or_default().to_owned();
            w.state = Some(StateText { range: 0..json.len(), frame: json });
        }
        Ok(frame)
    }

    /// Reads one frame's text, which a welcome keeps for its state instead of copying it
    /// (a welcome joined from parts can be tens of MB).
    pub fn parse_owned(text: String) -> Result<UpstreamFrame, String> {
        let (mut frame, state) = UpstreamFrame::read(&text)?;
        if let (UpstreamFrame::Welcome(w), Some(range)) = (&mut frame, state) {
            w.state = Some(StateText { frame: text, range });
        }
        Ok(frame)
    }

    /// The frame, and where in `text` a welcome's state is (its `state` is left empty).
    fn read(text: &str) -> Result<(UpstreamFrame, Option<Range<usize>>), String> {
        let f: Fields = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let need = |what: &str| format!("{} frame without {what}", f.ty);
        let frame = match f.ty.as_str() {
            "welcome" | "history" => {
                let mut ops = Vec::new();
                for raw in f.ops.unwrap_or_default() {
                    match UpstreamFrame::parse(raw.get())? {
                        UpstreamFrame::Update { version, text } => ops.push((version, text)),
                        _ => return Err("an op is not an update".into()),
                    }
                }
                if f.ty == "history" {
                    return Ok((UpstreamFrame::History(ops), None));
                }
                let presence: Vec<PresenceEntry> = match f.presence {
                    Some(p) => serde_json::from_value(p).map_err(|e| e.to_string())?,
                    None => Vec::new(),
                };
                let welcome = WelcomeIn {
                    version: f.version.ok_or_else(|| need("version"))?,
                    updated_at: f.updated_at.unwrap_or(0),
                    state: None,
                    ops,
                    presence,
                };
                // The raw state is a slice of `text`: its place, not a copy.
                let state = f.state.map(|raw| {
                    let start = (raw.get().as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
                    start..start + raw.get().len()
                });
                return Ok((UpstreamFrame::Welcome(welcome), state));
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
        };
        Ok((frame, None))
    }
}

#[cfg(test)]
mod tests {
    use super::UpstreamFrame;

    const WELCOME: &str =
        r#"{"type":"welcome","version":7,"updatedAt":5,"state":{"a":[1,"x\"y"],"b":{}},"presence":[]}"#;

    fn state_of(frame: &UpstreamFrame) -> &str {
        match frame {
            UpstreamFrame::Welcome(w) => w.state.as_ref().map_or("", |s| s.get()),
            other => panic!("not a welcome: {other:?}"),
        }
    }

    #[test]
    fn p16_a_welcomes_state_is_read_exactly_whether_the_frame_is_borrowed_or_owned() {
        let want = r#"{"a":[1,"x\"y"],"b":{}}"#;
        assert_eq!(state_of(&UpstreamFrame::parse(WELCOME).unwrap()), want);
        assert_eq!(state_of(&UpstreamFrame::parse_owned(WELCOME.to_owned()).unwrap()), want);
    }

    #[test]
    fn p16_a_welcome_joined_from_parts_keeps_its_state_in_place_not_in_a_copy() {
        let text = WELCOME.to_owned();
        let (start, end) = (text.as_ptr() as usize, text.as_ptr() as usize + text.len());
        let frame = UpstreamFrame::parse_owned(text).unwrap();
        let at = state_of(&frame).as_ptr() as usize;
        assert!(start < at && at < end, "the state is a slice of the frame that came in");
    }
}
