// Jittered exponential backoff, pure (the random source can be injected for tests).

/**
 * Delay before reconnect attempt number `attempt` (0 for the first retry):
 * `base = min(maxMs, initialMs * factor^attempt)`, then a random share `jitter` (0..1) of
 * it is spread uniformly: the result lies in `[base * (1 - jitter), base]`.
 * @param {number} attempt
 * @param {{initialMs:number, maxMs:number, factor:number, jitter:number}} opts
 * @param {() => number} [random] returns a number in [0, 1)
 * @returns {number} milliseconds
 */
export function backoffDelay(attempt, opts, random = Math.random) {
  const { initialMs, maxMs, factor, jitter } = opts;
  const exp = Math.min(Math.max(0, attempt), 64);
  const base = Math.min(maxMs, initialMs * Math.pow(factor, exp));
  const j = Math.min(1, Math.max(0, jitter));
  return Math.round(base * (1 - j) + random() * base * j);
}

/**
 * A stateful backoff: `next()` returns the next delay and counts the attempt; `reset()`
 * starts over (call it once a connection is established).
 * @param {{initialMs:number, maxMs:number, factor:number, jitter:number}} opts
 * @param {() => number} [random]
 * @returns {{next: () => number, reset: () => void, readonly attempt: number}}
 */
export function createBackoff(opts, random = Math.random) {
  let attempt = 0;
  return {
    next() { return backoffDelay(attempt++, opts, random); },
    reset() { attempt = 0; },
    get attempt() { return attempt; },
  };
}

/**
 * Counts reconnects in a row that failed for the same cause (a close code, "connect_failed",
 * ...). `record(cause)` returns the count so far and whether it reached `max` (time to stop
 * retrying and say so); a different cause starts over, and so does `reset()` (call it once a
 * connection proved healthy).
 * @param {number} max
 * @returns {{record: (cause:string) => {count:number, giveUp:boolean}, reset: () => void, readonly cause: string|null}}
 */
export function createFailureCounter(max) {
  let cause = null;
  let count = 0;
  return {
    record(c) {
      if (c !== cause) { cause = c; count = 0; }
      count++;
      return { count, giveUp: count >= max };
    },
    reset() { cause = null; count = 0; },
    get cause() { return cause; },
  };
}
