// Pure JSON helpers: deep clone/equality, JSON Merge Patch (RFC 7396), JSON Patch (RFC 6902)
// and applying a server `update` frame. No DOM, no network: Node unit tests import this file.

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

/**
 * Applies a JSON Merge Patch (RFC 7396) and returns the new value; the inputs are not modified.
 * `null` members delete, objects merge recursively, anything else replaces.
 * @param {unknown} target
 * @param {unknown} patch
 * @returns {unknown}
 */
export function applyMergePatch(target, patch) {
  if (!isObject(patch)) return clone(patch);
  const out = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = applyMergePatch(out[k], v);
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

/** Returns [parentContainer, lastToken] for a pointer inside `doc` (which must exist). */
function locateParent(doc, tokens, path) {
  let node = doc;
  for (let i = 0; i < tokens.length - 1; i++) {
    const t = tokens[i];
    if (Array.isArray(node)) node = node[arrayIndex(node, t, false)];
    else if (isObject(node) && Object.prototype.hasOwnProperty.call(node, t)) node = node[t];
    else throw new PatchError('patch_conflict', `path ${path} does not exist`);
  }
  if (node === null || typeof node !== 'object') throw new PatchError('patch_conflict', `path ${path} does not exist`);
  return [node, tokens[tokens.length - 1]];
}

function getAt(doc, path) {
  const tokens = parsePointer(path);
  if (tokens.length === 0) return doc;
  const [parent, last] = locateParent(doc, tokens, path);
  if (Array.isArray(parent)) return parent[arrayIndex(parent, last, false)];
  if (!Object.prototype.hasOwnProperty.call(parent, last)) throw new PatchError('patch_conflict', `path ${path} does not exist`);
  return parent[last];
}

function removeAt(doc, path) {
  const tokens = parsePointer(path);
  if (tokens.length === 0) throw new PatchError('invalid_patch', 'cannot remove the root');
  const [parent, last] = locateParent(doc, tokens, path);
  if (Array.isArray(parent)) return parent.splice(arrayIndex(parent, last, false), 1)[0];
  if (!Object.prototype.hasOwnProperty.call(parent, last)) throw new PatchError('patch_conflict', `path ${path} does not exist`);
  const v = parent[last];
  delete parent[last];
  return v;
}

/** Adds (or replaces the root); returns the new document root. */
function addAt(doc, path, value) {
  const tokens = parsePointer(path);
  if (tokens.length === 0) return value;
  const [parent, last] = locateParent(doc, tokens, path);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, last, true), 0, value);
  else parent[last] = value;
  return doc;
}

/**
 * Applies a JSON Patch (RFC 6902: add, remove, replace, move, copy, test) atomically and returns
 * the new document; the input is not modified. Throws {@link PatchError} when an operation fails.
 * @param {unknown} doc
 * @param {Array<{op:string, path:string, value?:unknown, from?:string}>} ops
 * @returns {unknown}
 */
export function applyJsonPatch(doc, ops) {
  if (!Array.isArray(ops)) throw new PatchError('invalid_patch', 'a JSON Patch is an array of operations');
  let out = clone(doc);
  for (const op of ops) {
    if (!isObject(op) || typeof op.path !== 'string') throw new PatchError('invalid_patch', 'each operation needs op and path');
    switch (op.op) {
      case 'add':
        if (!('value' in op)) throw new PatchError('invalid_patch', 'add needs value');
        out = addAt(out, op.path, clone(op.value));
        break;
      case 'remove':
        if (op.path === '') throw new PatchError('invalid_patch', 'cannot remove the root');
        removeAt(out, op.path);
        break;
      case 'replace':
        if (!('value' in op)) throw new PatchError('invalid_patch', 'replace needs value');
        if (op.path === '') { out = clone(op.value); break; }
        getAt(out, op.path); // must exist
        removeAt(out, op.path);
        out = addAt(out, op.path, clone(op.value));
        break;
      case 'move': {
        if (typeof op.from !== 'string') throw new PatchError('invalid_patch', 'move needs from');
        if (op.path.startsWith(op.from + '/')) throw new PatchError('invalid_patch', 'cannot move a value into itself');
        if (op.from === op.path) { getAt(out, op.from); break; }
        const v = op.from === '' ? out : removeAt(out, op.from);
        out = addAt(out, op.path, v);
        break;
      }
      case 'copy':
        if (typeof op.from !== 'string') throw new PatchError('invalid_patch', 'copy needs from');
        out = addAt(out, op.path, clone(getAt(out, op.from)));
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
 * Applies one write (an `update` frame or a pending local op) to a state: exactly one of
 * `set` (the new state), `merge` (a merge patch) or `ops` (a JSON Patch) is used.
 * @param {unknown} state
 * @param {{set?:unknown, merge?:unknown, ops?:any[]}} write
 * @returns {unknown}
 */
export function applyWrite(state, write) {
  if ('set' in write && write.set !== undefined) return clone(write.set);
  if ('merge' in write && write.merge !== undefined) return applyMergePatch(state, write.merge);
  if ('ops' in write && write.ops !== undefined) return applyJsonPatch(state, write.ops);
  throw new PatchError('invalid_patch', 'a write carries one of set, merge or ops');
}
