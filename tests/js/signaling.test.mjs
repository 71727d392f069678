/**
 * The browser peer's signaling client (rlnc_testbed/web/signaling.js) against an in-memory
 * server double (fake-signaling.mjs): after a 1012 close (server restart) it rejoins its own
 * slot with the same join frame, keeps its queue, holds what it sends meanwhile and sends it
 * in order once back, and ends - with a reason - when it may not rejoin (a `close` message
 * came first, another close code, no slot, another id, its own close) or the server does not
 * come back within RECONNECT_UNITS, after a bounded number of attempts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  MAX_PAUSE_MS,
  RECONNECT_UNITS,
  RESTART_CODE,
  Signaling,
  rejoinPause,
} from '../../rlnc_testbed/web/signaling.js';
import { SignalingError } from '../../rlnc_testbed/web/util.js';
import { FakeServer } from './fake-signaling.mjs';

const URL = 'ws://127.0.0.1:1/ws';
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Wait (bounded) until `predicate()` holds. */
async function until(predicate, ms = 2000, what = 'condition') {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${ms} ms`);
    await sleep(2);
  }
}

async function join(server, { slot = '3', unitMs = 10, log = quiet } = {}) {
  return Signaling.connect(URL, {
    token: 'credential-3',
    role: 'peer',
    slot,
    timeoutMs: 1000,
    unitMs,
    log,
    WebSocket: server.Socket,
  });
}

describe('rejoining after a server restart (close code 1012)', () => {
  test('the pauses start at 50 ms and double up to 200 ms, as signaling/client.py', () => {
    assert.deepEqual([0, 1, 2, 3, 10, 100].map(rejoinPause), [50, 100, 200, 200, 200, 200]);
    assert.equal(MAX_PAUSE_MS, 200);
    assert.equal(RECONNECT_UNITS, 20);
    assert.equal(RESTART_CODE, 1012);
  });

  test('rejoins its slot with the same join, keeps its queue and sends held messages in order', async () => {
    const server = new FakeServer();
    const infos = [];
    const client = await join(server, { log: { ...quiet, info: (t) => infos.push(t) } });
    assert.equal(client.id, '3');
    server.say({ type: 'params', params: { peers: 5 }, trial: 0 });
    server.say({ type: 'collect', round: 1 });
    await until(() => client._queue.size === 2, 1000, 'two queued messages');
    server.restart(120);
    await until(() => client.rejoining, 1000, 'rejoining');
    assert.equal(client.closed, false);
    client.send({ type: 'stored', round: 1, count: 2, rank: 2 });
    client.send({ type: 'error', reason: 'second' });
    assert.deepEqual(server.received('stored'), [], 'nothing is sent while the server is away');
    await until(() => client.reconnects === 1, 3000, 'a rejoin');
    assert.equal(client.rejoining, false);
    // The same join frame (role, slot, credential), twice; refused attempts in between.
    const joins = server.received('join');
    assert.equal(joins.length, 2);
    assert.deepEqual(joins[1], joins[0]);
    assert.deepEqual(joins[0], { type: 'join', token: 'credential-3', role: 'peer', slot: '3' });
    assert.ok(server.attempts >= 3, `attempts ${server.attempts}: some fell in the downtime`);
    // Held messages went out on the new socket, in order.
    const last = server.sockets[server.sockets.length - 1];
    const after = server.frames.filter((f) => f.socket === last).map((f) => f.msg.type);
    assert.deepEqual(after, ['join', 'stored', 'error']);
    // The queue survived; the session goes on.
    assert.equal((await client.recv(500)).type, 'params');
    assert.equal((await client.recv(500)).type, 'collect');
    server.say({ type: 'repair', round: 2, newcomer: '7', beta: 1 });
    assert.equal((await client.recv(500)).type, 'repair');
    client.send({ type: 'stored', round: 2, count: 1, rank: 1 });
    assert.equal(server.received('stored').length, 2);
    assert.ok(infos.some((t) => t.includes('[rlnc] rejoined signaling as 3 (1)')), infos);
    // A second restart is rejoined as well.
    server.restart(0);
    await until(() => client.reconnects === 2, 3000, 'a second rejoin');
    client.close();
    await assert.rejects(client.recv(500), SignalingError);
  });

  test('signals are still delivered to onSignal after the rejoin', async () => {
    const server = new FakeServer();
    const client = await join(server);
    const seen = [];
    client.onSignal = async (from, payload) => {
      seen.push([from, payload.type]);
    };
    server.restart(20);
    await until(() => client.reconnects === 1, 3000, 'a rejoin');
    server.say({ type: 'signal', from: 'collector', payload: { conn: 'c1', type: 'offer', sdp: 'x' } });
    await until(() => seen.length === 1, 1000, 'the signal');
    assert.deepEqual(seen, [['collector', 'offer']]);
    client.close();
  });

  test('gives up after RECONNECT_UNITS, with a reason, after a bounded number of attempts', async () => {
    const server = new FakeServer();
    const unitMs = 10; // window: 20 units = 200 ms
    const client = await join(server, { unitMs });
    const started = Date.now();
    server.restart(Infinity);
    const error = await client.recv(5000).then(
      () => null,
      (exc) => exc,
    );
    const took = Date.now() - started;
    assert.ok(error instanceof SignalingError, String(error));
    assert.match(error.message, /did not take us back within 0\.2 s/);
    assert.match(client.closeReason, /did not take us back/);
    assert.equal(client.closed, true);
    assert.ok(took >= RECONNECT_UNITS * unitMs - 20 && took < 1500, `took ${took} ms`);
    // 50 + 100 + 200 ms of pauses fit in 200 ms at most twice: 1 + (2 or 3) attempts.
    assert.ok(server.attempts >= 2 && server.attempts <= 4, `attempts ${server.attempts}`);
    assert.throws(() => client.send({ type: 'stored', round: 1, count: 0, rank: 0 }), SignalingError);
  });

  test('messages held while a rejoin fails are dropped and the session ends', async () => {
    const server = new FakeServer();
    const warnings = [];
    const client = await join(server, { unitMs: 5, log: { ...quiet, warn: (t) => warnings.push(t) } });
    server.restart(Infinity);
    await until(() => client.rejoining, 1000, 'rejoining');
    client.send({ type: 'stored', round: 1, count: 1, rank: 1 });
    await assert.rejects(client.recv(3000), /did not take us back/);
    assert.ok(warnings.some((t) => t.includes('1 message(s) never sent')), warnings);
    assert.deepEqual(server.received('stored'), []);
  });

  test('welcomed with another id: ends, naming both', async () => {
    const server = new FakeServer();
    const client = await join(server);
    server.welcomeAs = '4';
    server.restart(0);
    await assert.rejects(client.recv(3000), /rejoined as '4', not '3'/);
    assert.equal(client.reconnects, 0);
    assert.equal(server.open.length, 0, 'the wrongly welcomed socket is closed');
  });

  test('a refused rejoin is retried until the window ends', async () => {
    const server = new FakeServer();
    const client = await join(server, { unitMs: 10 });
    server.refuse = 'slot-taken';
    server.restart(0);
    await assert.rejects(client.recv(3000), /did not take us back/);
    assert.ok(server.received('join').length >= 2);
  });
});

describe('ends that are not rejoined', () => {
  test("a 'close' message, then 1012: the session ends with the server's reason", async () => {
    const server = new FakeServer();
    const client = await join(server);
    server.say({ type: 'close', reason: 'max-round' });
    assert.equal((await client.recv(500)).type, 'close');
    server.restart(0);
    await assert.rejects(client.recv(1000), /signaling ended: max-round/);
    await sleep(100);
    assert.equal(server.received('join').length, 1, 'no rejoin');
  });

  for (const code of [1000, 1006, 1008, 1011]) {
    test(`close code ${code}: ends at once, no rejoin`, async () => {
      const server = new FakeServer();
      const client = await join(server);
      server.closeSocket(server.open[0], code, code === 1008 ? 'bad-token' : '');
      await assert.rejects(client.recv(1000), SignalingError);
      assert.equal(client.closed, true);
      await sleep(100);
      assert.equal(server.attempts, 1);
    });
  }

  test('joined without a slot (the run token): a 1012 close ends it', async () => {
    const server = new FakeServer();
    const client = await Signaling.connect(URL, {
      token: 'run-token',
      role: 'peer',
      timeoutMs: 1000,
      unitMs: 10,
      log: quiet,
      WebSocket: server.Socket,
    });
    server.restart(0);
    await assert.rejects(client.recv(1000), /code 1012|server restarting/);
    await sleep(100);
    assert.equal(server.attempts, 1);
  });

  test('its own close() while rejoining stops the attempts', async () => {
    const server = new FakeServer();
    const client = await join(server, { unitMs: 100 });
    server.restart(Infinity);
    await until(() => client.rejoining, 1000, 'rejoining');
    client.close();
    await assert.rejects(client.recv(500), SignalingError);
    const attempts = server.attempts;
    await sleep(400);
    assert.equal(server.attempts, attempts, 'no attempt after close()');
    assert.equal(client.reconnects, 0);
  });

  test('a refused first join is a SignalingError naming the reason', async () => {
    const server = new FakeServer();
    server.refuse = 'bad-token';
    await assert.rejects(join(server), /join refused: bad-token/);
    server.refuse = null;
    server.up = false;
    await assert.rejects(join(server), SignalingError);
  });
});
