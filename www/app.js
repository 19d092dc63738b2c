// Shared glue of the demo pages: header, status badge, start/join panel, share links, names.
// The session key travels in the URL fragment (#key=...), so it never reaches server logs.
import { request, joinSession, keyFromHash, hashKeyProblem, sessionIdOf } from './sdk/session-sync.js';

const PAGES = [
  ['index.html', 'Home'], ['chat.html', 'Chat'], ['tictactoe.html', 'Tic-tac-toe'], ['chess.html', 'Chess'],
  ['whiteboard.html', 'Whiteboard'], ['presenter.html', 'Presenter'], ['inspector.html', 'Inspector'],
];

/** Element by id. */
export const $ = (id) => document.getElementById(id);

/** Creates an element with properties and children. */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c);
  return el;
}

/** Query parameters of the fragment (#key=...&read=...). */
export function hashParams() { return new URLSearchParams(location.hash.replace(/^#/, '')); }

/** SDK options from the page's query string (?transport=sse is handy to try the fallbacks, ?batch=1 the coalesced updates). */
export function sdkOptions() {
  const q = new URLSearchParams(location.search);
  const o = {};
  if (q.get('transport')) o.transport = q.get('transport');
  if (q.get('batch') === '1') o.batch = true;
  return o;
}

/**
 * Renders the shared header in one row: brand, navigation and a status badge. On narrow
 * screens the links fold into a menu (a <details>, so it works without script and by keyboard).
 */
export function renderHeader() {
  // The assets server may drop `.html` (`/chat` for chat.html) and serve `/` for index.html.
  const page = (p) => p.replace(/\.html$/, '') || 'index';
  const here = page(location.pathname.split('/').pop());
  const links = () => PAGES.map(([href, label]) => h('a', { href, 'aria-current': page(href) === here ? 'page' : null }, label));
  const current = (PAGES.find(([href]) => page(href) === here) || PAGES[0])[1];
  const header = h('header', { class: 'top' },
    h('a', { class: 'brand', href: 'index.html' }, 'session-sync'),
    h('nav', { class: 'wide', 'aria-label': 'Demos' }, links()),
    h('details', { class: 'menu' },
      h('summary', { 'aria-label': `Menu (${current})` }, current),
      h('nav', { 'aria-label': 'Demos' }, links())),
    h('span', { id: 'status', class: 'badge', 'data-status': 'idle', role: 'status', 'aria-live': 'polite' }, 'not connected'));
  document.body.prepend(h('a', { class: 'skip', href: '#main' }, 'Skip to content'), header);
}

/** Keeps the header badge in sync with a session's status. */
export function bindStatus(session) {
  const el = $('status');
  const show = (s) => {
    el.dataset.status = s;
    el.replaceChildren(s === 'open' ? 'live' : s, s === 'open' ? h('span', { class: 'detail' }, ` (${session.transport})`) : '');
    if (session.error && session.error.code === 'reconnect_failed') el.title = session.error.message;
  };
  show(session.status);
  session.on('status', show);
  session.on('transport', () => show(session.status));
}

/** The visitor's display name (kept in localStorage). */
export function getName() {
  let n = localStorage.getItem('session-sync:name');
  if (!n) {
    n = `Guest ${Math.floor(1000 + Math.random() * 9000)}`;
    localStorage.setItem('session-sync:name', n);
  }
  return n;
}
/** Saves the display name. */
export function setName(n) { localStorage.setItem('session-sync:name', n); }

/**
 * A stable id for this person in this browser (localStorage, shared by all tabs). Presence
 * carries it, so two tabs of one person count as one person: a connection is not a person.
 */
export function personId() {
  let id = localStorage.getItem('session-sync:person');
  if (!id) {
    id = `p_${crypto.randomUUID().replace(/-/g, '').slice(0, 12)}`;
    localStorage.setItem('session-sync:person', id);
  }
  return id;
}

/**
 * Groups presence entries by person (`data.person`, else the connection): one entry per person
 * with every client id, `tabs` (how many connections) and `self` (one of them is this tab, or
 * it is this person in another tab: `mine`).
 * @param {Array<{clientId:string, data:any, self:boolean}>} list
 */
export function people(list) {
  const me = personId();
  const byPerson = new Map();
  for (const c of list) {
    const id = (c.data && c.data.person) || c.clientId;
    const p = byPerson.get(id) || { person: id, clientIds: [], tabs: 0, self: false, mine: id === me, data: c.data };
    p.clientIds.push(c.clientId);
    p.tabs++;
    if (c.self) { p.self = true; p.data = c.data; }
    byPerson.set(id, p);
  }
  return [...byPerson.values()];
}

/**
 * Live positions (cursors, pointers) shared as volatile broadcasts `{t: type, at, ...extra()}`
 * (protocol P17: only the newest counts). `send(at)` shares mine (`null`: gone); `others` maps
 * client id -> the last message of each other client; `onChange()` runs when it changes. A
 * newcomer gets my position when it joins; a client that leaves loses its own.
 * @param {any} session @param {string} type @param {() => void} onChange @param {() => object} [extra]
 */
export function livePositions(session, type, onChange, extra = () => ({})) {
  const others = new Map();
  let mine = null;
  const send = (at) => { mine = at; session.broadcast({ t: type, at, ...extra() }, { volatile: true }); };
  session.on('message', (m, { from }) => {
    if (!m || m.t !== type) return;
    if (Array.isArray(m.at)) others.set(from, m); else others.delete(from);
    onChange();
  });
  session.on('presence', (ev) => {
    if (ev.event === 'leave') others.delete(ev.clientId);
    if (ev.event === 'sync') { const here = new Set(ev.list.map((c) => c.clientId)); for (const id of others.keys()) if (!here.has(id)) others.delete(id); }
    if (ev.event === 'join' && mine) send(mine);
  });
  return { others, send };
}

/** The reactions an audience can send (emoji, label), besides raising a hand. */
export const REACTIONS = [['👏', 'Applause'], ['❤️', 'Love it'], ['😂', 'Laugh']];

/**
 * An audience's reactions, as plain broadcasts (never dropped; a viewer behind a relay reaches
 * everyone this way, not through presence). `send(emoji)` shares one of REACTIONS; `counts()`
 * maps each emoji to how many arrived in the last `windowMs` (mine included). `hand(up)` raises
 * or lowers my hand; `hands` holds the person ids (personId(): tabs and reconnects count once)
 * whose hand is up; `lowerAll()` lowers every hand, honoured only from a sender `mayLowerAll`
 * accepts. The three return false when not connected (then nothing changed). `onChange()` runs
 * on every change, and when a reaction leaves the window. My raised hand is sent again after a
 * reconnect and when someone joins, so a presenter who reloads sees it.
 * @param {any} session
 * @param {{windowMs?: number, onChange: () => void, mayLowerAll: (clientId: string) => boolean}} opts
 */
export function reactions(session, { windowMs = 10_000, onChange, mayLowerAll }) {
  const known = new Set(REACTIONS.map(([e]) => e));
  const recent = []; // [arrival ms, emoji], oldest first
  const hands = new Set();
  const me = personId();
  let timer = null;
  const changed = () => {
    clearTimeout(timer);
    const now = Date.now();
    while (recent.length && recent[0][0] <= now - windowMs) recent.shift();
    if (recent.length) timer = setTimeout(changed, recent[0][0] + windowMs - now);
    onChange();
  };
  const add = (emoji) => { recent.push([Date.now(), emoji]); changed(); };
  const setHand = (person, up) => { if (up) hands.add(person); else hands.delete(person); changed(); };
  const sendHand = (up) => session.broadcast({ t: 'hand', up, person: me }, { volatile: false });
  session.on('message', (m, { from }) => {
    if (!m) return;
    if (m.t === 'reaction' && known.has(m.emoji)) add(m.emoji);
    else if (m.t === 'hand' && typeof m.person === 'string') setHand(m.person, !!m.up);
    else if (m.t === 'hands-down' && mayLowerAll(from)) { hands.clear(); changed(); }
  });
  const again = () => { if (hands.has(me)) sendHand(true); };
  session.on('welcome', again);
  session.on('presence', (ev) => { if (ev.event === 'join') again(); });
  const sent = (ok, then) => { if (ok) then(); return ok; }; // false: not connected, nothing changed
  return {
    hands,
    send: (emoji) => sent(session.broadcast({ t: 'reaction', emoji }, { volatile: false }), () => add(emoji)),
    hand: (up) => sent(sendHand(up), () => setHand(me, up)),
    lowerAll: () => sent(session.broadcast({ t: 'hands-down' }, { volatile: false }), () => { hands.clear(); changed(); }),
    counts: () => recent.reduce((m, [, e]) => m.set(e, (m.get(e) || 0) + 1), new Map()),
  };
}

/** Human words for a SyncError code of a write that did not apply. */
export function whyRejected(e) {
  const words = {
    state_too_large: 'the shared state would be over the server’s size limit',
    message_too_large: 'it is too large to send in one message',
    read_only: 'this link is read-only',
    session_not_found: 'this session was deleted or has expired',
    key_rotated: 'this link’s key was replaced',
    closed: 'the connection to this session was closed',
    patch_conflict: 'it no longer fits the current state',
    version_conflict: 'someone changed it first',
    invalid_patch: 'the change is not valid',
    rate_limited: 'too many changes at once',
  };
  return words[e && e.code] || (e && e.message) || 'unknown error';
}

/**
 * A character counter for an input with `maxlength`: "12 / 500", turning to a warning near the
 * limit, so text is never cut off silently.
 * @param {HTMLInputElement|HTMLTextAreaElement} input @param {HTMLElement} out
 */
export function bindCounter(input, out) {
  const max = Number(input.getAttribute('maxlength'));
  const show = () => {
    const n = input.value.length;
    out.textContent = `${n} / ${max}`;
    out.classList.toggle('warn', n >= max * 0.9);
  };
  input.addEventListener('input', show);
  show();
  return show;
}

/** Text typed into `[data-keep]` fields survives a move to a new session (sessionStorage). */
function saveDrafts() {
  for (const el of document.querySelectorAll('[data-keep]')) {
    if (el.value) sessionStorage.setItem(`session-sync:draft:${location.pathname}:${el.id}`, el.value);
  }
}
function restoreDrafts() {
  for (const el of document.querySelectorAll('[data-keep]')) {
    const k = `session-sync:draft:${location.pathname}:${el.id}`;
    const v = sessionStorage.getItem(k);
    if (v !== null && !el.value) { el.value = v; el.dispatchEvent(new Event('input')); }
    sessionStorage.removeItem(k);
  }
}

/** A stable id for this browser tab (survives reloads and reconnects, unlike clientId). */
export function tabId() {
  let id = sessionStorage.getItem('session-sync:tab');
  if (!id) {
    id = Math.random().toString(36).slice(2, 10);
    sessionStorage.setItem('session-sync:tab', id);
  }
  return id;
}

/** Links to share: the write link also carries the read key so co-editors can hand it on. */
export function links(writeKey, readKey) {
  const base = location.href.split('#')[0];
  return {
    write: writeKey ? `${base}#key=${writeKey}${readKey ? `&read=${readKey}` : ''}` : null,
    read: readKey ? `${base}#key=${readKey}` : null,
  };
}

/** Renders the share links of the current session into `el`. */
export function renderShare(el, session) {
  const p = hashParams();
  const writeKey = session.keys ? session.keys.write : session.canWrite ? session.key : null;
  const readKey = session.keys ? session.keys.read : p.get('read') || (session.role === 'read' ? session.key : null);
  const l = links(writeKey, readKey);
  el.replaceChildren(h('h2', {}, 'Share'));
  const row = (label, url, id) => h('div', { class: 'link' },
    h('span', {}, label),
    h('input', { id, readonly: true, value: url, 'aria-label': `${label} link`, onfocus: (e) => e.target.select() }),
    h('button', { class: 'secondary', type: 'button', onclick: (e) => copy(url, e.target) }, 'Copy'));
  const box = h('div', { class: 'share' });
  if (l.write) box.append(row('Can edit', l.write, 'share-write'));
  if (l.read) box.append(row('Read-only', l.read, 'share-read'));
  box.append(h('p', { class: 'muted small' }, 'The key is in the link\u2019s #fragment: browsers never send it to the server\u2019s logs.'));
  el.append(box);
  el.hidden = false;
}

async function copy(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = 'Copied';
  } catch {
    button.textContent = 'Select + Ctrl+C';
  }
  setTimeout(() => { button.textContent = 'Copy'; }, 1500);
}

/**
 * Starts the page: with a key in the fragment it joins that session; without one it shows the
 * start panel (start a new session, or paste a key or link). Resolves with the session.
 * @param {{initialState?: any, startLabel?: string, intro?: string, onSession?: (s:any) => void}} opts
 */
export function boot(opts) {
  renderHeader();
  window.addEventListener('hashchange', () => location.reload());
  const key = keyFromHash();
  const startEl = $('start');
  const appEl = $('app');
  const problem = hashKeyProblem();
  if (problem) {
    // A mangled link must not silently become a new, empty session.
    startEl.hidden = false;
    appEl.hidden = true;
    startEl.replaceChildren(h('p', { class: 'notice error', role: 'alert', id: 'link-error' },
      'This link is broken: its #key= is not a session key (was it cut short when it was shared?). Ask for the link again, or ',
      h('button', { id: 'start-btn', type: 'button', class: 'secondary', onclick: start }, opts.startLabel || 'Start a new session'), '.'));
    return new Promise(() => {});
  }
  if (!key) {
    startEl.hidden = false;
    appEl.hidden = true;
    startEl.replaceChildren(
      h('h2', {}, opts.startTitle || 'Start or join'),
      opts.intro ? h('p', { class: 'muted' }, opts.intro) : null,
      h('div', { class: 'row' },
        h('button', { id: 'start-btn', type: 'button', onclick: start }, opts.startLabel || 'Start a new session')),
      h('form', { class: 'row', style: 'margin-top:0.75rem', onsubmit: (e) => { e.preventDefault(); join(); } },
        h('label', { for: 'join-key' }, 'Join with a link or key'),
        h('input', { id: 'join-key', class: 'grow', placeholder: 'https://\u2026#key=\u2026 or the key', autocomplete: 'off' }),
        h('button', { class: 'secondary', type: 'submit' }, 'Join')),
      h('p', { id: 'start-error', class: 'notice error', hidden: true }));
    return new Promise(() => {});
  }

  async function start(e) {
    const btn = e && e.currentTarget ? e.currentTarget : $('start-btn');
    if (btn) btn.disabled = true;
    try {
      const created = await request('POST', '/sessions', { body: { state: opts.initialState ?? {} } });
      localStorage.setItem(`session-sync:admin:${created.sessionId}`, created.keys.admin);
      saveDrafts();
      location.hash = `key=${created.keys.write}&read=${created.keys.read}`; // reloads into the session
    } catch (err) {
      showError(`Could not start a session: ${err.message}`);
      if (btn) btn.disabled = false;
    }
  }

  function join() {
    const raw = $('join-key').value.trim();
    const k = keyFromHash(raw.includes('#') ? raw.slice(raw.indexOf('#')) : `key=${raw}`);
    if (!k) { showError('That is not a session link or key.'); return; }
    const q = new URLSearchParams(raw.includes('#') ? raw.slice(raw.indexOf('#') + 1) : '');
    location.hash = `key=${k}${q.get('read') ? `&read=${q.get('read')}` : ''}`;
  }

  function showError(msg) {
    const el = $('start-error') || appEl.querySelector('[role=alert]') || startEl;
    el.textContent = msg;
    el.hidden = false;
  }

  startEl.hidden = true;
  appEl.hidden = false;
  restoreDrafts();
  return (async () => {
    let session;
    let joined = false;
    try {
      session = await joinSession(key, { ...sdkOptions(), wait: false });
      bindStatus(session);
      session.on('error', (e) => {
        if (joined && session.status === 'closed') {
          fatal(`Session closed: ${e.code === 'session_not_found' ? 'it was deleted or has expired' : e.code === 'key_rotated' ? 'the link\u2019s key was replaced' : e.message}.`, true);
        } else if (e.code === 'reconnect_failed') {
          fatal('Cannot reach the server: the page stopped retrying. Your unsent changes are kept.', false, 'Try again', () => session.reconnect());
        }
      });
      session.on('status', (s) => { if (s === 'open') document.querySelector('#session-problem')?.remove(); });
      await session.ready;
      joined = true;
    } catch (e) {
      appEl.replaceChildren();
      fatal(`Could not join: ${e.code === 'session_not_found' ? 'the session does not exist or has expired' : e.message}.`, true);
      return new Promise(() => {}); // the page stops here
    }
    const admin = localStorage.getItem(`session-sync:admin:${sessionIdOf(key)}`);
    if (admin) session.adminKey = admin;
    window.session = session; // handy in the console (and for the tests)
    return session;
  })();

  /** Says what happened, in place; `offerNew`: a button that starts a new session and keeps typed text. */
  function fatal(msg, offerNew, label, action) {
    document.querySelector('#session-problem')?.remove();
    if (offerNew && $('share')) $('share').hidden = true; // its links lead nowhere any more
    const hasDraft = [...document.querySelectorAll('[data-keep]')].some((el) => el.value);
    appEl.prepend(h('p', { id: 'session-problem', class: 'notice error', role: 'alert' }, msg, ' ',
      offerNew ? h('button', { id: 'start-new', type: 'button', class: 'secondary', onclick: start },
        opts.startLabel || 'Start a new session') : null,
      offerNew && hasDraft ? h('span', { class: 'small' }, ' (what you typed comes along)') : null,
      action ? h('button', { type: 'button', class: 'secondary', onclick: action }, label) : null));
  }
}
