//! Applying a change under the session's bounds *while* it is applied, not after: a JSON Patch
//! is applied one operation at a time, and before each one the size and depth it would lead to
//! are computed from the sizes of the values involved. An operation that would cross a bound
//! stops the write there, so no request can make the object build a state larger than the
//! limit (a `copy` of the root doubles the state; 20 of them would need 2^20 times the memory).
//!
//! The tracked size is exact (the compact serialization's length), so the final state needs no
//! second measurement; a property test checks it against `serde_json::to_string`.

use json_patch::jsonptr::resolve::Resolve;
use json_patch::jsonptr::Pointer;
use json_patch::{AddOperation, PatchOperation, RemoveOperation};
use serde_json::Value;

use super::error::ApiError;
use super::limits::Limits;
use super::measure::{depth, json_size, key_size};

/// The bounds a session's state and its writes must stay within.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Largest serialized state, in bytes.
    pub max_bytes: usize,
    /// Deepest nesting of containers in the state.
    pub max_depth: usize,
    /// Most operations in one JSON Patch.
    pub max_ops: usize,
}

impl Bounds {
    /// The bounds configured in `limits`.
    pub fn of(limits: &Limits) -> Bounds {
        Bounds { max_bytes: limits.max_state_bytes, max_depth: limits.max_state_depth, max_ops: limits.max_patch_ops }
    }

    /// Checks a whole value (a new state or a presence value) against the depth bound.
    pub fn check_depth(&self, value: &Value) -> Result<(), ApiError> {
        let d = depth(value);
        if d > self.max_depth {
            return Err(ApiError::StateTooDeep { depth: d, limit: self.max_depth });
        }
        Ok(())
    }

    fn check(&self, size: usize, depth: usize) -> Result<usize, ApiError> {
        if depth > self.max_depth {
            return Err(ApiError::StateTooDeep { depth, limit: self.max_depth });
        }
        if size > self.max_bytes {
            return Err(ApiError::StateTooLarge { size, limit: self.max_bytes });
        }
        Ok(size)
    }
}

/// Replaces `state` (of serialized size `size`) by `next`; returns the new size.
pub fn set_bounded(state: &mut Value, next: &Value, bounds: &Bounds) -> Result<usize, ApiError> {
    bounds.check_depth(next)?;
    let size = bounds.check(json_size(next), 0)?;
    *state = next.clone();
    Ok(size)
}

/// Applies an RFC 7396 merge patch; returns the new size. The result is at most the state plus
/// the patch (already bounded by the body or frame limit), so it is measured once afterwards.
pub fn merge_bounded(state: &mut Value, patch: &Value, bounds: &Bounds) -> Result<usize, ApiError> {
    bounds.check_depth(patch)?;
    json_patch::merge(state, patch);
    bounds.check_depth(state)?;
    bounds.check(json_size(state), 0)
}

/// Applies an RFC 6902 JSON Patch operation by operation, checking the size and depth each
/// operation leads to before it runs; returns the new size. On error `state` may be partly
/// patched: callers work on a copy.
pub fn patch_bounded(
    state: &mut Value,
    size: usize,
    ops: &[PatchOperation],
    bounds: &Bounds,
    current_version: u64,
) -> Result<usize, ApiError> {
    if ops.len() > bounds.max_ops {
        return Err(ApiError::TooManyOps { count: ops.len(), limit: bounds.max_ops });
    }
    let conflict = |reason: String| ApiError::PatchConflict { reason, current_version };
    let mut size = size;
    for (index, op) in ops.iter().enumerate() {
        let fail = |what: &str, path: &Pointer| conflict(format!("operation {index}: {what} at \"{path}\""));
        size = match op {
            PatchOperation::Add(add) => {
                let next =
                    insert_size(state, size, &add.path, json_size(&add.value)).ok_or(fail("no parent", &add.path))?;
                bounds.check(next, add.path.count() + depth(&add.value))?
            }
            PatchOperation::Copy(copy) => {
                let value = state.resolve(&copy.from).map_err(|_| fail("no value", &copy.from))?;
                let (value_size, value_depth) = (json_size(value), depth(value));
                let next = insert_size(state, size, &copy.path, value_size).ok_or(fail("no parent", &copy.path))?;
                bounds.check(next, copy.path.count() + value_depth)?
            }
            PatchOperation::Replace(replace) => {
                let old = state.resolve(&replace.path).map_err(|_| fail("no value", &replace.path))?;
                let next = size.saturating_sub(json_size(old)) + json_size(&replace.value);
                bounds.check(next, replace.path.count() + depth(&replace.value))?
            }
            PatchOperation::Remove(remove) => {
                size.saturating_sub(removed_size(state, &remove.path).ok_or(fail("no value", &remove.path))?)
            }
            PatchOperation::Move(mv) => {
                if mv.from == mv.path {
                    // A no-op when there is a value there (RFC 6902, 4.4), even at the root.
                    state.resolve(&mv.from).map_err(|_| fail("no value", &mv.from))?;
                    continue;
                } else {
                    if mv.path.starts_with(&mv.from) {
                        return Err(fail("cannot move a value into itself", &mv.path));
                    }
                    // A move is a remove and then an add (RFC 6902, 4.4), measured the same way.
                    let removed = removed_size(state, &mv.from).ok_or(fail("no value", &mv.from))?;
                    let value = state
                        .resolve(&mv.from)
                        .map(|v| (json_size(v), depth(v)))
                        .map_err(|_| fail("no value", &mv.from))?;
                    let mut taken = Value::Null;
                    if let Ok(slot) = json_patch::jsonptr::resolve::ResolveMut::resolve_mut(state, &mv.from) {
                        std::mem::swap(slot, &mut taken);
                    }
                    let remove = PatchOperation::Remove(RemoveOperation { path: mv.from.clone() });
                    json_patch::patch_unsafe(state, std::slice::from_ref(&remove))
                        .map_err(|e| conflict(e.to_string()))?;
                    let after_remove = size.saturating_sub(removed);
                    let next =
                        insert_size(state, after_remove, &mv.path, value.0).ok_or(fail("no parent", &mv.path))?;
                    bounds.check(next, mv.path.count() + value.1)?;
                    let add = PatchOperation::Add(AddOperation { path: mv.path.clone(), value: taken });
                    json_patch::patch_unsafe(state, std::slice::from_ref(&add)).map_err(|e| conflict(e.to_string()))?;
                    size = next;
                    continue;
                }
            }
            PatchOperation::Test(_) => size,
        };
        json_patch::patch_unsafe(state, std::slice::from_ref(op)).map_err(|e| conflict(e.to_string()))?;
    }
    Ok(size)
}

/// The size after adding a value of `value_size` bytes at `path` (RFC 6902 `add`: replaces an
/// object member or the root, inserts into an array); `None` when the parent does not exist.
fn insert_size(state: &Value, size: usize, path: &Pointer, value_size: usize) -> Option<usize> {
    let Some((parent_path, token)) = path.split_back() else {
        return Some(value_size); // the root is replaced
    };
    match state.resolve(parent_path).ok()? {
        Value::Object(map) => {
            let key = token.decoded();
            Some(match map.get(key.as_ref()) {
                Some(old) => size.saturating_sub(json_size(old)) + value_size,
                None => size + key_size(&key) + 1 + value_size + usize::from(!map.is_empty()),
            })
        }
        Value::Array(items) => {
            token.to_index().ok()?.for_len_incl(items.len()).ok()?;
            Some(size + value_size + usize::from(!items.is_empty()))
        }
        _ => None,
    }
}

/// How many bytes removing the value at `path` takes away (value, key, colon, comma);
/// `None` when there is nothing there or `path` is the root.
fn removed_size(state: &Value, path: &Pointer) -> Option<usize> {
    let (parent_path, token) = path.split_back()?;
    match state.resolve(parent_path).ok()? {
        Value::Object(map) => {
            let key = token.decoded();
            let value = map.get(key.as_ref())?;
            Some(key_size(&key) + 1 + json_size(value) + usize::from(map.len() > 1))
        }
        Value::Array(items) => {
            let index = token.to_index().ok()?.for_len(items.len()).ok()?;
            Some(json_size(&items[index]) + usize::from(items.len() > 1))
        }
        _ => None,
    }
}

#[cfg(test)]
#[path = "bounded_tests.rs"]
pub(crate) mod tests;
