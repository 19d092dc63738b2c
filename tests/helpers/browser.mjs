// Browser helpers for tests/browser: one headless Chromium per test file (playwright-core),
// pages that record console errors, and screenshots into test-artifacts/screenshots/.
import { before, after } from 'node:test';
import { startDevServer } from './devserver.mjs';
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SCREENSHOTS = join(ROOT, 'test-artifacts', 'screenshots');

/** Launches the system Chromium headless (the flags keep it quiet and offline-friendly). */
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      // A page served by context.route may otherwise not open a WebSocket to 127.0.0.1.
      '--disable-features=LocalNetworkAccessChecks'],
  });
}

/**
 * A new context (its own storage, like another person) with one page. `errors` collects page
 * errors and console errors so tests can assert that a page ran cleanly.
 * @param {import('playwright-core').Browser} browser
 * @param {object} [opts] context options (viewport, ...)
 */
export async function openPage(browser, opts = {}) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 }, ...opts });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const text = m.text();
    // Expected while a context is offline or a transport is blocked on purpose.
    if (/ERR_INTERNET_DISCONNECTED|WebSocket connection to .* failed|Failed to load resource|net::ERR_/.test(text)) return;
    errors.push(`console: ${text}`);
  });
  page.setDefaultTimeout(15000);
  return { context, page, errors };
}

/**
 * Opens `n` pages (each its own context, like `n` people), runs `fn(...pages)`, and closes
 * every context afterwards, whether `fn` passed or threw.
 */
export async function withPages(browser, n, fn) {
  const pages = [];
  try {
    for (let i = 0; i < n; i++) pages.push(await openPage(browser));
    return await fn(...pages);
  } finally {
    await Promise.all(pages.map((p) => p.context.close()));
  }
}

/** Saves a full-page screenshot as test-artifacts/screenshots/<name>.png. */
export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Waits until the page's session (window.session) reports `status`. */
export async function waitStatus(page, status, timeout = 15000) {
  await page.waitForFunction((s) => window.session && window.session.status === s, status, { timeout });
}

/** Starts a session on `page` (at url + path) with the page's start button; returns {write, read} links. */
export async function startOnPage(page, url) {
  await page.goto(url);
  await page.click('#start-btn');
  await page.waitForFunction(() => location.hash.includes('key='));
  await waitStatus(page, 'open');
  return {
    write: await page.inputValue('#share-write'),
    read: await page.inputValue('#share-read'),
  };
}

/**
 * Registers the usual setup of a browser suite: one `wrangler dev` (with `serverOpts`) and one
 * Chromium, started before the tests and stopped after them. Read them as `suite.server` and
 * `suite.browser` inside tests.
 * @param {object} [serverOpts] options of startDevServer
 * @returns {{server: any, browser: any}}
 */
export function browserSuite(serverOpts) {
  const suite = { server: null, browser: null };
  before(async () => {
    [suite.server, suite.browser] = await Promise.all([startDevServer(serverOpts), launchBrowser()]);
  });
  after(async () => {
    await suite.browser?.close();
    await suite.server?.stop();
  });
  return suite;
}
