// session-sync client SDK: live shared JSON state for browser apps (and Node 22+). An ES
// module with no dependencies; the worker serves its bundle at /sdk/session-sync.js for pages
// with no build step, and it is the `session-sync` package for apps that have one.
//
//   import { openSession } from '/sdk/session-sync.js';          // or from 'session-sync'
//   const s = await openSession({ state: { count: 0 } }); // joins '#key=...' or creates one
//   s.subscribe((state) => render(state));
//   s.update((st) => ({ ...st, count: st.count + 1 }));
//
// See docs/sdk.md for every method, option, event and error, and docs/protocol.md.
import { Session } from './session.js';
import { DEFAULTS } from './defaults.js';
import { request } from './http.js';
import { keyFromHash, hashKeyProblem, putKeysInHash } from './links.js';

export { Session } from './session.js';
export { applyMergePatch, applyJsonPatch, clone, deepEqual, deepFreeze } from './patch.js';
export { DEFAULTS } from './defaults.js';
export { SyncError } from './errors.js';
export { request, getInfo, getState, deleteSession } from './http.js';
export { sessionIdOf, keyFromHash, hashKeyProblem, shareLinks, putKeysInHash } from './links.js';
export { Presence } from './presence.js';
export { History } from './history.js';
export { opFrame } from './outbox.js';
export { memoryStorage, localStorageStorage, indexedDbStorage } from './storage.js';

/**
 * Options of a session: any of DEFAULTS (`backoff` field by field), plus the network and
 * storage to use (default: the runtime's `WebSocket`, `EventSource`, `fetch`, IndexedDB).
 * @typedef {Partial<Omit<import('./defaults.js').Options, 'backoff'>> & {
 *   backoff?: Partial<import('./defaults.js').Options['backoff']>,
 *   WebSocket?: any, EventSource?: any, fetch?: typeof fetch,
 *   storage?: import('./storage.js').KeyValueStorage
 * }} SessionOptions
 */
/**
 * Options of createSession / openSession: SessionOptions and the new session's initial state,
 * idle time to live (seconds) and strictness (writes need a base version).
 * @template T
 * @typedef {SessionOptions & {state?: T, ttl?: number, strict?: boolean}} OpenOptions
 */

/**
 * Creates a new session (`POST /sessions`) and connects to it. In a browser it also puts the keys
 * in the page's URL fragment (`#key=<write>&read=<read>`, option `hash: false` to leave the URL
 * alone), so the address bar is the link to share.
 * @template [T=any]
 * @param {OpenOptions<T>} [opts]
 * @returns {Promise<Session<T>>} resolves once connected; `session.keys` holds admin, write and read keys
 */
export async function createSession(opts = {}) {
  const body = {};
  if (opts.state !== undefined) body.state = opts.state;
  if (opts.ttl !== undefined) body.ttl = opts.ttl;
  if (opts.strict !== undefined) body.strict = opts.strict;
  const created = await request('POST', '/sessions', { ...opts, body });
  const role = opts.createRole || DEFAULTS.createRole;
  if (opts.hash ?? DEFAULTS.hash) putKeysInHash(created.keys);
  const session = new Session(created.keys[role] || created.keys.write, {
    ...opts, keys: created.keys, initialState: created.state, initialVersion: created.version,
  });
  return untilReady(session);
}

/** Resolves with the session once it has its first state; closes it if that fails. */
async function untilReady(session) {
  try {
    await session.ready;
  } catch (e) {
    session.close();
    throw e;
  }
  return session;
}

/**
 * Joins an existing session with any of its keys and connects.
 * @template [T=any]
 * @param {string} key
 * @param {SessionOptions & {wait?:boolean}} [opts] `wait: false` returns at once
 *   instead of waiting for the first state
 * @returns {Promise<Session<T>>}
 */
export async function joinSession(key, opts = {}) {
  const session = new Session(key, opts);
  if (opts.wait === false) return session;
  return untilReady(session);
}

/**
 * The one call a page needs: joins the session whose key is in the URL fragment (`#key=...`),
 * or, when there is none, creates one with `opts` and puts its keys there. Rejects with
 * SyncError `invalid_key` when the fragment has a `key=` that is not a key (a link cut short),
 * and `session_not_found` when the session is gone: it never silently starts a new session.
 * @template [T=any]
 * @param {OpenOptions<T>} [opts]
 * @returns {Promise<Session<T>>}
 */
export async function openSession(opts = {}) {
  const problem = hashKeyProblem();
  if (problem) throw problem;
  const key = keyFromHash();
  return key ? joinSession(key, opts) : createSession(opts);
}
