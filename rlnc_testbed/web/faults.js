/**
 * Faults on a schedule for the browser peer (docs/protocol.md §7), as protocol/faults.py: the
 * plan a page is given (the scenario's `[[faults]]`, `FaultPlan.to_list()` JSON, in its URL
 * fragment) and the pure function "which faults happen in trial t round r, to whom"
 * (`roundFaults`), bit for bit what the Python side resolves for its own nodes - so a browser
 * peer carries out exactly the faults an aiortc peer in its slot would (faulty.js).
 *
 * A Python node is handed the schedule the cluster resolved from the round's alive peers; a
 * page knows no alive list, so `FaultSchedule` *replays* it: round 1 starts with peers 1..N
 * (every cluster numbers its peers by slot), and a round that is followed by another one
 * verified, so round r + 1 starts with round r's alive peers minus its failed one plus its
 * newcomer N + r. The failed peer and parents are the server's draws (rules.js `failedPeer`,
 * `chooseParents`, SERVER stream). What the server then says (`expect`'s parents, `repair`,
 * `new id`) is checked against the replay by faulty.js: a disagreement is a bug, reported.
 * @module faults
 */

import { Role, streamFor } from './draws.js';
import { chooseParents, failedPeer, newcomerId } from './rules.js';

/** Probabilities are drawn as integers out of this many (faults.PPM). */
export const PPM = 1_000_000;

/** kind -> [allowed targets, allowed `when`s]; the first of each is the default (faults._KINDS). */
const KINDS = Object.freeze({
  crash: [['parent', 'peer'], ['mid-repair', 'mid-collect']],
  silent: [['parent'], ['mid-repair']],
  zombie: [['failed'], ['after-fail']],
  'newcomer-crash': [['newcomer'], ['mid-repair']],
  pollute: [['peer', 'parent'], ['mid-collect', 'mid-repair']],
  'collector-reconnect': [['collector'], ['between-rounds']],
  'server-restart': [['server'], ['between-rounds']],
  link: [['repair', 'collect', 'all'], ['round']],
});

/** Fault kinds, in the order of §7. */
export const FAULT_KINDS = Object.freeze(Object.keys(KINDS));
/** Kinds the cluster carries out around the nodes (signaling, links). */
export const CLUSTER_KINDS = Object.freeze(['collector-reconnect', 'server-restart', 'link']);
/** Kinds a node carries out itself (faulty.js in the browser). */
export const NODE_KINDS = Object.freeze(FAULT_KINDS.filter((k) => !CLUSTER_KINDS.includes(k)));
/** Kinds that interrupt signaling between two rounds. */
export const SIGNALING_KINDS = Object.freeze(['collector-reconnect', 'server-restart']);
/** The link shape keys of a `link` fault. */
export const LINK_KEYS = Object.freeze(['loss', 'delay', 'jitter', 'reorder']);

/** A number rounded to the nearest integer, ties to even: Python's `round(x)` on a float. */
export function roundHalfEven(x) {
  const floor = Math.floor(x);
  const diff = x - floor; // exact for |x| < 2^52
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** The draw below which a spec of this `rate` happens: `round(rate * PPM)` (ties to even). */
export function threshold(rate) {
  return roundHalfEven(rate * PPM);
}

function fail(index, problem) {
  throw new RangeError(`faults[${index}]: ${problem}`);
}

/**
 * The plan (`FaultPlan.to_list()`, already validated by the Python side) as frozen specs with
 * every default filled in, checked enough that a malformed fragment fails loudly here rather
 * than resolving other faults than the server does.
 */
export function parsePlan(list) {
  if (!Array.isArray(list)) throw new TypeError('a fault plan must be an array of specs');
  return Object.freeze(
    list.map((item, index) => {
      if (item === null || typeof item !== 'object') fail(index, 'a fault must be an object');
      if (!(item.kind in KINDS)) fail(index, `unknown kind ${String(item.kind)}`);
      const [targets, whens] = KINDS[item.kind];
      const target = item.target ?? targets[0];
      const when = item.when ?? whens[0];
      if (!targets.includes(target)) fail(index, `${item.kind}: bad target ${String(target)}`);
      if (!whens.includes(when)) fail(index, `${item.kind}: bad when ${String(when)}`);
      const round = item.round ?? null;
      const rate = item.rate ?? null;
      if ((round === null) === (rate === null)) fail(index, `${item.kind}: give round or rate`);
      if (round !== null && (!Number.isSafeInteger(round) || round < 1)) {
        fail(index, `${item.kind}: round must be an integer >= 1, got ${String(round)}`);
      }
      if (rate !== null && (typeof rate !== 'number' || !(rate >= 0 && rate <= 1))) {
        fail(index, `${item.kind}: rate must be in [0, 1], got ${String(rate)}`);
      }
      let nodes = item.nodes ?? null;
      if (nodes !== null) {
        const ids = Array.isArray(nodes) && nodes.every((x) => Number.isSafeInteger(x) && x >= 1);
        if (!ids || nodes.length === 0) {
          fail(index, `${item.kind}: nodes must be a non-empty list of peer ids`);
        }
        nodes = Object.freeze([...new Set(nodes)].sort((a, b) => a - b));
      }
      const spec = { kind: item.kind, target, when, round, rate, nodes, downtime: item.downtime ?? 0 };
      for (const key of LINK_KEYS) spec[key] = item[key] ?? 0;
      return Object.freeze(spec);
    }),
  );
}

/** Whether some spec of the plan is carried out by a node (FaultPlan.node_faults). */
export function hasNodeFaults(plan) {
  return plan.some((spec) => NODE_KINDS.includes(spec.kind));
}

/** Whether `spec` happens in round `number` given the round's first FAULT draw (< PPM). */
export function happens(spec, draw, number) {
  if (spec.round !== null) return number === spec.round;
  return draw < threshold(spec.rate);
}

/**
 * The server's decisions of round `number` for the ascending `alive` ids (numbers): the failed
 * peer, the survivors and the parents (SERVER stream, §6.3), and the newcomer N + r.
 */
export function roundDraws(params, trial, number, alive) {
  const server = streamFor(params.seed, trial, number, Role.SERVER);
  const failed = failedPeer(params, number, alive, server);
  const survivors = [...alive].filter((x) => x !== failed).sort((a, b) => a - b);
  const parents = chooseParents(server, survivors, Number(params.parents));
  return { failed, survivors, parents, newcomer: newcomerId(params, number) };
}

/**
 * The faults of round `number` of `trial`, given the peers `alive` (numbers) when it starts:
 * faults.round_faults, each as `Fault.to_dict()` (node ids are strings). For spec i the
 * stream is (seed, trial, number, FAULT, i): `below(PPM)` always; a node fault that happens
 * then draws its node `pool[below(len(pool))]` over the ascending candidates (kept to the
 * spec's `nodes`; none left: it does not happen, no second draw).
 */
export function roundFaults(plan, params, trial, number, alive) {
  if (plan.length === 0) return [];
  const { failed, survivors, parents, newcomer } = roundDraws(params, trial, number, alive);
  const candidates = { parent: parents, peer: survivors, failed: [failed], newcomer: [newcomer] };
  const repair = parents.map((x) => [String(x), String(newcomer)]);
  const collect = [...survivors, newcomer].map((x) => [String(x), 'collector']);
  const links = { repair, collect, all: [...repair, ...collect] };
  const out = [];
  plan.forEach((spec, index) => {
    const stream = streamFor(params.seed, trial, number, Role.FAULT, index);
    if (!happens(spec, stream.below(PPM), number)) return;
    const head = { spec: index, kind: spec.kind, target: spec.target, when: spec.when };
    if (spec.kind === 'link') {
      const shape = Object.fromEntries(LINK_KEYS.map((key) => [key, spec[key]]));
      out.push({ ...head, links: links[spec.target].map((l) => [...l]), ...shape });
    } else if (SIGNALING_KINDS.includes(spec.kind)) {
      out.push({ ...head, node: spec.target, downtime: spec.downtime });
    } else {
      let pool = candidates[spec.target];
      if (spec.nodes !== null) {
        pool = pool.filter((x) => spec.nodes.includes(x));
        if (pool.length === 0) return;
      }
      out.push({ ...head, node: String(pool[stream.below(pool.length)]) });
    }
  });
  return out;
}

/**
 * The server message (its `type`) on whose receipt a node carries out a node fault
 * (faults.trigger): what faulty.js acts on.
 */
export function trigger(fault) {
  if (fault.kind === 'newcomer-crash') return 'expect';
  if (fault.kind === 'zombie') return 'fail';
  if (fault.when === 'mid-collect') return 'collect';
  if (fault.kind === 'crash' && fault.target === 'peer') return 'new id';
  if (['crash', 'silent', 'pollute'].includes(fault.kind)) return 'repair';
  throw new RangeError(`a ${fault.kind} fault has no node trigger`);
}

/**
 * One trial's faults, round by round, replayed from the plan (see the module comment): what
 * a browser node consults, as a Python node consults faults.FaultSchedule.
 */
export class FaultSchedule {
  constructor(plan, params, trial) {
    this.plan = plan;
    this.params = params;
    this.trial = trial;
    const peers = Number(params.peers);
    /** `_alive[r - 1]`: the ascending alive peers when round r starts. */
    this._alive = [Array.from({ length: peers }, (_, i) => i + 1)];
    this._draws = new Map();
    this._faults = new Map();
  }

  /** The ascending alive peer ids (numbers) when round `number` starts. */
  alive(number) {
    if (!Number.isSafeInteger(number) || number < 1) throw new RangeError(`bad round ${number}`);
    while (this._alive.length < number) {
      const r = this._alive.length;
      const { failed, newcomer } = this.draws(r);
      const next = this._alive[r - 1].filter((x) => x !== failed);
      next.push(newcomer);
      this._alive.push(next.sort((a, b) => a - b));
    }
    return this._alive[number - 1];
  }

  /** The server's decisions of round `number` ({failed, survivors, parents, newcomer}). */
  draws(number) {
    if (!this._draws.has(number)) {
      this._draws.set(number, roundDraws(this.params, this.trial, number, this.alive(number)));
    }
    return this._draws.get(number);
  }

  /** Every fault of round `number`, in plan order (Fault.to_dict() objects). */
  faults(number) {
    if (!this._faults.has(number)) {
      this._faults.set(
        number,
        roundFaults(this.plan, this.params, this.trial, number, this.alive(number)),
      );
    }
    return this._faults.get(number);
  }

  /** The first fault of `kind` (and `when`, if given) on `node` in round `number`, or null. */
  find(number, node, kind, when) {
    for (const fault of this.faults(number)) {
      if (fault.node === String(node) && fault.kind === kind && (when === undefined || fault.when === when)) {
        return fault;
      }
    }
    return null;
  }
}
