// What every browser role shares, as roles/node.py: the command pump, accepting channels, the
// batch protocol on a data channel (docs/protocol.md §5: Hello, messages, Done, answered by
// Done) and reporting to the server.
//
// A handler that raises a TimeoutError, TransportError or WireError is the network's failure:
// logged (console.warn), left to the phase deadlines. Anything else is a bug: reported to the
// server as `error {reason}` (the trial ends with the `error` verdict naming it) and logged
// with console.error, which the Python launcher collects too.

import * as wire from './wire.js';
import {
  ChannelClosed,
  Lock,
  NodeStopped,
  TransportError,
  describe,
  isNetworkFailure,
  withTimeout,
} from './util.js';

/** A node that hears nothing from signaling for this many units gives up. */
export const IDLE_UNITS = 120;
export const COLLECTOR_ID = 'collector';
export const ENGINE_ID = 'engine';
/** Prefix of the console.debug line logging each batch's link record (for the launcher). */
export const LINK_PREFIX = '[rlnc] link';
const COUNTERS = ['messages_sent', 'bytes_sent', 'messages_received', 'bytes_received'];

/** A WireError of our own making (a protocol violation found above the wire format). */
function violation(field, problem) {
  return new wire.WireError(field, 0, problem);
}

export function counters(channel) {
  return COUNTERS.map((name) => channel.stats[name]);
}

/** The channel's record with counters since `before` (one batch). */
export function linkRecord(channel, before) {
  const record = channel.stats.toDict();
  COUNTERS.forEach((name, i) => {
    record[name] -= before[i];
  });
  return record;
}

/** Reads whole typed messages from a channel, each wait bounded. */
export class MessageReader {
  constructor(channel, unitMs, timeoutUnits = 10) {
    this.channel = channel;
    this._unitMs = unitMs;
    this._timeoutUnits = timeoutUnits;
  }

  async next(timeoutUnits) {
    const units = timeoutUnits ?? this._timeoutUnits;
    const data = await this.channel.recv(units * this._unitMs);
    return wire.parse(data);
  }
}

export class Node {
  constructor({ signaling, connector, unitMs, log }) {
    this.signaling = signaling;
    this.connector = connector;
    this.unitMs = unitMs;
    this.log = log;
    this.params = null;
    this.trial = 0;
    this.rejected = 0;
    this.links = [];
    this.stopReason = '';
    this._pool = new Map();
    this._linkLocks = new Map();
    this._tasks = new Set();
    this._stopped = false;
  }

  get role() {
    return 'node';
  }

  get id() {
    return this.signaling.id;
  }

  get p() {
    if (this.params === null) throw new Error('params not received yet');
    return this.params;
  }

  // -- main loop ---------------------------------------------------------------------------

  /** Serve until the server says close/fail, signaling goes away, or idle too long. */
  async run() {
    try {
      const msg = await this.signaling.expect('params', IDLE_UNITS * this.unitMs);
      if (msg.params === null || typeof msg.params !== 'object' || msg.trial === undefined) {
        this.stopReason = 'unusable params from the server';
        this.log.error(`${this.role} ${this.id} stops: ${this.stopReason}`);
        return;
      }
      this.params = this.readParams(msg.params);
      this.trial = Number(msg.trial);
      this._spawn(this._acceptLoop());
      await this._commandLoop();
    } catch (exc) {
      if (exc instanceof NodeStopped) return;
      if (isNetworkFailure(exc)) {
        this.stopReason = this.stopReason || describe(exc);
        this.log.warn(`${this.role} ${this.id} stops: ${this.stopReason}`);
        return;
      }
      throw exc;
    } finally {
      await this.shutdown();
    }
  }

  /** The params object as the rules take it (Params.to_dict() JSON), checked lightly. */
  readParams(params) {
    for (const name of ['peers', 'symbols', 'symbol_size', 'parents', 'field', 'scheme', 'seed']) {
      if (!(name in params)) throw new Error(`params without ${name}`);
    }
    return params;
  }

  async _commandLoop() {
    for (;;) {
      const msg = await this.signaling.recv(IDLE_UNITS * this.unitMs);
      const kind = msg.type;
      if (kind === 'close') {
        this.stopReason = `close: ${msg.reason ?? ''}`;
        throw new NodeStopped(this.stopReason);
      }
      if (kind === 'fail') {
        this.on_fail(msg);
        continue;
      }
      const handler = this['on_' + kind.replace(/ /g, '_')];
      if (typeof handler !== 'function') {
        this.log.debug(`${this.role} ${this.id} ignores ${kind}`);
        continue;
      }
      this._spawn(this._guarded(() => handler.call(this, msg), kind));
    }
  }

  /**
   * This node fails in `msg.round`: it leaves at once, as a crashed browser tab would (a
   * fault-injecting subclass may stay, as a zombie that keeps sending: faulty.js).
   */
  on_fail(msg) {
    this.stopReason = `failed in round ${msg.round}`;
    throw new NodeStopped(this.stopReason);
  }

  /** Close transport, then signaling (bounded, idempotent). */
  async shutdown() {
    if (this._stopped) return;
    this._stopped = true;
    try {
      await withTimeout(this.connector.close(), 10 * this.unitMs, 'closing the connector');
    } catch (exc) {
      this.log.warn(`${this.role} ${this.id}: ${describe(exc)}`);
    }
    this.signaling.close();
  }

  async _guarded(fn, what) {
    try {
      await fn();
    } catch (exc) {
      if (exc instanceof NodeStopped || this._stopped) return;
      if (isNetworkFailure(exc)) {
        this.log.warn(`${this.role} ${this.id}: ${what} failed: ${describe(exc)}`);
        return;
      }
      this.reportBug(what, exc);
    }
  }

  /** Tell the server this role failed (the trial ends with `error` naming it). */
  reportBug(what, exc) {
    const reason = `${what} raised ${describe(exc)}`.slice(0, 500);
    this.log.error(`${this.role} ${this.id}: ${reason}${exc && exc.stack ? '\n' + exc.stack : ''}`);
    try {
      this.report('error', { reason });
    } catch (sendExc) {
      this.log.warn(`${this.role} ${this.id}: could not report the error: ${describe(sendExc)}`);
    }
  }

  _spawn(promise) {
    const task = Promise.resolve(promise).catch((exc) => {
      if (!(exc instanceof NodeStopped)) this.reportBug('a task', exc);
    });
    this._tasks.add(task);
    task.finally(() => this._tasks.delete(task));
    return task;
  }

  report(type, fields) {
    this.signaling.send({ type, ...fields });
  }

  // -- data channels -----------------------------------------------------------------------

  async _acceptLoop() {
    for (;;) {
      let channel;
      try {
        channel = await this.connector.accept();
      } catch (exc) {
        if (exc instanceof TransportError) return; // closed: this node is shutting down
        throw exc;
      }
      this._spawn(this._serveChannel(channel));
    }
  }

  /** Serve batches on one incoming channel until it closes, each acknowledged with a Done. */
  async _serveChannel(channel) {
    const reader = new MessageReader(channel, this.unitMs);
    try {
      for (;;) {
        let hello;
        try {
          hello = await reader.next(IDLE_UNITS);
        } catch (exc) {
          if (exc instanceof ChannelClosed) return; // the sender is finished with this link
          throw exc;
        }
        if (hello.type !== 'hello') throw violation('type', 'expected Hello first');
        if (hello.sender !== channel.stats.remote) {
          throw violation(
            'sender',
            `Hello claims '${hello.sender}' on a channel from '${channel.stats.remote}'`,
          );
        }
        const before = counters(channel);
        const accepted = await this.onChannel(hello, reader);
        await channel.send(wire.encodeDone({ count: accepted, generation: this.trial }));
        const record = linkRecord(channel, before);
        this.links.push(record);
        this.log.debug(`${LINK_PREFIX} ${JSON.stringify(record)}`);
      }
    } catch (exc) {
      if (exc instanceof Error && exc.name === 'WireError') {
        this.rejected += 1;
        this.log.warn(`${this.role} ${this.id}: rejected channel from ${channel.stats.remote}: ${exc.message}`);
      } else if (isNetworkFailure(exc)) {
        this.log.warn(`${this.role} ${this.id}: channel from ${channel.stats.remote} ended early: ${describe(exc)}`);
      } else if (!(exc instanceof NodeStopped) && !this._stopped) {
        this.reportBug(`serving a channel from ${channel.stats.remote}`, exc);
      }
    } finally {
      await channel.close().catch(() => undefined);
    }
  }

  /** Handle one incoming batch whose Hello was read; return how many messages were accepted. */
  async onChannel(hello, reader) {
    throw violation('purpose', `${this.role} accepts no '${hello.purpose}' channel`);
  }

  /**
   * Read PacketMessages until Done; drop (and count) mismatching ones. A batch of more than
   * `limit` packets is read to its Done, keeping none past the limit, then refused.
   */
  async readPackets(reader, limit) {
    const p = this.p;
    const packets = [];
    let excess = 0;
    for (;;) {
      let msg;
      try {
        msg = await reader.next();
      } catch (exc) {
        if (exc instanceof Error && exc.name === 'WireError') {
          this.rejected += 1;
          this.log.warn(`${this.role} ${this.id}: dropped malformed message: ${exc.message}`);
          continue;
        }
        throw exc;
      }
      if (msg.type === 'done') {
        if (excess) {
          throw violation('count', `batch of ${packets.length + excess} packets; at most ${limit} allowed`);
        }
        if (msg.count !== packets.length) {
          this.log.warn(`${this.role} ${this.id}: Done says ${msg.count} packets, got ${packets.length}`);
        }
        return packets;
      }
      if (
        msg.type === 'packet' &&
        msg.field === Number(p.field) &&
        msg.k === Number(p.symbols) &&
        msg.symbolSize === Number(p.symbol_size)
      ) {
        if (limit !== undefined && packets.length >= limit) excess += 1;
        else packets.push({ coefficients: msg.coefficients, payload: msg.payload });
      } else {
        this.rejected += 1;
        this.log.warn(`${this.role} ${this.id}: dropped unexpected ${msg.type}`);
      }
    }
  }

  /**
   * Send one batch (Hello, messages, Done) to `to` and wait for its acknowledgement. Links to
   * the collector are pooled and reused every round; others are closed after their batch.
   * Returns this batch's link record. `messages` are serialized wire messages (Uint8Array).
   */
  async sendBatch(to, { purpose, round, messages, count }) {
    if (!this._linkLocks.has(to)) this._linkLocks.set(to, new Lock());
    const link = await this._linkLocks.get(to).run(async () => {
      const keep = to === COLLECTOR_ID;
      let channel = this._pool.get(to);
      if (channel === undefined || channel.closed) {
        channel = await this.connector.open(to, `${purpose}-${round}`);
        if (keep) this._pool.set(to, channel);
      }
      let record;
      try {
        const before = counters(channel);
        await channel.send(
          wire.encodeHello({ sender: this.id, role: this.role, purpose, round: Number(round) }),
        );
        for (const message of messages) await channel.send(message);
        await channel.send(wire.encodeDone({ count, generation: this.trial }));
        const ack = await new MessageReader(channel, this.unitMs).next();
        if (ack.type !== 'done') {
          throw violation('type', `expected Done as acknowledgement, got ${ack.type}`);
        }
        record = linkRecord(channel, before);
        record.info.accepted = ack.count;
      } catch (exc) {
        this._pool.delete(to);
        await channel.close().catch(() => undefined);
        throw exc;
      }
      if (!keep) await channel.close().catch(() => undefined);
      return record;
    });
    this.links.push(link);
    this.log.debug(`${LINK_PREFIX} ${JSON.stringify(link)}`);
    return link;
  }

  /** Open (and pool) the link to `to` ahead of its first batch. */
  async warmLink(to) {
    if (!this._linkLocks.has(to)) this._linkLocks.set(to, new Lock());
    await this._linkLocks.get(to).run(async () => {
      if (!this._pool.has(to)) this._pool.set(to, await this.connector.open(to, 'collect'));
    });
  }

  packetMessages(packets, generation = this.trial) {
    const p = this.p;
    return packets.map((packet) =>
      wire.encodePacket({
        generation,
        field: Number(p.field),
        k: Number(p.symbols),
        symbolSize: Number(p.symbol_size),
        coefficients: packet.coefficients,
        payload: packet.payload,
      }),
    );
  }
}
