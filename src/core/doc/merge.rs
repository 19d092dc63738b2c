//! RFC 7396 JSON Merge Patch on the document tree: members of large objects are edited in
//! place, a leaf the patch reaches is opened and merged as a value, and the state's size is
//! checked once at the end (the result is at most the state plus the patch, which the frame or
//! body limit already bounds); over the bound, the write is rolled back.

use std::rc::Rc;

use serde_json::Value;

use super::txn::{RollbackError, Seg, Txn};
use super::{Document, Node};
use crate::core::bounded::Bounds;
use crate::core::error::ApiError;

/// Merges `patch` into `doc` under `bounds`; on any error `doc` is unchanged.
pub fn apply_merge(doc: &mut Document, patch: &Value, bounds: &Bounds) -> Result<(), ApiError> {
    // Merged values come from the patch, at the same positions: the result is no deeper than
    // the deeper of the state and the patch.
    bounds.check_depth(patch)?;
    let mut txn = Txn::new(&mut doc.root);
    let result = merge_at(&mut txn, &mut Vec::new(), patch).and_then(|()| {
        let size = txn.root().bytes();
        if size > bounds.max_bytes {
            return Err(ApiError::StateTooLarge { size, limit: bounds.max_bytes });
        }
        Ok(())
    });
    if let Err(e) = result {
        txn.rollback().map_err(|r| r.after(&e))?;
        return Err(e);
    }
    Ok(())
}

/// Merges `patch` into the node at `path`.
fn merge_at(txn: &mut Txn, path: &mut Vec<Seg>, patch: &Value) -> Result<(), ApiError> {
    let Value::Object(members) = patch else {
        // A non-object patch replaces the target.
        return txn.put(path, Rc::new(Node::from_value(patch)?)).map(drop);
    };
    // Only a borrow of the target here: a second reference would make the edits below copy
    // the container (copy on write).
    let target = txn.get(path).ok_or_else(|| ApiError::Internal("merge target vanished".into()))?;
    let leaf_value = match &**target {
        Node::Leaf(_) => Some(target.to_value()?),
        _ => None,
    };
    let is_object = matches!(&**target, Node::Object(_));
    match (is_object, leaf_value) {
        (true, _) => {
            for (key, value) in members {
                let present = object_has(txn, path, key);
                path.push(Seg::Key(key.clone()));
                match value {
                    Value::Null if present => drop(txn.remove(path)?),
                    Value::Null => {}
                    Value::Object(_) if present => merge_at(txn, path, value)?,
                    _ => drop(txn.put(path, Rc::new(Node::from_value(&merged(Value::Null, value))?))?),
                }
                path.pop();
            }
            Ok(())
        }
        (false, Some(current)) => txn.put(path, Rc::new(Node::from_value(&merged(current, patch))?)).map(drop),
        // An array becomes `{}` and then takes the patch.
        (false, None) => txn.put(path, Rc::new(Node::from_value(&merged(Value::Null, patch))?)).map(drop),
    }
}

fn object_has(txn: &Txn, path: &[Seg], key: &str) -> bool {
    matches!(txn.get(path).map(|n| &**n), Some(Node::Object(m)) if m.map.contains_key(key))
}

/// `patch` merged into `target` as values (for small targets).
fn merged(mut target: Value, patch: &Value) -> Value {
    json_patch::merge(&mut target, patch);
    target
}
