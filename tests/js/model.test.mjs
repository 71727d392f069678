/**
 * The animated model's state (rlnc_testbed/web/model-state.js) folded from the history of a
 * real run: tests/js/model-fixture.jsonl, three trials over the memory transport that
 * tests/js/model_fixture.py made (real signaling and roles, so there are per-link transfer
 * lines). Every round's failed peer, newcomer, parents, arrows, ranks and verdict must be the
 * history's, each peer's rank and contribution to the global rank the collect line's (adding up
 * to the global rank), the newcomer must take the failed peer's place, and the survival curve
 * at the end must be the one the point line (Python's summarize) states.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';

import {
  applyEvent,
  browsersOf,
  createState,
  peerById,
  roundMarks,
  stateAt,
} from '../../rlnc_testbed/web/model-state.js';
import { shareText } from '../../rlnc_testbed/web/model-view.js';
import { packetMessageSize } from '../../rlnc_testbed/web/wire.js';

const FIXTURE = new URL('./model-fixture.jsonl', import.meta.url);
const events = readFileSync(FIXTURE, 'utf8')
  .split('\n')
  .filter((line) => line.length > 0)
  .map((line) => JSON.parse(line));
const start = events[0];
const params = start.params;

/** The events of each round, by "trial/round". */
function rounds() {
  const out = new Map();
  for (const event of events) {
    if (event.round === undefined) continue;
    const key = `${event.trial}/${event.round}`;
    if (!out.has(key)) out.set(key, []);
    out.get(key).push(event);
  }
  return out;
}

describe('the fixture is a real run', () => {
  test('it has transfers, a lost trial and surviving ones', () => {
    assert.equal(start.event, 'start');
    assert.equal(start.transport, 'memory');
    assert.ok(events.some((e) => e.event === 'transfer'));
    const verdicts = events.filter((e) => e.event === 'verdict').map((e) => e.verdict);
    assert.ok(verdicts.includes('ok') && verdicts.includes('undecodable'));
  });

  test('its collect lines carry each peer\'s rank and contribution', () => {
    const collects = events.filter((e) => e.event === 'collect');
    assert.ok(collects.length > 0);
    let spanned = 0;
    for (const collect of collects) {
      const ids = Object.keys(collect.ranks);
      assert.equal(ids.length, params.peers);
      assert.deepEqual(Object.keys(collect.contributions).sort(), ids.sort());
      const total = Object.values(collect.contributions).reduce((a, b) => a + b, 0);
      assert.equal(total, collect.rank);
      for (const id of ids) {
        assert.ok(collect.contributions[id] <= collect.ranks[id]);
        if (collect.contributions[id] < collect.ranks[id]) spanned += 1;
      }
    }
    assert.ok(spanned > 0, 'some peer should add less than its own rank');
  });
});

describe('folding the whole history', () => {
  const state = stateAt(events);

  test('no problems, every event counted', () => {
    assert.deepEqual(state.problems, []);
    assert.equal(state.events, events.length);
  });

  test('counters and survival equal the point line', () => {
    const point = events.find((e) => e.event === 'point');
    assert.equal(state.trialsTotal, params.trials);
    assert.equal(state.maxRound, params.rounds);
    assert.equal(state.trialsDone, point.trials);
    assert.equal(state.successes, point.successes);
    assert.equal(state.survival.length, point.survival.length);
    state.survival.forEach((s, i) => assert.ok(Math.abs(s - point.survival[i]) < 1e-12));
    assert.equal(state.phase, 'point');
  });

  test('per-trial verdicts are the trial lines\'', () => {
    for (const line of events.filter((e) => e.event === 'trial')) {
      const record = state.trials.get(line.trial);
      assert.deepEqual(record.verdicts, line.rounds.map((r) => r.verdict));
      assert.equal(record.success, line.success);
    }
  });
});

describe('every round, judged', () => {
  const byRound = rounds();
  const marks = roundMarks(events);

  test('one mark per verdict line, in order', () => {
    assert.equal(marks.length, events.filter((e) => e.event === 'verdict').length);
    assert.equal(marks.length, byRound.size);
    for (const mark of marks) assert.equal(events[mark.index - 1].event, 'verdict');
  });

  for (const mark of marks) {
    test(`trial ${mark.trial} round ${mark.round}`, () => {
      const state = stateAt(events, mark.index);
      const mine = byRound.get(`${mark.trial}/${mark.round}`);
      const of = (name) => mine.filter((e) => e.event === name);
      const [failure] = of('failure');
      const [parents] = of('parents');
      const [store] = of('store');
      const [collect] = of('collect');
      const [verdict] = of('verdict');
      assert.equal(state.trial, mark.trial);
      assert.equal(state.round, mark.round);
      assert.equal(state.phase, 'verdict');
      // The failed peer, highlighted; the newcomer in its place; N peers in the system.
      assert.equal(state.failed, failure.peer);
      assert.equal(peerById(state, failure.peer).role, 'failed');
      const newcomer = peerById(state, parents.newcomer);
      assert.equal(newcomer.role, 'newcomer');
      assert.equal(newcomer.slot, peerById(state, failure.peer).slot);
      assert.equal(state.peers.filter((p) => p.role !== 'failed').length, params.peers);
      assert.equal(new Set(state.peers.map((p) => p.slot)).size, params.peers);
      // Parents and their arrows, measured on the links.
      assert.deepEqual(state.parents, parents.parents);
      for (const id of parents.parents) assert.ok(peerById(state, id).parent);
      const repairLinks = of('transfer').filter((e) => e.link.label.startsWith('repair'));
      assert.equal(state.repairs.length, parents.parents.length);
      assert.equal(repairLinks.length, parents.parents.length);
      const size = packetMessageSize(params.symbols, params.symbol_size);
      for (const link of repairLinks) {
        const arrow = state.repairs.find((a) => a.from === Number(link.link.remote));
        assert.ok(arrow.measured);
        assert.equal(arrow.to, parents.newcomer);
        assert.equal(arrow.bytes, link.link.bytes_received);
        assert.equal(arrow.packets, Math.floor(link.link.bytes_received / size));
      }
      assert.equal(state.repairs.reduce((n, a) => n + a.packets, 0), store.packets);
      // Transfers to the collector: one arrow per collect link, and their packets add up.
      const collectLinks = of('transfer').filter((e) => e.link.label.startsWith('collect'));
      assert.equal(state.collects.length, collectLinks.length);
      assert.equal(state.collects.reduce((n, a) => n + a.packets, 0), collect.packets);
      // Every transfer line is drawn once: repair, collect, or another link (provenance).
      const others = of('transfer').length - repairLinks.length - collectLinks.length;
      assert.equal(state.others.length, others);
      assert.ok(state.others.every((a) => a.to === 'collector' && a.from === parents.newcomer));
      assert.equal(state.newcomerRank, store.rank);
      assert.equal(newcomer.rank, store.rank); // still what it received from its parents
      assert.equal(state.globalRank, collect.rank);
      // Each peer's share of the global rank, as the collector reported it.
      for (const peer of state.peers) {
        const key = String(peer.id);
        if (peer.role === 'failed') {
          assert.equal(peer.ownRank, null);
          assert.equal(peer.contribution, null);
          continue;
        }
        assert.equal(peer.ownRank, collect.ranks[key], `peer ${key}`);
        assert.equal(peer.contribution, collect.contributions[key], `peer ${key}`);
      }
      const shares = state.peers.filter((p) => p.contribution !== null);
      assert.equal(shares.length, params.peers);
      assert.equal(shares.reduce((n, p) => n + p.contribution, 0), collect.rank);
      assert.equal(state.contributionTotal, collect.rank);
      assert.equal(state.verdict.verdict, verdict.verdict);
      assert.equal(state.verdict.verified, verdict.verified);
    });
  }

  test('the next round starts without the failed peer, the newcomer an ordinary peer', () => {
    const [first, second] = marks;
    assert.equal(first.trial, second.trial);
    const before = stateAt(events, first.index);
    const failureAt = events.findIndex((e, i) => i >= first.index && e.event === 'failure');
    const after = stateAt(events, failureAt + 1);
    assert.equal(after.round, second.round);
    assert.equal(peerById(after, before.failed), undefined);
    assert.equal(peerById(after, before.newcomer).role === 'newcomer', false);
    assert.equal(after.verdict, null);
    assert.equal(after.repairs.length, 0);
    // The shares were the last round's: none until this round's collect line.
    assert.ok(before.peers.some((p) => p.contribution !== null));
    assert.ok(after.peers.every((p) => p.ownRank === null && p.contribution === null));
    assert.equal(after.contributionTotal, null);
  });

  test('before the collect line no peer has a share; the newcomer has its received rank', () => {
    const [first] = marks;
    const storeAt = events.findIndex((e) => e.event === 'store');
    const state = stateAt(events, storeAt + 1);
    assert.equal(state.phase, 'store');
    assert.ok(state.peers.every((p) => p.contribution === null));
    assert.equal(peerById(state, events[storeAt].newcomer).rank, events[storeAt].rank);
    assert.ok(stateAt(events, first.index).peers.some((p) => p.contribution !== null));
  });

  test('a new trial starts again from peers 1..N', () => {
    const index = events.findIndex((e) => e.event === 'failure' && e.trial === 1);
    const state = stateAt(events, index + 1);
    assert.deepEqual(
      state.peers.map((p) => p.id).sort((a, b) => a - b),
      Array.from({ length: params.peers }, (_, i) => i + 1),
    );
    assert.ok(state.peers.every((p) => p.held === state.q));
  });
});

describe('a history without links (the sim transport)', () => {
  const bare = events.filter((e) => e.event !== 'transfer');
  const marks = roundMarks(bare);

  test('arrows show the planned upload and every peer delivering what it holds', () => {
    for (const mark of marks) {
      const state = stateAt(bare, mark.index);
      const store = bare.find(
        (e) => e.event === 'store' && e.trial === mark.trial && e.round === mark.round,
      );
      const collect = bare.find(
        (e) => e.event === 'collect' && e.trial === mark.trial && e.round === mark.round,
      );
      assert.ok(state.repairs.every((a) => !a.measured));
      assert.equal(state.repairs.reduce((n, a) => n + a.packets, 0), store.packets);
      assert.equal(state.collects.length, params.peers);
      assert.equal(state.collects.reduce((n, a) => n + a.packets, 0), collect.packets);
    }
  });

  test('without ranks and contributions (sim, older histories) no peer has a share', () => {
    const older = bare.map((e) => {
      if (e.event !== 'collect') return e;
      const { ranks, contributions, ...rest } = e;
      assert.ok(ranks && contributions);
      return rest;
    });
    const state = stateAt(older, roundMarks(older)[0].index);
    assert.deepEqual(state.problems, []);
    assert.ok(state.peers.every((p) => p.ownRank === null && p.contribution === null));
    assert.equal(state.contributionTotal, null);
    assert.notEqual(state.globalRank, null);
  });
});

describe('shares of the global rank', () => {
  test('a peer shows its rank and contribution as "rank R · +C"', () => {
    assert.equal(shareText({ ownRank: 4, contribution: 3 }), 'rank 4 · +3');
    assert.equal(shareText({ ownRank: null, contribution: 0 }), '+0');
  });

  test('contributions that do not add up to the rank, or are not counts, are problems', () => {
    const index = events.findIndex((e) => e.event === 'collect');
    const collect = events[index];
    const [first] = Object.keys(collect.contributions);
    const off = { ...collect, contributions: { ...collect.contributions, [first]: 99 } };
    const state = stateAt([...events.slice(0, index), off]);
    assert.equal(state.problems.length, 1);
    assert.match(state.problems[0], /add up to/);
    const bad = { ...collect, ranks: { [first]: 'two' } };
    const again = stateAt([...events.slice(0, index), bad]);
    assert.equal(again.problems.length, 1);
    assert.match(again.problems[0], /ranks/);
    assert.equal(again.globalRank, collect.rank); // the rest of the line still counts
  });
});

describe('bad input is reported, never thrown', () => {
  test('malformed lines, unknown events and out-of-order rounds are problems', () => {
    const state = createState();
    applyEvent(state, events[0]);
    applyEvent(state, { event: 'malformed', line: 7, error: 'not valid JSON' });
    applyEvent(state, { event: 'nonsense' });
    applyEvent(state, 42);
    applyEvent(state, { event: 'verdict', trial: 9, round: 9, verdict: 'ok' });
    assert.equal(state.problems.length, 4);
    assert.match(state.problems[0], /line 7/);
    assert.equal(state.events, 5);
  });

  test('a round before the start line is a problem', () => {
    const state = stateAt([events[1]]);
    assert.equal(state.problems.length, 1);
  });
});

describe('browser peers', () => {
  test('a trial line naming browser ids marks those peers, looked ahead', () => {
    const trialLine = events.find((e) => e.event === 'trial' && e.trial === 0);
    const edited = events.map((e) => (e === trialLine ? { ...e, browsers: ['3'] } : e));
    const browsers = browsersOf(edited);
    assert.deepEqual([...browsers.get(0)], ['3']);
    const state = stateAt(edited, roundMarks(edited)[0].index, { browsers });
    const kinds = new Map(state.peers.map((p) => [p.id, p.kind]));
    assert.equal(kinds.get(3), 'browser');
    assert.equal(kinds.get(1), 'memory');
  });
});
