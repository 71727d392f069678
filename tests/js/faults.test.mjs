/**
 * The browser peer's fault schedule (rlnc_testbed/web/faults.js) against the Python side's
 * (tests/vectors/faults.json, made by make_fault_vectors.py from protocol/faults.py and the
 * reference simulator): the rate thresholds (Python's round-half-even), every round's faults
 * for given alive peers, and the whole-trial replay a page makes knowing only the plan and the
 * params - alive peers, failed peer, parents, newcomer and faults, round by round.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  FaultSchedule,
  NODE_KINDS,
  PPM,
  hasNodeFaults,
  parsePlan,
  roundFaults,
  threshold,
  trigger,
} from '../../rlnc_testbed/web/faults.js';
import { chooseParents, failedPeer, newcomerId } from '../../rlnc_testbed/web/rules.js';
import { Role, streamFor } from '../../rlnc_testbed/web/draws.js';
import { vectors } from './vectors.mjs';

const data = vectors('faults.json');

describe('fault thresholds', () => {
  test('PPM is the Python one', () => assert.equal(PPM, data.ppm));
  for (const [rate, want] of data.thresholds) {
    test(`round(${rate} * PPM) = ${want}, ties to even as Python`, () => {
      assert.equal(threshold(rate), want);
    });
  }
  test('Math.round would get the ties wrong (the vectors hold ties)', () => {
    assert.ok(data.thresholds.some(([rate, want]) => Math.round(rate * PPM) !== want));
  });
});

describe('roundFaults, one round for given alive peers', () => {
  data.rounds.forEach((c, i) => {
    const kinds = c.plan.map((s) => s.kind).join('+');
    const name = `case ${i}: ${kinds}, ${c.params.scheme}, trial ${c.trial} round ${c.round}`;
    test(`${name}, alive ${c.alive}`, () => {
      const got = roundFaults(parsePlan(c.plan), c.params, c.trial, c.round, c.alive);
      assert.deepEqual(got, c.faults);
    });
  });
  test('the vectors strike every node fault kind', () => {
    const struck = new Set(data.rounds.flatMap((c) => c.faults.map((f) => f.kind)));
    for (const kind of NODE_KINDS) assert.ok(struck.has(kind), kind);
  });
});

describe('FaultSchedule replays a trial from the plan and the params alone', () => {
  data.trials.forEach((c, i) => {
    const kinds = c.plan.map((s) => s.kind).join('+');
    test(`trial case ${i}: ${kinds}, ${c.params.scheme} N=${c.params.peers}, trial ${c.trial}`, () => {
      const schedule = new FaultSchedule(parsePlan(c.plan), c.params, c.trial);
      // Asked out of order (a newcomer of round r asks for r first): the same answers.
      const last = c.rounds.at(-1);
      assert.deepEqual(schedule.faults(last.round), last.faults);
      for (const r of c.rounds) {
        assert.deepEqual(schedule.alive(r.round), r.alive, `alive in round ${r.round}`);
        const draws = schedule.draws(r.round);
        assert.deepEqual(
          [draws.failed, draws.parents, draws.newcomer],
          [r.failed, r.parents, r.newcomer],
          `round ${r.round}`,
        );
        assert.deepEqual(schedule.faults(r.round), r.faults, `faults of round ${r.round}`);
        for (const fault of r.faults.filter((f) => NODE_KINDS.includes(f.kind))) {
          assert.deepEqual(schedule.find(r.round, fault.node, fault.kind, fault.when), r.faults.find(
            (f) => f.node === fault.node && f.kind === fault.kind && f.when === fault.when,
          ));
        }
      }
    });
  });
  test('find answers null for a node or kind the round does not strike', () => {
    const c = data.trials.find((t) => t.rounds.some((r) => r.faults.length));
    const schedule = new FaultSchedule(parsePlan(c.plan), c.params, c.trial);
    const r = c.rounds.find((x) => x.faults.length);
    assert.equal(schedule.find(r.round, '999', r.faults[0].kind), null);
    assert.equal(schedule.find(r.round, r.faults[0].node, 'no-such-kind'), null);
  });
});

describe('the server rules a page replays', () => {
  test('failedPeer takes a scheduled failure without a draw, and refuses a dead one', () => {
    const params = { peers: 4, failures: [3] };
    const server = streamFor(1, 0, 1, Role.SERVER);
    assert.equal(failedPeer(params, 1, [4, 3, 1, 2], server), 3);
    assert.equal(server.used, 0);
    assert.throws(() => failedPeer(params, 1, [1, 2], server), /failures\[0\] = 3 is not alive/);
  });
  test('chooseParents continues the stream and answers ascending ids', () => {
    const a = streamFor(9, 1, 2, Role.SERVER);
    const b = streamFor(9, 1, 2, Role.SERVER);
    const picks = b.sample(5, 3);
    const survivors = [10, 2, 7, 3, 1];
    const sorted = [1, 2, 3, 7, 10];
    assert.deepEqual(chooseParents(a, survivors, 3), picks.map((i) => sorted[i]).sort((x, y) => x - y));
    assert.throws(() => chooseParents(a, [1], 2), /cannot choose 2 parents among 1/);
    assert.equal(newcomerId({ peers: 5 }, 3), 8);
  });
});

describe('plans', () => {
  test('defaults are filled in and nodes sorted', () => {
    const [spec] = parsePlan([{ kind: 'crash', round: 2, nodes: [5, 1, 5] }]);
    assert.equal(spec.target, 'parent');
    assert.equal(spec.when, 'mid-repair');
    assert.deepEqual(spec.nodes, [1, 5]);
    assert.equal(spec.rate, null);
  });
  for (const [bad, problem] of [
    [[{ kind: 'meteor', round: 1 }], /unknown kind/],
    [[{ kind: 'crash' }], /give round or rate/],
    [[{ kind: 'crash', round: 1, rate: 0.5 }], /give round or rate/],
    [[{ kind: 'crash', round: 0 }], /round must be/],
    [[{ kind: 'crash', rate: 2 }], /rate must be/],
    [[{ kind: 'silent', target: 'peer', round: 1 }], /bad target/],
    [[{ kind: 'zombie', when: 'mid-collect', round: 1 }], /bad when/],
    [[{ kind: 'crash', round: 1, nodes: [] }], /nodes must be/],
    [[null], /must be an object/],
  ]) {
    test(`refused: ${JSON.stringify(bad)}`, () => assert.throws(() => parsePlan(bad), problem));
  }
  test('not an array', () => assert.throws(() => parsePlan({ kind: 'crash' }), TypeError));
  test('hasNodeFaults', () => {
    assert.equal(hasNodeFaults(parsePlan([{ kind: 'server-restart', round: 1 }])), false);
    const mixed = [{ kind: 'link', round: 1, loss: 0.1 }, { kind: 'zombie', rate: 1 }];
    assert.equal(hasNodeFaults(parsePlan(mixed)), true);
  });
  test('the triggers are the Python ones', () => {
    for (const [kind, target, when, want] of data.triggers) {
      assert.equal(trigger({ kind, target, when }), want, `${kind} ${target} ${when}`);
    }
    assert.throws(() => trigger({ kind: 'link', target: 'all', when: 'round' }), /no node trigger/);
  });
});
