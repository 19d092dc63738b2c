// Keys in URL fragments: `#key=<key>&read=<read key>`. The fragment never reaches the server,
// so keys stay out of its logs. Pure functions, except putKeysInHash (which edits the address).
import { SyncError } from './errors.js';

const KEY_RE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const g = /** @type {any} */ (globalThis);

/** Session id of a key (`<sessionId>.<secret>`). @param {string} key @returns {string} */
export function sessionIdOf(key) { return String(key).split('.')[0]; }

/**
 * Reads a session key from a URL fragment such as `#key=abc.def`. Returns null when there is
 * no key, or it is not shaped like one (use {@link hashKeyProblem} to tell the two apart).
 * @param {string} [hash] defaults to `location.hash`
 * @returns {string|null}
 */
export function keyFromHash(hash = g.location ? g.location.hash : '') {
  const key = new URLSearchParams(String(hash).replace(/^#/, '')).get('key');
  return key && KEY_RE.test(key) ? key : null;
}

/**
 * Null when the fragment holds a well-formed key or no `key=` at all; otherwise the
 * `invalid_key` SyncError to show (a link cut short or mangled by a chat app).
 * @param {string} [hash] defaults to `location.hash`
 * @returns {SyncError|null}
 */
export function hashKeyProblem(hash = g.location ? g.location.hash : '') {
  const params = new URLSearchParams(String(hash).replace(/^#/, ''));
  if (!params.has('key') || keyFromHash(hash)) return null;
  return new SyncError('invalid_key', 'the link\u2019s #key= is not a session key (was it cut short?); ask for the link again');
}

/**
 * Share links for a page: the same page URL with `#key=<write key>` and `#key=<read key>`.
 * @param {{write?:string, read?:string, admin?:string}} keys
 * @param {string} [pageUrl] defaults to the current page without its fragment
 * @returns {{write?:string, read?:string}}
 */
export function shareLinks(keys, pageUrl = g.location ? g.location.href : '') {
  const base = String(pageUrl).split('#')[0];
  const out = {};
  if (keys.write) out.write = `${base}#key=${keys.write}`;
  if (keys.read) out.read = `${base}#key=${keys.read}`;
  return out;
}

/** The fragment for a set of keys: `key=<write>&read=<read>`. @param {{write?:string, read?:string}} keys */
export function hashOf(keys) {
  return `key=${keys.write || keys.read}${keys.write && keys.read ? `&read=${keys.read}` : ''}`;
}

/**
 * Puts the keys in the page's address (`#key=<write>&read=<read>`) without reloading or adding
 * a history entry, so the address bar is the link to share. No-op outside a browser.
 * @param {{write?:string, read?:string}} keys
 */
export function putKeysInHash(keys) {
  if (!g.location || !g.history) return;
  g.history.replaceState(g.history.state, '', `${g.location.href.split('#')[0]}#${hashOf(keys)}`);
}
