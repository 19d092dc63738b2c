// Errors of the SDK, and which failures end a write for good. Pure (no network), so Node tests
// import it directly. A write the server can never accept settles its promise with a SyncError
// and leaves the outbox; only the codes in TRANSIENT_CODES are sent again.

/** Error of a rejected write or a failed request; `code` is the server's error code. */
export class SyncError extends Error {
  /**
   * @param {string} code
   * @param {string} [message]
   * @param {{status?:number, currentVersion?:number, opId?:string, bytes?:number, limit?:number, cause?:unknown, retryAfterMs?:number, retryInMs?:number, serverCode?:string}} [extra]
   */
  constructor(code, message, extra = {}) {
    super(message || code);
    this.name = 'SyncError';
    this.code = code;
    Object.assign(this, extra);
  }
}

/** Close codes that end the session: reconnecting with the same key cannot help. */
export const FATAL_CLOSE = Object.freeze({ 4003: 'key_rotated', 4004: 'session_not_found' });

/** Close code of a frame over `maxMessageBytes` (protocol P11): the frame, not the link, is at fault. */
export const CLOSE_TOO_LARGE = 1009;

/**
 * Codes after which a write is sent again as it is (nothing was applied, and later it may be):
 * `rate_limited` (HTTP 429 or the WebSocket's frame rate, after `retryAfterMs` when the server
 * said), `unavailable` (HTTP 5xx) and `network` / `offline` (the request never got an answer).
 */
export const TRANSIENT_CODES = new Set(['rate_limited', 'unavailable', 'network', 'offline']);

/** HTTP error statuses that are worth a retry of the same request. */
export function isTransientStatus(status) { return status === 429 || status >= 500; }

/** HTTP error codes that end the whole session, not one write. */
export const SESSION_GONE_CODES = new Set(['session_not_found', 'invalid_key', 'key_rotated']);

/** UTF-8 size of a frame as it goes on the wire. @param {unknown} frame @returns {number} */
export function frameBytes(frame) {
  const text = typeof frame === 'string' ? frame : JSON.stringify(frame);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) { n += 4; i++; } // a surrogate pair is one 4-byte character
    else n += 3;
  }
  return n;
}

/**
 * The `message_too_large` error for a frame over `limit` bytes, or null when it fits (or the
 * limit is unknown). `what` names the frame in the message ("write", "presence", "broadcast").
 * @param {unknown} frame @param {number|undefined|null} limit @param {string} [what]
 * @returns {SyncError|null}
 */
export function oversize(frame, limit, what = 'write') {
  if (!(limit > 0)) return null;
  const bytes = frameBytes(frame);
  if (bytes <= limit) return null;
  const code = what === 'presence' ? 'presence_too_large' : 'message_too_large';
  return new SyncError(code, `${what} of ${bytes} bytes is over the server's limit of ${limit} bytes; it was not sent`, { bytes, limit });
}

/**
 * Parses an HTTP error response (`{error: {code, message}, currentVersion}`) into a SyncError.
 * A 429 becomes `rate_limited` (with `retryAfterMs` from `Retry-After`) and any 5xx
 * `unavailable`, whatever the body says (the server's own code stays in `serverCode`): the two
 * mean different things to an app (slow down / the service is down), and both are retried.
 * @param {Response} res @returns {Promise<SyncError>}
 */
export async function readError(res) {
  let body = null;
  try { body = await res.json(); } catch {}
  const err = body && body.error ? body.error : {};
  const serverCode = err.code || `http_${res.status}`;
  const extra = { status: res.status, currentVersion: body ? body.currentVersion : undefined, serverCode };
  if (res.status === 429) {
    const after = Number(res.headers && res.headers.get('Retry-After'));
    return new SyncError('rate_limited', err.message || 'too many requests', { ...extra, retryAfterMs: after > 0 ? after * 1000 : undefined });
  }
  if (res.status >= 500) return new SyncError('unavailable', err.message || `the server answered ${res.status}`, extra);
  return new SyncError(serverCode, err.message || res.statusText, extra);
}

/**
 * The error of a request that got no answer: `offline` when the browser knows it is offline,
 * else `network` (DNS, refused connection, CORS, aborted). `cause` is the original error.
 * @param {unknown} cause @returns {SyncError}
 */
export function networkError(cause) {
  const g = /** @type {any} */ (globalThis);
  const offline = g.navigator && g.navigator.onLine === false;
  return new SyncError(offline ? 'offline' : 'network', offline ? 'the browser is offline' : `no answer from the server (${/** @type {any} */ (cause)?.message || cause})`, { cause });
}
