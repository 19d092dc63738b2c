// The one interface every transport (ws.js, sse.js, longpoll.js) implements; types only.
// A transport is opened for one connection attempt and never reused: `open(ctx)` starts it,
// it reports every server frame through `ctx.onFrame` and its end, once, through `ctx.onLost`;
// `send(frame)` takes protocol frames (writes, presence, broadcasts); `close()` ends it
// without a report. Reconnects, backoff, fallback and the connect timeout belong to
// connection.js, which drives them all the same way.

/**
 * Network constructors and functions a transport uses; injectable in the session's options.
 * @typedef {object} TransportDeps
 * @property {any} WebSocket  constructor (`new WebSocket(url)`)
 * @property {any} EventSource constructor (`new EventSource(url)`)
 * @property {typeof fetch} fetch
 */

/**
 * What a transport is given when it opens.
 * @typedef {object} TransportContext
 * @property {string} httpBase  the API's base URL (`https://host/api/v1`)
 * @property {string} key       the session key
 * @property {number|null} since resume from this version (null: ask for a snapshot)
 * @property {import('../defaults.js').Options} options
 * @property {TransportDeps} deps
 * @property {(frame:any) => void} onFrame   a parsed server frame (HTTP transports make the same frames)
 * @property {(line:string) => void} onText  a plain-text chat line (WebSocket only)
 * @property {(info:LostInfo) => void} onLost the transport ended (reported once)
 * @property {() => number} version          the session's confirmed version (long-poll asks for newer)
 * @property {(opId:string) => boolean} isPending false once a write was confirmed or dropped
 * @property {() => string|null} clientId    the session's client id (SSE presence)
 */

/**
 * Why a transport ended: `code` is a WebSocket close code, `fatal` an error that ends the
 * session (HTTP 404 / 400 of the session), `reason` a short word for logs and failure counts.
 * @typedef {{code?:number, fatal?:import('../errors.js').SyncError, reason?:string, error?:unknown}} LostInfo
 */

/**
 * An open transport.
 * @typedef {object} Transport
 * @property {'websocket'|'sse'|'longpoll'} kind
 * @property {(frame:any) => boolean} send  false when the frame could not go (not open)
 * @property {() => void} close
 * @property {() => void} [probe]           check the link now (WebSocket: a ping)
 */

export {};
