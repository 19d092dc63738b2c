// The durable outbox: a session's unconfirmed writes, kept in IndexedDB (else localStorage,
// else memory) so that a reload, even offline, resends them with their original op ids (the
// server answers an op id it already applied with `duplicate: true`: nothing applies twice).
// One record per session and tab: the tab's id lives in sessionStorage, which a reload keeps.
// `update(fn)` writes are kept only once computed (a function cannot be stored).

const g = /** @type {any} */ (globalThis);

/**
 * A place to keep small JSON records; `options.storage` may pass one (tests, React Native...).
 * @typedef {object} KeyValueStorage
 * @property {(name:string) => Promise<any>} get   undefined when absent
 * @property {(name:string, value:any) => Promise<void>} set
 * @property {(name:string) => Promise<void>} delete
 */

/** A KeyValueStorage in memory (the fallback; lost with the page). @returns {KeyValueStorage} */
export function memoryStorage() {
  const m = new Map();
  return {
    async get(name) { return m.get(name); },
    async set(name, value) { m.set(name, value); },
    async delete(name) { m.delete(name); },
  };
}

/** A KeyValueStorage on `localStorage` (JSON text). @param {Storage} ls @returns {KeyValueStorage} */
export function localStorageStorage(ls) {
  return {
    async get(name) { const t = ls.getItem(name); return t === null ? undefined : JSON.parse(t); },
    async set(name, value) { ls.setItem(name, JSON.stringify(value)); },
    async delete(name) { ls.removeItem(name); },
  };
}

/** A KeyValueStorage in IndexedDB (database `session-sync`, store `outbox`). @param {IDBFactory} idb @returns {KeyValueStorage} */
export function indexedDbStorage(idb) {
  let db = null;
  const open = () => db || (db = new Promise((resolve, reject) => {
    const req = idb.open('session-sync', 1);
    req.onupgradeneeded = () => req.result.createObjectStore('outbox');
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  }));
  const run = async (mode, fn) => {
    const tx = (await open()).transaction('outbox', mode);
    const req = fn(tx.objectStore('outbox'));
    return new Promise((resolve, reject) => {
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = tx.onabort = () => reject(tx.error);
    });
  };
  return {
    get: (name) => run('readonly', (s) => s.get(name)),
    set: async (name, value) => { await run('readwrite', (s) => s.put(value, name)); },
    delete: async (name) => { await run('readwrite', (s) => s.delete(name)); },
  };
}

/** The best storage this runtime has. @returns {KeyValueStorage} */
export function defaultStorage() {
  try { if (g.indexedDB) return indexedDbStorage(g.indexedDB); } catch {}
  try { if (g.localStorage) return localStorageStorage(g.localStorage); } catch {}
  return memoryStorage();
}

/** This tab's id: kept in sessionStorage, so a reload of the tab finds its writes again. */
function tabId() {
  try {
    const ss = g.sessionStorage;
    let id = ss.getItem('session-sync:tab');
    if (!id) { id = Math.random().toString(36).slice(2, 10); ss.setItem('session-sync:tab', id); }
    return id;
  } catch {
    return 'tab';
  }
}

/**
 * The stored form of the ops that can be stored (not an `update` whose fn has not run yet).
 * @param {import('./outbox.js').PendingOp[]} ops
 */
export function storableOps(ops) {
  const out = [];
  for (const op of ops) {
    if (op.kind === 'update' && op.set === undefined) continue;
    const r = { id: op.id, opId: op.opId, attempts: op.attempts, kind: op.kind === 'update' ? 'set' : op.kind };
    if (r.kind === 'set') r.set = op.set;
    if (op.kind === 'merge') r.merge = op.merge;
    if (op.kind === 'ops') r.ops = op.ops;
    if (typeof op.baseVersion === 'number') r.baseVersion = op.baseVersion;
    out.push(r);
  }
  return out;
}

/**
 * The outbox store of one session: `load()` the ops a previous page left, `save(ops)` after
 * every change (one write at a time; saves made while one runs coalesce into the newest;
 * `saved()` resolves once the last one is written).
 * @param {string} sessionId
 * @param {{durableOutbox?:boolean, storage?:KeyValueStorage}} options
 */
export function openOutboxStore(sessionId, options) {
  const enabled = options.durableOutbox !== false;
  const storage = options.storage || (enabled ? defaultStorage() : memoryStorage());
  const name = `outbox:${sessionId}:${tabId()}`;
  let last = '';
  let next = null; // the newest records not written yet
  let running = null; // the write loop, while it runs
  /** Writes the newest records until none are left; saves made meanwhile coalesce into one. */
  const pump = async () => {
    while (next) {
      const records = next;
      next = null;
      try {
        await (records.length ? storage.set(name, records) : storage.delete(name));
      } catch (e) {
        console.warn('session-sync: could not store the outbox (writes stay in memory)', e);
      }
    }
    running = null;
  };
  return {
    /** The stored ops of this session and tab ([] when none or disabled). @returns {Promise<any[]>} */
    async load() {
      if (!enabled) return [];
      try { const r = await storage.get(name); return Array.isArray(r) ? r : []; } catch { return []; }
    },
    /** Stores the outbox when its ops changed. @param {import('./outbox.js').PendingOp[]} ops */
    save(ops) {
      if (!enabled) return;
      const records = storableOps(ops);
      const sig = records.map((r) => r.opId).join(',');
      if (sig === last) return;
      last = sig;
      next = records;
      if (!running) running = pump();
    },
    /** Resolves once every save so far is written. @returns {Promise<void>} */
    saved() { return running || Promise.resolve(); },
  };
}
