/**
 * The system model's layout (rlnc_testbed/web/model-layout.js `layoutModel`), without a browser:
 * at the end of a repair (the failed peer pushed out of the ring, the newcomer in its place,
 * the parents' arrows, every peer's share of the global rank), for every slot the failed peer
 * can have on rings of 5 to 40 peers, no two labels meet, no label meets a node, the source,
 * the collector, the verdict or the legend, and everything stays inside the drawing. Widths
 * are the layout's own estimate (DejaVu Sans, erring wide); tests/test_dashboard.py checks
 * the same in Chromium with the page's fonts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { applyEvent, createState } from '../../rlnc_testbed/web/model-state.js';
import {
  CROWDED, HEIGHT, WIDTH, estimateWidth, intersects, layoutModel,
} from '../../rlnc_testbed/web/model-layout.js';

/** The state at the verdict of round 1 with peer `failed` replaced by N + 1. */
function repaired(peers, failed, { parents = 3, transport = 'memory', bytes = 1064 } = {}) {
  const params = {
    peers, symbols: 20, symbol_size: 220, redundancy: 2.0, q: null, parents, scheme: 'rlnc',
    field: 256, keep: 'distinct', beta: null, rounds: 12, trials: 100, seed: 0,
    systematic: false, failures: [],
  };
  const state = createState();
  const newcomer = peers + 1;
  const alive = Array.from({ length: peers }, (_, i) => i + 1).filter((id) => id !== failed);
  // Parents spread over the ring, one of them next to the failed peer (a short arrow).
  const spread = [alive[(failed - 1) % alive.length], alive[Math.floor(alive.length / 2)],
    alive[alive.length - 1]];
  const chosen = [...new Set(spread)].slice(0, parents);
  const at = { trial: 0, round: 1 };
  const events = [
    { event: 'start', params, version: 1, transport },
    { event: 'failure', ...at, peer: failed },
    { event: 'parents', ...at, newcomer, parents: chosen },
    ...chosen.map((id) => ({
      event: 'transfer', ...at,
      link: {
        local: String(newcomer), remote: String(id), label: 'repair-1', bytes_received: bytes,
      },
    })),
    { event: 'store', ...at, newcomer, packets: 12, bytes: 3144, rank: 12 },
    ...[...alive, newcomer].map((id) => ({
      event: 'transfer', ...at,
      link: { local: 'collector', remote: String(id), label: 'collect-1', bytes_received: 1000 },
    })),
    {
      event: 'collect', ...at, rank: 20, packets: 40, bytes: 10480,
      ranks: Object.fromEntries([...alive, newcomer].map((id) => [String(id), 4])),
      contributions: Object.fromEntries(
        [...alive, newcomer].map((id, i) => [String(id), i < 5 ? 4 : 0]),
      ),
    },
    { event: 'verdict', ...at, verdict: 'collect-timeout', decoded: true, verified: true },
  ];
  for (const event of events) applyEvent(state, event);
  assert.deepEqual(state.problems, []);
  return state;
}

/** Every box the layout placed, named: nodes, label boxes, repair counts, fixed things. */
function boxes(layout) {
  const out = [];
  for (const [id, node] of layout.nodes) {
    out.push({
      what: `node ${id}${node.ghost ? ' (failed)' : ''}`, owner: id,
      rect: { x: node.x - node.size / 2, y: node.y - node.size / 2, w: node.size, h: node.size },
    });
  }
  for (const [id, label] of layout.labels) {
    if (label.rect) {
      out.push({ what: `labels of ${id} (${label.side})`, owner: id, rect: label.rect });
    }
  }
  for (const arrow of layout.repairs) {
    out.push({
      what: `repair count ${arrow.from}`, owner: `repair ${arrow.from}`, rect: arrow.label.rect,
    });
  }
  for (const arrow of layout.collects) {
    if (arrow.label) {
      out.push({
        what: `collect count ${arrow.from}`, owner: `c${arrow.from}`, rect: arrow.label.rect,
      });
    }
  }
  out.push({ what: 'source', owner: 'source', rect: layout.source });
  out.push({ what: 'collector', owner: 'collector', rect: layout.collector });
  out.push({ what: 'legend', owner: 'legend', rect: layout.legend.rect });
  if (layout.verdict) out.push({ what: 'verdict', owner: 'verdict', rect: layout.verdict.rect });
  return out;
}

function clashes(layout) {
  const all = boxes(layout);
  const hits = [];
  all.forEach((a, i) => {
    const r = a.rect;
    if (r.x < 0 || r.y < 0 || r.x + r.w > WIDTH || r.y + r.h > HEIGHT) {
      hits.push(`${a.what} outside the drawing`);
    }
    for (const b of all.slice(i + 1)) {
      // A node and its own labels touch by design; nodes of a crowded ring may touch.
      if (a.owner === b.owner) continue;
      if (a.what.startsWith('node') && b.what.startsWith('node') && !a.what.includes('failed') &&
        !b.what.includes('failed')) continue;
      if (intersects(a.rect, b.rect, 0.5)) hits.push(`${a.what} / ${b.what}`);
    }
  });
  return hits;
}

describe('the model layout at the end of a repair', () => {
  for (const peers of [5, 10, 16, 20, 30, 40]) {
    test(`${peers} peers, every failed slot: no label meets another or a node`, () => {
      for (let failed = 1; failed <= peers; failed += 1) {
        const state = repaired(peers, failed);
        const layout = layoutModel(state, { measure: estimateWidth });
        assert.deepEqual(clashes(layout), [], `${peers} peers, peer ${failed} failed`);
        // The failed peer is out of the ring, clear of the newcomer, with its note.
        const ghost = layout.nodes.get(String(failed));
        const newcomer = layout.nodes.get(String(peers + 1));
        assert.ok(ghost.ghost && !newcomer.ghost);
        assert.ok(ghost.size < newcomer.size);
        assert.deepEqual(layout.labels.get(String(failed)).lines.map((l) => l.text), ['failed']);
        // The newcomer and the parents say what they are; the repair counts are all shown.
        assert.equal(layout.labels.get(String(peers + 1)).lines[0].text, 'newcomer');
        for (const id of state.parents) {
          assert.equal(layout.labels.get(String(id)).lines[0].text, 'parent', `parent ${id}`);
        }
        assert.equal(layout.repairs.length, state.parents.length);
        // Every label is shown; up to 16 peers in full.
        const hidden = [...layout.labels.values()].filter((l) => l.rect === null);
        assert.deepEqual(hidden, [], `${peers} peers, peer ${failed} failed: hidden labels`);
        if (peers <= 16) {
          const short = [...layout.labels].filter(([, l]) => l.short > 0).map(([id]) => id);
          assert.deepEqual(short, [], `${peers} peers, peer ${failed} failed: shortened labels`);
          assert.ok(layout.repairs.every((a) => a.label.text.includes(' · ')));
        }
      }
    });
  }

  test('the layout is a function of the state', () => {
    const state = repaired(10, 4);
    const one = layoutModel(state, { measure: estimateWidth });
    const two = layoutModel(state, { measure: estimateWidth });
    assert.deepEqual([...one.labels], [...two.labels]);
    assert.deepEqual([...one.nodes], [...two.nodes]);
  });

  test(`past ${CROWDED} peers only the round's peers are labelled, still apart`, () => {
    const state = repaired(200, 57);
    const layout = layoutModel(state, { measure: estimateWidth });
    const labelled = [...layout.labels].filter(([, l]) => l.rect !== null).map(([id]) => id);
    assert.deepEqual(labelled.sort(), [...state.parents.map(String), '57', '201'].sort());
    assert.deepEqual(clashes(layout), []);
  });
});
