// Fault-injecting browser roles, as roles/faulty.py: storage peers and newcomers that crash,
// go silent, turn zombie or pollute when the trial's fault plan says so (docs/protocol.md §7).
//
// They decide nothing of their own: the page is given the scenario's plan (URL fragment,
// peer.js) and each node asks its FaultSchedule (faults.js: the plan evaluated with the
// specified FAULT and SERVER draws, exactly as the cluster resolves it for aiortc nodes)
// whether it misbehaves in a round, and how. A node with no fault in a round behaves exactly
// as StoragePeer / Newcomer. What each kind does:
//
// * `crash` `mid-repair`: target `parent` - on `repair`, its Hello and the first half of its
//   stored packets (no Done), then every peer connection and the websocket closed at once;
//   target `peer` - on `new id`, closed at once. `mid-collect`: on `collect`, the same with
//   half its batch to the collector. The page then prints its done line and is closed.
// * `silent` parent: on `repair` sends nothing and stays connected.
// * `zombie`: on `fail` it stays, and on every later `new id` delivers its old packets to the
//   collector for that round (which refuses and reports them).
// * `newcomer-crash`: the newcomer closes at once on `expect`.
// * `pollute`: every payload byte of its collect batch (`mid-collect`) or of its upload to
//   the round's newcomer (`mid-repair`, target `parent`) XORed with 1; what it stores stays
//   clean.
//
// Each fault carried out is logged as one `[rlnc] fault <kind> <when> round <r>` info line.
// Before acting on `repair`, `expect` or `new id`, a node checks that the server's message
// agrees with its replay of the round (faults.js): if not, its faults would not be the
// server's, and that is reported as a bug (the trial's `error` verdict), never carried out.

import * as wire from './wire.js';
import { FaultSchedule } from './faults.js';
import { COLLECTOR_ID } from './node.js';
import { Newcomer, StoragePeer } from './storage.js';
import { describe } from './util.js';

/** Prefix of the console.info line logging each fault a node carried out. */
export const FAULT_PREFIX = '[rlnc] fault';

/** The packets with every payload byte XORed with 1, coefficients unchanged (byzantine.pollute). */
export function pollute(packets) {
  return packets.map((packet) => ({
    coefficients: packet.coefficients,
    payload: packet.payload.map((byte) => byte ^ 1),
  }));
}

/** `Base` (StoragePeer or Newcomer) carrying out the faults its plan names for it. */
function faulty(Base) {
  return class extends Base {
    constructor(options) {
      super(options);
      /** The trial's fault plan (faults.parsePlan), from the page's fragment. */
      this.plan = options.plan ?? [];
      /** Set once this node failed as a zombie: it stays and keeps sending. */
      this.zombie = false;
      /** The faults this node carried out, in order (Fault.to_dict() objects). */
      this.carriedOut = [];
      this.crashed = false;
      this._schedule = null;
    }

    /** The trial's faults, replayed (needs the params and trial: built on first use). */
    get schedule() {
      if (this._schedule === null) this._schedule = new FaultSchedule(this.plan, this.p, this.trial);
      return this._schedule;
    }

    _fault(number, kind, when) {
      const fault = this.schedule.find(number, this.id, kind, when);
      if (fault !== null) {
        this.carriedOut.push(fault);
        this.log.info(`${FAULT_PREFIX} ${kind} ${fault.when} round ${number}: ${this.role} ${this.id}`);
      }
      return fault;
    }

    /** The server's word on round `number` must be the replay's, or the faults are not its. */
    _agree(number, said, replayed) {
      if (said !== replayed) {
        throw new Error(
          `fault schedule out of step in round ${number}: the server says ${said}, ` +
            `the replayed draws say ${replayed}`,
        );
      }
    }

    // -- commands --------------------------------------------------------------------------

    on_fail(msg) {
      if (this._fault(Number(msg.round), 'zombie') !== null) {
        this.zombie = true;
        return;
      }
      super.on_fail(msg);
    }

    async on_new_id(msg) {
      const number = Number(msg.round);
      const newcomer = String(this.schedule.draws(number).newcomer);
      this._agree(number, `newcomer ${msg.id}`, `newcomer ${newcomer}`);
      if (this.crashed) return;
      if (this.zombie) {
        await super.on_collect({ round: number });
        return;
      }
      const fault = this.schedule.find(number, this.id, 'crash', 'mid-repair');
      if (fault !== null && fault.target === 'peer') {
        this._fault(number, 'crash', 'mid-repair');
        await this.crash(`crashed in round ${number} (mid-repair)`);
      }
    }

    async on_repair(msg) {
      const number = Number(msg.round);
      const parents = this.schedule.draws(number).parents.map(String);
      if (!parents.includes(this.id)) {
        this._agree(number, `${this.id} is a parent`, `the parents are ${parents.join(', ')}`);
      }
      if (this.crashed) return;
      if (this._fault(number, 'silent') !== null) return; // stays connected, uploads nothing
      if (this._fault(number, 'crash', 'mid-repair') !== null) {
        await this._partialBatch(String(msg.newcomer), 'repair', number, false);
        await this.crash(`crashed in round ${number} (mid-repair)`);
        return;
      }
      await super.on_repair(msg);
    }

    async on_collect(msg) {
      const number = Number(msg.round);
      if (this.crashed) return;
      if (this._fault(number, 'crash', 'mid-collect') !== null) {
        await this._partialBatch(COLLECTOR_ID, 'collect', number, true);
        await this.crash(`crashed in round ${number} (mid-collect)`);
        return;
      }
      await super.on_collect(msg);
    }

    upload(msg) {
      const packets = super.upload(msg);
      if (packets.length && this._fault(Number(msg.round), 'pollute', 'mid-repair') !== null) {
        return pollute(packets);
      }
      return packets;
    }

    delivery(round) {
      const packets = super.delivery(round);
      if (packets.length && !this.zombie && this._fault(round, 'pollute', 'mid-collect') !== null) {
        return pollute(packets);
      }
      return packets;
    }

    // -- carrying out ----------------------------------------------------------------------

    /** Hello and the first half of this node's stored packets, never the Done. */
    async _partialBatch(to, purpose, number, pool) {
      try {
        let channel = pool ? this._pool.get(to) : undefined;
        if (channel === undefined || channel.closed) {
          channel = await this.connector.open(to, `${purpose}-${number}`);
        }
        await channel.send(wire.encodeHello({ sender: this.id, role: this.role, purpose, round: number }));
        const half = this.stored.slice(0, Math.floor(this.stored.length / 2));
        for (const message of this.packetMessages(half)) await channel.send(message);
      } catch (exc) {
        this.log.warn(`${this.role} ${this.id}: half a ${purpose} batch before crashing: ${describe(exc)}`);
      }
    }

    /**
     * Close every peer connection and the websocket at once, as a killed page would (no
     * goodbye); the command loop then ends on the closed signaling.
     */
    async crash(reason) {
      this.crashed = true;
      this.stopReason = reason;
      this.log.warn(`${this.role} ${this.id}: ${reason}`);
      await this.shutdown();
    }
  };
}

/** A storage peer that carries out the faults its plan names for it. */
export class FaultyPeer extends faulty(StoragePeer) {}

/** A newcomer that may crash on `expect`, and later (as a peer) carry out any fault. */
export class FaultyNewcomer extends faulty(Newcomer) {
  async on_expect(msg) {
    const number = Number(msg.round);
    const parents = this.schedule.draws(number).parents.join(', ');
    this._agree(number, `parents ${msg.parents.join(', ')}`, `parents ${parents}`);
    if (this._fault(number, 'newcomer-crash') !== null) {
      await this.crash(`newcomer crashed in round ${number} (mid-repair)`);
      return;
    }
    await super.on_expect(msg);
  }
}

/** The role classes a page runs when its plan has node faults. */
export const FAULTY_ROLES = Object.freeze({ peer: FaultyPeer, newcomer: FaultyNewcomer });
