/**
 * Draws the animated system model's state (model-state.js) as SVG and a few HTML panels:
 * the source, every peer on a ring (id, packets held, browser / aiortc / memory / sim; a key
 * to the colours at the bottom left), the failed peer pushed out of the ring in red, smaller,
 * clear of the newcomer that takes its place, curved arrows from the parents to the newcomer
 * with packet counts, arrows to the collector, the counters and the verdict, the survival
 * chart and a per-trial timeline of verdicts.
 *
 * Beside each peer, once the round's collect line is in: its share of the global rank, as
 * `rank 4 · +3` (the rank of the packets it delivered, and what they add to the lower ids'
 * when the collector decodes in ascending id order) and a bar of width k (light: its own rank,
 * dark: its contribution), with a tooltip saying so; beside the newcomer also `received rank
 * R` (what its parents sent it); over the round's peers their role.
 *
 * Where each label goes is `layoutModel` (pure, no DOM): every label box on the first side of
 * its node that meets no other label, node, endpoint or the drawing's edge, in order of
 * importance; on a crowded ring a label is shortened rather than drawn over another (see
 * there). The pixel-level check is tests/test_dashboard.py, the layout's own
 * tests/js/model-layout.test.mjs.
 *
 * Every drawn thing carries classes and data attributes the browser tests read:
 * `g.peer[data-id][data-role]` (`.failed`, `.newcomer`, `.parent`, `.ghost` for the failed
 * peer out of the ring; `data-labels` the side its labels went, `hidden` if none fitted;
 * `data-own-rank` and `data-contribution` once known, with `text.peer-share` and
 * `g.share-bar`; the newcomer's `text.peer-rank`; `text.peer-note` the role),
 * `path.replaced` (the failed peer to its old slot), `path.arrow.repair` and
 * `path.arrow.collect` (`data-from`, `data-to`, `data-packets`), `text.repair-label`,
 * `path.arrow.other` (the newcomer's provenance record to the collector), `g.legend`
 * (`.legend-entry[data-entry]`), `#verdict[data-verdict]`, `#trial[data-trial]`,
 * `#round[data-round]`, `#events[data-count]`, `circle.survival-point`.
 * @module model-view
 */

const SVG = 'http://www.w3.org/2000/svg';
/** The drawing's user units (its viewBox). */
export const WIDTH = 1000;
export const HEIGHT = 640;
const CENTRE = { x: 500, y: 336 };
const RING = { x: 262, y: 190 };
const SOURCE = { x: 62, y: 336 };
const COLLECTOR = { x: 938, y: 336 };
const ENDPOINT = { w: 92, h: 84 };
/** Above this many peers only the round's failed peer, newcomer and parents get labels (the
 * others' shares stay in their tooltips), and the collect arrows no counts. */
export const CROWDED = 60;
/** Space kept free around every placed box (user units). */
const GAP = 3;
/** Fonts of the labels the layout places: size (user units) and weight. */
const FONTS = Object.freeze({
  note: { size: 11, weight: 600 },
  share: { size: 10, weight: 600 },
  rank: { size: 10, weight: 600 },
  held: { size: 10, weight: 400 },
  repair: { size: 11, weight: 600 },
  collect: { size: 9, weight: 400 },
  verdict: { size: 24, weight: 700 },
  legend: { size: 11, weight: 400 },
});
/** Height of a share bar and the space under it. */
const BAR = { h: 5, pad: 3 };
/** Line height of a label line, in font sizes (DejaVu's ascent + descent is 1.164). */
const LINE = 1.25;
/** Where a text's baseline sits under its line's top, in font sizes. */
const ASCENT = 0.96;

/** Colours of the verdicts (history.py / records.VERDICTS). */
export const VERDICT_COLOURS = Object.freeze({
  ok: '#2a9d4a',
  undecodable: '#e08a1e',
  corrupt: '#c0392b',
  'setup-timeout': '#7d5ba6',
  'repair-timeout': '#7d5ba6',
  'collect-timeout': '#7d5ba6',
  'signaling-lost': '#555555',
  error: '#8b0000',
});

function el(name, attrs = {}, text = null) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined) node.setAttribute(key, String(value));
  }
  if (text !== null) node.textContent = text;
  return node;
}

function html(name, attrs = {}, text = null) {
  const node = document.createElement(name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== null) node.textContent = text;
  return node;
}

function fontStyle(font) {
  return `font-size:${font.size}px;font-weight:${font.weight}`;
}

// -- measuring and rectangles ---------------------------------------------------------------

/**
 * A text's width in user units without a browser: DejaVu Sans (Debian's default face) runs
 * about 0.62 em per character, 0.7 bold; a little more than most faces, so estimates err wide.
 */
export function estimateWidth(text, size, weight = 400) {
  return String(text).length * size * (weight >= 600 ? 0.7 : 0.64);
}

let canvas = null;
/** A text's width measured with the page's own font (a canvas), or estimated without one. */
function pageWidth(text, size, weight = 400) {
  if (canvas === null) {
    canvas = typeof document === 'undefined' ? undefined
      : document.createElement('canvas').getContext('2d') ?? undefined;
  }
  if (canvas === undefined) return estimateWidth(text, size, weight);
  canvas.font = `${weight} ${size}px system-ui, sans-serif`;
  return canvas.measureText(String(text)).width + 1;
}

/** Whether rectangles `a` and `b` ({x, y, w, h}) overlap by more than `slack`. */
export function intersects(a, b, slack = 0) {
  return a.x < b.x + b.w - slack && b.x < a.x + a.w - slack &&
    a.y < b.y + b.h - slack && b.y < a.y + a.h - slack;
}

function overlapArea(a, b) {
  const w = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
  return w > 0 && h > 0 ? w * h : 0;
}

function inside(r) {
  return r.x >= 2 && r.y >= 2 && r.x + r.w <= WIDTH - 2 && r.y + r.h <= HEIGHT - 2;
}

function grow(r, by) {
  return { x: r.x - by, y: r.y - by, w: r.w + 2 * by, h: r.h + 2 * by };
}

function centred(at, w, h) {
  return { x: at.x - w / 2, y: at.y - h / 2, w, h };
}

/** The obstacles placed so far: what a new label must not meet (bucketed in a grid). */
class Board {
  constructor(cell = 40) {
    this.cell = cell;
    this.cells = new Map();
  }

  *keys(rect) {
    const c = this.cell;
    for (let i = Math.floor(rect.x / c); i <= Math.floor((rect.x + rect.w) / c); i += 1) {
      for (let j = Math.floor(rect.y / c); j <= Math.floor((rect.y + rect.h) / c); j += 1) {
        yield `${i},${j}`;
      }
    }
  }

  add(rect, owner) {
    const item = { rect, owner };
    for (const k of this.keys(rect)) {
      const list = this.cells.get(k);
      if (list === undefined) this.cells.set(k, [item]);
      else list.push(item);
    }
  }

  near(rect) {
    const out = new Set();
    for (const k of this.keys(rect)) for (const item of this.cells.get(k) ?? []) out.add(item);
    return out;
  }

  /** Whether `rect` is inside the drawing and meets nothing but `owner`'s own things. */
  free(rect, owner = null) {
    if (!inside(rect)) return false;
    for (const i of this.near(rect)) {
      if ((owner === null || i.owner !== owner) && intersects(rect, i.rect)) return false;
    }
    return true;
  }

  /** How much of `rect` other things cover (the drawing's outside counts heavily). */
  cost(rect, owner = null) {
    let area = inside(rect) ? 0 : 1e6;
    for (const i of this.near(rect)) {
      if (owner === null || i.owner !== owner) area += overlapArea(rect, i.rect);
    }
    return area;
  }
}

// -- where things go ------------------------------------------------------------------------

/** Where slot `slot` of `count` sits on the ring (slot 0 at the top, clockwise). */
export function slotPosition(slot, count, push = 1) {
  const angle = slotAngle(slot, count);
  return {
    x: CENTRE.x + RING.x * push * Math.cos(angle),
    y: CENTRE.y + RING.y * push * Math.sin(angle),
  };
}

function slotAngle(slot, count) {
  return -Math.PI / 2 + (2 * Math.PI * slot) / Math.max(count, 1);
}

/**
 * The places of a node's label box: beside one of its four sides (text centred under or
 * over it, or flush against it left or right), half a box along one of those sides, or off a
 * corner. Each with the direction it looks in, and how much it is preferred over what is as
 * outward as it is (a box right against its node reads best).
 */
const SIDES = Object.freeze([
  { name: 'below', dx: 0, dy: 1, shift: 0, near: true, bonus: 0.3 },
  { name: 'above', dx: 0, dy: -1, shift: 0, near: true, bonus: 0.3 },
  { name: 'left', dx: -1, dy: 0, shift: 0, near: true, bonus: 0.3 },
  { name: 'right', dx: 1, dy: 0, shift: 0, near: true, bonus: 0.3 },
  { name: 'below, left', dx: 0, dy: 1, shift: -1, near: true, bonus: 0.15 },
  { name: 'below, right', dx: 0, dy: 1, shift: 1, near: true, bonus: 0.15 },
  { name: 'above, left', dx: 0, dy: -1, shift: -1, near: true, bonus: 0.15 },
  { name: 'above, right', dx: 0, dy: -1, shift: 1, near: true, bonus: 0.15 },
  { name: 'below-left', dx: -1, dy: 1, shift: 0, near: false, bonus: 0 },
  { name: 'below-right', dx: 1, dy: 1, shift: 0, near: false, bonus: 0 },
  { name: 'above-left', dx: -1, dy: -1, shift: 0, near: false, bonus: 0 },
  { name: 'above-right', dx: 1, dy: -1, shift: 0, near: false, bonus: 0 },
]);

/** The places of a label box of a node at `angle` on the ring, the best first. */
function sidesFacing(angle) {
  const out = { x: Math.cos(angle), y: Math.sin(angle) };
  const score = (side) => {
    const x = side.dx + side.shift * 0.5;
    const y = side.dy;
    return (x * out.x + y * out.y) / Math.hypot(x, y) + side.bonus;
  };
  return [...SIDES].sort((a, b) => score(b) - score(a));
}

/** The box `w` x `h` at place `side` of a node of size `size` at `at`, and its text anchor. */
function sideBox(at, size, w, h, side) {
  const half = size / 2 + GAP;
  const { dx, dy, shift } = side;
  let x;
  let y;
  let anchor = 'middle';
  if (dx === 0) {
    x = at.x - w / 2 + shift * (size / 2);
    y = dy < 0 ? at.y - half - h : at.y + half;
  } else if (dy === 0) {
    x = dx < 0 ? at.x - half - w : at.x + half;
    y = at.y - h / 2;
    anchor = dx < 0 ? 'end' : 'start';
  } else {
    x = dx < 0 ? at.x - half - w : at.x + half;
    y = dy < 0 ? at.y - size / 2 - h : at.y + size / 2;
    anchor = dx < 0 ? 'end' : 'start';
  }
  return { x, y, w, h, anchor };
}

function nodeSize(count) {
  const perimeter = Math.PI * (RING.x + RING.y);
  return Math.max(10, Math.min(64, (perimeter / Math.max(count, 1)) * 0.62));
}

/** Font size of a node's id: as large as fits the box. */
function idFont(size, id) {
  const digits = String(id).length;
  return Math.max(6, Math.min(15, size * 0.45, (size - 4) / (0.7 * digits)));
}

/**
 * The lines of the label box of `peer` (what it shows beside its node): its role, a bar and
 * `rank R · +C` of its share of the global rank, the newcomer's received rank. `short` 1 says
 * `+C` and `rank R`, 2 drops the bar too (a crowded ring).
 */
function labelLines(peer, state, short = 0) {
  const lines = [];
  if (peer.role === 'failed') lines.push({ kind: 'note', text: 'failed' });
  else if (peer.role === 'newcomer') lines.push({ kind: 'note', text: 'newcomer' });
  else if (peer.parent) lines.push({ kind: 'note', text: 'parent' });
  if (peer.contribution !== null) {
    if (short < 2) lines.push({ kind: 'bar' });
    lines.push({ kind: 'share', text: short ? `+${peer.contribution}` : shareText(peer) });
  }
  if (peer.rank !== null) {
    lines.push({ kind: 'rank', text: short ? `rank ${peer.rank}` : `received rank ${peer.rank}` });
  }
  return lines;
}

/** A peer whose labels fit nowhere (its tooltip still says everything). */
const HIDDEN = Object.freeze({ rect: null, lines: [], side: 'hidden', anchor: 'middle', short: 3 });

/** Width and height of a label box of `lines`, the bar `barWidth` wide. */
function measureLines(lines, barWidth, measure) {
  let w = 0;
  let h = 0;
  for (const line of lines) {
    if (line.kind === 'bar') {
      w = Math.max(w, barWidth);
      h += BAR.h + BAR.pad;
    } else {
      const font = FONTS[line.kind];
      line.width = measure(line.text, font.size, font.weight);
      w = Math.max(w, line.width);
      h += font.size * LINE;
    }
  }
  return { w: Math.ceil(w), h: Math.ceil(h) };
}

/**
 * Place every node and label of the model: the ring, the failed peer pushed out of it clear of
 * the newcomer's labels, each peer's label box (its role, its share of the global rank, the
 * newcomer's received rank) on the first side of its node that meets nothing, the repair
 * arrows' packet counts along their curves, the collect counts where they fit.
 *
 * Labels are placed in order of importance (newcomer, failed, parents, repair counts, the
 * other peers, collect counts), each clear of everything placed before; a peer's label that
 * fits nowhere is shortened (`+C`) and then left to its tooltip, a collect count dropped;
 * past `CROWDED` peers only the round's failed peer, newcomer and parents are labelled.
 * `measure(text, size, weight)` gives a text's width (the page's font; estimated by default).
 * Pure: the same state gives the same picture, and `node --test` checks it.
 */
export function layoutModel(state, { measure = estimateWidth } = {}) {
  const count = state.params ? state.params.peers : state.peers.length;
  const size = nodeSize(count);
  const board = new Board();
  const nodes = new Map();
  const key = (id) => String(id);
  const replacing = state.newcomer !== null;

  // Fixed things: the endpoints, the verdict, the legend.
  const source = centred(SOURCE, ENDPOINT.w, ENDPOINT.h);
  const collector = centred(COLLECTOR, ENDPOINT.w, ENDPOINT.h);
  board.add(grow(source, GAP), 'source');
  board.add(grow(collector, GAP), 'collector');
  const verdict = state.verdict ? verdictBox(state, measure) : null;
  if (verdict) board.add(grow(verdict.rect, GAP), 'verdict');
  const legend = legendBox(state, measure);
  board.add(grow(legend.rect, GAP), 'legend');

  // The ring.
  let ghostOf = null;
  for (const peer of state.peers) {
    if (peer.role === 'failed' && replacing) {
      ghostOf = peer;
      continue;
    }
    const at = slotPosition(peer.slot, count);
    const node = { x: at.x, y: at.y, size, angle: slotAngle(peer.slot, count), ghost: false };
    nodes.set(key(peer.id), node);
    board.add(grow(centred(at, size, size), 1), key(peer.id));
  }

  const labels = new Map();
  const barWidth = Math.max(24, Math.min(64, size));
  const placeLabel = (peer, required) => {
    const node = nodes.get(key(peer.id));
    const owner = key(peer.id);
    const sides = sidesFacing(node.angle);
    // Right against the node in full, then shortened; then off a corner; then anywhere.
    const tries = [[0, true], [1, true], [2, true], [0, false], [1, false], [2, false]];
    let last = null;
    for (const [short, near] of tries) {
      const lines = labelLines(peer, state, short);
      if (lines.length === 0) return;
      const { w, h } = measureLines(lines, barWidth, measure);
      last = { lines, w, h };
      for (const side of sides.filter((s) => s.near === near)) {
        const rect = sideBox(node, node.size, w, h, side);
        if (board.free(rect, owner)) {
          labels.set(owner, { rect, lines, side: side.name, anchor: rect.anchor, short });
          board.add(rect, owner);
          return;
        }
      }
    }
    if (required) {
      // Nowhere free: the place where it covers least.
      const { lines, w, h } = last;
      const best = sides.map((side) => sideBox(node, node.size, w, h, side))
        .map((rect, i) => ({ rect, side: sides[i], cost: board.cost(rect, owner) }))
        .sort((a, b) => a.cost - b.cost)[0];
      labels.set(owner, {
        rect: best.rect, lines, side: best.side.name, anchor: best.rect.anchor, short: 2,
      });
      board.add(best.rect, owner);
      return;
    }
    labels.set(owner, HIDDEN);
  };

  const newcomer = state.peers.find((p) => p.role === 'newcomer');
  if (newcomer) placeLabel(newcomer, true);
  if (ghostOf) placeGhost(ghostOf);
  const parents = state.peers.filter((p) => p.parent && p.role !== 'newcomer');
  for (const peer of parents) placeLabel(peer, true);
  const repairs = state.repairs.map((arrow) => placeRepair(arrow)).filter((a) => a !== null);
  const crowded = count > CROWDED;
  for (const peer of state.peers) {
    if (peer === newcomer || peer === ghostOf || parents.includes(peer)) continue;
    if (crowded && peer.role !== 'failed') {
      labels.set(key(peer.id), HIDDEN);
    } else {
      placeLabel(peer, peer.role === 'failed');
    }
  }
  const collects = state.collects.map((arrow) => placeCollect(arrow, crowded))
    .filter((a) => a !== null);
  return {
    size, count, nodes, labels, repairs, collects, verdict, legend, source, collector,
    barWidth,
  };

  /** The failed peer, smaller, out of the ring beyond the newcomer and its labels. */
  function placeGhost(peer) {
    const home = slotPosition(peer.slot, count);
    const angle = slotAngle(peer.slot, count);
    const ghost = Math.max(12, Math.round(size * 0.8));
    const lines = labelLines(peer, state);
    const { w, h } = measureLines(lines, barWidth, measure);
    const start = size / 2 + ghost / 2 + GAP * 2;
    const candidates = [];
    for (let d = start; d <= start + 220; d += 6) {
      for (const turn of [0, 20, -20, 40, -40, 60, -60, 80, -80, 100, -100, 120, -120]) {
        candidates.push({ d, turn, cost: d + Math.abs(turn) * 0.8 });
      }
    }
    candidates.sort((a, b) => a.cost - b.cost);
    for (const { d, turn } of candidates) {
      const phi = angle + (turn * Math.PI) / 180;
      const at = { x: home.x + d * Math.cos(phi), y: home.y + d * Math.sin(phi) };
      const box = centred(at, ghost, ghost);
      if (!board.free(grow(box, 1), key(peer.id))) continue;
      for (const side of sidesFacing(phi).filter((s) => s.near)) {
        const rect = sideBox(at, ghost, w, h, side);
        if (!board.free(rect, key(peer.id))) continue;
        nodes.set(key(peer.id), { ...at, size: ghost, angle: phi, ghost: true, home });
        board.add(grow(box, 1), key(peer.id));
        board.add(rect, key(peer.id));
        labels.set(key(peer.id), { rect, lines, side: side.name, anchor: rect.anchor, short: 0 });
        return;
      }
    }
    // No free place (a very crowded ring): pushed straight out, as far as the drawing allows.
    const at = slotPosition(peer.slot, count, 1.3);
    nodes.set(key(peer.id), { ...at, size: ghost, angle, ghost: true, home });
    board.add(grow(centred(at, ghost, ghost), 1), key(peer.id));
    placeLabel(peer, true);
  }

  /** A repair arrow from a parent to the newcomer and its packet count along the curve. */
  function placeRepair(arrow) {
    const from = nodes.get(key(arrow.from));
    const to = nodes.get(key(arrow.to));
    if (from === undefined || to === undefined) return null;
    const { a, b } = trim(from, to, from.size / 2 + 2, to.size / 2 + 4);
    const mid = { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
    // Bend towards the ring's centre.
    const control = { x: mid.x + (CENTRE.x - mid.x) * 0.45, y: mid.y + (CENTRE.y - mid.y) * 0.45 };
    const font = FONTS.repair;
    const texts = [repairText(arrow, true), repairText(arrow, false)];
    const owner = `repair ${arrow.from}`;
    let best = null;
    for (const text of texts) {
      const w = Math.ceil(measure(text, font.size, font.weight));
      const h = Math.ceil(font.size * LINE);
      for (const { t, off } of REPAIR_SPOTS) {
        const at = quadratic(a, control, b, t);
        const normal = quadraticNormal(a, control, b, t);
        const rect = centred({ x: at.x + normal.x * off * h, y: at.y + normal.y * off * h }, w, h);
        if (board.free(rect, owner)) {
          board.add(rect, owner);
          return { ...arrow, a, b, control, label: { text, rect } };
        }
        const cost = board.cost(rect, owner);
        if (best === null || cost < best.cost) best = { cost, text, rect };
      }
    }
    board.add(best.rect, owner);
    return { ...arrow, a, b, control, label: { text: best.text, rect: best.rect } };
  }

  /** A collect arrow to the collector and its packet count, if that fits somewhere. */
  function placeCollect(arrow, crowded) {
    const from = nodes.get(key(arrow.from));
    if (from === undefined) return null;
    const { a, b } = trim(from, COLLECTOR, from.size / 2, ENDPOINT.w / 2);
    let label = null;
    if (!crowded && arrow.packets !== null && arrow.packets !== undefined) {
      const font = FONTS.collect;
      const text = String(arrow.packets);
      const w = Math.ceil(measure(text, font.size, font.weight));
      const h = Math.ceil(font.size * LINE);
      for (const t of [0.55, 0.45, 0.65, 0.35, 0.75]) {
        const rect = centred({ x: a.x + (b.x - a.x) * t, y: a.y + (b.y - a.y) * t }, w, h);
        if (board.free(rect, null)) {
          board.add(rect, `collect ${arrow.from}`);
          label = { text, rect };
          break;
        }
      }
    }
    return {
      from: arrow.from, packets: arrow.packets, bytes: arrow.bytes, refused: arrow.refused, a, b,
      label,
    };
  }
}

/**
 * Where a repair count may go along its arrow: the fraction t of the curve, nearest the
 * middle first, and on the curve or beside it (in label heights along the normal).
 */
const REPAIR_SPOTS = Object.freeze((() => {
  const spots = [];
  for (let i = 0; i <= 18; i += 1) {
    const t = 0.5 + (i % 2 === 0 ? 1 : -1) * Math.ceil(i / 2) * 0.04;
    for (const off of [0, 0.7, -0.7, 1.4, -1.4, 2.2, -2.2, 3, -3, 4, -4, 5, -5]) {
      spots.push({ t, off });
    }
  }
  return spots.sort((p, q) => Math.abs(p.t - 0.5) + Math.abs(p.off) * 0.1 -
    (Math.abs(q.t - 0.5) + Math.abs(q.off) * 0.1));
})());

function quadraticNormal(a, c, b, t) {
  const dx = 2 * (1 - t) * (c.x - a.x) + 2 * t * (b.x - c.x);
  const dy = 2 * (1 - t) * (c.y - a.y) + 2 * t * (b.y - c.y);
  const length = Math.hypot(dx, dy) || 1;
  return { x: -dy / length, y: dx / length };
}

function quadratic(a, c, b, t) {
  const u = 1 - t;
  return {
    x: u * u * a.x + 2 * u * t * c.x + t * t * b.x,
    y: u * u * a.y + 2 * u * t * c.y + t * t * b.y,
  };
}

function repairText(arrow, full) {
  const packets = `${arrow.packets} pkt${arrow.packets === 1 ? '' : 's'}`;
  return full && arrow.bytes ? `${packets} · ${bytesText(arrow.bytes)}` : packets;
}

function verdictBox(state, measure) {
  const font = FONTS.verdict;
  const text = `round ${state.verdict.round}: ${state.verdict.verdict}`;
  const w = Math.ceil(measure(text, font.size, font.weight));
  return { text, rect: { x: 16, y: 12, w, h: Math.ceil(font.size * LINE) } };
}

/** The key to the nodes' colours: the peers' kinds in this trial, then the round's roles. */
function legendBox(state, measure) {
  const kinds = [...new Set(state.peers.map((p) => p.kind))].sort();
  const entries = [
    ...kinds.map((kind) => ({ kind, text: `${kind} peer` })),
    { role: 'newcomer', text: 'newcomer' },
    { role: 'parent', text: 'parent' },
    { role: 'failed', text: 'failed' },
  ];
  const font = FONTS.legend;
  const swatch = 10;
  let x = 0;
  for (const entry of entries) {
    entry.x = x;
    entry.w = swatch + 4 + Math.ceil(measure(entry.text, font.size, font.weight));
    x += entry.w + 12;
  }
  const w = x - 12;
  const h = Math.ceil(font.size * LINE);
  return { entries, swatch, rect: { x: 12, y: HEIGHT - 8 - h, w, h } };
}

/** Shorten the segment a->b by `ra` at a and `rb` at b. */
function trim(a, b, ra, rb) {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const length = Math.hypot(dx, dy) || 1;
  return {
    a: { x: a.x + (dx * ra) / length, y: a.y + (dy * ra) / length },
    b: { x: b.x - (dx * rb) / length, y: b.y - (dy * rb) / length },
  };
}

function bytesText(bytes) {
  if (bytes === null || bytes === undefined) return '';
  if (bytes >= 1 << 20) return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} B`;
}

function defs() {
  const d = el('defs');
  for (const [id, colour] of [['head-repair', '#1f6fb2'], ['head-collect', '#888'],
    ['head-refused', '#c0392b']]) {
    const marker = el('marker', {
      id, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7,
      orient: 'auto-start-reverse',
    });
    marker.append(el('path', { d: 'M0,0 L10,5 L0,10 z', fill: colour }));
    d.append(marker);
  }
  return d;
}

// -- drawing --------------------------------------------------------------------------------

/** Redraw the model into `svg` (an <svg> element). */
export function renderModel(svg, state) {
  svg.replaceChildren();
  svg.setAttribute('viewBox', `0 0 ${WIDTH} ${HEIGHT}`);
  svg.append(defs());
  const layout = layoutModel(state, { measure: pageWidth });
  const { nodes } = layout;

  // The source and the collector.
  svg.append(box('source', SOURCE, 'source', [
    state.params ? `K = ${state.packets}` : '',
    state.params ? `Q = ${state.q} each` : '',
  ]));
  const collectorLines = [
    state.globalRank === null ? '' : `rank ${state.globalRank} / ${state.k}`,
    state.collectPackets === null ? '' : `${state.collectPackets} pkts`,
    state.collectBytes === null ? '' : bytesText(state.collectBytes),
  ];
  const collector = box('collector', COLLECTOR, 'collector', collectorLines);
  if (state.verdict) collector.setAttribute('data-verdict', state.verdict.verdict);
  svg.append(collector);

  // Arrows under the nodes, their labels over everything but the nodes.
  const arrows = el('g', { class: 'arrows' });
  const arrowLabels = el('g', { class: 'arrow-labels' });
  for (const arrow of layout.collects) {
    const path = el('path', {
      class: `arrow collect${arrow.refused ? ' refused' : ''}`,
      d: `M${r1(arrow.a.x)},${r1(arrow.a.y)} L${r1(arrow.b.x)},${r1(arrow.b.y)}`,
      'data-from': arrow.from,
      'data-to': 'collector',
      'data-packets': arrow.packets ?? '',
      'data-bytes': arrow.bytes ?? '',
      'marker-end': `url(#head-${arrow.refused ? 'refused' : 'collect'})`,
    });
    path.append(el('title', {}, `peer ${arrow.from} to the collector` +
      `${arrow.packets === null ? '' : `: ${arrow.packets} packets`}` +
      `${arrow.bytes ? ` (${bytesText(arrow.bytes)})` : ''}${arrow.refused ? ', refused' : ''}`));
    arrows.append(path);
    if (arrow.label) {
      arrowLabels.append(textAt('arrow-label collect-label', arrow.label, FONTS.collect));
    }
  }
  for (const arrow of state.others) {
    const from = nodes.get(String(arrow.from));
    if (from === undefined) continue;
    const to = arrow.to === 'collector' ? COLLECTOR : nodes.get(arrow.to);
    if (to === undefined) continue;
    const { a, b } = trim(from, to, from.size / 2,
      arrow.to === 'collector' ? ENDPOINT.w / 2 : to.size / 2);
    const bend = { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 + 40 };
    arrows.append(el('path', {
      class: `arrow other ${arrow.label.split('-')[0]}`,
      d: `M${r1(a.x)},${r1(a.y)} Q${r1(bend.x)},${r1(bend.y)} ${r1(b.x)},${r1(b.y)}`,
      'data-from': arrow.from,
      'data-to': arrow.to,
      'data-label': arrow.label,
      'data-bytes': arrow.bytes ?? '',
      'marker-end': 'url(#head-collect)',
    }));
  }
  const ghost = [...nodes.entries()].find(([, n]) => n.ghost);
  if (ghost) {
    // The failed peer's way out of its slot, now the newcomer's.
    const [id, node] = ghost;
    const { a, b } = trim(node.home, node, layout.size / 2, node.size / 2);
    arrows.append(el('path', {
      class: 'replaced', 'data-from': id, d: `M${r1(a.x)},${r1(a.y)} L${r1(b.x)},${r1(b.y)}`,
    }));
  }
  for (const arrow of layout.repairs) {
    const { a, b, control } = arrow;
    arrows.append(el('path', {
      class: `arrow repair${arrow.measured ? ' measured' : ' planned'}`,
      d: `M${r1(a.x)},${r1(a.y)} Q${r1(control.x)},${r1(control.y)} ${r1(b.x)},${r1(b.y)}`,
      'data-from': arrow.from,
      'data-to': arrow.to,
      'data-packets': arrow.packets,
      'data-bytes': arrow.bytes ?? '',
      'marker-end': 'url(#head-repair)',
    }));
    const label = textAt('arrow-label repair-label', arrow.label, FONTS.repair);
    label.setAttribute('data-from', arrow.from);
    arrowLabels.append(label);
  }
  svg.append(arrows);

  // The peers.
  const peers = el('g', { class: 'peers' });
  for (const peer of state.peers) {
    const node = nodes.get(String(peer.id));
    if (node === undefined) continue;
    const label = layout.labels.get(String(peer.id)) ??
      { rect: null, lines: [], side: 'none', anchor: 'middle' };
    peers.append(drawPeer(peer, node, label, state, layout));
  }
  svg.append(arrowLabels);
  svg.append(peers);

  // The verdict, drawn large at the top left.
  if (layout.verdict) {
    const colour = VERDICT_COLOURS[state.verdict.verdict] ?? '#333';
    const { rect, text } = layout.verdict;
    svg.append(el('text', {
      class: 'verdict-badge', x: rect.x, y: r1(rect.y + FONTS.verdict.size * ASCENT), fill: colour,
      style: fontStyle(FONTS.verdict), 'data-verdict': state.verdict.verdict,
    }, text));
  }
  svg.append(drawLegend(layout.legend));
  return svg;
}

function r1(v) {
  return Math.round(v * 10) / 10;
}

/** A one-line label `{text, rect}` as an SVG text, centred in its rectangle. */
function textAt(cls, label, font) {
  return el('text', {
    class: cls, x: r1(label.rect.x + label.rect.w / 2),
    y: r1(label.rect.y + (label.rect.h - font.size * LINE) / 2 + font.size * ASCENT),
    style: fontStyle(font),
  }, label.text);
}

function drawPeer(peer, node, label, state, layout) {
  const { size } = node;
  const classes = ['peer', peer.role];
  if (peer.parent) classes.push('parent');
  if (peer.kind === 'browser') classes.push('browser');
  if (node.ghost) classes.push('ghost');
  const g = el('g', {
    class: classes.join(' '),
    'data-id': peer.id,
    'data-role': peer.role,
    'data-kind': peer.kind,
    'data-held': peer.held,
    'data-labels': label.side,
    transform: `translate(${r1(node.x)},${r1(node.y)})`,
  });
  g.append(el('rect', {
    x: r1(-size / 2), y: r1(-size / 2), width: r1(size), height: r1(size), rx: r1(size / 5),
  }));
  // Inside the box: the id, and when there is room the packets held and the kind.
  const roomy = size >= 54;
  const idSize = idFont(size, peer.id);
  const font = FONTS.held;
  if (size >= 12) {
    const y = roomy ? -size / 2 + 3 + idSize * ASCENT : idSize * 0.36;
    g.append(el('text', {
      class: 'peer-id', y: r1(y), style: `font-size:${r1(idSize)}px`,
    }, String(peer.id)));
  }
  if (roomy) {
    const idBottom = -size / 2 + 3 + idSize * LINE;
    const kindBase = size / 2 - 3 - font.size * (LINE - ASCENT);
    const kindTop = kindBase - font.size * ASCENT;
    const heldBase = (idBottom + kindTop) / 2 + font.size * 0.35;
    g.append(el('text', { class: 'peer-held', y: r1(heldBase), style: fontStyle(font) },
      `${peer.held} pkt${peer.held === 1 ? '' : 's'}`));
    g.append(el('text', { class: 'peer-kind', y: r1(kindBase), style: fontStyle(font) },
      peer.kind));
  }
  if (peer.role === 'failed') {
    const r = size / 2 - 4;
    g.append(el('path', { class: 'cross', d: `M${-r},${-r} L${r},${r} M${r},${-r} L${-r},${r}` }));
  }
  if (peer.contribution !== null) {
    g.setAttribute('data-own-rank', peer.ownRank ?? '');
    g.setAttribute('data-contribution', peer.contribution);
  }
  // Beside it: the label box the layout found (relative to the node).
  if (label.rect !== null) {
    const box = { x: label.rect.x - node.x, y: label.rect.y - node.y, w: label.rect.w };
    const { anchor } = label;
    const tx = anchor === 'end' ? box.x + box.w : anchor === 'start' ? box.x : box.x + box.w / 2;
    let y = box.y;
    for (const line of label.lines) {
      if (line.kind === 'bar') {
        const bx = anchor === 'end' ? box.x + box.w - layout.barWidth
          : anchor === 'start' ? box.x : box.x + (box.w - layout.barWidth) / 2;
        g.append(shareBar(peer, state.k, layout.barWidth, bx, y));
        y += BAR.h + BAR.pad;
        continue;
      }
      const font = FONTS[line.kind];
      const cls = { note: 'peer-note', share: 'peer-share', rank: 'peer-rank' }[line.kind];
      g.append(el('text', {
        class: cls, x: r1(tx), y: r1(y + font.size * ASCENT), 'text-anchor': anchor,
        style: `${fontStyle(font)};text-anchor:${anchor}`,
      }, line.text));
      y += font.size * LINE;
    }
  }
  const title = el('title', {}, `peer ${peer.id} (${peer.kind}): ${peer.role}` +
    `${peer.parent ? ', parent' : ''}; holds ${peer.held} packets` +
    `${peer.rank !== null ? `; received rank ${peer.rank} from its parents` : ''}` +
    `${peer.contribution !== null ? `; ${shareTitle(peer, state)}` : ''}`);
  g.append(title);
  return g;
}

/** `rank 4 · +3`: the rank of a peer's delivered packets and its contribution. */
export function shareText(peer) {
  const own = peer.ownRank === null ? '' : `rank ${peer.ownRank} · `;
  return `${own}+${peer.contribution}`;
}

function shareTitle(peer, state) {
  const own = peer.ownRank === null ? '' : `the packets it delivered have rank ${peer.ownRank}; `;
  return `${own}they add ${peer.contribution} to the collector's rank ` +
    `${state.globalRank ?? '?'} of k = ${state.k} (senders taken in ascending id order)`;
}

/** A bar of width k: a peer's own rank (light) and its contribution (dark). */
function shareBar(peer, k, width, x, y) {
  const unit = width / Math.max(k, 1);
  const g = el('g', { class: 'share-bar', transform: `translate(${r1(x)},${r1(y)})` });
  g.append(el('rect', { class: 'share-track', width: r1(width), height: BAR.h }));
  if (peer.ownRank !== null) {
    g.append(el('rect', {
      class: 'share-own', width: r1(Math.min(width, unit * peer.ownRank)), height: BAR.h,
    }));
  }
  g.append(el('rect', {
    class: 'share-contribution', width: r1(Math.min(width, unit * peer.contribution)),
    height: BAR.h,
  }));
  return g;
}

/** Fill and stroke of the legend's swatches (as the nodes' CSS draws them). */
const SWATCHES = Object.freeze({
  kind: 'fill:#e8f0fb;stroke:#4a6f99',
  browser: 'fill:#fff4d6;stroke:#4a6f99',
  newcomer: 'fill:#ddf5e3;stroke:#2a9d4a',
  parent: 'fill:#d8ecff;stroke:#1f6fb2',
  failed: 'fill:#fde2e0;stroke:#c0392b;stroke-dasharray:3 2',
});

function drawLegend(legend) {
  const g = el('g', {
    class: 'legend', transform: `translate(${legend.rect.x},${legend.rect.y})`,
  });
  const font = FONTS.legend;
  const mid = legend.rect.h / 2;
  for (const entry of legend.entries) {
    const name = entry.kind ?? entry.role;
    const swatch = entry.kind ? SWATCHES[entry.kind === 'browser' ? 'browser' : 'kind']
      : SWATCHES[entry.role];
    const item = el('g', { class: 'legend-entry', 'data-entry': name });
    item.append(el('rect', {
      x: entry.x, y: r1(mid - legend.swatch / 2), width: legend.swatch, height: legend.swatch,
      rx: 2, style: `${swatch};stroke-width:1.5px`,
    }));
    item.append(el('text', {
      x: entry.x + legend.swatch + 4, y: r1(mid - (font.size * LINE) / 2 + font.size * ASCENT),
      class: 'legend-text', style: fontStyle(font),
    }, entry.text));
    g.append(item);
  }
  return g;
}

function box(id, at, title, lines) {
  const g = el('g', { class: `endpoint ${id}`, id: `node-${id}`, transform: `translate(${at.x},${at.y})` });
  g.append(el('rect', {
    x: -ENDPOINT.w / 2, y: -ENDPOINT.h / 2, width: ENDPOINT.w, height: ENDPOINT.h, rx: 10,
  }));
  g.append(el('text', { class: 'endpoint-title', y: -22 }, title));
  lines.filter((l) => l).forEach((line, i) => {
    g.append(el('text', { class: 'endpoint-line', y: -2 + i * 16 }, line));
  });
  return g;
}

/** Counters, verdict, parameters and log into the HTML panels (looked up by id). */
export function renderPanels(doc, state) {
  const set = (id, text, data = {}) => {
    const node = doc.getElementById(id);
    if (node === null) return;
    node.textContent = text;
    for (const [key, value] of Object.entries(data)) node.setAttribute(`data-${key}`, String(value));
  };
  const trial = state.trial === null ? '-' : String(state.trial + 1);
  set('trial', `trial ${trial} of ${state.trialsTotal || '?'}`, { trial: state.trial ?? '' });
  set('round', `round ${state.round} of ${state.maxRound || '?'}`, { round: state.round });
  set('events', `${state.events} events`, { count: state.events });
  set('done', `${state.trialsDone} trial${state.trialsDone === 1 ? '' : 's'} done, ` +
    `${state.successes} survived`, {
    done: state.trialsDone, successes: state.successes,
  });
  set('phase', `phase: ${state.phase}`, { phase: state.phase });
  const verdict = state.verdict ? state.verdict.verdict : '';
  set('verdict', verdict || '…', { verdict });
  const node = doc.getElementById('verdict');
  if (node) node.style.background = VERDICT_COLOURS[verdict] ?? '#bbb';
  const p = state.params;
  set('params', p === null ? 'waiting for the start line' :
    `${p.scheme}${p.scheme === 'replication' ? '' : ` GF(${p.field})`} · N=${p.peers} k=${p.symbols}` +
    ` s=${p.symbol_size} B · K=${state.packets} Q=${state.q} P=${p.parents} β=${state.beta}` +
    ` · R=${p.rounds} T=${p.trials} seed=${p.seed} · ${state.transport ?? '?'}`);
  const prov = state.provenance;
  set('provenance', prov ? `${prov.tool?.name ?? ''} ${prov.tool?.version ?? ''}` +
    ` · git ${(prov.git?.commit ?? 'none').slice(0, 10)} · started ${prov.started ?? '?'}` : '');
  set('log', state.log.join('\n'));
  const log = doc.getElementById('log');
  if (log) log.scrollTop = log.scrollHeight;
  const problems = doc.getElementById('problems');
  if (problems) {
    problems.replaceChildren(...state.problems.slice(-20).map((t) => html('li', {}, t)));
    problems.hidden = state.problems.length === 0;
  }
}

/** The survival chart: fraction of finished trials that survived each round. */
export function renderSurvival(svg, state) {
  svg.replaceChildren();
  const w = 380;
  const h = 210;
  const m = { l: 42, r: 12, t: 24, b: 34 };
  svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
  const rounds = Math.max(1, state.maxRound);
  const x = (r) => m.l + ((r - 1) / Math.max(1, rounds - 1)) * (w - m.l - m.r);
  const y = (v) => m.t + (1 - v) * (h - m.t - m.b);
  const axes = el('g', { class: 'axes' });
  for (const v of [0, 0.5, 1]) {
    axes.append(el('line', { x1: m.l, x2: w - m.r, y1: y(v), y2: y(v), class: 'grid' }));
    axes.append(el('text', { x: m.l - 6, y: y(v) + 4, class: 'tick y' }, v.toFixed(1)));
  }
  const step = Math.max(1, Math.ceil(rounds / 10));
  for (let r = 1; r <= rounds; r += step) {
    axes.append(el('text', { x: x(r), y: h - m.b + 14, class: 'tick x' }, String(r)));
  }
  axes.append(el('text', { x: (w + m.l) / 2, y: h - 4, class: 'axis-label' }, 'round'));
  axes.append(el('text', {
    x: 12, y: (h - m.b + m.t) / 2, class: 'axis-label',
    transform: `rotate(-90 12 ${(h - m.b + m.t) / 2})`,
  }, 'surviving'));
  svg.append(axes);
  const curve = state.survival;
  if (curve.length > 0) {
    const d = curve.map((v, i) => `${i === 0 ? 'M' : 'L'}${x(i + 1)},${y(v)}`).join(' ');
    svg.append(el('path', { id: 'survival-line', class: 'survival-line', d }));
    curve.forEach((v, i) => {
      const point = el('circle', {
        class: 'survival-point', cx: x(i + 1), cy: y(v), r: rounds <= 40 ? 3 : 1.5,
        'data-round': i + 1, 'data-value': v,
      });
      point.append(el('title', {}, `round ${i + 1}: ${(100 * v).toFixed(1)}%`));
      svg.append(point);
    });
  }
  svg.append(el('text', { x: w - m.r, y: 12, class: 'chart-note' },
    `${state.trialsDone} of ${state.trialsTotal || '?'} trials finished`));
  return svg;
}

/** One row per trial (the latest `limit`), one cell per judged round, coloured by verdict. */
export function renderTimeline(container, state, limit = 40) {
  const rows = [...state.trials.values()].sort((a, b) => a.trial - b.trial).slice(-limit);
  container.replaceChildren(...rows.map((t) => {
    const row = html('div', { class: `trial-row${t.finished ? ' finished' : ''}`, 'data-trial': t.trial });
    row.append(html('span', { class: 'trial-label' }, `#${t.trial}`));
    t.verdicts.forEach((v, i) => {
      const cell = html('span', { class: 'cell', 'data-verdict': v ?? '', title: `round ${i + 1}: ${v}` });
      cell.style.background = VERDICT_COLOURS[v] ?? '#ddd';
      row.append(cell);
    });
    return row;
  }));
}
