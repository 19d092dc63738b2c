//! The session's document as a tree that stays close to its JSON size in memory: subtrees of
//! at most `LEAF_BYTES` serialized are kept as their compact JSON text (a leaf); larger objects
//! and arrays are kept as containers of shared (`Rc`) children. A write opens only the leaves
//! on the paths it touches, so its cost follows the patch, not the state; a reader (a GET, a
//! welcome, a snapshot) holds the root it started from while writes go on (copy on write).
//!
//! The serialization is byte-for-byte `serde_json::to_string` of the same value (keys sorted),
//! and every container knows its serialized size, so the size bound is checked exactly.

use std::collections::BTreeMap;
use std::io;
use std::rc::Rc;

use serde_json::Value;

use super::error::ApiError;
use super::measure::{depth, key_size};

mod build;
mod merge;
mod patch;
mod stream;
mod txn;

pub use build::{parse_document, parse_document_from, parse_document_slice};
pub use merge::apply_merge;
pub use patch::apply_patch;
pub use stream::{send_node_frame, send_text, BoundedChunks, FrameText, JsonChunks, PartWriter, MAX_FRAME_BYTES};

/// Subtrees up to this many bytes serialized are kept as one JSON text.
pub const LEAF_BYTES: usize = 4096;

#[cfg(test)]
thread_local! {
    /// Tests lower the leaf size to exercise containers with small values.
    pub(crate) static TEST_LEAF_BYTES: std::cell::Cell<usize> = const { std::cell::Cell::new(LEAF_BYTES) };
}

/// The leaf size in effect.
fn leaf_bytes() -> usize {
    #[cfg(test)]
    return TEST_LEAF_BYTES.with(|c| c.get());
    #[cfg(not(test))]
    LEAF_BYTES
}

/// One node of the document tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// A subtree held as its compact JSON text.
    Leaf(Leaf),
    /// An object too large to be one leaf.
    Object(Members),
    /// An array too large to be one leaf.
    Array(Items),
}

/// A subtree held as its compact JSON text.
#[derive(Debug, Clone, PartialEq)]
pub struct Leaf {
    /// The compact JSON text (`serde_json::to_string` of the value).
    pub text: Box<str>,
    /// How many containers deep the value is.
    pub depth: usize,
}

/// The members of a large object, in key order, and the object's serialized size.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Members {
    /// The members, sorted by key as `serde_json` writes them.
    pub map: BTreeMap<String, Rc<Node>>,
    /// The object's serialized size in bytes.
    pub bytes: usize,
}

/// The items of a large array and the array's serialized size.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Items {
    /// The items, in order.
    pub items: Vec<Rc<Node>>,
    /// The array's serialized size in bytes.
    pub bytes: usize,
}

impl Node {
    /// The node's serialized size in bytes.
    pub fn bytes(&self) -> usize {
        match self {
            Node::Leaf(l) => l.text.len(),
            Node::Object(m) => m.bytes,
            Node::Array(a) => a.bytes,
        }
    }

    /// How many containers deep the node's value is (0 for a scalar).
    pub fn depth(&self) -> usize {
        match self {
            Node::Leaf(l) => l.depth,
            Node::Object(m) => 1 + m.map.values().map(|c| c.depth()).max().unwrap_or(0),
            Node::Array(a) => 1 + a.items.iter().map(|c| c.depth()).max().unwrap_or(0),
        }
    }

    /// A leaf holding `value` (which must have been measured or be small).
    pub fn leaf(value: &Value) -> Result<Node, ApiError> {
        let text = serde_json::to_string(value).map_err(|e| ApiError::Internal(format!("serialize leaf: {e}")))?;
        Ok(Node::Leaf(Leaf { text: text.into_boxed_str(), depth: depth(value) }))
    }

    /// The node for `value`: one leaf when it is small, containers of nodes otherwise (built
    /// bottom-up, so each part is serialized once).
    pub fn from_value(value: &Value) -> Result<Node, ApiError> {
        Ok(match value {
            Value::Object(map) => {
                let mut members = BTreeMap::new();
                for (k, v) in map {
                    members.insert(k.clone(), Rc::new(Node::from_value(v)?));
                }
                finish_object(members)
            }
            Value::Array(items) => {
                finish_array(items.iter().map(|v| Node::from_value(v).map(Rc::new)).collect::<Result<Vec<_>, _>>()?)
            }
            scalar => Node::leaf(scalar)?,
        })
    }

    /// The value the node holds. Costs the node's size: for small nodes and tests.
    pub fn to_value(&self) -> Result<Value, ApiError> {
        Ok(match self {
            Node::Leaf(l) => serde_json::from_str(&l.text).map_err(|e| ApiError::Internal(format!("leaf: {e}")))?,
            Node::Object(m) => {
                let mut map = serde_json::Map::new();
                for (k, v) in &m.map {
                    map.insert(k.clone(), v.to_value()?);
                }
                Value::Object(map)
            }
            Node::Array(a) => Value::Array(a.items.iter().map(|c| c.to_value()).collect::<Result<_, _>>()?),
        })
    }

    /// Writes the compact JSON text of the node.
    pub fn write_json(&self, out: &mut impl io::Write) -> io::Result<()> {
        match self {
            Node::Leaf(l) => out.write_all(l.text.as_bytes()),
            Node::Object(m) => {
                out.write_all(b"{")?;
                for (i, (k, v)) in m.map.iter().enumerate() {
                    if i > 0 {
                        out.write_all(b",")?;
                    }
                    serde_json::to_writer(&mut *out, k)?;
                    out.write_all(b":")?;
                    v.write_json(out)?;
                }
                out.write_all(b"}")
            }
            Node::Array(a) => {
                out.write_all(b"[")?;
                for (i, v) in a.items.iter().enumerate() {
                    if i > 0 {
                        out.write_all(b",")?;
                    }
                    v.write_json(out)?;
                }
                out.write_all(b"]")
            }
        }
    }

    /// The compact JSON text of the node. Costs the node's size.
    pub fn to_json(&self) -> String {
        let mut out = Vec::with_capacity(self.bytes());
        // Writing to a Vec cannot fail, and every piece written is valid UTF-8.
        let _ = self.write_json(&mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// An array of these items: one leaf when it is small and every item is a leaf.
pub fn finish_array(items: Vec<Rc<Node>>) -> Node {
    let bytes = array_bytes(&items);
    if bytes > leaf_bytes() || !items.iter().all(|c| matches!(**c, Node::Leaf(_))) {
        return Node::Array(Items { items, bytes });
    }
    let mut text = String::with_capacity(bytes);
    text.push('[');
    for (i, c) in items.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        push_leaf(&mut text, c);
    }
    text.push(']');
    Node::Leaf(Leaf { text: text.into_boxed_str(), depth: 1 + max_depth(items.iter()) })
}

/// An object of these members: one leaf when it is small and every member is a leaf.
pub fn finish_object(map: BTreeMap<String, Rc<Node>>) -> Node {
    let bytes = object_bytes(&map);
    if bytes > leaf_bytes() || !map.values().all(|c| matches!(**c, Node::Leaf(_))) {
        return Node::Object(Members { map, bytes });
    }
    let mut text = String::with_capacity(bytes);
    text.push('{');
    for (i, (k, c)) in map.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        // Serializing a string cannot fail.
        text.push_str(&serde_json::to_string(k).unwrap_or_default());
        text.push(':');
        push_leaf(&mut text, c);
    }
    text.push('}');
    Node::Leaf(Leaf { text: text.into_boxed_str(), depth: 1 + max_depth(map.values()) })
}

fn push_leaf(text: &mut String, node: &Node) {
    if let Node::Leaf(l) = node {
        text.push_str(&l.text);
    }
}

fn max_depth<'a>(nodes: impl Iterator<Item = &'a Rc<Node>>) -> usize {
    nodes.map(|n| n.depth()).max().unwrap_or(0)
}

/// The serialized size of an object with these members.
pub fn object_bytes(map: &BTreeMap<String, Rc<Node>>) -> usize {
    2 + map.iter().map(|(k, v)| key_size(k) + 1 + v.bytes()).sum::<usize>() + map.len().saturating_sub(1)
}

/// The serialized size of an array with these items.
pub fn array_bytes(items: &[Rc<Node>]) -> usize {
    2 + items.iter().map(|c| c.bytes()).sum::<usize>() + items.len().saturating_sub(1)
}

/// A session's state: the root node.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The root of the tree; cloning it (cheap) gives a reader a stable view.
    pub root: Rc<Node>,
}

impl Document {
    /// The document holding `value`.
    pub fn from_value(value: &Value) -> Result<Document, ApiError> {
        Ok(Document { root: Rc::new(Node::from_value(value)?) })
    }

    /// The serialized size of the state.
    pub fn bytes(&self) -> usize {
        self.root.bytes()
    }

    /// The state as a value (costs its size; for small states and tests).
    pub fn to_value(&self) -> Result<Value, ApiError> {
        self.root.to_value()
    }

    /// The compact JSON text of the state (costs its size).
    pub fn to_json(&self) -> String {
        self.root.to_json()
    }
}

#[cfg(test)]
mod tests;
