//! Writing a document out in pieces, for a GET body, a snapshot's chunk rows or a large frame,
//! without ever holding its whole text: `JsonChunks` walks a root it holds (writes go on
//! beside it, copy on write), and `PartWriter` cuts a frame's text into `part` frames of at
//! most `MAX_FRAME_BYTES` (protocol rule P16).

use std::ops::Bound;
use std::rc::Rc;

use super::Node;

/// The largest frame sent whole; longer ones are sent as `part` frames (P16).
pub const MAX_FRAME_BYTES: usize = 1_048_576;

/// Room left in a `part` frame for everything but its data.
const PART_OVERHEAD: usize = 96;

/// What is left to write.
enum Step {
    Node(Rc<Node>),
    /// The members of an object after `last` (from the first when `None`).
    Members {
        node: Rc<Node>,
        last: Option<String>,
    },
    /// The items of an array from `next`.
    Items {
        node: Rc<Node>,
        next: usize,
    },
    Text(String),
}

/// The compact JSON text of a node (with optional text before and after), in pieces.
pub struct JsonChunks {
    steps: Vec<Step>,
    piece: usize,
}

impl JsonChunks {
    /// The text `head`, then `node`, then `tail`, in pieces of about `piece` bytes.
    pub fn new(head: String, node: Rc<Node>, tail: String, piece: usize) -> JsonChunks {
        JsonChunks { steps: vec![Step::Text(tail), Step::Node(node), Step::Text(head)], piece: piece.max(1) }
    }

    /// Appends the next steps' text to `out` until it holds at least `piece` bytes.
    fn fill(&mut self, out: &mut String) {
        while out.len() < self.piece {
            let Some(step) = self.steps.pop() else { return };
            match step {
                Step::Text(t) => out.push_str(&t),
                Step::Node(node) => match &*node {
                    Node::Leaf(l) => out.push_str(&l.text),
                    Node::Object(_) => {
                        out.push('{');
                        self.steps.push(Step::Members { node, last: None });
                    }
                    Node::Array(_) => {
                        out.push('[');
                        self.steps.push(Step::Items { node, next: 0 });
                    }
                },
                Step::Members { node, last } => {
                    let Node::Object(m) = &*node else { continue };
                    let next = match &last {
                        None => m.map.iter().next(),
                        Some(k) => m.map.range::<str, _>((Bound::Excluded(k.as_str()), Bound::Unbounded)).next(),
                    };
                    match next {
                        None => out.push('}'),
                        Some((key, child)) => {
                            if last.is_some() {
                                out.push(',');
                            }
                            // Serializing a string cannot fail.
                            out.push_str(&serde_json::to_string(key).unwrap_or_default());
                            out.push(':');
                            let (key, child) = (key.clone(), child.clone());
                            self.steps.push(Step::Members { node: node.clone(), last: Some(key) });
                            self.steps.push(Step::Node(child));
                        }
                    }
                }
                Step::Items { node, next } => {
                    let Node::Array(a) = &*node else { continue };
                    match a.items.get(next) {
                        None => out.push(']'),
                        Some(child) => {
                            if next > 0 {
                                out.push(',');
                            }
                            let child = child.clone();
                            self.steps.push(Step::Items { node: node.clone(), next: next + 1 });
                            self.steps.push(Step::Node(child));
                        }
                    }
                }
            }
        }
    }
}

impl Iterator for JsonChunks {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        let mut out = String::with_capacity(self.piece.min(1 << 16) + 64);
        self.fill(&mut out);
        (!out.is_empty()).then_some(out)
    }
}

/// Cuts a frame's text into `part` frames (P16): `{"type":"part","seq":N,"last":B,"data":S}`,
/// where the `data` strings, joined in order, are the frame's text. Each part frame is at most
/// `MAX_FRAME_BYTES` long.
pub struct PartWriter<F: FnMut(String)> {
    data: String,
    seq: u64,
    emit: F,
}

impl<F: FnMut(String)> PartWriter<F> {
    /// A writer that hands each finished part frame to `emit`.
    pub fn new(emit: F) -> Self {
        PartWriter { data: String::new(), seq: 0, emit }
    }

    /// Adds the next piece of the frame's text.
    pub fn push(&mut self, text: &str) {
        for c in text.chars() {
            let escaped_len = match c {
                '"' | '\\' => 2,
                c if c < ' ' => 6,
                c => c.len_utf8(),
            };
            if self.data.len() + escaped_len > MAX_FRAME_BYTES - PART_OVERHEAD {
                self.flush(false);
            }
            match c {
                '"' => self.data.push_str("\\\""),
                '\\' => self.data.push_str("\\\\"),
                c if c < ' ' => self.data.push_str(&format!("\\u{:04x}", c as u32)),
                c => self.data.push(c),
            }
        }
    }

    /// Sends the last part.
    pub fn finish(mut self) {
        self.flush(true);
    }

    fn flush(&mut self, last: bool) {
        let frame = format!(r#"{{"type":"part","seq":{},"last":{},"data":"{}"}}"#, self.seq, last, self.data);
        self.seq += 1;
        self.data.clear();
        (self.emit)(frame);
    }
}

/// Sends `text` whole when it fits in one frame, as `part` frames otherwise.
pub fn send_text(text: &str, mut emit: impl FnMut(String)) {
    if text.len() <= MAX_FRAME_BYTES {
        return emit(text.to_owned());
    }
    let mut parts = PartWriter::new(emit);
    parts.push(text);
    parts.finish();
}

/// Sends a frame made of `head`, `node` and `tail`: whole when it fits, as parts otherwise.
pub fn send_node_frame(head: String, node: Rc<Node>, tail: String, mut emit: impl FnMut(String)) {
    if head.len() + node.bytes() + tail.len() <= MAX_FRAME_BYTES {
        return emit(JsonChunks::new(head, node, tail, usize::MAX).collect());
    }
    let mut parts = PartWriter::new(emit);
    for piece in JsonChunks::new(head, node, tail, 64 * 1024) {
        parts.push(&piece);
    }
    parts.finish();
}

/// A frame's text with, optionally, a document in its middle that is written out only when the
/// frame is sent (a welcome's snapshot, a replace's new state).
#[derive(Debug, Clone, PartialEq)]
pub struct FrameText {
    /// The text before the document (or the whole frame).
    pub head: String,
    /// The document, if any.
    pub node: Option<Rc<Node>>,
    /// The text after it.
    pub tail: String,
}

impl FrameText {
    /// A frame that is all text.
    pub fn plain(text: String) -> FrameText {
        FrameText { head: text, node: None, tail: String::new() }
    }

    /// The JSON object `object` (serialized, ending in `}`) with member `key` set to `node`.
    pub fn with_member(object: String, key: &str, node: Rc<Node>) -> FrameText {
        let open = object.strip_suffix('}').unwrap_or(&object);
        let sep = if open.ends_with('{') { "" } else { "," };
        FrameText { head: format!("{open}{sep}\"{key}\":"), node: Some(node), tail: "}".into() }
    }

    /// The frame's length in bytes.
    pub fn len(&self) -> usize {
        self.head.len() + self.node.as_ref().map_or(0, |n| n.bytes()) + self.tail.len()
    }

    /// Whether the frame is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The whole text (costs the frame's size).
    pub fn to_text(&self) -> String {
        match &self.node {
            None => format!("{}{}", self.head, self.tail),
            Some(node) => JsonChunks::new(self.head.clone(), node.clone(), self.tail.clone(), usize::MAX).collect(),
        }
    }

    /// Hands the frame to `emit`: whole when it fits in one frame, as `part` frames otherwise.
    pub fn send(&self, emit: impl FnMut(String)) {
        match &self.node {
            None if self.tail.is_empty() => send_text(&self.head, emit),
            None => send_text(&self.to_text(), emit),
            Some(node) => send_node_frame(self.head.clone(), node.clone(), self.tail.clone(), emit),
        }
    }
}

/// The compact JSON text of a node in pieces of at most `max` bytes (cut at character
/// boundaries), for rows with a size limit.
pub struct BoundedChunks {
    inner: JsonChunks,
    buf: String,
    max: usize,
}

impl BoundedChunks {
    /// The text of `node` in pieces of at most `max` bytes (at least 4).
    pub fn new(node: Rc<Node>, max: usize) -> BoundedChunks {
        let max = max.max(4);
        BoundedChunks { inner: JsonChunks::new(String::new(), node, String::new(), max / 4), buf: String::new(), max }
    }
}

impl Iterator for BoundedChunks {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        while self.buf.len() < self.max {
            match self.inner.next() {
                Some(piece) => self.buf.push_str(&piece),
                None => break,
            }
        }
        if self.buf.is_empty() {
            return None;
        }
        let mut cut = self.max.min(self.buf.len());
        while !self.buf.is_char_boundary(cut) {
            cut -= 1;
        }
        let rest = self.buf.split_off(cut);
        Some(std::mem::replace(&mut self.buf, rest))
    }
}
