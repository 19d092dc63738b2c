// Plain HTTP helpers of the API: one request function and the read-only calls built on it.
import { mergeOptions, apiBase } from './defaults.js';
import { readError, networkError } from './errors.js';

/**
 * Sends a JSON request to the API and returns the parsed body; throws {@link SyncError} on an
 * error status (429 `rate_limited`, 5xx `unavailable`) and `network` / `offline` when no answer came.
 * @param {string} method
 * @param {string} path path below the API prefix, e.g. `/sessions`
 * @param {{body?:unknown, headers?:Record<string,string>, baseUrl?:string, apiPath?:string, signal?:AbortSignal, fetch?:typeof fetch}} [opts]
 * @returns {Promise<any>}
 */
export async function request(method, path, opts = {}) {
  const o = mergeOptions(opts);
  const headers = { ...(opts.headers || {}) };
  let body;
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers['Content-Type'] = headers['Content-Type'] || 'application/json';
  }
  let res;
  try {
    res = await (opts.fetch || fetch)(apiBase(o) + path, { method, headers, body, signal: opts.signal });
  } catch (e) {
    throw networkError(e);
  }
  if (!res.ok) throw await readError(res);
  if (res.status === 204) return null;
  const data = await res.json();
  const etag = res.headers.get('ETag');
  if (etag && data && typeof data === 'object') Object.defineProperty(data, 'etag', { value: etag });
  return data;
}

/**
 * Fetches `GET /sessions/{key}/info`: version, state size, connected clients, recent ops.
 * @param {string} key any key of the session
 * @param {{baseUrl?:string, apiPath?:string}} [opts]
 * @returns {Promise<{version:number, updatedAt:number, expiresAt:number, stateBytes:number, clients:Array<{clientId:string, role:string, data:unknown}>, recentOps:any[]}>}
 */
export function getInfo(key, opts = {}) {
  return request('GET', `/sessions/${encodeURIComponent(key)}/info`, opts);
}

/**
 * Fetches the state once over HTTP (`GET /sessions/{key}`), without connecting.
 * @param {string} key @param {{baseUrl?:string, apiPath?:string}} [opts]
 * @returns {Promise<{state:unknown, version:number, updatedAt:number, expiresAt:number, role:string}>}
 */
export function getState(key, opts = {}) {
  return request('GET', `/sessions/${encodeURIComponent(key)}`, opts);
}

/**
 * Deletes a session (admin key). Connected clients are closed with 4004.
 * @param {string} adminKey @param {{baseUrl?:string, apiPath?:string}} [opts]
 * @returns {Promise<null>}
 */
export function deleteSession(adminKey, opts = {}) {
  return request('DELETE', `/sessions/${encodeURIComponent(adminKey)}`, opts);
}
