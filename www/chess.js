// The chess demo's game (www/chess.html): seats, the board (click or drag, promotion picker),
// moves, resign, draw offers and rematch. The rules are chess.js's, run in each browser: every
// write is an update() whose function rebuilds the position from the state it is applied to and
// returns undefined (nothing is written) when the move is not legal there or not that player's
// turn. The server knows no chess; it orders writes by version, so a move computed on an old
// position is re-checked on the new one before it can land.
import { Chess } from './vendor/chess.js';
import { $, h, getName, personId, whyRejected } from './app.js';

const START = new Chess().fen();
const COLORS = { w: 'White', b: 'Black' };
// Filled glyphs for both sides (coloured by CSS); U+FE0E asks for text, not emoji, presentation.
const GLYPH = { k: '\u265A', q: '\u265B', r: '\u265C', b: '\u265D', n: '\u265E', p: '\u265F' };
const NAMES = { k: 'king', q: 'queen', r: 'rook', b: 'bishop', n: 'knight', p: 'pawn' };
const FILES = 'abcdefgh';
const REASONS = {
  checkmate: 'Checkmate', stalemate: 'Stalemate', repetition: 'Draw by threefold repetition',
  insufficient: 'Draw: insufficient material', fifty: 'Draw by the 50-move rule', resign: 'Resigned', agreement: 'Draw agreed',
};
const other = (c) => (c === 'w' ? 'b' : 'w');

/** A new game's state. */
export const fresh = () => ({ game: 'chess', round: 1, seats: { w: null, b: null }, fen: START, moves: [], last: null, result: null, drawOffer: null });

/** Fills in a state that is missing fields (a session created elsewhere). */
function normalize(s) {
  const base = fresh();
  if (!s || typeof s !== 'object') return base;
  const out = { ...base, ...s, seats: { ...base.seats, ...(s.seats || {}) } };
  if (!Array.isArray(out.moves)) out.moves = [];
  if (typeof out.fen !== 'string') out.fen = START;
  return out;
}

/**
 * The position of a state: its moves replayed from the start (so chess.js knows the history and
 * can see a threefold repetition), or its FEN alone when the moves do not lead to that FEN.
 */
function positionOf(s) {
  const c = new Chess();
  try {
    for (const san of s.moves) c.move(san);
    if (c.fen() === s.fen) return c;
  } catch { /* fall back to the FEN */ }
  try { return new Chess(s.fen); } catch { return new Chess(); }
}

/** How the game ended after the last move, or null while it goes on. */
function outcomeOf(c) {
  if (c.isCheckmate()) return { winner: other(c.turn()), reason: 'checkmate' };
  if (c.isStalemate()) return { winner: null, reason: 'stalemate' };
  if (c.isInsufficientMaterial()) return { winner: null, reason: 'insufficient' };
  if (c.isThreefoldRepetition()) return { winner: null, reason: 'repetition' };
  if (c.isDrawByFiftyMoves()) return { winner: null, reason: 'fifty' };
  return null;
}

/** Starts the game on `session`; returns the hooks the tests use. */
export function startChess(session) {
  const me = personId();
  const name = getName();
  const colorIn = (s) => (['w', 'b'].find((c) => s.seats[c] && s.seats[c].id === me) || null);
  const playing = (s) => Boolean(s.seats.w && s.seats.b && !s.result);

  let selected = null; // square of the piece picked up
  let orientation = null; // 'w' or 'b' at the bottom
  let drag = null; // {from, x, y, id, ghost}
  let suppressClick = false;
  let promo = null; // {from, to} waiting for the promotion choice

  const note = (text) => { $('move-error').textContent = text; $('move-error').hidden = !text; };

  /** Writes `change(state, myColour)` with update(); the function returns undefined to abort. */
  function write(change, what) {
    return session.update((raw) => {
      const s = normalize(raw);
      const color = colorIn(s);
      return color ? change(s, color) : undefined;
    }).then((r) => {
      if (r && r.cancelled && what) note(`${what} was not made: the game changed first (the other player, or another tab of yours). Nothing was written.`);
      else note('');
      return r;
    }, (e) => { note(`${what || 'That'} was not made: ${whyRejected(e)}.`); throw e; });
  }

  /** A move, checked against the state it is applied to (not the one it was made on). */
  const move = (mv) => write((s, color) => {
    if (!playing(s)) return undefined;
    const c = positionOf(s);
    if (c.turn() !== color) return undefined;
    let m;
    try { m = c.move(mv); } catch { return undefined; } // illegal in this position
    return { ...s, fen: c.fen(), moves: [...s.moves, m.san], last: { from: m.from, to: m.to }, drawOffer: null, result: outcomeOf(c) };
  }, 'Your move');

  // Claim a seat: the first two people with the edit link take white and black. update() rebases
  // on conflict, so two people arriving at once cannot both take white.
  if (session.canWrite) {
    session.update((raw) => {
      const s = normalize(raw);
      if (colorIn(s)) return undefined;
      const free = ['w', 'b'].find((c) => !s.seats[c]);
      if (!free) return undefined;
      return { ...s, seats: { ...s.seats, [free]: { id: me, name } } };
    }).catch((e) => note(`Could not take a seat: ${whyRejected(e)}.`));
  }

  // The 64 squares, created once; render() orders them for the side at the bottom.
  const squares = new Map();
  for (let r = 8; r >= 1; r--) {
    for (const f of FILES) {
      const sq = `${f}${r}`;
      const dark = (FILES.indexOf(f) + r) % 2 === 0;
      squares.set(sq, h('button', { type: 'button', class: `sq ${dark ? 'dark' : 'light'}`, 'data-square': sq, role: 'gridcell' }));
    }
  }
  const board = $('board');

  /** Legal moves from `from` in the current state, for this player, on their turn. */
  function movesFrom(from) {
    const s = normalize(session.state);
    const color = colorIn(s);
    if (!session.canWrite || !color || !playing(s)) return [];
    const c = positionOf(s);
    if (c.turn() !== color) return [];
    return c.moves({ square: from, verbose: true });
  }
  /** Moves the selected piece to `to` if that is legal; asks for the piece when it promotes. */
  function tryMove(from, to) {
    const legal = movesFrom(from).filter((m) => m.to === to);
    select(null);
    if (!legal.length) return false; // an illegal square changes nothing
    if (legal.some((m) => m.promotion)) { showPromo(from, to); return true; }
    move({ from, to });
    return true;
  }
  function select(sq) { selected = sq; render(); }

  function showPromo(from, to) {
    promo = { from, to };
    const color = colorIn(normalize(session.state));
    $('promo').replaceChildren(h('span', { class: 'small' }, 'Promote to'),
      ...['q', 'r', 'b', 'n'].map((p) => h('button', { type: 'button', 'data-promo': p, class: `pc ${color}`, 'aria-label': NAMES[p],
        onclick: () => { $('promo').hidden = true; promo = null; move({ from, to, promotion: p }); } }, `${GLYPH[p]}\uFE0E`)),
      h('button', { type: 'button', class: 'secondary small', onclick: () => { $('promo').hidden = true; promo = null; } }, 'Cancel'));
    $('promo').hidden = false;
    $('promo').querySelector('button').focus();
  }

  // Click (and keyboard): pick up a piece, then click a highlighted square.
  board.addEventListener('click', (e) => {
    const el = e.target.closest('[data-square]');
    if (suppressClick) { suppressClick = false; return; }
    if (!el) return;
    const sq = el.dataset.square;
    if (selected && selected !== sq && movesFrom(selected).some((m) => m.to === sq)) tryMove(selected, sq);
    else if (selected !== sq && movesFrom(sq).length) select(sq);
    else select(null);
  });
  // Drag with pointer events (mouse, pen, touch: the board has touch-action: none).
  board.addEventListener('pointerdown', (e) => {
    suppressClick = false;
    const el = e.target.closest('[data-square]');
    if (!el || e.button !== 0 || !movesFrom(el.dataset.square).length) return;
    drag = { from: el.dataset.square, x: e.clientX, y: e.clientY, id: e.pointerId, ghost: null };
  });
  board.addEventListener('pointermove', (e) => {
    if (!drag || e.pointerId !== drag.id) return;
    if (!drag.ghost) {
      if (Math.hypot(e.clientX - drag.x, e.clientY - drag.y) < 5) return;
      // Captured only once it is a drag: a capture from pointerdown would retarget a plain click.
      board.setPointerCapture(e.pointerId);
      select(drag.from);
      const size = squares.get(drag.from).getBoundingClientRect().width;
      const color = colorIn(normalize(session.state));
      const p = positionOf(normalize(session.state)).get(drag.from);
      drag.ghost = h('div', { class: `ghost pc ${color}`, style: `font-size:${size * 0.8}px;width:${size}px;height:${size}px`, 'aria-hidden': 'true' }, `${GLYPH[p.type]}\uFE0E`);
      document.body.append(drag.ghost);
      squares.get(drag.from).classList.add('lifted');
    }
    drag.ghost.style.left = `${e.clientX}px`;
    drag.ghost.style.top = `${e.clientY}px`;
  });
  const endDrag = (e, drop) => {
    if (!drag || e.pointerId !== drag.id) return;
    const { from, ghost } = drag;
    drag = null;
    if (!ghost) return; // a plain click: the click handler does it
    ghost.remove();
    squares.get(from).classList.remove('lifted');
    suppressClick = true;
    const target = drop && document.elementFromPoint(e.clientX, e.clientY)?.closest('#board [data-square]');
    if (!target || !tryMove(from, target.dataset.square)) select(null);
  };
  board.addEventListener('pointerup', (e) => endDrag(e, true));
  board.addEventListener('pointercancel', (e) => endDrag(e, false));
  document.addEventListener('keydown', (e) => {
    if (e.key !== 'Escape') return;
    if (promo) { $('promo').hidden = true; promo = null; }
    select(null);
  });

  // Resign (asks once), draw offers, rematch with colours swapped.
  const show = (id, on) => { $(id).hidden = !on; };
  $('resign').addEventListener('click', () => { show('resign-confirm', true); $('resign-no').focus(); });
  $('resign-no').addEventListener('click', () => show('resign-confirm', false));
  $('resign-yes').addEventListener('click', () => {
    show('resign-confirm', false);
    write((s, color) => (playing(s) ? { ...s, result: { winner: other(color), reason: 'resign', by: color }, drawOffer: null } : undefined), 'Resigning');
  });
  $('offer-draw').addEventListener('click', () => write((s, color) => (playing(s) && !s.drawOffer ? { ...s, drawOffer: color } : undefined), 'The draw offer'));
  $('accept-draw').addEventListener('click', () => write((s, color) => (playing(s) && s.drawOffer === other(color)
    ? { ...s, drawOffer: null, result: { winner: null, reason: 'agreement' } } : undefined), 'Accepting the draw'));
  for (const id of ['decline-draw', 'withdraw-draw']) {
    $(id).addEventListener('click', () => write((s) => (playing(s) && s.drawOffer ? { ...s, drawOffer: null } : undefined)));
  }
  $('rematch').addEventListener('click', () => write((s) => (s.result
    ? { ...fresh(), round: s.round + 1, seats: { w: s.seats.b, b: s.seats.w } } : undefined), 'The rematch'));

  function statusText(s, c, color) {
    const r = s.result;
    if (r) {
      const head = r.reason === 'resign' ? `${COLORS[r.by || other(r.winner)]} resigned` : REASONS[r.reason] || 'Game over';
      const tail = r.winner ? `${COLORS[r.winner]} wins` : r.reason === 'stalemate' ? 'draw' : '';
      const you = color && r.winner ? (r.winner === color ? ' (you won)' : ' (you lost)') : '';
      return `${head}${tail ? `: ${tail}` : ''}${you}.`;
    }
    if (!s.seats.w || !s.seats.b) return `Waiting for ${s.seats.w ? 'Black' : 'White'} to join: send the edit link.`;
    const check = c.inCheck() ? ' Check!' : '';
    if (color && session.canWrite && c.turn() === color) return `Your move (${COLORS[color]}).${check}`;
    return `${COLORS[c.turn()]} to move.${check}`;
  }

  function render() {
    const s = normalize(session.state);
    const c = positionOf(s);
    const color = session.canWrite ? colorIn(s) : null;
    const bottom = color || 'w';
    if (bottom !== orientation) {
      orientation = bottom;
      const order = [...squares.values()];
      board.replaceChildren(...(bottom === 'w' ? order : order.reverse()));
    }
    if (selected && !movesFrom(selected).length) selected = null;
    const targets = new Map((selected ? movesFrom(selected) : []).map((m) => [m.to, m]));
    const kingInCheck = c.inCheck() ? c.findPiece({ type: 'k', color: c.turn() })[0] : null;
    const lastRank = bottom === 'w' ? '1' : '8';
    const firstFile = bottom === 'w' ? 'a' : 'h';
    for (const [sq, el] of squares) {
      const p = c.get(sq);
      const kids = [];
      if (p) kids.push(h('span', { class: `pc ${p.color}`, 'aria-hidden': 'true' }, `${GLYPH[p.type]}\uFE0E`));
      if (sq[0] === firstFile) kids.push(h('span', { class: 'coord rank', 'aria-hidden': 'true' }, sq[1]));
      if (sq[1] === lastRank) kids.push(h('span', { class: 'coord file', 'aria-hidden': 'true' }, sq[0]));
      el.replaceChildren(...kids);
      el.setAttribute('aria-label', `${sq}${p ? `, ${COLORS[p.color].toLowerCase()} ${NAMES[p.type]}` : ''}`);
      el.dataset.piece = p ? `${p.color}${p.type}` : '';
      el.classList.toggle('sel', sq === selected);
      el.classList.toggle('target', targets.has(sq));
      el.classList.toggle('capture', targets.has(sq) && Boolean(p));
      el.classList.toggle('last', Boolean(s.last && (s.last.from === sq || s.last.to === sq)));
      el.classList.toggle('check', sq === kingInCheck);
    }
    board.classList.toggle('my-turn', Boolean(color && playing(s) && c.turn() === color));

    $('turn').textContent = statusText(s, c, color);
    $('turn').dataset.over = s.result ? s.result.reason : '';
    $('turn').classList.toggle('over', Boolean(s.result));
    $('round').textContent = `· game ${s.round}`;
    const seatText = (k) => (s.seats[k] ? `${s.seats[k].name}${s.seats[k].id === me ? ' (you)' : ''}` : 'waiting…');
    const top = other(bottom);
    for (const [slot, k] of [['top-player', top], ['bottom-player', bottom]]) {
      const el = $(slot);
      el.replaceChildren(h('span', { class: `pc ${k} mini`, 'aria-hidden': 'true' }, `${GLYPH.k}\uFE0E`),
        h('strong', {}, COLORS[k]), ' ', h('span', { id: `player-${k}`, class: s.seats[k] ? '' : 'muted' }, seatText(k)));
      el.classList.toggle('to-move', playing(s) && c.turn() === k);
    }
    $('me').textContent = !session.canWrite ? 'You are watching with a read-only link.'
      : color ? `You play ${COLORS[color]}.` : (s.seats.w && s.seats.b ? 'Both seats are taken: you are watching.' : 'Taking a seat…');
    document.body.dataset.role = color || 'spectator';

    // Move list: one row per move number.
    const rows = [];
    for (let i = 0; i < s.moves.length; i += 2) {
      rows.push(h('li', {}, h('span', { class: 'n' }, `${i / 2 + 1}.`), h('span', { class: 'san' }, s.moves[i]), h('span', { class: 'san' }, s.moves[i + 1] || '')));
    }
    $('moves').replaceChildren(...rows);
    $('moves').dataset.count = String(s.moves.length);
    $('no-moves').hidden = s.moves.length > 0;
    const list = $('moves').parentElement;
    list.scrollTop = list.scrollHeight;

    // Controls for the two players.
    const live = Boolean(color && playing(s));
    show('resign', live);
    if (!live) show('resign-confirm', false);
    show('offer-draw', live && !s.drawOffer);
    show('draw-offer', live && s.drawOffer === other(color));
    show('draw-offered', live && s.drawOffer === color);
    show('rematch', Boolean(color && s.result));
    if (s.drawOffer && !live) $('draw-note').textContent = `${COLORS[s.drawOffer]} offers a draw.`;
    $('draw-note').hidden = !(s.drawOffer && !live && !s.result);
  }

  session.subscribe(render);
  render();
  return { move: (from, to, promotion) => move({ from, to, promotion }), positionOf: () => positionOf(normalize(session.state)).fen() };
}
