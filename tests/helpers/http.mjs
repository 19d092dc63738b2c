// Small HTTP helpers for the black-box integration suites (Node 24 global fetch).
import assert from 'node:assert/strict';

export const KEY_RE = /^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{22}$/;

/**
 * fetch wrapper: `body` objects are sent as JSON (Content-Type application/json unless given),
 * strings/Buffers are sent as is. Returns {status, headers, text, json, res}.
 * `json` is the parsed body or undefined when the body is empty or not JSON.
 */
export async function req(base, method, path, opts = {}) {
  const headers = { ...(opts.headers ?? {}) };
  let body = opts.body;
  if (body !== undefined && typeof body !== 'string' && !(body instanceof Uint8Array)) {
    body = JSON.stringify(body);
    if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['Content-Type'] = 'application/json';
  }
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(new Error(`${method} ${path} timed out`)), opts.timeoutMs ?? 20_000);
  try {
    const res = await fetch(base + path, { method, headers, body, signal: ctrl.signal, redirect: 'manual' });
    const text = await res.text();
    let json;
    try { json = text.length ? JSON.parse(text) : undefined; } catch { json = undefined; }
    return { status: res.status, headers: res.headers, text, json, res };
  } finally {
    clearTimeout(timer);
  }
}

/** POST /api/v1/sessions; asserts 201 and returns the parsed body (plus `etag`, `location`). */
export async function createSession(base, body) {
  const r = await req(base, 'POST', '/api/v1/sessions', body === undefined ? {} : { body });
  assert.equal(r.status, 201, `create session: ${r.status} ${r.text}`);
  return { ...r.json, etag: r.headers.get('etag'), location: r.headers.get('location') };
}

export const sessionPath = (key, suffix = '') => `/api/v1/sessions/${key}${suffix}`;

/** GET the session state; asserts 200 and returns the body plus `etag`. */
export async function getState(base, key) {
  const r = await req(base, 'GET', sessionPath(key));
  assert.equal(r.status, 200, `GET session: ${r.status} ${r.text}`);
  return { ...r.json, etag: r.headers.get('etag') };
}

/** GETs the session with `key` and asserts its state and version are still `state` and `version`. */
export async function assertUnchanged(base, key, state, version = 1) {
  const g = await getState(base, key);
  assert.deepEqual(g.state, state, 'state unchanged');
  assert.equal(g.version, version, 'version unchanged');
}

/** Asserts the standard error shape `{"error":{"code","message"}}` and the status. */
export function assertError(r, status, code, what = '') {
  assert.equal(r.status, status, `${what} expected ${status} ${code}, got ${r.status} ${r.text}`);
  assert.ok(r.json && typeof r.json === 'object', `${what} error body must be JSON: ${r.text}`);
  assert.ok(r.json.error && typeof r.json.error === 'object', `${what} error body needs "error": ${r.text}`);
  assert.equal(r.json.error.code, code, `${what} error code: ${r.text}`);
  assert.equal(typeof r.json.error.message, 'string', `${what} error.message must be a string: ${r.text}`);
  const ct = r.headers.get('content-type') ?? '';
  assert.match(ct, /application\/json/, `${what} error content-type: ${ct}`);
}

/** A syntactically valid key for a session that does not exist. */
export function randomKey() {
  const rnd = () => Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('base64url');
  return `${rnd()}.${rnd()}`;
}

/** Replaces the secret half of a key with a random one (same session id). */
export function wrongSecret(key) {
  return `${key.split('.')[0]}.${randomKey().split('.')[1]}`;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Parses an ETag like "7" or W/"7" into a number (NaN when not of that form). */
export function etagVersion(etag) {
  const m = /^(?:W\/)?"(\d+)"$/.exec(etag ?? '');
  return m ? Number(m[1]) : NaN;
}

/** RFC 7396 JSON Merge Patch. */
export function applyMerge(target, patch) {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return structuredClone(patch);
  const out = target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = applyMerge(out[k], v);
  }
  return out;
}

function ptr(path) {
  if (path === '') return [];
  return path.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** Minimal RFC 6902 JSON Patch (add, remove, replace, test, copy, move) for local replicas. */
export function applyJsonPatch(doc, ops) {
  let root = structuredClone(doc);
  const parentOf = (path) => {
    const parts = ptr(path);
    const last = parts.pop();
    let cur = root;
    for (const p of parts) cur = cur[Array.isArray(cur) ? Number(p) : p];
    return [cur, last];
  };
  const get = (path) => { let cur = root; for (const p of ptr(path)) cur = cur[Array.isArray(cur) ? Number(p) : p]; return cur; };
  const add = (path, value) => {
    if (path === '') { root = value; return; }
    const [par, last] = parentOf(path);
    if (Array.isArray(par)) par.splice(last === '-' ? par.length : Number(last), 0, value);
    else par[last] = value;
  };
  const remove = (path) => {
    const [par, last] = parentOf(path);
    if (Array.isArray(par)) par.splice(Number(last), 1); else delete par[last];
  };
  for (const op of ops) {
    switch (op.op) {
      case 'add': add(op.path, structuredClone(op.value)); break;
      case 'remove': remove(op.path); break;
      case 'replace': remove(op.path); add(op.path, structuredClone(op.value)); break;
      case 'test': assert.deepEqual(get(op.path), op.value); break;
      case 'copy': add(op.path, structuredClone(get(op.from))); break;
      case 'move': { const v = get(op.from); remove(op.from); add(op.path, v); break; }
      default: throw new Error(`unknown op ${op.op}`);
    }
  }
  return root;
}

/** Applies one `update` frame (set / merge / ops) to a local state. */
export function applyUpdate(state, u) {
  if ('set' in u) return structuredClone(u.set);
  if ('merge' in u) return applyMerge(state, u.merge);
  if ('ops' in u) return applyJsonPatch(state, u.ops);
  throw new Error(`update without set/merge/ops: ${JSON.stringify(u)}`);
}
