//! Reading JSON text straight into a document tree, without building a `serde_json::Value` of
//! the whole state first (which takes several times the text's size in memory): each finished
//! container becomes one leaf when it is small enough, or a container of its children.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::rc::Rc;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::{finish_array, finish_object, Leaf, Node};

/// Reads a whole JSON text into a document tree.
pub fn parse_document(text: &str) -> Result<Node, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let built = Built::deserialize(&mut de)?;
    de.end()?;
    Ok(built.0)
}

/// Reads a whole JSON text given as bytes (a request body) into a document tree.
pub fn parse_document_slice(bytes: &[u8]) -> Result<Node, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let built = Built::deserialize(&mut de)?;
    de.end()?;
    Ok(built.0)
}

/// Reads a JSON text that arrives in pieces (a snapshot's chunk rows) into a document tree.
pub fn parse_document_from(reader: impl io::Read) -> Result<Node, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_reader(io::BufReader::with_capacity(64 * 1024, reader));
    let built = Built::deserialize(&mut de)?;
    de.end()?;
    Ok(built.0)
}

/// A node built while parsing.
struct Built(Node);

fn scalar(value: Value) -> Built {
    // Serializing a scalar `Value` cannot fail.
    let text = serde_json::to_string(&value).unwrap_or_default();
    Built(Node::Leaf(Leaf { text: text.into_boxed_str(), depth: 0 }))
}

impl<'de> Deserialize<'de> for Built {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(BuiltVisitor)
    }
}

struct BuiltVisitor;

impl<'de> Visitor<'de> for BuiltVisitor {
    type Value = Built;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Built, E> {
        Ok(scalar(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Built, E> {
        Ok(scalar(Value::from(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Built, E> {
        Ok(scalar(Value::from(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Built, E> {
        Ok(scalar(Value::from(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Built, E> {
        Ok(scalar(Value::String(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Built, E> {
        Ok(scalar(Value::String(v)))
    }
    fn visit_unit<E>(self) -> Result<Built, E> {
        Ok(scalar(Value::Null))
    }
    fn visit_none<E>(self) -> Result<Built, E> {
        Ok(scalar(Value::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Built, A::Error> {
        let mut items = Vec::new();
        while let Some(Built(node)) = seq.next_element::<Built>()? {
            items.push(Rc::new(node));
        }
        Ok(Built(finish_array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Built, A::Error> {
        let mut map = BTreeMap::new();
        while let Some((key, Built(node))) = access.next_entry::<String, Built>()? {
            map.insert(key, Rc::new(node));
        }
        Ok(Built(finish_object(map)))
    }
}
