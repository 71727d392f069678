// WebRTC in the browser, as transport/webrtc.py does it with aiortc (docs/protocol.md §3).
//
// One RTCPeerConnection per channel; whoever sends a batch opens it (the offerer) with one
// ordered, reliable data channel; the other side answers and accepts it from `datachannel`.
// No STUN/TURN, no trickle ICE: an SDP leaves, whole, as soon as the local description holds
// a 127.0.0.1 UDP host candidate (Chromium has it within ~5 ms, but completes gathering only
// ~120 ms later, with a TCP candidate we would discard), or once gathering completed, or after
// GATHER_UNITS (then without one: an error). Every candidate but 127.0.0.1 over UDP is removed
// from every SDP we send (and from those we receive): Chromium gathers all its interfaces, and
// only loopback may be addressed here. Candidates gathered after the SDP left stay local.
//
// Framing: each data-channel message is 1 flag byte (0x01 more fragments follow, 0x00 last)
// plus at most 65535 bytes of one application message. Sends pause while more than 1 MiB is
// buffered, until `bufferedamountlow` (threshold 256 KiB). Every wait is bounded.

import {
  ChannelClosed,
  Queue,
  TimeoutError,
  TransportError,
  describe,
  withTimeout,
} from './util.js';

/** Largest data-channel message we send, flag byte included (what every stack accepts). */
export const MAX_MESSAGE_SIZE = 65536;
/** Largest whole message reassembled from fragments. */
export const MAX_REASSEMBLED = 64 << 20;
const HIGH_WATER = 1 << 20;
const LOW_WATER = 256 << 10;
const MORE = 0x01;
const LAST = 0x00;
const CLOSED = Symbol('closed');

/** The one address ICE may use. */
export const LOOPBACK = '127.0.0.1';
/** A session attribute marking the SDPs a browser peer sends (aiortc ignores it). */
export const AGENT_LINE = 'a=x-rlnc-agent:browser';

/**
 * `sdp` with every `a=candidate` line that is not UDP on 127.0.0.1 removed, the connection
 * line pointed at loopback and `a=end-of-candidates` after the candidates (no trickle).
 */
export function loopbackOnly(sdp) {
  const lines = sdp.split(/\r\n|\n/).filter((line) => line.length > 0);
  const out = [];
  let kept = null;
  for (const line of lines) {
    if (line.startsWith('a=candidate:')) {
      const parts = line.slice('a='.length).split(' ');
      if (parts.length < 8 || parts[2].toLowerCase() !== 'udp' || parts[4] !== LOOPBACK) continue;
      if (kept === null) kept = Number(parts[5]);
    }
    if (line === 'a=end-of-candidates') continue;
    out.push(line);
  }
  // One media section (one data channel): end-of-candidates after its last attribute, the
  // connection address and the m= port on the loopback candidate (the default candidate).
  const result = [];
  for (const line of out) {
    if (line.startsWith('c=IN IP4 ') || line.startsWith('c=IN IP6 ')) {
      result.push(`c=IN IP4 ${LOOPBACK}`);
    } else if (line.startsWith('m=') && kept !== null) {
      const parts = line.split(' ');
      parts[1] = String(kept);
      result.push(parts.join(' '));
    } else {
      result.push(line);
    }
  }
  if (kept === null) {
    // Not the network's failure: Chromium runs without --allow-loopback-in-peer-connection or
    // media permission (peer.js asks for it), and would offer only mDNS names or other hosts.
    throw new Error('Chromium gathered no 127.0.0.1 UDP candidate: loopback is not allowed here');
  }
  const t = result.findIndex((line) => line.startsWith('t='));
  if (!result.includes(AGENT_LINE)) result.splice(t + 1, 0, AGENT_LINE);
  result.push('a=end-of-candidates');
  return result.join('\r\n') + '\r\n';
}

/** Whether an SDP comes from a browser peer (see AGENT_LINE). */
export function fromBrowser(sdp) {
  return sdp.split(/\r\n|\n/).includes(AGENT_LINE);
}

/**
 * `sdp` without any candidate, as the answering side hands an offer to Chromium. Chromium
 * checks from every local interface to every remote candidate it knows; an aiortc offerer
 * (the controlling agent) nominates the first pair that succeeds, and that could be one of
 * Chromium's non-loopback addresses reaching aiortc's 127.0.0.1 (learned as peer-reflexive).
 * Knowing no remote candidate, Chromium sends no check of its own: it answers the offerer's
 * checks, which arrive on its 127.0.0.1 socket, so 127.0.0.1 <-> 127.0.0.1 is the only pair
 * that can succeed.
 */
export function withoutCandidates(sdp) {
  const lines = sdp.split(/\r\n|\n/).filter((line) => line.length > 0);
  const kept = lines.filter(
    (line) => !line.startsWith('a=candidate:') && line !== 'a=end-of-candidates',
  );
  return kept.join('\r\n') + '\r\n';
}

/** The address of every `a=candidate` line of an SDP (what a test checks). */
export function candidateAddresses(sdp) {
  return sdp
    .split(/\r\n|\n/)
    .filter((line) => line.startsWith('a=candidate:'))
    .map((line) => line.split(' ')[4]);
}

/** `{address, port, protocol}` of every `a=candidate` line of an SDP. */
export function candidateEndpoints(sdp) {
  return sdp
    .split(/\r\n|\n/)
    .filter((line) => line.startsWith('a=candidate:'))
    .map((line) => line.split(' '))
    .filter((parts) => parts.length >= 8)
    .map((parts) => ({ address: parts[4], port: Number(parts[5]), protocol: parts[2].toLowerCase() }));
}

/**
 * The selected ICE candidate pair of `pc`, in the keys aiortc's link records use. Chromium
 * hides the address of a peer-reflexive remote candidate in its stats (it reports the port):
 * given the candidates the remote `offered`, such an address is the offered candidate's with
 * that port and protocol (`remote_address_from: "offer"` says so).
 */
export async function selectedPair(pc, offered = []) {
  let report;
  try {
    report = await pc.getStats();
  } catch (exc) {
    return {};
  }
  let pair = null;
  for (const stat of report.values()) {
    if (stat.type === 'transport' && stat.selectedCandidatePairId) {
      pair = report.get(stat.selectedCandidatePairId) || null;
    }
  }
  if (pair === null) {
    for (const stat of report.values()) {
      if (stat.type === 'candidate-pair' && stat.nominated && stat.state === 'succeeded') {
        pair = stat;
      }
    }
  }
  if (pair === null) return {};
  const local = report.get(pair.localCandidateId) || {};
  const remote = report.get(pair.remoteCandidateId) || {};
  const info = {
    local_address: local.address || local.ip || null,
    local_port: local.port ?? null,
    local_type: local.candidateType ?? null,
    remote_address: remote.address || remote.ip || null,
    remote_port: remote.port ?? null,
    remote_type: remote.candidateType ?? null,
    protocol: (local.protocol || '').toLowerCase() || null,
  };
  if (info.remote_address === null && info.remote_port !== null) {
    const match = offered.filter((c) => c.port === info.remote_port && c.protocol === info.protocol);
    if (match.length === 1) {
      info.remote_address = match[0].address;
      info.remote_address_from = 'offer';
    }
  }
  return info;
}

/**
 * Whether `exc` is a connection that could not be made (a bound ran out, the transport or
 * the remote's SDP failed: WebRTC's DOMExceptions), as opposed to a bug in this code.
 */
function isConnectionFailure(exc) {
  return exc instanceof TimeoutError || exc instanceof TransportError || exc instanceof DOMException;
}

/** How long (timeout units) an SDP waits for its 127.0.0.1 UDP candidate at most. */
export const GATHER_UNITS = 3;

/** Whether `sdp` has an `a=candidate` line for UDP on 127.0.0.1 (what loopbackOnly keeps). */
export function hasLoopbackCandidate(sdp) {
  return candidateEndpoints(sdp).some((c) => c.protocol === 'udp' && c.address === LOOPBACK);
}

/**
 * Resolves once `pc`'s local description is ready to send: it has a 127.0.0.1 UDP candidate
 * (watched on `icecandidate`: the spec adds a candidate to the local description before it
 * fires the event), or gathering completed, or `ms` passed (then loopbackOnly names what is
 * missing). Never rejects; the caller's own bound still applies.
 */
export function loopbackGathered(pc, ms) {
  const ready = () =>
    pc.iceGatheringState === 'complete' ||
    (pc.localDescription !== null && hasLoopbackCandidate(pc.localDescription.sdp));
  if (ready()) return Promise.resolve();
  return new Promise((resolve) => {
    let timer = null;
    const check = () => {
      if (ready()) done();
    };
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener('icecandidate', check);
      pc.removeEventListener('icegatheringstatechange', check);
      resolve();
    };
    pc.addEventListener('icecandidate', check);
    pc.addEventListener('icegatheringstatechange', check);
    timer = setTimeout(done, ms);
  });
}

/** What crossed one channel, from its local end (LinkStats.to_dict() of the Python side). */
export class LinkStats {
  constructor(local, remote, label) {
    this.local = local;
    this.remote = remote;
    this.label = label;
    this.messages_sent = 0;
    this.bytes_sent = 0;
    this.messages_received = 0;
    this.bytes_received = 0;
    this.info = { browser: true };
  }

  toDict() {
    return {
      local: this.local,
      remote: this.remote,
      label: this.label,
      messages_sent: this.messages_sent,
      bytes_sent: this.bytes_sent,
      messages_received: this.messages_received,
      bytes_received: this.bytes_received,
      info: { ...this.info },
    };
  }
}

/** A reliable, ordered message channel over one RTCDataChannel. */
export class Channel {
  constructor(pc, dc, stats, { unitMs, log, onClosed }) {
    this.stats = stats;
    this.pc = pc;
    this.dc = dc;
    this._unitMs = unitMs;
    this._log = log;
    this._onClosed = onClosed;
    this._inbox = new Queue();
    this._parts = [];
    this._partsSize = 0;
    this._error = null;
    this._dead = false;
    this._closing = null;
    this._state = 'connecting';
    this._opened = new Promise((resolve) => {
      this._markOpened = resolve;
    });
    this._dcClosed = new Promise((resolve) => {
      this._markDcClosed = resolve;
    });
    this._drainWaiters = [];
    /** The remote's candidates, from its offer or answer (names a peer-reflexive pair). */
    this.offered = [];
    dc.binaryType = 'arraybuffer';
    dc.bufferedAmountLowThreshold = LOW_WATER;
    dc.addEventListener('open', () => this._onOpen());
    dc.addEventListener('message', (event) => this._onMessage(event.data));
    dc.addEventListener('bufferedamountlow', () => this._wakeSenders());
    // Chromium fires `error` then `close` when the remote end closes: neither is a bug here.
    dc.addEventListener('error', (event) => {
      const why = event.error ? event.error.message : 'error';
      this._log.debug(`channel ${this.label}: ${why}`);
    });
    dc.addEventListener('close', () => {
      this._markDcClosed();
      this._markDead();
    });
    pc.addEventListener('connectionstatechange', () => {
      if (pc.connectionState === 'failed' || pc.connectionState === 'closed') this._markDead();
    });
    // The channel may already be open before our listener was attached.
    if (dc.readyState === 'open') this._onOpen();
    else if (dc.readyState === 'closed') this._markDead();
  }

  get label() {
    return `${this.stats.label} ${this.stats.local}->${this.stats.remote}`;
  }

  get closed() {
    return this._dead || this._state === 'closed';
  }

  _setState(state) {
    if (state !== this._state) {
      this._log.debug(`channel ${this.label}: ${this._state} -> ${state}`);
      this._state = state;
    }
  }

  _onOpen() {
    if (this._state === 'connecting') this._setState('open');
    this._markOpened();
  }

  _onMessage(data) {
    if (this._dead) return;
    if (typeof data === 'string' || !(data instanceof ArrayBuffer) || data.byteLength === 0) {
      this._fail(`unframed message from ${this.stats.remote} on '${this.stats.label}'`);
      return;
    }
    const bytes = new Uint8Array(data);
    const flag = bytes[0];
    if (flag !== MORE && flag !== LAST) {
      this._fail(`unframed message from ${this.stats.remote} on '${this.stats.label}'`);
      return;
    }
    this._parts.push(bytes.subarray(1));
    this._partsSize += bytes.length - 1;
    if (this._partsSize > MAX_REASSEMBLED) {
      this._parts = [];
      this._partsSize = 0;
      this._fail(
        `message from ${this.stats.remote} on '${this.stats.label}' exceeds ` +
          `${MAX_REASSEMBLED} bytes`,
      );
      return;
    }
    if (flag === LAST) {
      let whole;
      if (this._parts.length === 1) whole = this._parts[0];
      else {
        whole = new Uint8Array(this._partsSize);
        let offset = 0;
        for (const part of this._parts) {
          whole.set(part, offset);
          offset += part.length;
        }
      }
      this._parts = [];
      this._partsSize = 0;
      this._inbox.put(whole);
    }
  }

  _fail(error) {
    this._error = error;
    this._markDead();
  }

  _markDead() {
    if (!this._dead) {
      this._dead = true;
      this._inbox.put(CLOSED);
    }
    this._markOpened();
    this._wakeSenders();
  }

  _wakeSenders() {
    const waiters = this._drainWaiters;
    this._drainWaiters = [];
    for (const wake of waiters) wake();
  }

  /** Wait until the data channel is open (the caller bounds this). */
  async waitOpen() {
    await this._opened;
    if (this.dc.readyState !== 'open') {
      throw new ChannelClosed(`channel '${this.stats.label}' closed before it opened`);
    }
  }

  _checkSendable() {
    if (this._dead || this._state === 'closed' || this.dc.readyState !== 'open') {
      throw new ChannelClosed(`channel '${this.stats.label}' to ${this.stats.remote} is closed`);
    }
  }

  /** Send one message (fragmented if needed); waits, bounded, while the buffer is full. */
  async send(data) {
    if (!(data instanceof Uint8Array)) {
      throw new TypeError(`send() takes a Uint8Array, got ${Object.prototype.toString.call(data)}`);
    }
    const chunk = MAX_MESSAGE_SIZE - 1;
    const size = data.length;
    let offset = 0;
    for (;;) {
      while (this.dc.bufferedAmount > HIGH_WATER && !this._dead) {
        const drained = new Promise((resolve) => this._drainWaiters.push(resolve));
        try {
          await withTimeout(drained, 10 * this._unitMs, 'send buffer');
        } catch (exc) {
          if (exc instanceof TimeoutError) {
            throw new TransportError(
              `send to ${this.stats.remote} on '${this.stats.label}' stalled: ` +
                `${this.dc.bufferedAmount} bytes unsent after ${10 * this._unitMs} ms`,
            );
          }
          throw exc;
        }
      }
      this._checkSendable();
      const end = Math.min(offset + chunk, size);
      const frame = new Uint8Array(1 + end - offset);
      frame[0] = end < size ? MORE : LAST;
      frame.set(data.subarray(offset, end), 1);
      try {
        this.dc.send(frame);
      } catch (exc) {
        throw new ChannelClosed(`send on '${this.stats.label}' failed: ${describe(exc)}`);
      }
      offset = end;
      if (offset >= size) break;
    }
    this.stats.messages_sent += 1;
    this.stats.bytes_sent += size;
  }

  /** Next whole message, within `ms`; ChannelClosed once closed, TransportError if broken. */
  async recv(ms) {
    if (this._state === 'closed') {
      throw new ChannelClosed(`channel '${this.stats.label}' to ${this.stats.remote} is closed`);
    }
    const item = await this._inbox.get(ms, `message on '${this.stats.label}' from ${this.stats.remote}`);
    if (item === CLOSED) {
      this._inbox.unget(CLOSED);
      if (this._error !== null) throw new TransportError(this._error);
      throw new ChannelClosed(`channel '${this.stats.label}' closed by ${this.stats.remote}`);
    }
    this.stats.messages_received += 1;
    this.stats.bytes_received += item.length;
    return item;
  }

  /** Close the data channel (waiting, bounded, for the far end) and its peer connection. */
  close() {
    if (this._closing === null) this._closing = this._close();
    return this._closing;
  }

  async _close() {
    this._setState('closed');
    this._inbox.put(CLOSED);
    this._markOpened();
    this._wakeSenders();
    try {
      if (
        (this.dc.readyState === 'open' || this.dc.readyState === 'closing') &&
        this.pc.connectionState !== 'failed' &&
        this.pc.connectionState !== 'closed'
      ) {
        this.dc.close();
        try {
          await withTimeout(this._dcClosed, this._unitMs, 'data channel close');
        } catch (exc) {
          this._log.debug(`channel ${this.label}: no close from peer`);
        }
      }
      this.pc.close();
    } finally {
      if (this._onClosed) this._onClosed(this);
    }
  }
}

/** Opens and accepts Channels for one node; offers and answers go through `sendSignal`. */
export class Connector {
  constructor(nodeId, { sendSignal, unitMs, log }) {
    this.nodeId = nodeId;
    this._sendSignal = sendSignal;
    this._unitMs = unitMs;
    this._log = log;
    this._ids = 0;
    this._answers = new Map();
    this._channels = new Set();
    this._pcs = new Set();
    this._accepted = new Queue();
    this._closed = false;
  }

  _newPc() {
    const pc = new RTCPeerConnection({ iceServers: [] });
    this._pcs.add(pc);
    return pc;
  }

  _wrap(pc, dc, remote) {
    const channel = new Channel(pc, dc, new LinkStats(this.nodeId, remote, dc.label), {
      unitMs: this._unitMs,
      log: this._log,
      onClosed: (ch) => {
        this._channels.delete(ch);
        this._pcs.delete(ch.pc);
      },
    });
    this._channels.add(channel);
    return channel;
  }

  /** Offer a connection to `remote` and wait (bounded) until its channel is open. */
  async open(remote, label) {
    if (this._closed) throw new TransportError(`connector ${this.nodeId} is closed`);
    const started = performance.now();
    const random = crypto.getRandomValues(new Uint8Array(4));
    const hex = Array.from(random, (b) => b.toString(16).padStart(2, '0')).join('');
    const conn = `${this.nodeId}/${this._ids++}/${hex}`;
    const pc = this._newPc();
    const channel = this._wrap(pc, pc.createDataChannel(label, { ordered: true }), remote);
    let settle;
    const answer = new Promise((resolve, reject) => {
      settle = { resolve, reject };
    });
    answer.catch(() => undefined); // rejected by close() while nobody awaits it yet: not a bug
    this._answers.set(conn, settle);
    try {
      await withTimeout(
        (async () => {
          await pc.setLocalDescription(await pc.createOffer());
          await loopbackGathered(pc, GATHER_UNITS * this._unitMs);
          const sdp = loopbackOnly(pc.localDescription.sdp);
          await this._sendSignal(remote, { conn, type: 'offer', sdp });
          const reply = await answer;
          channel.offered = candidateEndpoints(reply.sdp);
          // From aiortc: no candidate for Chromium, so Chromium sends no check of its own
          // (it would check from every interface and could nominate a non-loopback one, as
          // the controlling agent preferring its cheapest network); it answers aiortc's checks,
          // which reach its 127.0.0.1 candidate. Another page must be checked (see below).
          const answerSdp = fromBrowser(reply.sdp) ? reply.sdp : withoutCandidates(reply.sdp);
          await pc.setRemoteDescription({ type: 'answer', sdp: answerSdp });
          await channel.waitOpen();
        })(),
        10 * this._unitMs,
        `opening '${label}' to ${remote}`,
      );
    } catch (exc) {
      if (!isConnectionFailure(exc)) {
        await channel.close();
        throw exc; // a bug here is reported as one, not as a channel that failed to open
      }
      const state = `ice ${pc.iceConnectionState}, gathering ${pc.iceGatheringState}, ` +
        `signaling ${pc.signalingState}, channel ${channel.dc.readyState}`;
      await channel.close();
      throw new TransportError(
        `${this.nodeId}: could not open channel '${label}' to ${remote}: ${describe(exc)} (${state})`,
      );
    } finally {
      this._answers.delete(conn);
    }
    Object.assign(channel.stats.info, await selectedPair(pc, channel.offered));
    channel.stats.info.connection = conn;
    channel.stats.info.setup_seconds = (performance.now() - started) / 1000;
    return channel;
  }

  /**
   * Feed one relayed signal from `sender`; an offer is answered before this returns. Offers
   * from different senders may be handled concurrently (each has its own connection); the
   * caller keeps one sender's signals in order (signaling.js does).
   */
  async handleSignal(sender, payload) {
    if (payload === null || typeof payload !== 'object') {
      throw new TransportError(`signal from ${sender} is not an object`);
    }
    const { type, conn, sdp } = payload;
    if ((type !== 'offer' && type !== 'answer') || typeof conn !== 'string' || typeof sdp !== 'string') {
      throw new TransportError(
        `signal from ${sender} must have 'type' offer|answer, str 'conn' and str 'sdp'; ` +
          `got keys ${Object.keys(payload).sort()} type=${type}`,
      );
    }
    if (type === 'answer') {
      const waiter = this._answers.get(conn);
      if (waiter === undefined) this._log.debug(`late or unknown answer ${conn} from ${sender}`);
      else waiter.resolve(payload);
      return;
    }
    if (this._closed) return;
    const pc = this._newPc();
    const offered = candidateEndpoints(sdp);
    pc.addEventListener('datachannel', (event) => {
      const channel = this._wrap(pc, event.channel, sender);
      channel.offered = offered;
      channel.stats.info.connection = conn;
      this._accepted.put(channel);
    });
    try {
      await withTimeout(
        (async () => {
          await pc.setRemoteDescription({ type: 'offer', sdp: withoutCandidates(sdp) });
          await pc.setLocalDescription(await pc.createAnswer());
          await loopbackGathered(pc, GATHER_UNITS * this._unitMs);
          const local = loopbackOnly(pc.localDescription.sdp);
          await this._sendSignal(sender, { conn, type: 'answer', sdp: local });
        })(),
        10 * this._unitMs,
        `answering ${conn} from ${sender}`,
      );
    } catch (exc) {
      this._pcs.delete(pc);
      pc.close();
      if (!isConnectionFailure(exc)) throw exc;
      throw new TransportError(`${this.nodeId}: could not answer ${conn} from ${sender}: ${describe(exc)}`);
    }
  }

  /** The next channel opened to us (waits at most `ms`); TransportError once closed. */
  async accept(ms) {
    if (this._closed) throw new TransportError(`connector ${this.nodeId} is closed`);
    const item = await this._accepted.get(ms, 'an incoming channel');
    if (item === CLOSED) {
      this._accepted.unget(CLOSED);
      throw new TransportError(`connector ${this.nodeId} is closed`);
    }
    if (!item.stats.info.local_address) {
      await withTimeout(item.waitOpen(), 10 * this._unitMs, 'an accepted channel to open').catch(
        () => undefined,
      );
      Object.assign(item.stats.info, await selectedPair(item.pc, item.offered));
    }
    return item;
  }

  /** Close every channel and peer connection of this node (each bounded). */
  async close() {
    if (this._closed) return;
    this._closed = true;
    for (const waiter of this._answers.values()) {
      waiter.reject(new TransportError(`connector ${this.nodeId} closed`));
    }
    await Promise.all([...this._channels].map((channel) => channel.close()));
    for (const pc of this._pcs) pc.close();
    this._pcs.clear();
    this._accepted.put(CLOSED);
  }
}
