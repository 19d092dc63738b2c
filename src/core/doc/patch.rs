//! RFC 6902 JSON Patch on the document tree, one operation at a time under the session's
//! bounds. An operation whose target lies inside a leaf opens that leaf only (parse, apply,
//! rebuild); one on a large container edits the container in place. `copy` shares the copied
//! subtree instead of duplicating it. Any failure rolls the whole patch back.

use std::rc::Rc;

use json_patch::jsonptr::{Pointer, PointerBuf};
use json_patch::{AddOperation, PatchOperation, RemoveOperation, ReplaceOperation};
use serde_json::Value;

use super::txn::{child, RollbackError, Seg, Txn};
use super::{Document, Node};
use crate::core::bounded::Bounds;
use crate::core::error::ApiError;

/// Where a pointer leads in the tree.
enum Place {
    /// To a node reached through containers only (for `add`: possibly a new member or item).
    At(Vec<Seg>),
    /// Into the leaf at `leaf`, at `rest` inside its value.
    InLeaf { leaf: Vec<Seg>, rest: PointerBuf },
}

/// Applies `ops` to `doc` atomically under `bounds`: the size and depth are checked after every
/// operation, so no patch grows the state past them; on any error `doc` is unchanged.
pub fn apply_patch(doc: &mut Document, ops: &[PatchOperation], bounds: &Bounds, version: u64) -> Result<(), ApiError> {
    if ops.len() > bounds.max_ops {
        return Err(ApiError::TooManyOps { count: ops.len(), limit: bounds.max_ops });
    }
    let mut txn = Txn::new(&mut doc.root);
    for (index, op) in ops.iter().enumerate() {
        if let Err(e) = apply_one(&mut txn, op, bounds).map_err(|fail| fail.into_error(index, version)) {
            txn.rollback().map_err(|r| r.after(&e))?;
            return Err(e);
        }
    }
    Ok(())
}

/// Why one operation failed.
enum Fail {
    /// The operation does not apply: what, and where.
    Conflict(&'static str, String),
    /// A bound or an internal error.
    Error(ApiError),
}

impl From<ApiError> for Fail {
    fn from(e: ApiError) -> Fail {
        Fail::Error(e)
    }
}

impl Fail {
    fn into_error(self, index: usize, current_version: u64) -> ApiError {
        match self {
            Fail::Conflict(what, path) => {
                ApiError::PatchConflict { reason: format!("operation {index}: {what} at \"{path}\""), current_version }
            }
            Fail::Error(e) => e,
        }
    }
}

fn conflict(what: &'static str, path: &Pointer) -> Fail {
    Fail::Conflict(what, path.to_string())
}

fn apply_one(txn: &mut Txn, op: &PatchOperation, bounds: &Bounds) -> Result<(), Fail> {
    match op {
        PatchOperation::Add(add) => {
            let node = Rc::new(Node::from_value(&add.value)?);
            add_node(txn, &add.path, node, bounds)
        }
        PatchOperation::Remove(remove) => remove_node(txn, &remove.path).map(drop),
        PatchOperation::Replace(replace) => {
            let node = Rc::new(Node::from_value(&replace.value)?);
            if replace.path.is_root() {
                return put_checked(txn, &[], node, bounds);
            }
            remove_then_add(txn, &replace.path, node, bounds)
        }
        PatchOperation::Copy(copy) => {
            let node = get_node(txn, &copy.from)?;
            add_node(txn, &copy.path, node, bounds)
        }
        PatchOperation::Move(mv) => {
            if mv.from == mv.path {
                return get_node(txn, &mv.from).map(drop); // a no-op when there is a value (RFC 6902, 4.4)
            }
            if mv.path.starts_with(&mv.from) {
                return Err(conflict("cannot move a value into itself", &mv.path));
            }
            let node = remove_node(txn, &mv.from)?;
            add_node(txn, &mv.path, node, bounds)
        }
        PatchOperation::Test(test) => {
            let node = get_node(txn, &test.path)?;
            let expected = serde_json::to_string(&test.value).map_err(|e| ApiError::Internal(e.to_string()))?;
            if node.bytes() != expected.len() || node.to_json() != expected {
                return Err(conflict("value differs", &test.path));
            }
            Ok(())
        }
    }
}

/// `replace` below the root: the value goes where the old one was (an array keeps its length).
fn remove_then_add(txn: &mut Txn, path: &Pointer, node: Rc<Node>, bounds: &Bounds) -> Result<(), Fail> {
    match locate(txn.root(), path, Mode::Existing).ok_or_else(|| conflict("no value", path))? {
        Place::At(at) => put_checked(txn, &at, node, bounds),
        Place::InLeaf { leaf, rest } => {
            let value = node.to_value()?;
            let op = PatchOperation::Replace(ReplaceOperation { path: rest, value });
            edit_leaf(txn, &leaf, &op, path, bounds)
        }
    }
}

/// The node at `path`; inside a leaf, a node built from the value there (a small one).
fn get_node(txn: &Txn, path: &Pointer) -> Result<Rc<Node>, Fail> {
    match locate(txn.root(), path, Mode::Existing).ok_or_else(|| conflict("no value", path))? {
        Place::At(at) => txn.get(&at).cloned().ok_or_else(|| conflict("no value", path)),
        Place::InLeaf { leaf, rest } => {
            let value = leaf_value(txn, &leaf)?;
            let inner = rest.resolve(&value).map_err(|_| conflict("no value", path))?;
            Ok(Rc::new(Node::from_value(inner)?))
        }
    }
}

fn remove_node(txn: &mut Txn, path: &Pointer) -> Result<Rc<Node>, Fail> {
    let place = locate(txn.root(), path, Mode::Existing).ok_or_else(|| conflict("no value", path))?;
    match place {
        Place::At(at) if at.is_empty() => Err(conflict("cannot remove the root", path)),
        Place::At(at) => Ok(txn.remove(&at)?),
        Place::InLeaf { leaf, rest } => {
            let value = leaf_value(txn, &leaf)?;
            let inner = rest.resolve(&value).map_err(|_| conflict("no value", path))?;
            let removed = Rc::new(Node::from_value(inner)?);
            let op = PatchOperation::Remove(RemoveOperation { path: rest });
            edit_leaf(txn, &leaf, &op, path, &Bounds { max_bytes: usize::MAX, max_depth: usize::MAX, max_ops: 0 })?;
            Ok(removed)
        }
    }
}

fn add_node(txn: &mut Txn, path: &Pointer, node: Rc<Node>, bounds: &Bounds) -> Result<(), Fail> {
    match locate(txn.root(), path, Mode::Add).ok_or_else(|| conflict("no parent", path))? {
        Place::At(at) => {
            let is_new_item = matches!(at.last(), Some(Seg::Index(_)));
            if is_new_item {
                txn.insert(&at, node.clone())?;
                check(txn, &at, &node, bounds)
            } else {
                put_checked(txn, &at, node, bounds)
            }
        }
        Place::InLeaf { leaf, rest } => {
            let value = node.to_value()?;
            let op = PatchOperation::Add(AddOperation { path: rest, value });
            edit_leaf(txn, &leaf, &op, path, bounds)
        }
    }
}

fn put_checked(txn: &mut Txn, at: &[Seg], node: Rc<Node>, bounds: &Bounds) -> Result<(), Fail> {
    txn.put(at, node.clone())?;
    check(txn, at, &node, bounds)
}

/// Checks the state's size, and the depth of what was just placed at `at`.
fn check(txn: &Txn, at: &[Seg], placed: &Node, bounds: &Bounds) -> Result<(), Fail> {
    let size = txn.root().bytes();
    let depth = at.len() + placed.depth();
    if depth > bounds.max_depth {
        return Err(ApiError::StateTooDeep { depth, limit: bounds.max_depth }.into());
    }
    if size > bounds.max_bytes {
        return Err(ApiError::StateTooLarge { size, limit: bounds.max_bytes }.into());
    }
    Ok(())
}

fn leaf_value(txn: &Txn, leaf: &[Seg]) -> Result<Value, Fail> {
    let node = txn.get(leaf).ok_or_else(|| Fail::Error(ApiError::Internal("leaf vanished".into())))?;
    Ok(node.to_value()?)
}

/// Applies `op` (its path relative to the leaf) to the leaf at `leaf` and puts the result back.
fn edit_leaf(txn: &mut Txn, leaf: &[Seg], op: &PatchOperation, path: &Pointer, bounds: &Bounds) -> Result<(), Fail> {
    let mut value = leaf_value(txn, leaf)?;
    json_patch::patch_unsafe(&mut value, std::slice::from_ref(op)).map_err(|_| conflict("cannot apply", path))?;
    let node = Rc::new(Node::from_value(&value)?);
    put_checked(txn, leaf, node, bounds)
}

/// Whether a pointer names an existing value or the target of an `add`.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Existing,
    Add,
}

/// Follows `ptr` through the tree's containers.
fn locate(root: &Node, ptr: &Pointer, mode: Mode) -> Option<Place> {
    let mut at = Vec::new();
    let mut node = root;
    let tokens: Vec<_> = ptr.tokens().collect();
    for (i, token) in tokens.iter().enumerate() {
        let last = i + 1 == tokens.len();
        let seg = match node {
            Node::Leaf(_) => {
                let rest = PointerBuf::from_tokens(tokens[i..].iter().cloned());
                return Some(Place::InLeaf { leaf: at, rest });
            }
            Node::Object(_) => Seg::Key(token.decoded().into_owned()),
            Node::Array(a) => {
                let index = token.to_index().ok()?;
                let i = if last && mode == Mode::Add {
                    index.for_len_incl(a.items.len()).ok()?
                } else {
                    index.for_len(a.items.len()).ok()?
                };
                Seg::Index(i)
            }
        };
        match child(node, &seg) {
            Some(next) if !(last && mode == Mode::Add) => node = next,
            None if last && mode == Mode::Add => {}
            Some(_) => {}
            None => return None,
        }
        at.push(seg);
    }
    Some(Place::At(at))
}
