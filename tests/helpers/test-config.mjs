// The wrangler config the integration suites run with: wrangler.toml itself, or a copy whose
// per-address abuse limits ([[ratelimits]]) are raised, since every test client shares 127.0.0.1.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The state and body limits most suites run with: small, so their fixtures stay small. */
const SMALL_STATE = { MAX_STATE_BYTES: 262144, MAX_BODY_BYTES: 524288 };
/** The limits of the large-document suites: the 64 MiB ceiling. */
const LARGE_STATE = { MAX_STATE_BYTES: 67108864, MAX_BODY_BYTES: 67174400 };

/**
 * Returns the path of the config to pass to `wrangler dev --config`.
 * @param {'relaxed'|'real'|'large'} abuseLimits 'real' keeps wrangler.toml as it is (the abuse
 *   tests); 'relaxed' multiplies every `[[ratelimits]]` limit by 1000 and pins the state limit
 *   at 256 KiB; 'large' is 'relaxed' with the 64 MiB state limit (large-document suites).
 */
export function testConfig(abuseLimits = 'relaxed') {
  const original = join(ROOT, 'wrangler.toml');
  if (abuseLimits === 'real') return original;
  const vars = abuseLimits === 'large' ? LARGE_STATE : SMALL_STATE;
  let text = readFileSync(original, 'utf8')
    .replace(/simple = \{ limit = (\d+),/g, (_, n) => `simple = { limit = ${Number(n) * 1000},`);
  for (const [name, value] of Object.entries(vars)) {
    text = text.replace(new RegExp(`^${name} = "\\d+"`, 'm'), `${name} = "${value}"`);
  }
  // Same directory as wrangler.toml, so `main` and `assets` resolve the same way. Written only
  // when its content changes: every running `wrangler dev` watches its config and reloads the
  // worker (dropping every connection) when the file is touched.
  const path = join(ROOT, abuseLimits === 'large' ? '.wrangler-test-large.toml' : '.wrangler-test.toml');
  if (!existsSync(path) || readFileSync(path, 'utf8') !== text) writeFileSync(path, text);
  return path;
}
