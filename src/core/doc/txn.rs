//! Edits of the document tree in place, with an undo log: a write that fails halfway (a JSON
//! Patch operation that does not apply, a bound crossed) is rolled back step by step, so a
//! rejected write changes nothing and nothing is cloned up front. Each step keeps every
//! container's serialized size exact by adding the step's size change along its path.

use std::rc::Rc;

use super::{Items, Members, Node};
use crate::core::error::ApiError;
use crate::core::measure::key_size;

/// One step of a path through containers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// An object member.
    Key(String),
    /// An array item.
    Index(usize),
}

/// How to undo one step.
enum Undo {
    /// Put `old` back at `at` (or remove what is there when there was nothing).
    Put { at: Vec<Seg>, old: Option<Rc<Node>> },
    /// Remove the array item inserted at `at`.
    Inserted { at: Vec<Seg> },
    /// Insert `old` back at `at` (an array item).
    RemovedItem { at: Vec<Seg>, old: Rc<Node> },
}

/// A write in progress on a document's root.
pub struct Txn<'a> {
    root: &'a mut Rc<Node>,
    undo: Vec<Undo>,
}

/// A failed rollback keeps the cause of the write's failure too.
pub trait RollbackError {
    /// This rollback failure, naming the error that made the write roll back.
    fn after(self, cause: &ApiError) -> ApiError;
}

impl RollbackError for ApiError {
    fn after(self, cause: &ApiError) -> ApiError {
        ApiError::Internal(format!("{self:?} while rolling back after {cause:?}"))
    }
}

fn broken(what: &str) -> ApiError {
    ApiError::Internal(format!("document tree: {what}"))
}

impl<'a> Txn<'a> {
    /// Starts a write on `root`.
    pub fn new(root: &'a mut Rc<Node>) -> Txn<'a> {
        Txn { root, undo: Vec::new() }
    }

    /// The root as it is now.
    pub fn root(&self) -> &Rc<Node> {
        self.root
    }

    /// Undoes every step, newest first. Undo steps are the inverses of steps that succeeded, so
    /// they cannot fail unless the tree is broken; a failure is logged by the caller's error.
    pub fn rollback(mut self) -> Result<(), ApiError> {
        while let Some(step) = self.undo.pop() {
            match step {
                Undo::Put { at, old: Some(old) } => self.put_raw(&at, old).map(drop)?,
                Undo::Put { at, old: None } => self.remove_raw(&at).map(drop)?,
                Undo::Inserted { at } => self.remove_raw(&at).map(drop)?,
                Undo::RemovedItem { at, old } => self.insert_raw(&at, old)?,
            }
        }
        Ok(())
    }

    /// The node at `path` (which must exist).
    pub fn get(&self, path: &[Seg]) -> Option<&Rc<Node>> {
        let mut node = &*self.root;
        for seg in path {
            node = child(node, seg)?;
        }
        Some(node)
    }

    /// Sets the node at `path` (an object member, added or replaced; an existing array item;
    /// or the root when `path` is empty); returns what was there.
    pub fn put(&mut self, path: &[Seg], node: Rc<Node>) -> Result<Option<Rc<Node>>, ApiError> {
        let old = self.put_raw(path, node)?;
        self.undo.push(Undo::Put { at: path.to_vec(), old: old.clone() });
        Ok(old)
    }

    /// Inserts an array item at `path` (its last step an index up to the array's length).
    pub fn insert(&mut self, path: &[Seg], node: Rc<Node>) -> Result<(), ApiError> {
        self.insert_raw(path, node)?;
        self.undo.push(Undo::Inserted { at: path.to_vec() });
        Ok(())
    }

    /// Removes the object member or array item at `path`; returns it.
    pub fn remove(&mut self, path: &[Seg]) -> Result<Rc<Node>, ApiError> {
        let old = self.remove_raw(path)?;
        let undo = match path.last() {
            Some(Seg::Index(_)) => Undo::RemovedItem { at: path.to_vec(), old: old.clone() },
            _ => Undo::Put { at: path.to_vec(), old: Some(old.clone()) },
        };
        self.undo.push(undo);
        Ok(old)
    }

    fn put_raw(&mut self, path: &[Seg], node: Rc<Node>) -> Result<Option<Rc<Node>>, ApiError> {
        let Some((last, parent)) = path.split_last() else {
            return Ok(Some(std::mem::replace(self.root, node)));
        };
        let mut old = None;
        edit(self.root, parent, &mut |container| match (container, last) {
            (Node::Object(m), Seg::Key(k)) => {
                let added = node.bytes() as isize;
                let delta = match m.map.insert(k.clone(), node.clone()) {
                    Some(prev) => {
                        let d = added - prev.bytes() as isize;
                        old = Some(prev);
                        d
                    }
                    None => (key_size(k) + 1) as isize + added + isize::from(m.map.len() > 1),
                };
                Ok(delta)
            }
            (Node::Array(a), Seg::Index(i)) => {
                let slot = a.items.get_mut(*i).ok_or_else(|| broken("no item to replace"))?;
                let prev = std::mem::replace(slot, node.clone());
                let d = node.bytes() as isize - prev.bytes() as isize;
                old = Some(prev);
                Ok(d)
            }
            _ => Err(broken("put into a non-container")),
        })?;
        Ok(old)
    }

    fn insert_raw(&mut self, path: &[Seg], node: Rc<Node>) -> Result<(), ApiError> {
        let Some((Seg::Index(i), parent)) = path.split_last() else { return Err(broken("insert without an index")) };
        edit(self.root, parent, &mut |container| match container {
            Node::Array(Items { items, .. }) if *i <= items.len() => {
                let delta = node.bytes() as isize + isize::from(!items.is_empty());
                items.insert(*i, node.clone());
                Ok(delta)
            }
            _ => Err(broken("insert into a non-array")),
        })
        .map(drop)
    }

    fn remove_raw(&mut self, path: &[Seg]) -> Result<Rc<Node>, ApiError> {
        let Some((last, parent)) = path.split_last() else { return Err(broken("remove the root")) };
        let mut old = None;
        edit(self.root, parent, &mut |container| {
            let (removed, key_bytes, left) = match (container, last) {
                (Node::Object(Members { map, .. }), Seg::Key(k)) => {
                    let r = map.remove(k).ok_or_else(|| broken("no member to remove"))?;
                    (r, key_size(k) + 1, map.len())
                }
                (Node::Array(Items { items, .. }), Seg::Index(i)) if *i < items.len() => {
                    (items.remove(*i), 0, items.len())
                }
                _ => return Err(broken("remove from a non-container")),
            };
            let delta = -((removed.bytes() + key_bytes) as isize) - isize::from(left > 0);
            old = Some(removed);
            Ok(delta)
        })?;
        old.ok_or_else(|| broken("nothing removed"))
    }
}

/// The child of a container at `seg`.
pub fn child<'n>(node: &'n Node, seg: &Seg) -> Option<&'n Rc<Node>> {
    match (node, seg) {
        (Node::Object(m), Seg::Key(k)) => m.map.get(k),
        (Node::Array(a), Seg::Index(i)) => a.items.get(*i),
        _ => None,
    }
}

/// Runs `f` on the container at `path` (made unique: copy on write), which returns the change
/// of that container's size; the change is added to it and to every container above it.
fn edit(
    node: &mut Rc<Node>,
    path: &[Seg],
    f: &mut dyn FnMut(&mut Node) -> Result<isize, ApiError>,
) -> Result<isize, ApiError> {
    let n = Rc::make_mut(node);
    let delta = match path.split_first() {
        None => f(n)?,
        Some((seg, rest)) => {
            let next = match (&mut *n, seg) {
                (Node::Object(m), Seg::Key(k)) => m.map.get_mut(k),
                (Node::Array(a), Seg::Index(i)) => a.items.get_mut(*i),
                _ => None,
            };
            edit(next.ok_or_else(|| broken("path leaves the tree"))?, rest, f)?
        }
    };
    match n {
        Node::Object(m) => m.bytes = m.bytes.saturating_add_signed(delta),
        Node::Array(a) => a.bytes = a.bytes.saturating_add_signed(delta),
        Node::Leaf(_) => return Err(broken("edit inside a leaf")),
    }
    Ok(delta)
}
