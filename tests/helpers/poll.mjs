// Waiting for a condition instead of a duration.

/**
 * Calls `probe` until it returns a truthy value and resolves with that value; rejects after
 * `timeoutMs` with `what` and the last value seen. An error thrown by `probe` rejects at once
 * (a probe that expects refused connections, e.g. during a restart, catches them itself).
 * @template T
 * @param {() => Promise<T>|T} probe
 * @param {{timeoutMs?: number, intervalMs?: number, what?: string}} [opts]
 * @returns {Promise<T>}
 */
export async function waitFor(probe, { timeoutMs = 10_000, intervalMs = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await probe();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms (last: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
