/**
 * Draws the animated system model's state (model-state.js) as SVG and a few HTML panels:
 * the source, every peer on a ring (id, packets held, browser / aiortc / memory / sim), the
 * failed peer pushed out of the ring in red with the newcomer in its place, curved arrows from
 * the parents to the newcomer with packet counts, arrows to the collector, the counters and the
 * verdict, the survival chart and a per-trial timeline of verdicts.
 *
 * Under each peer, once the round's collect line is in: its share of the global rank, as
 * `rank 4 · +3` (the rank of the packets it delivered, and what they add to the lower ids'
 * when the collector decodes in ascending id order) and a bar of width k (light: its own rank,
 * dark: its contribution), with a tooltip saying so; under the newcomer also `received rank R`
 * (what its parents sent it).
 *
 * Every drawn thing carries classes and data attributes the browser tests read:
 * `g.peer[data-id][data-role]` (`.failed`, `.newcomer`, `.parent`; `data-own-rank` and
 * `data-contribution` once known, with `text.peer-share` and `g.share-bar`; the newcomer's
 * `text.peer-rank`), `path.arrow.repair` and
 * `path.arrow.collect` (`data-from`, `data-to`, `data-packets`), `path.arrow.other` (the
 * newcomer's provenance record to the collector), `#verdict[data-verdict]`,
 * `#trial[data-trial]`, `#round[data-round]`, `#events[data-count]`, `circle.survival-point`.
 * @module model-view
 */

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 1000;
const HEIGHT = 620;
const CENTRE = { x: 500, y: 315 };
const RING = { x: 270, y: 196 };
const SOURCE = { x: 80, y: 315 };
const COLLECTOR = { x: 920, y: 315 };

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

/** Where slot `slot` of `count` sits on the ring (slot 0 at the top, clockwise). */
export function slotPosition(slot, count, push = 1) {
  const angle = -Math.PI / 2 + (2 * Math.PI * slot) / Math.max(count, 1);
  return {
    x: CENTRE.x + RING.x * push * Math.cos(angle),
    y: CENTRE.y + RING.y * push * Math.sin(angle),
  };
}

function nodeSize(count) {
  const perimeter = Math.PI * (RING.x + RING.y);
  return Math.max(18, Math.min(64, (perimeter / Math.max(count, 1)) * 0.62));
}

/** Positions of every peer in the state (the failed one pushed out when replaced). */
function positions(state) {
  const count = state.params ? state.params.peers : state.peers.length;
  const out = new Map();
  for (const peer of state.peers) {
    const replaced = peer.role === 'failed' && state.newcomer !== null;
    out.set(String(peer.id), slotPosition(peer.slot, count, replaced ? 1.36 : 1));
  }
  return out;
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

/** Redraw the model into `svg` (an <svg> element). */
export function renderModel(svg, state) {
  svg.replaceChildren();
  svg.setAttribute('viewBox', `0 0 ${WIDTH} ${HEIGHT}`);
  svg.append(defs());
  const count = state.params ? state.params.peers : state.peers.length;
  const size = nodeSize(count);
  const where = positions(state);

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

  // Arrows under the nodes.
  const arrows = el('g', { class: 'arrows' });
  for (const arrow of state.collects) {
    const from = where.get(String(arrow.from));
    if (from === undefined) continue;
    const { a, b } = trim(from, COLLECTOR, size / 2, 46);
    arrows.append(el('path', {
      class: `arrow collect${arrow.refused ? ' refused' : ''}`,
      d: `M${a.x},${a.y} L${b.x},${b.y}`,
      'data-from': arrow.from,
      'data-to': 'collector',
      'data-packets': arrow.packets ?? '',
      'data-bytes': arrow.bytes ?? '',
      'marker-end': `url(#head-${arrow.refused ? 'refused' : 'collect'})`,
    }));
    const t = 0.55;
    arrows.append(el('text', {
      class: 'arrow-label collect-label',
      x: a.x + (b.x - a.x) * t,
      y: a.y + (b.y - a.y) * t - 3,
    }, arrow.packets === null ? '' : String(arrow.packets)));
  }
  for (const arrow of state.others) {
    const from = where.get(String(arrow.from));
    if (from === undefined) continue;
    const to = arrow.to === 'collector' ? COLLECTOR : where.get(arrow.to);
    if (to === undefined) continue;
    const { a, b } = trim(from, to, size / 2, arrow.to === 'collector' ? 46 : size / 2);
    const bend = { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 + 40 };
    arrows.append(el('path', {
      class: `arrow other ${arrow.label.split('-')[0]}`,
      d: `M${a.x},${a.y} Q${bend.x},${bend.y} ${b.x},${b.y}`,
      'data-from': arrow.from,
      'data-to': arrow.to,
      'data-label': arrow.label,
      'data-bytes': arrow.bytes ?? '',
      'marker-end': 'url(#head-collect)',
    }));
  }
  for (const arrow of state.repairs) {
    const from = where.get(String(arrow.from));
    const to = where.get(String(arrow.to));
    if (from === undefined || to === undefined) continue;
    const { a, b } = trim(from, to, size / 2 + 2, size / 2 + 4);
    // Bend towards the ring's centre.
    const mid = { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
    const control = { x: mid.x + (CENTRE.x - mid.x) * 0.45, y: mid.y + (CENTRE.y - mid.y) * 0.45 };
    arrows.append(el('path', {
      class: `arrow repair${arrow.measured ? ' measured' : ' planned'}`,
      d: `M${a.x},${a.y} Q${control.x},${control.y} ${b.x},${b.y}`,
      'data-from': arrow.from,
      'data-to': arrow.to,
      'data-packets': arrow.packets,
      'data-bytes': arrow.bytes ?? '',
      'marker-end': 'url(#head-repair)',
    }));
    const label = { x: (mid.x + control.x) / 2, y: (mid.y + control.y) / 2 };
    const text = `${arrow.packets} pkt${arrow.packets === 1 ? '' : 's'}` +
      (arrow.bytes ? ` · ${bytesText(arrow.bytes)}` : '');
    arrows.append(el('text', { class: 'arrow-label repair-label', x: label.x, y: label.y }, text));
  }
  svg.append(arrows);

  // The peers.
  const peers = el('g', { class: 'peers' });
  for (const peer of state.peers) {
    const at = where.get(String(peer.id));
    const classes = ['peer', peer.role];
    if (peer.parent) classes.push('parent');
    if (peer.kind === 'browser') classes.push('browser');
    const g = el('g', {
      class: classes.join(' '),
      'data-id': peer.id,
      'data-role': peer.role,
      'data-kind': peer.kind,
      'data-held': peer.held,
      transform: `translate(${at.x},${at.y})`,
    });
    g.append(el('rect', {
      x: -size / 2, y: -size / 2, width: size, height: size, rx: size / 5,
    }));
    g.append(el('text', { class: 'peer-id', y: -size / 2 + Math.min(18, size / 2.6) }, String(peer.id)));
    if (size >= 34) {
      g.append(el('text', { class: 'peer-held', y: 4 }, `${peer.held} pkt${peer.held === 1 ? '' : 's'}`));
      g.append(el('text', { class: 'peer-kind', y: size / 2 - 6 }, peer.kind));
    }
    let below = size / 2; // what is drawn under the node, line by line
    if (peer.contribution !== null) {
      g.setAttribute('data-own-rank', peer.ownRank ?? '');
      g.setAttribute('data-contribution', peer.contribution);
      g.append(shareBar(peer, state.k, size, below + 3));
      g.append(el('text', { class: 'peer-share', y: below + 18 }, shareText(peer)));
      below += 20;
    }
    if (peer.rank !== null) {
      g.append(el('text', { class: 'peer-rank', y: below + 13 }, `received rank ${peer.rank}`));
    }
    if (peer.role === 'failed') {
      const r = size / 2 - 4;
      g.append(el('path', { class: 'cross', d: `M${-r},${-r} L${r},${r} M${r},${-r} L${-r},${r}` }));
      g.append(el('text', { class: 'peer-note', y: -size / 2 - 6 }, 'failed'));
    } else if (peer.role === 'newcomer') {
      g.append(el('text', { class: 'peer-note', y: -size / 2 - 6 }, 'newcomer'));
    } else if (peer.parent) {
      g.append(el('text', { class: 'peer-note', y: -size / 2 - 6 }, 'parent'));
    }
    const title = el('title', {}, `peer ${peer.id} (${peer.kind}): ${peer.role}` +
      `${peer.parent ? ', parent' : ''}; holds ${peer.held} packets` +
      `${peer.rank !== null ? `; received rank ${peer.rank} from its parents` : ''}` +
      `${peer.contribution !== null ? `; ${shareTitle(peer, state)}` : ''}`);
    g.append(title);
    peers.append(g);
  }
  svg.append(peers);

  // The verdict, drawn large in the middle.
  if (state.verdict) {
    const colour = VERDICT_COLOURS[state.verdict.verdict] ?? '#333';
    svg.append(el('text', {
      class: 'verdict-badge', x: 24, y: 52, fill: colour,
      'data-verdict': state.verdict.verdict,
    }, `round ${state.verdict.round}: ${state.verdict.verdict}`));
  }
  return svg;
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

/** A bar of width k under a peer: its own rank (light) and its contribution (dark). */
function shareBar(peer, k, size, y) {
  const unit = size / Math.max(k, 1);
  const g = el('g', { class: 'share-bar', transform: `translate(${-size / 2},${y})` });
  g.append(el('rect', { class: 'share-track', width: size, height: 5 }));
  if (peer.ownRank !== null) {
    g.append(el('rect', {
      class: 'share-own', width: Math.min(size, unit * peer.ownRank), height: 5,
    }));
  }
  g.append(el('rect', {
    class: 'share-contribution', width: Math.min(size, unit * peer.contribution), height: 5,
  }));
  return g;
}

function box(id, at, title, lines) {
  const g = el('g', { class: `endpoint ${id}`, id: `node-${id}`, transform: `translate(${at.x},${at.y})` });
  g.append(el('rect', { x: -46, y: -42, width: 92, height: 84, rx: 10 }));
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
  set('done', `${state.trialsDone} trials done, ${state.successes} survived`, {
    done: state.trialsDone, successes: state.successes,
  });
  set('phase', state.phase, { phase: state.phase });
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
