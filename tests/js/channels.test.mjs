// channels.js's Connector with an RTCPeerConnection double (Node has none): when an offer or
// answer leaves (as soon as the local description has a 127.0.0.1 UDP candidate, not at the
// end of gathering; bounded when none comes), what it carries, and signaling.js handling
// offers from different senders concurrently, one sender's in order (fake-signaling.mjs).

import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';

import {
  Connector,
  GATHER_UNITS,
  candidateEndpoints,
  hasLoopbackCandidate,
  loopbackGathered,
} from '../../rlnc_testbed/web/channels.js';
import { Signaling } from '../../rlnc_testbed/web/signaling.js';
import { FakeServer } from './fake-signaling.mjs';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function until(predicate, ms = 2000, what = 'condition') {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${ms} ms`);
    await sleep(2);
  }
}

const BASE_SDP = [
  'v=0',
  'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0',
  'm=application 9 UDP/DTLS/SCTP webrtc-datachannel',
  'c=IN IP4 0.0.0.0',
  'a=ice-ufrag:abcd',
  'a=ice-pwd:0123456789abcdefghijklmn',
  'a=fingerprint:sha-256 00:11',
  'a=setup:actpass',
  'a=mid:0',
  'a=sctp-port:5000',
  '',
].join('\r\n');

const OTHER_UDP = 'candidate:1 1 udp 2122194687 192.168.7.2 50001 typ host generation 0';
const LOOPBACK_UDP = 'candidate:2 1 udp 2122260223 127.0.0.1 50002 typ host generation 0';
const LOOPBACK_TCP = 'candidate:3 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active';

/**
 * An RTCPeerConnection look-alike gathering as Chromium does: `FakePc.plan` lists
 * [ms after setLocalDescription, candidate line or 'complete'].
 */
class FakePc extends EventTarget {
  static plan = [];
  static made = [];

  constructor() {
    super();
    this.iceGatheringState = 'new';
    this.iceConnectionState = 'new';
    this.connectionState = 'new';
    this.signalingState = 'stable';
    this.localDescription = null;
    this.closed = false;
    this._timers = [];
    FakePc.made.push(this);
  }

  async setRemoteDescription(description) {
    this.remoteDescription = description;
  }

  async createOffer() {
    return { type: 'offer', sdp: BASE_SDP };
  }

  async createAnswer() {
    return { type: 'answer', sdp: BASE_SDP };
  }

  createDataChannel(label) {
    const dc = new EventTarget();
    Object.assign(dc, { label, readyState: 'connecting', bufferedAmount: 0, close() {} });
    return dc;
  }

  async setLocalDescription(description) {
    this._sdp = description.sdp;
    this.localDescription = { type: description.type, sdp: this._sdp };
    this.iceGatheringState = 'gathering';
    this.dispatchEvent(new Event('icegatheringstatechange'));
    for (const [ms, what] of FakePc.plan) {
      this._timers.push(setTimeout(() => this._gather(what), ms));
    }
  }

  _gather(what) {
    if (this.closed) return;
    if (what === 'complete') {
      this.iceGatheringState = 'complete';
      this.dispatchEvent(new Event('icegatheringstatechange'));
      return;
    }
    // As the spec says: the candidate joins the local description, then the event fires.
    this._sdp += `a=${what}\r\n`;
    this.localDescription = { type: this.localDescription.type, sdp: this._sdp };
    this.dispatchEvent(Object.assign(new Event('icecandidate'), { candidate: { candidate: what } }));
  }

  close() {
    this.closed = true;
    for (const timer of this._timers) clearTimeout(timer);
  }
}

globalThis.RTCPeerConnection = FakePc;

afterEach(() => {
  for (const pc of FakePc.made) pc.close();
  FakePc.made = [];
});

/** Chromium's timing (benchmarks/browser_link.py): loopback UDP at ~5 ms, complete ~125 ms. */
const CHROMIUM = [
  [2, OTHER_UDP],
  [5, LOOPBACK_UDP],
  [300, LOOPBACK_TCP],
  [301, 'complete'],
];

function connector(sent, unitMs = 100) {
  return new Connector('7', {
    unitMs,
    log: quiet,
    sendSignal: async (to, payload) => {
      sent.push({ to, payload, at: performance.now() });
    },
  });
}

const OFFER = (conn) => ({ conn, type: 'offer', sdp: BASE_SDP + `a=${LOOPBACK_UDP}\r\na=end-of-candidates\r\n` });

describe('an SDP leaves once it has its 127.0.0.1 UDP candidate', () => {
  test('the answer is sent at the loopback candidate, not at the end of gathering', async () => {
    FakePc.plan = CHROMIUM;
    const sent = [];
    const started = performance.now();
    await connector(sent).handleSignal('3', OFFER('3/0/aa'));
    assert.equal(sent.length, 1);
    assert.ok(sent[0].at - started < 150, `answered after ${sent[0].at - started} ms`);
    const { sdp, type, conn } = sent[0].payload;
    assert.equal(type, 'answer');
    assert.equal(conn, '3/0/aa');
    // Exactly what loopbackOnly keeps, whole (aiortc does no trickle ICE).
    assert.deepEqual(candidateEndpoints(sdp), [{ address: '127.0.0.1', port: 50002, protocol: 'udp' }]);
    assert.ok(sdp.endsWith('a=end-of-candidates\r\n'));
    assert.equal(sdp.split('\r\n').filter((l) => l === 'a=end-of-candidates').length, 1);
    assert.ok(sdp.includes('m=application 50002 '));
    assert.ok(sdp.includes('c=IN IP4 127.0.0.1'));
  });

  test('the offer is sent at the loopback candidate too', async () => {
    FakePc.plan = CHROMIUM;
    const sent = [];
    const c = connector(sent);
    const started = performance.now();
    const opening = c.open('3', 'batch').catch((exc) => exc);
    await until(() => sent.length === 1, 1000, 'the offer');
    assert.ok(sent[0].at - started < 150, `offered after ${sent[0].at - started} ms`);
    assert.equal(sent[0].payload.type, 'offer');
    assert.ok(hasLoopbackCandidate(sent[0].payload.sdp));
    assert.deepEqual(candidateEndpoints(sent[0].payload.sdp).length, 1);
    await c.close();
    assert.match(String(await opening), /could not open channel/);
  });

  test('without one, gathering complete still ends the wait, with the loopback error', async () => {
    FakePc.plan = [
      [2, OTHER_UDP],
      [20, LOOPBACK_TCP],
      [25, 'complete'],
    ];
    const sent = [];
    await assert.rejects(
      connector(sent).handleSignal('3', OFFER('3/0/bb')),
      /no 127\.0\.0\.1 UDP candidate/,
    );
    assert.equal(sent.length, 0);
  });

  test('without one and gathering never completing, the wait is bounded', async () => {
    FakePc.plan = [[2, OTHER_UDP]];
    const sent = [];
    const unitMs = 20;
    const started = performance.now();
    await assert.rejects(
      connector(sent, unitMs).handleSignal('3', OFFER('3/0/cc')),
      /no 127\.0\.0\.1 UDP candidate/,
    );
    const took = performance.now() - started;
    assert.ok(took >= GATHER_UNITS * unitMs - 5 && took < 10 * unitMs, `gave up after ${took} ms`);
    assert.equal(sent.length, 0);
  });

  test('loopbackGathered resolves at once when the description has the candidate', async () => {
    const pc = new FakePc();
    pc.localDescription = { type: 'offer', sdp: BASE_SDP + `a=${LOOPBACK_UDP}\r\n` };
    const started = performance.now();
    await loopbackGathered(pc, 1000);
    assert.ok(performance.now() - started < 50);
    pc.localDescription = { type: 'offer', sdp: BASE_SDP + `a=${LOOPBACK_TCP}\r\n` };
    assert.equal(hasLoopbackCandidate(pc.localDescription.sdp), false);
  });
});

describe('signaling.js hands signals of different senders over concurrently', () => {
  async function joined() {
    const server = new FakeServer();
    const client = await Signaling.connect('ws://127.0.0.1:1/ws', {
      token: 'credential-3',
      role: 'peer',
      slot: '3',
      timeoutMs: 1000,
      unitMs: 10,
      log: quiet,
      WebSocket: server.Socket,
    });
    return { server, client };
  }

  test("parents' offers are answered at once, each answer before its sender's next signal", async () => {
    const { server, client } = await joined();
    FakePc.plan = [
      [40, LOOPBACK_UDP],
      [300, 'complete'],
    ];
    const c = new Connector(client.id, {
      unitMs: 200,
      log: quiet,
      sendSignal: (to, payload) => client.signal(to, payload),
    });
    const handled = [];
    client.onSignal = async (from, payload) => {
      handled.push(['start', from, payload.type]);
      if (payload.type === 'offer') await c.handleSignal(from, payload);
      handled.push(['end', from, payload.type]);
    };
    const started = performance.now();
    for (const parent of ['1', '2', '4']) {
      server.say({ type: 'signal', from: parent, payload: OFFER(`${parent}/0/aa`) });
    }
    // A later signal from parent 1 waits for parent 1's answer to leave.
    server.say({ type: 'signal', from: '1', payload: { conn: '1/1/bb', type: 'bye', sdp: '' } });
    const answers = () => server.frames.filter((f) => f.msg.type === 'signal');
    await until(() => answers().length === 3 && handled.length === 8, 2000, 'three answers');
    const took = performance.now() - started;
    // Sequential handling would take 3 x 40 ms at least.
    assert.ok(took < 110, `three answers took ${took} ms`);
    assert.deepEqual(
      answers().map((f) => f.msg.to).sort(),
      ['1', '2', '4'],
    );
    for (const f of answers()) {
      assert.equal(f.msg.payload.type, 'answer');
      assert.equal(f.msg.payload.conn, `${f.msg.to}/0/aa`);
    }
    // All three offers started before any ended; parent 1's second signal after its first.
    const starts = handled.filter((h) => h[0] === 'start' && h[2] === 'offer').map((h) => handled.indexOf(h));
    const firstEnd = handled.findIndex((h) => h[0] === 'end');
    assert.ok(Math.max(...starts) < firstEnd, JSON.stringify(handled));
    const endOffer1 = handled.findIndex((h) => h[0] === 'end' && h[1] === '1' && h[2] === 'offer');
    const startBye1 = handled.findIndex((h) => h[0] === 'start' && h[1] === '1' && h[2] === 'bye');
    assert.ok(endOffer1 < startBye1, JSON.stringify(handled));
    assert.equal(client._signals.size, 0);
    await c.close();
    client.close();
  });

  test("one sender's signals are handled in order, a failing one not stopping the next", async () => {
    const { server, client } = await joined();
    const handled = [];
    client.onSignal = async (from, payload) => {
      handled.push(`start ${payload.n}`);
      await sleep(payload.n === 1 ? 30 : 1);
      handled.push(`end ${payload.n}`);
      if (payload.n === 1) throw new Error('boom');
    };
    for (const n of [1, 2, 3]) server.say({ type: 'signal', from: '5', payload: { n } });
    await until(() => handled.length === 6, 1000, 'three signals');
    assert.deepEqual(handled, ['start 1', 'end 1', 'start 2', 'end 2', 'start 3', 'end 3']);
    client.close();
  });
});
