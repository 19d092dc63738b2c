// React bindings of session-sync (`import { useSession } from 'session-sync/react'`): open a
// session for a component tree, read its state (or a part of it), presence, status and audience. Built on
// useSyncExternalStore, so a component re-renders only when what it reads changed; states share
// their unchanged parts between versions (structural sharing), so selecting a subtree is cheap.
import { createContext, createElement, useCallback, useContext, useEffect, useRef, useState, useSyncExternalStore } from 'react';
import { joinSession, openSession } from './index.js';

/** @typedef {import('./session.js').Session<any>} AnySession */

/** The session the hooks below read when none is passed to them. */
const SessionContext = createContext(/** @type {AnySession|null} */ (null));

/**
 * Makes `session` the one the hooks of every component below read.
 * @param {{session: AnySession|null, children?: any}} props
 * @returns {any}
 */
export function SessionProvider({ session, children }) {
  return createElement(SessionContext.Provider, { value: session }, children);
}

/**
 * Opens a session while the component is mounted and closes it on unmount. A string is a key
 * (joins that session); an object holds `key` (joins) or, without one, the options of
 * `openSession` (joins the key in the URL fragment, or creates a session). Returns null until
 * the session object exists, then the Session (its `status` says whether it is connected).
 * Pass it to {@link SessionProvider}, or to the other hooks.
 * @template [T=any]
 * @param {string | ({key?: string} & import('./index.js').OpenOptions<T>)} keyOrOptions
 * @returns {import('./session.js').Session<T>|null}
 */
export function useSession(keyOrOptions) {
  const [session, setSession] = useState(/** @type {any} */ (null));
  const ident = typeof keyOrOptions === 'string' ? keyOrOptions : JSON.stringify(keyOrOptions ?? {});
  const optsRef = useRef(keyOrOptions);
  optsRef.current = keyOrOptions;
  useEffect(() => {
    const o = optsRef.current;
    let opened = /** @type {any} */ (null);
    let gone = false;
    const key = typeof o === 'string' ? o : o && o.key;
    const p = key ? joinSession(key, { ...(typeof o === 'object' ? o : {}), wait: false }) : openSession(/** @type {any} */ (o) || {});
    p.then((s) => {
      if (gone) { s.close(); return; }
      opened = s;
      setSession(s);
    }, (e) => { if (!gone) setSession(null); console.error('session-sync: could not open the session', e); });
    return () => { gone = true; if (opened) opened.close(); setSession(null); };
  }, [ident]);
  return session;
}

/** The session passed in, or the nearest SessionProvider's. @param {AnySession|null|undefined} s */
function useTarget(s) {
  const ctx = useContext(SessionContext);
  return s === undefined ? ctx : s;
}

const noop = () => {};
const identity = (/** @type {any} */ x) => x;

/**
 * The session's state, or the part of it `selector` picks. The component re-renders only when
 * the selected value changes (`Object.is`): unchanged parts of the state keep their identity
 * from version to version, so `useSessionState((s) => s.todos)` ignores changes elsewhere.
 * A selector that builds a new object each time re-renders on every change. Undefined while
 * the session has no state yet.
 * @template [T=any]
 * @template [S=T]
 * @param {(state: T) => S} [selector]
 * @param {import('./session.js').Session<T>|null} [session] defaults to the SessionProvider's
 * @returns {S|undefined}
 */
export function useSessionState(selector, session) {
  const s = useTarget(session);
  const select = selector || identity;
  const cache = useRef(/** @type {{state:any, select:any, value:any}|null} */ (null));
  const getSnapshot = () => {
    if (!s || s.state === undefined) return undefined;
    const state = s.state;
    const c = cache.current;
    if (c && c.state === state && c.select === select) return c.value;
    const value = select(state);
    cache.current = { state, select, value: c && Object.is(c.value, value) ? c.value : value };
    return cache.current.value;
  };
  const subscribe = useCallback((/** @type {() => void} */ notify) => (s ? s.on('change', notify) : noop), [s]);
  return useSyncExternalStore(subscribe, getSnapshot, getSnapshot);
}

/**
 * Everyone connected to the session, this client included (`self: true`), as
 * `[{clientId, data, self}]`; re-renders on every presence change. Set your own value with
 * `session.presence.set(data)`.
 * @param {AnySession|null} [session] defaults to the SessionProvider's
 * @returns {Array<{clientId:string, data:any, self:boolean}>}
 */
export function usePresence(session) {
  const s = useTarget(session);
  const cache = useRef(/** @type {{s:any, list:any[]}|null} */ (null));
  const getSnapshot = () => {
    if (!s) return EMPTY;
    if (!cache.current || cache.current.s !== s) cache.current = { s, list: s.presence.list() };
    return cache.current.list;
  };
  const subscribe = useCallback((/** @type {() => void} */ notify) => {
    if (!s) return noop;
    return s.on('presence', () => { cache.current = { s, list: s.presence.list() }; notify(); });
  }, [s]);
  return useSyncExternalStore(subscribe, getSnapshot, getSnapshot);
}
const EMPTY = Object.freeze([]);

/**
 * The session's connection status: 'connecting', 'open', 'offline' or 'closed' ('connecting'
 * while there is no session yet).
 * @param {AnySession|null} [session] defaults to the SessionProvider's
 * @returns {import('./session.js').Status}
 */
export function useStatus(session) {
  const s = useTarget(session);
  const subscribe = useCallback((/** @type {() => void} */ notify) => (s ? s.on('status', notify) : noop), [s]);
  const get = () => (s ? s.status : 'connecting');
  return useSyncExternalStore(subscribe, get, get);
}

/**
 * How many read-key viewers the session has (`session.audience`: direct and behind relays,
 * updated by the server at most about once a second); 0 while there is no session or the server
 * has not said. Re-renders when the count changes.
 * @param {AnySession|null} [session] defaults to the SessionProvider's
 * @returns {number}
 */
export function useAudience(session) {
  const s = useTarget(session);
  const subscribe = useCallback((/** @type {() => void} */ notify) => (s ? s.on('audience', notify) : noop), [s]);
  const get = () => (s ? s.audience : 0);
  return useSyncExternalStore(subscribe, get, get);
}
