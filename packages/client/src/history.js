// Version history of a session over HTTP (docs/http-api.md "Version history"): thin helpers on
// `session.history`. They use the session's key and its baseUrl / apiPath; the connection is
// not involved, and a restore reaches every client (this one included) as an ordinary update.
import { request } from './http.js';

/** Version history of a session over HTTP: list, get, checkpoint, restore. */
export class History {
  /** @param {{key:string, options:{baseUrl?:string, apiPath?:string}, _deps?:{fetch:typeof fetch}}} session */
  constructor(session) {
    this._session = session;
  }

  _path(suffix) {
    return `/sessions/${encodeURIComponent(this._session.key)}${suffix}`;
  }

  _opts(extra = {}) {
    const o = { ...extra };
    const { baseUrl, apiPath } = this._session.options || {};
    if (baseUrl !== undefined) o.baseUrl = baseUrl;
    if (apiPath !== undefined) o.apiPath = apiPath;
    if (this._session._deps) o.fetch = this._session._deps.fetch;
    return o;
  }

  /**
   * Lists checkpoints, newest first (any key).
   * @param {{before?:number, limit?:number}} [opts] `before`: the previous page's `next`; `limit` 1 to 100 (20)
   * @returns {Promise<{versions:Array<{version:number, updatedAt:number, label:string|null, stateBytes:number}>, next:number|null}>}
   */
  list({ before, limit } = {}) {
    const q = new URLSearchParams();
    if (before !== undefined && before !== null) q.set('before', String(before));
    if (limit !== undefined && limit !== null) q.set('limit', String(limit));
    const query = q.toString();
    return request('GET', this._path(`/versions${query ? `?${query}` : ''}`), this._opts());
  }

  /**
   * The state as it was at checkpoint `version` (any key); rejects with code `version_not_found`
   * when no such checkpoint is kept.
   * @param {number} version
   * @returns {Promise<{state:unknown, version:number, updatedAt:number, label:string|null, stateBytes:number, role:string}>}
   */
  get(version) {
    return request('GET', this._path(`?version=${encodeURIComponent(String(version))}`), this._opts());
  }

  /**
   * Checkpoints the current state now (write key); does not change the version.
   * @param {string} [label] at most 100 characters
   * @returns {Promise<{version:number, updatedAt:number, label:string|null, stateBytes:number}>}
   */
  checkpoint(label) {
    const body = label === undefined ? {} : { label };
    return request('POST', this._path('/checkpoints'), this._opts({ body }));
  }

  /**
   * Makes checkpoint `version` the current state, as a new version (write key). The state it
   * replaces is checkpointed first, so restoring that version undoes it. In a strict session
   * pass `ifMatch` (the current version, or '*').
   * @param {number} version
   * @param {{ifMatch?:number|string}} [opts]
   * @returns {Promise<{version:number, updatedAt:number}>}
   */
  restore(version, { ifMatch } = {}) {
    const headers = ifMatch === undefined ? {} : { 'If-Match': ifMatch === '*' ? '*' : `"${ifMatch}"` };
    return request('POST', this._path('/restore'), this._opts({ body: { version }, headers }));
  }
}
