// Busy time of a V8 .cpuprofile by kind of work, shared by the report's sections.
import { readFileSync, existsSync } from 'node:fs';

/**
 * Busy time (ms) of a .cpuprofile by kind of work, or null when it is missing or unreadable.
 * @param {string} file
 * @param {{send?: string, other: string}} labels `send`: a category of its own for the runtime's
 *   WebSocket `send` (else it counts with the other runtime calls); `other`: the name of that one.
 */
export function profileCategories(file, { send, other }) {
  if (!existsSync(file)) return null;
  let prof;
  try { prof = JSON.parse(readFileSync(file, 'utf8')); } catch { return null; }
  const nodes = new Map(prof.nodes.map((n) => [n.id, n.callFrame]));
  const out = {};
  prof.samples.forEach((id, i) => {
    const f = nodes.get(id);
    const us = prof.timeDeltas[i] ?? 0;
    if (!f) return;
    const name = f.functionName;
    const url = f.url ?? '';
    let c;
    if (name === '(idle)' || name === '(root)') return;
    if (name === '(garbage collector)') c = 'GC';
    else if (name === '(program)') c = '(program)';
    else if (/^(js-to-wasm|wasm-to-js)/.test(name)) c = 'wasm/JS crossings';
    else if (url.startsWith('wasm://')) c = 'wasm (Rust)';
    else if (name === 'exec' && !url) c = 'SQLite exec';
    else if (send && name === 'send' && !url) c = send;
    else if (url) c = 'JS (glue or baseline)';
    else c = other;
    out[c] = (out[c] ?? 0) + us / 1000;
  });
  return out;
}
