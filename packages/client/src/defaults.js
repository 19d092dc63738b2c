// Every default of the SDK in one frozen object, and the helpers that read options.

/** Every default in one place. Any of them can be overridden per session in `opts`. @type {Readonly<Options>} */
export const DEFAULTS = Object.freeze({
  /** Origin of the server; '' means the page's own origin. */
  baseUrl: '',
  /** API prefix. */
  apiPath: '/api/v1',
  /** 'auto' (WebSocket, falling back to SSE, then long-poll), 'websocket', 'sse' or 'longpoll'. */
  transport: 'auto',
  /** Reconnect delays: min(maxMs, initialMs * factor^attempt), of which a `jitter` share is random. */
  backoff: Object.freeze({ initialMs: 250, maxMs: 10000, factor: 2, jitter: 0.5 }),
  /** Reconnects in a row that failed the same way before the SDK stops and reports `reconnect_failed`. */
  maxReconnectAttempts: 10,
  /** A connection open this long counts as healthy: the failure count above starts over. */
  stableConnectionMs: 5000,
  /** A connection that has not delivered its `welcome` after this long is abandoned. */
  connectTimeoutMs: 8000,
  /** Failed WebSocket connects in a row (while plain HTTP works) before 'auto' falls back to SSE. */
  wsFailuresBeforeFallback: 2,
  /** Failed SSE connects in a row before 'auto' falls back to long-poll. */
  sseFailuresBeforeFallback: 2,
  /** A plain-text `ping` is sent this often on an idle WebSocket... */
  heartbeatMs: 25000,
  /** ...and the connection is dropped and re-made when nothing arrives within this time. */
  heartbeatTimeoutMs: 10000,
  /** `wait` of a long-poll request, in seconds. */
  longPollWaitSeconds: 25,
  /** Writes sent and not yet acknowledged at most (the server limits frames per second). */
  maxInFlight: 32,
  /** How many times update(fn) may start over after version conflicts (Infinity: until it applies). */
  maxUpdateAttempts: Infinity,
  /** Presence updates are sent at most this often (the latest value wins). */
  presenceThrottleMs: 50,
  /** Volatile broadcasts (`broadcast(data, {volatile: true})`) are sent at most this often per recipient (the latest value wins). */
  volatileThrottleMs: 50,
  /** Delay before resending writes that were rate limited or failed over HTTP. */
  resendDelayMs: 500,
  /** Reconnect at once when the page becomes visible or the browser comes back online. */
  reconnectOnVisible: true,
  /** Role of the key used by createSession: 'write' or 'admin'. */
  createRole: 'write',
  /** createSession puts `#key=<write key>&read=<read key>` in the page's URL (the address bar becomes the share link). */
  hash: true,
  /** Sends `batch=1` (protocol P15). Servers with adaptive coalescing (P15 revised) coalesce every connection anyway and ignore it. */
  batch: false,
  /** After a fallback to SSE or long-poll has served this long, the next reconnect tries WebSocket again. */
  upgradeAfterMs: 60000,
  /** Keep unconfirmed writes in IndexedDB (else localStorage, else memory) and resend them after a reload. */
  durableOutbox: true,
  /** Development checks: every state the SDK hands out is deep-frozen, so mutating it (in update(fn), a listener) throws. */
  dev: false,
});

/**
 * Every option, as `mergeOptions` returns them (see DEFAULTS for what each one does).
 * @typedef {object} Options
 * @property {string} baseUrl
 * @property {string} apiPath
 * @property {'auto'|'websocket'|'sse'|'longpoll'} transport
 * @property {{initialMs:number, maxMs:number, factor:number, jitter:number}} backoff
 * @property {number} maxReconnectAttempts
 * @property {number} stableConnectionMs
 * @property {number} connectTimeoutMs
 * @property {number} wsFailuresBeforeFallback
 * @property {number} sseFailuresBeforeFallback
 * @property {number} heartbeatMs
 * @property {number} heartbeatTimeoutMs
 * @property {number} longPollWaitSeconds
 * @property {number} maxInFlight
 * @property {number} maxUpdateAttempts
 * @property {number} presenceThrottleMs
 * @property {number} volatileThrottleMs
 * @property {number} resendDelayMs
 * @property {boolean} reconnectOnVisible
 * @property {'write'|'admin'} createRole
 * @property {boolean} hash
 * @property {boolean} batch
 * @property {number} upgradeAfterMs
 * @property {boolean} durableOutbox
 * @property {boolean} dev
 */

/**
 * DEFAULTS with `opts` on top (backoff merged field by field).
 * @param {any} [opts] @returns {Options}
 */
export function mergeOptions(opts = {}) {
  const o = { ...DEFAULTS, ...opts };
  o.backoff = { ...DEFAULTS.backoff, ...(opts.backoff || {}) };
  return o;
}

/**
 * Resolves the HTTP base URL of the API for the given options.
 * @param {{baseUrl?:string, apiPath?:string}} o @returns {string}
 */
export function apiBase(o) {
  const g = /** @type {any} */ (globalThis);
  const origin = o.baseUrl || (g.location ? g.location.origin : '');
  return origin.replace(/\/$/, '') + o.apiPath;
}
