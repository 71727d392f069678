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
 * Where each label goes is model-layout.js (`layoutModel`, pure, no DOM); this module
 * measures texts with the page's own font, then draws what it placed. The pixel-level check
 * is tests/test_dashboard.py, the layout's own tests/js/model-layout.test.mjs.
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

import {
  ASCENT, BAR, COLLECTOR, ENDPOINT, FONTS, HEIGHT, LINE, SOURCE, WIDTH, bytesText, estimateWidth,
  layoutModel, trim,
} from './model-layout.js';

/** Re-exported for the importers that take it from here (tests/js/model.test.mjs). */
export { shareText } from './model-layout.js';

const SVG = 'http://www.w3.org/2000/svg';

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

/** Font size of a node's id: as large as fits the box. */
function idFont(size, id) {
  const digits = String(id).length;
  return Math.max(6, Math.min(15, size * 0.45, (size - 4) / (0.7 * digits)));
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
