// Which transport to try next (`transport: 'auto'`): WebSocket first; after
// `wsFailuresBeforeFallback` failed connects in a row while plain HTTP works, SSE; after
// `sseFailuresBeforeFallback` more, long-poll. And back: once a fallback has served for
// `upgradeAfterMs`, the next reconnect tries WebSocket again, and so do `reconnect()` and the
// browser coming back online (networks change: the proxy that blocked WebSockets may be gone).
import { openWs } from './ws.js';
import { openSse } from './sse.js';
import { openLongPoll } from './longpoll.js';

/** The transports by name. */
export const TRANSPORTS = Object.freeze({ websocket: openWs, sse: openSse, longpoll: openLongPoll });

const ORDER = /** @type {const} */ (['websocket', 'sse', 'longpoll']);

/**
 * A fallback policy.
 * @param {{transport:string, wsFailuresBeforeFallback:number, sseFailuresBeforeFallback:number, upgradeAfterMs:number}} options
 * @param {() => number} [now]
 */
export function createFallbackPolicy(options, now = Date.now) {
  const fixed = options.transport !== 'auto';
  let kind = fixed ? options.transport : 'websocket';
  let failures = 0;
  let since = now();
  return {
    /** The transport to use for the next connect. @returns {'websocket'|'sse'|'longpoll'} */
    get kind() { return /** @type {any} */ (kind); },
    /**
     * A connect failed (no welcome). `httpWorks`: plain HTTP answered, so the transport itself
     * is blocked. Returns the new kind when it changes, else null.
     * @param {boolean} httpWorks @returns {string|null}
     */
    failed(httpWorks) {
      failures++;
      if (fixed || !httpWorks) return null;
      const limit = kind === 'websocket' ? options.wsFailuresBeforeFallback : kind === 'sse' ? options.sseFailuresBeforeFallback : Infinity;
      if (failures < limit) return null;
      return this.use(ORDER[ORDER.indexOf(/** @type {any} */ (kind)) + 1]);
    },
    /** A connection was welcomed: the failure count starts over. */
    succeeded() { failures = 0; },
    /**
     * A welcomed connection was lost. On a fallback that served `upgradeAfterMs`, go back to
     * WebSocket. Returns the new kind when it changes, else null. @returns {string|null}
     */
    dropped() {
      if (fixed || kind === 'websocket' || now() - since < options.upgradeAfterMs) return null;
      return this.use('websocket');
    },
    /** Start over from WebSocket (`reconnect()`, back online). @returns {string|null} */
    reset() { return fixed || kind === 'websocket' ? null : this.use('websocket'); },
    /** Switches to `next` (no-op past the last). @param {string} next @returns {string|null} */
    use(next) {
      failures = 0;
      if (!next || next === kind) return null;
      kind = next;
      since = now();
      return next;
    },
  };
}
