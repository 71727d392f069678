/**
 * The browser's fault-injecting roles (rlnc_testbed/web/faulty.js) against roles/faulty.py's
 * behaviour, with in-memory doubles for signaling and the connector: each node fault the plan
 * gives a node is carried out on its trigger message (a silent parent sends nothing, a crashing
 * one half a batch and no Done, then closes everything; a zombie stays and delivers its old
 * packets; a polluter XORs payloads with 1) - and a node the plan does not strike behaves
 * honestly. Which node is struck comes from the replayed schedule (faults.js, checked against
 * the Python vectors in faults.test.mjs).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import * as wire from '../../rlnc_testbed/web/wire.js';
import { FaultSchedule, parsePlan } from '../../rlnc_testbed/web/faults.js';
import { FaultyNewcomer, FaultyPeer, pollute } from '../../rlnc_testbed/web/faulty.js';
import { NodeStopped, TransportError } from '../../rlnc_testbed/web/util.js';

const PARAMS = Object.freeze({
  peers: 5, symbols: 4, symbol_size: 8, redundancy: 2.0, q: 4, parents: 2, scheme: 'rlnc',
  field: 256, keep: 'distinct', beta: 2, rounds: 3, trials: 1, seed: 4, systematic: false,
  failures: [],
});
const TRIAL = 0;

class FakeChannel {
  constructor(remote, label) {
    this.remote = remote;
    this.label = label;
    this.sent = [];
    this.closed = false;
    this.stats = {
      remote,
      messages_sent: 0, bytes_sent: 0, messages_received: 0, bytes_received: 0,
      toDict: () => ({ local: 'x', remote, label, messages_sent: 0, bytes_sent: 0,
        messages_received: 0, bytes_received: 0, info: {} }),
    };
  }

  async send(data) {
    if (this.closed) throw new TransportError('channel closed');
    this.sent.push(wire.parse(data));
  }

  async recv() {
    return wire.encodeDone({ count: 0, generation: TRIAL });
  }

  async close() {
    this.closed = true;
  }
}

class FakeConnector {
  constructor() {
    this.channels = [];
    this.closed = false;
  }

  async open(to, label) {
    if (this.closed) throw new TransportError('connector closed');
    const channel = new FakeChannel(to, label);
    this.channels.push(channel);
    return channel;
  }

  async accept() {
    return new Promise(() => undefined);
  }

  async close() {
    this.closed = true;
    for (const channel of this.channels) channel.closed = true;
  }
}

function fakeSignaling(id) {
  return {
    id,
    sent: [],
    closed: false,
    send(msg) {
      this.sent.push(msg);
    },
    close() {
      this.closed = true;
    },
  };
}

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

function packets(count, salt) {
  return Array.from({ length: count }, (_, i) => ({
    coefficients: Uint8Array.from([1 + i, 2, 3, salt]),
    payload: Uint8Array.from({ length: 8 }, (_, j) => (i * 31 + j * 7 + salt) & 0xff),
  }));
}

/** A node of `Role` with id `id`, the plan `specs`, params, trial and Q stored packets. */
function make(Role, id, specs, { stored = packets(PARAMS.q, Number(id)) } = {}) {
  const lines = [];
  const log = { ...quiet, info: (t) => lines.push(t), warn: (t) => lines.push(t) };
  const node = new Role({
    signaling: fakeSignaling(id),
    connector: new FakeConnector(),
    unitMs: 50,
    log,
    plan: parsePlan(specs),
  });
  node.params = PARAMS;
  node.trial = TRIAL;
  node.stored = stored;
  node.lines = lines;
  return node;
}

/** The node a plan of one spec strikes in `round` (and that round's draws). */
function struck(spec, round = 1) {
  const schedule = new FaultSchedule(parsePlan([spec]), PARAMS, TRIAL);
  const [fault] = schedule.faults(round);
  assert.ok(fault, `the plan ${JSON.stringify(spec)} strikes nobody in round ${round}`);
  return { node: fault.node, fault, draws: schedule.draws(round) };
}

function repairMsg(draws, round = 1) {
  return { type: 'repair', round, newcomer: String(draws.newcomer), beta: PARAMS.beta };
}

const types = (channel) => channel.sent.map((m) => m.type);

describe('pollute', () => {
  test('XORs every payload byte with 1 and keeps the coefficients', () => {
    const [a] = packets(1, 9);
    const [b] = pollute([a]);
    assert.deepEqual(b.coefficients, a.coefficients);
    assert.deepEqual(Array.from(b.payload), Array.from(a.payload, (x) => x ^ 1));
    assert.notEqual(b.payload, a.payload); // a copy: the stored packet stays clean
  });
});

describe('a parent on repair', () => {
  const silent = { kind: 'silent', round: 1 };
  test('silent: sends nothing and stays connected', async () => {
    const { node: id, draws } = struck(silent);
    const node = make(FaultyPeer, id, [silent]);
    await node.on_repair(repairMsg(draws));
    assert.equal(node.connector.channels.length, 0);
    assert.equal(node.signaling.closed, false);
    assert.deepEqual(node.carriedOut.map((f) => f.kind), ['silent']);
    assert.ok(node.lines.some((l) => l.startsWith('[rlnc] fault silent mid-repair round 1')));
  });
  test('the other parent, under the same plan, uploads beta packets and a Done', async () => {
    const { node: id, draws } = struck(silent);
    const other = String(draws.parents.find((p) => String(p) !== id));
    const node = make(FaultyPeer, other, [silent]);
    await node.on_repair(repairMsg(draws));
    const [channel] = node.connector.channels;
    assert.deepEqual(types(channel), ['hello', 'packet', 'packet', 'done']);
    assert.deepEqual(node.carriedOut, []);
  });
  test('crash mid-repair: Hello and half its stored packets, no Done, then everything closed', async () => {
    const spec = { kind: 'crash', target: 'parent', when: 'mid-repair', round: 1 };
    const { node: id, draws } = struck(spec);
    const node = make(FaultyPeer, id, [spec]);
    await node.on_repair(repairMsg(draws));
    const [channel] = node.connector.channels;
    assert.equal(channel.remote, String(draws.newcomer));
    assert.equal(channel.label, 'repair-1');
    assert.deepEqual(types(channel), ['hello', 'packet', 'packet']);
    assert.deepEqual(channel.sent[1].payload, node.stored[0].payload); // unrecoded: the first half
    assert.equal(node.connector.closed, true);
    assert.equal(node.signaling.closed, true);
    assert.match(node.stopReason, /crashed in round 1 \(mid-repair\)/);
    await node.on_collect({ type: 'collect', round: 1 }); // nothing after a crash
    assert.equal(node.connector.channels.length, 1);
  });
  test('pollute mid-repair: the honest upload with every payload byte XORed with 1', () => {
    const spec = { kind: 'pollute', target: 'parent', when: 'mid-repair', round: 1 };
    const { node: id, draws } = struck(spec);
    const polluter = make(FaultyPeer, id, [spec]);
    const honest = make(FaultyPeer, id, []);
    const msg = repairMsg(draws);
    const bad = polluter.upload(msg);
    const good = honest.upload(msg);
    assert.equal(bad.length, PARAMS.beta);
    assert.deepEqual(bad, pollute(good));
    assert.deepEqual(polluter.stored, honest.stored);
  });
  test("a repair for a node the replay says is no parent is a bug, not a fault", async () => {
    const { draws } = struck({ kind: 'silent', round: 1 });
    const outsider = String([1, 2, 3, 4, 5].find((x) => !draws.parents.includes(x)));
    const node = make(FaultyPeer, outsider, [{ kind: 'silent', round: 1 }]);
    await assert.rejects(node.on_repair(repairMsg(draws)), /fault schedule out of step in round 1/);
  });
});

describe('a peer on new id and collect', () => {
  test('crash mid-repair (target peer): closes at once on new id, sends nothing', async () => {
    const spec = { kind: 'crash', target: 'peer', when: 'mid-repair', round: 1 };
    const { node: id, draws } = struck(spec);
    const node = make(FaultyPeer, id, [spec]);
    await node.on_new_id({ type: 'new id', id: String(draws.newcomer), round: 1 });
    assert.equal(node.connector.channels.length, 0);
    assert.equal(node.connector.closed && node.signaling.closed, true);
  });
  test('a new id the replay does not expect is a bug', async () => {
    const node = make(FaultyPeer, '1', [{ kind: 'zombie', rate: 1 }]);
    await assert.rejects(node.on_new_id({ type: 'new id', id: '9', round: 1 }), /out of step/);
  });
  test('crash mid-collect: Hello and half its batch on the pooled link, no Done', async () => {
    const spec = { kind: 'crash', target: 'peer', when: 'mid-collect', round: 1 };
    const { node: id } = struck(spec);
    const node = make(FaultyPeer, id, [spec]);
    const pooled = new FakeChannel('collector', 'collect');
    node._pool.set('collector', pooled);
    await node.on_collect({ type: 'collect', round: 1 });
    assert.equal(node.connector.channels.length, 0);
    assert.deepEqual(types(pooled), ['hello', 'packet', 'packet']);
    assert.equal(pooled.sent[0].purpose, 'collect');
    assert.equal(node.signaling.closed, true);
  });
  test('pollute mid-collect: its collect batch polluted, what it stores clean', async () => {
    const spec = { kind: 'pollute', target: 'peer', when: 'mid-collect', round: 1 };
    const { node: id } = struck(spec);
    const node = make(FaultyPeer, id, [spec]);
    const clean = node.stored.map((p) => Array.from(p.payload));
    await node.on_collect({ type: 'collect', round: 1 });
    const [channel] = node.connector.channels;
    const sent = channel.sent.filter((m) => m.type === 'packet');
    assert.deepEqual(sent.map((m) => Array.from(m.payload)), clean.map((p) => p.map((x) => x ^ 1)));
    assert.deepEqual(node.stored.map((p) => Array.from(p.payload)), clean);
    assert.equal(node.delivery(2), node.stored); // round 2 is not struck
  });
});

describe('a zombie', () => {
  const spec = { kind: 'zombie', rate: 1.0 };
  test('stays on fail and delivers its old packets, unpolluted, on each later new id', async () => {
    const { node: id } = struck(spec);
    const node = make(FaultyPeer, id, [spec, { kind: 'pollute', target: 'peer', rate: 1.0 }]);
    node.on_fail({ type: 'fail', round: 1 });
    assert.equal(node.zombie, true);
    const draws = node.schedule.draws(2);
    await node.on_new_id({ type: 'new id', id: String(draws.newcomer), round: 2 });
    const [channel] = node.connector.channels;
    assert.equal(channel.remote, 'collector');
    assert.equal(channel.sent[0].purpose, 'collect');
    assert.equal(channel.sent[0].round, 2);
    const sent = channel.sent.filter((m) => m.type === 'packet');
    assert.deepEqual(sent.map((m) => Array.from(m.payload)), node.stored.map((p) => Array.from(p.payload)));
    assert.equal(types(channel).at(-1), 'done');
  });
  test('a failed peer the plan does not make a zombie leaves', () => {
    const { draws } = struck(spec);
    const node = make(FaultyPeer, String(draws.failed), [{ kind: 'zombie', round: 2 }]);
    assert.throws(() => node.on_fail({ type: 'fail', round: 1 }), NodeStopped);
    assert.equal(node.zombie, false);
  });
});

describe('a newcomer on expect', () => {
  test('newcomer-crash: closes at once', async () => {
    const spec = { kind: 'newcomer-crash', round: 1 };
    const { node: id, draws } = struck(spec);
    assert.equal(id, String(draws.newcomer));
    const node = make(FaultyNewcomer, id, [spec], { stored: [] });
    await node.on_expect({ type: 'expect', round: 1, parents: draws.parents.map(String), q: PARAMS.q });
    assert.equal(node.connector.closed && node.signaling.closed, true);
    assert.match(node.stopReason, /newcomer crashed in round 1/);
  });
  test('parents other than the replayed ones are a bug', async () => {
    const spec = { kind: 'newcomer-crash', round: 2 };
    const { draws } = struck({ kind: 'newcomer-crash', round: 1 });
    const node = make(FaultyNewcomer, String(draws.newcomer), [spec], { stored: [] });
    const wrong = [1, 2, 3, 4, 5].filter((x) => !draws.parents.includes(x)).slice(0, 2);
    await assert.rejects(
      node.on_expect({ type: 'expect', round: 1, parents: wrong.map(String), q: PARAMS.q }),
      /out of step in round 1: the server says parents/,
    );
    assert.equal(node.signaling.closed, false);
  });
});
