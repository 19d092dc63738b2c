// The wrangler config the integration suites run with: wrangler.toml itself, or a copy whose
// per-address abuse limits ([[ratelimits]]) are raised, since every test client shares 127.0.0.1.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * Returns the path of the config to pass to `wrangler dev --config`.
 * @param {'relaxed'|'real'} abuseLimits 'real' keeps wrangler.toml's limits (the abuse tests);
 *   'relaxed' multiplies every `[[ratelimits]]` limit by 1000.
 */
export function testConfig(abuseLimits = 'relaxed') {
  const original = join(ROOT, 'wrangler.toml');
  if (abuseLimits === 'real') return original;
  const relaxed = readFileSync(original, 'utf8')
    .replace(/simple = \{ limit = (\d+),/g, (_, n) => `simple = { limit = ${Number(n) * 1000},`);
  // Same directory as wrangler.toml, so `main` and `assets` resolve the same way. Written only
  // when its content changes: every running `wrangler dev` watches its config and reloads the
  // worker (dropping every connection) when the file is touched.
  const path = join(ROOT, '.wrangler-test.toml');
  if (!existsSync(path) || readFileSync(path, 'utf8') !== relaxed) writeFileSync(path, relaxed);
  return path;
}
