// Storage peers and newcomers in the browser, as roles/storage.py: store Q packets, upload as
// parents (by rules.js and the PARENT stream), repair as newcomers (keep/recode by rules.js and
// the NEWCOMER stream), deliver to the collector, and report to the server as the Python roles
// do. A packet here is `{coefficients: Uint8Array, payload: Uint8Array}`.

import { rank } from './gf.js';
import { Role, streamFor } from './draws.js';
import { newcomerKeep, parentUpload, perPeer, uploadCount } from './rules.js';
import { COLLECTOR_ID, ENGINE_ID, Node, counters, linkRecord } from './node.js';
import { byNumber, withTimeout } from './util.js';

/** Rank over the params' field of the packets' coefficient rows. */
export function packetRank(packets, field) {
  if (packets.length === 0) return 0;
  return rank(Number(field), packets.map((packet) => packet.coefficients));
}

export class StoragePeer extends Node {
  constructor(options) {
    super(options);
    this.stored = [];
  }

  get role() {
    return 'peer';
  }

  async onChannel(hello, reader) {
    if (hello.purpose !== 'store' || hello.sender !== ENGINE_ID) {
      return super.onChannel(hello, reader);
    }
    const messages = await this.readPackets(reader, perPeer(this.p));
    this.stored = messages;
    this._spawn(this._guarded(() => this.warmLink(COLLECTOR_ID), 'warm collector link'));
    this.report('stored', {
      round: 0,
      count: this.stored.length,
      rank: packetRank(this.stored, this.p.field),
    });
    return messages.length;
  }

  /** What this peer sends the newcomer `msg` names, by the rules (§6.3). */
  upload(msg) {
    const p = this.p;
    const stream = streamFor(p.seed, this.trial, Number(msg.round), Role.PARENT, Number(this.id));
    return parentUpload({ ...p, beta: Number(msg.beta) }, this.stored, stream);
  }

  /** What this peer delivers to the collector in `round`: all it stores. */
  delivery(round) {
    return this.stored;
  }

  async on_repair(msg) {
    const upload = this.upload(msg);
    await this.sendBatch(String(msg.newcomer), {
      purpose: 'repair',
      round: msg.round,
      messages: this.packetMessages(upload),
      count: upload.length,
    });
  }

  async on_collect(msg) {
    const packets = this.delivery(Number(msg.round));
    await this.sendBatch(COLLECTOR_ID, {
      purpose: 'collect',
      round: msg.round,
      messages: this.packetMessages(packets),
      count: packets.length,
    });
  }
}

export class Newcomer extends StoragePeer {
  constructor(options) {
    super(options);
    /** sender -> {round, packets}: one upload per sender, at most beta each. */
    this._uploads = new Map();
    this._expected = null; // {round, parents: Set}
    this._uploadLinks = new Map();
    this._arrivalWaiters = [];
    this.newcomerRank = 0;
    /** {round, received: [[parent, packets]]} in ascending parent order, until delivered. */
    this.provenance = null;
  }

  get role() {
    return 'newcomer';
  }

  _notify() {
    const waiters = this._arrivalWaiters;
    this._arrivalWaiters = [];
    for (const wake of waiters) wake();
  }

  async onChannel(hello, reader) {
    if (hello.purpose !== 'repair') return super.onChannel(hello, reader);
    const before = counters(reader.channel);
    const packets = await this.readPackets(reader, uploadCount(this.p));
    const refusal = this._repairRefusal(hello);
    if (refusal) {
      this.rejected += 1;
      this.log.warn(`newcomer ${this.id}: refused repair from ${hello.sender}: ${refusal}`);
      return 0;
    }
    this._uploads.set(hello.sender, { round: hello.round, packets });
    this._uploadLinks.set(hello.sender, linkRecord(reader.channel, before));
    this._notify();
    return packets.length;
  }

  _repairRefusal(hello) {
    if (this._uploads.has(hello.sender)) return 'a second repair batch';
    if (this._expected !== null) {
      const { round, parents } = this._expected;
      if (hello.round !== round || !parents.has(hello.sender)) return `not a parent of round ${round}`;
    }
    return '';
  }

  async on_expect(msg) {
    const p = this.p;
    const parents = msg.parents.map(String);
    const number = Number(msg.round);
    this._spawn(this._guarded(() => this.warmLink(COLLECTOR_ID), 'warm collector link'));
    this._expected = { round: number, parents: new Set(parents) };
    for (const [sender, upload] of [...this._uploads]) {
      if (!parents.includes(sender) || upload.round !== number) {
        this._uploads.delete(sender);
        this.rejected += 1;
      }
    }
    const arrived = async () => {
      while (!parents.every((x) => this._uploads.has(x))) {
        await new Promise((resolve) => this._arrivalWaiters.push(resolve));
      }
    };
    await withTimeout(arrived(), 10 * this.unitMs, `repair batches from ${parents.join(', ')}`);
    const ordered = [...parents].sort(byNumber);
    const received = ordered.map((x) => this._uploads.get(x).packets);
    this.provenance = { round: number, received: ordered.map((x, i) => [x, received[i]]) };
    const flat = received.flat();
    this.newcomerRank = packetRank(flat, p.field);
    const stream = streamFor(p.seed, this.trial, number, Role.NEWCOMER, 0);
    this.stored = newcomerKeep({ ...p, perPeer: Number(msg.q) }, received, stream);
    this.report('stored', {
      round: number,
      count: this.stored.length,
      rank: this.newcomerRank,
      received: flat.length,
      links: ordered.map((x) => this._uploadLinks.get(x)),
    });
  }

  async on_collect(msg) {
    const number = Number(msg.round);
    if (this.provenance !== null && this.provenance.round === number) {
      const { received } = this.provenance;
      this.provenance = null;
      const messages = [];
      for (const [parent, packets] of received) {
        messages.push(...this.packetMessages(packets, Number(parent)));
      }
      try {
        await this.sendBatch(COLLECTOR_ID, {
          purpose: 'provenance',
          round: number,
          messages,
          count: messages.length,
        });
      } catch (exc) {
        if (!(exc instanceof Error) || !['TimeoutError', 'TransportError', 'ChannelClosed', 'WireError'].includes(exc.name)) {
          throw exc;
        }
        this.log.warn(`newcomer ${this.id}: provenance not delivered: ${exc.message}`);
      }
    }
    await super.on_collect(msg);
  }
}
