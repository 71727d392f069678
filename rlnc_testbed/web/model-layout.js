/**
 * Where everything of the animated system model goes, without a DOM (model-view.js draws
 * it; this module imports in Node): the drawing's size, the ring's slots and node sizes, the
 * source and collector, the fonts the labels are measured in, and `layoutModel`, which puts
 * every label box on the first side of its node that meets no other label, node, endpoint or
 * the drawing's edge, in order of importance; on a crowded ring a label is shortened rather
 * than drawn over another (see there). Also the label texts (`shareText`, byte counts) the
 * drawing shares. Widths come from a `measure` function (the page's font in the browser, an
 * estimate of DejaVu Sans by default). Checked by tests/js/model-layout.test.mjs without a
 * browser and by tests/test_dashboard.py at the pixel level in Chromium.
 * @module model-layout
 */

/** The drawing's user units (its viewBox). */
export const WIDTH = 1000;
export const HEIGHT = 640;
const CENTRE = { x: 500, y: 336 };
const RING = { x: 262, y: 190 };
export const SOURCE = { x: 62, y: 336 };
export const COLLECTOR = { x: 938, y: 336 };
export const ENDPOINT = { w: 92, h: 84 };
/** Above this many peers only the round's failed peer, newcomer and parents get labels (the
 * others' shares stay in their tooltips), and the collect arrows no counts. */
export const CROWDED = 60;
/** Space kept free around every placed box (user units). */
const GAP = 3;
/** Fonts of the labels the layout places: size (user units) and weight. */
export const FONTS = Object.freeze({
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
export const BAR = { h: 5, pad: 3 };
/** Line height of a label line, in font sizes (DejaVu's ascent + descent is 1.164). */
export const LINE = 1.25;
/** Where a text's baseline sits under its line's top, in font sizes. */
export const ASCENT = 0.96;

// -- measuring and rectangles ---------------------------------------------------------------

/**
 * A text's width in user units without a browser: DejaVu Sans (Debian's default face) runs
 * about 0.62 em per character, 0.7 bold; a little more than most faces, so estimates err wide.
 */
export function estimateWidth(text, size, weight = 400) {
  return String(text).length * size * (weight >= 600 ? 0.7 : 0.64);
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
export function trim(a, b, ra, rb) {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const length = Math.hypot(dx, dy) || 1;
  return {
    a: { x: a.x + (dx * ra) / length, y: a.y + (dy * ra) / length },
    b: { x: b.x - (dx * rb) / length, y: b.y - (dy * rb) / length },
  };
}

/** A byte count for a label: `812 B`, `1.0 KiB`, `2.3 MiB`. */
export function bytesText(bytes) {
  if (bytes === null || bytes === undefined) return '';
  if (bytes >= 1 << 20) return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} B`;
}

/** `rank 4 · +3`: the rank of a peer's delivered packets and its contribution. */
export function shareText(peer) {
  const own = peer.ownRank === null ? '' : `rank ${peer.ownRank} · `;
  return `${own}+${peer.contribution}`;
}
