// Pure JSON helpers: deep clone/equality, JSON Merge Patch (RFC 7396), JSON Patch (RFC 6902)
// and applying a server `update` frame. No DOM, no network: Node unit tests import this file.
// States are immutable: every function returns a new value that shares what it did not change.

/**
 * Error thrown when a JSON Patch cannot be applied (failed `test`, missing path, bad document).
 * `code` is `patch_conflict` or `invalid_patch`, like the server's codes.
 */
export class PatchError extends Error {
  /** @param {string} code @param {string} message */
  constructor(code, message) {
    super(message);
    this.name = 'PatchError';
    this.code = code;
  }
}

/**
 * Deep copy of a JSON value (objects, arrays, primitives).
 * @template T
 * @param {T} value
 * @returns {T}
 */
export function clone(value) {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return /** @type {any} */ (value.map(clone));
  const out = {};
  for (const k of Object.keys(value)) out[k] = clone(value[k]);
  return /** @type {any} */ (out);
}

/**
 * Structural equality of two JSON values (object key order does not matter).
 * @param {unknown} a
 * @param {unknown} b
 * @returns {boolean}
 */
export function deepEqual(a, b) {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    if (a.length !== /** @type {any[]} */ (b).length) return false;
    return a.every((v, i) => deepEqual(v, /** @type {any[]} */ (b)[i]));
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual(a[k], b[k]));
}

function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

const hasOwn = (o, k) => Object.prototype.hasOwnProperty.call(o, k);

/** A shallow copy of `obj` with `key` set to `value` (an own property even for `__proto__`). */
function withKey(obj, key, value) {
  const out = { ...obj };
  Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  return out;
}

/**
 * Applies a JSON Merge Patch (RFC 7396) and returns the new value; the inputs are not modified.
 * `null` members delete, objects merge recursively, anything else replaces. Structural sharing:
 * only the objects on the patched paths are copied; every untouched member of `target` is the
 * same object in the result (and a non-object patch value is used as it is, not copied).
 * @param {unknown} target
 * @param {unknown} patch
 * @returns {unknown}
 */
export function applyMergePatch(target, patch) {
  if (!isObject(patch)) return patch;
  let out = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    const next = v === null ? undefined : applyMergePatch(hasOwn(out, k) ? out[k] : undefined, v);
    if (v === null) delete out[k];
    else if (k === '__proto__') out = withKey(out, k, next);
    else out[k] = next;
  }
  return out;
}

/** Decodes one JSON Pointer (RFC 6901) into its reference tokens. */
export function parsePointer(pointer) {
  if (pointer === '') return [];
  if (typeof pointer !== 'string' || pointer[0] !== '/') {
    throw new PatchError('invalid_patch', `invalid JSON pointer ${JSON.stringify(pointer)}`);
  }
  return pointer.slice(1).split('/').map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function arrayIndex(arr, token, forAdd) {
  if (forAdd && token === '-') return arr.length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw new PatchError('patch_conflict', `bad array index ${token}`);
  const i = Number(token);
  if (forAdd ? i > arr.length : i >= arr.length) throw new PatchError('patch_conflict', `array index ${i} out of range`);
  return i;
}

const missing = (path) => new PatchError('patch_conflict', `path ${path} does not exist`);

/** The value at a pointer; throws `patch_conflict` when it does not exist. */
function getAt(doc, path) {
  let node = doc;
  for (const t of parsePointer(path)) {
    if (Array.isArray(node)) node = node[arrayIndex(node, t, false)];
    else if (isObject(node) && hasOwn(node, t)) node = node[t];
    else throw missing(path);
  }
  return node;
}

/**
 * Returns a copy of `node` in which the container at `tokens[0..n-1]` is replaced by
 * `leaf(container, lastToken)`. Only the containers on the path are copied (structural sharing).
 */
function editAt(node, tokens, i, path, leaf) {
  if (node === null || typeof node !== 'object') throw missing(path);
  if (i === tokens.length - 1) return leaf(node, tokens[i]);
  const t = tokens[i];
  if (Array.isArray(node)) {
    const k = arrayIndex(node, t, false);
    const copy = node.slice();
    copy[k] = editAt(node[k], tokens, i + 1, path, leaf);
    return copy;
  }
  if (!hasOwn(node, t)) throw missing(path);
  return withKey(node, t, editAt(node[t], tokens, i + 1, path, leaf));
}

/** `add`: inserts into an array, sets an object member, or (empty path) replaces the root. */
function addAt(doc, path, value) {
  const tokens = parsePointer(path);
  if (tokens.length === 0) return value;
  return editAt(doc, tokens, 0, path, (parent, last) => {
    if (!Array.isArray(parent)) return withKey(parent, last, value);
    const copy = parent.slice();
    copy.splice(arrayIndex(parent, last, true), 0, value);
    return copy;
  });
}

/** `remove`: the member or element must exist. */
function removeAt(doc, path) {
  const tokens = parsePointer(path);
  if (tokens.length === 0) throw new PatchError('invalid_patch', 'cannot remove the root');
  return editAt(doc, tokens, 0, path, (parent, last) => {
    if (Array.isArray(parent)) {
      const copy = parent.slice();
      copy.splice(arrayIndex(parent, last, false), 1);
      return copy;
    }
    if (!hasOwn(parent, last)) throw missing(path);
    const copy = { ...parent };
    delete copy[last];
    return copy;
  });
}

/** `replace`: the member or element must exist; it keeps its place. */
function replaceAt(doc, path, value) {
  const tokens = parsePointer(path);
  if (tokens.length === 0) return value;
  return editAt(doc, tokens, 0, path, (parent, last) => {
    if (Array.isArray(parent)) {
      const copy = parent.slice();
      copy[arrayIndex(parent, last, false)] = value;
      return copy;
    }
    if (!hasOwn(parent, last)) throw missing(path);
    return withKey(parent, last, value);
  });
}

/**
 * Applies a JSON Patch (RFC 6902: add, remove, replace, move, copy, test) atomically and returns
 * the new document; the input is not modified. Throws {@link PatchError} when an operation fails.
 * Structural sharing: each operation copies only the containers on its path, so the cost is
 * proportional to the depth of the paths and the width of the containers on them, not to the
 * size of the document; values from the patch are used as they are (not copied).
 * @param {unknown} doc
 * @param {Array<{op:string, path:string, value?:unknown, from?:string}>} ops
 * @returns {unknown}
 */
export function applyJsonPatch(doc, ops) {
  if (!Array.isArray(ops)) throw new PatchError('invalid_patch', 'a JSON Patch is an array of operations');
  let out = doc;
  for (const op of ops) {
    if (!isObject(op) || typeof op.path !== 'string') throw new PatchError('invalid_patch', 'each operation needs op and path');
    switch (op.op) {
      case 'add':
        if (!('value' in op)) throw new PatchError('invalid_patch', 'add needs value');
        out = addAt(out, op.path, op.value);
        break;
      case 'remove':
        out = removeAt(out, op.path);
        break;
      case 'replace':
        if (!('value' in op)) throw new PatchError('invalid_patch', 'replace needs value');
        out = replaceAt(out, op.path, op.value);
        break;
      case 'move': {
        if (typeof op.from !== 'string') throw new PatchError('invalid_patch', 'move needs from');
        if (op.path.startsWith(op.from + '/')) throw new PatchError('invalid_patch', 'cannot move a value into itself');
        const v = getAt(out, op.from);
        if (op.from === op.path) break;
        out = addAt(op.from === '' ? out : removeAt(out, op.from), op.path, v);
        break;
      }
      case 'copy':
        if (typeof op.from !== 'string') throw new PatchError('invalid_patch', 'copy needs from');
        out = addAt(out, op.path, getAt(out, op.from)); // shared, not copied: states are never mutated
        break;
      case 'test':
        if (!('value' in op)) throw new PatchError('invalid_patch', 'test needs value');
        if (!deepEqual(getAt(out, op.path), op.value)) throw new PatchError('patch_conflict', `test failed at ${op.path}`);
        break;
      default:
        throw new PatchError('invalid_patch', `unknown operation ${JSON.stringify(op.op)}`);
    }
  }
  return out;
}

/**
 * Freezes a JSON value and everything in it, skipping subtrees that are frozen already (so
 * after a patch only the new copies on its path are walked). The `dev` option uses it to make
 * a mutation of a state handed out by the SDK throw instead of silently corrupting it.
 * @template T @param {T} value @returns {T}
 */
export function deepFreeze(value) {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return value;
  Object.freeze(value);
  for (const k of Object.keys(value)) deepFreeze(value[k]);
  return value;
}

/**
 * Applies one write (an `update` frame or a pending local op) to a state: exactly one of
 * `set` (the new state), `merge` (a merge patch) or `ops` (a JSON Patch) is used.
 * @param {unknown} state
 * @param {{set?:unknown, merge?:unknown, ops?:any[]}} write
 * @returns {unknown}
 */
export function applyWrite(state, write) {
  if ('set' in write && write.set !== undefined) return write.set;
  if ('merge' in write && write.merge !== undefined) return applyMergePatch(state, write.merge);
  if ('ops' in write && write.ops !== undefined) return applyJsonPatch(state, write.ops);
  throw new PatchError('invalid_patch', 'a write carries one of set, merge or ops');
}
