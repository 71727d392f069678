/**
 * The animated system model's state, folded from a run's history events (the JSONL lines of
 * rlnc_testbed/analysis/history.py, one parsed object each): pure functions, no DOM, no
 * clock, so `node --test` checks them on the events of a real run (tests/js/model.test.mjs).
 *
 * `applyEvent(state, event)` folds one event into the state (mutating it) and returns it;
 * `stateAt(events, count)` is the state after the first `count` events; `roundMarks(events)`
 * says where each round ends (the replay's slider); `browsersOf(events)` looks ahead for the
 * ids each trial ran as browser pages (a trial line says so only when the trial ended).
 *
 * What the events carry, and what is derived here: the failed peer, the newcomer (which takes
 * the failed peer's place), the parents, the repair and collect links (per-link bytes, measured
 * by networked transports; the sim transport has none, and the arrows then show the planned
 * upload min(beta, Q) per parent), the newcomer's rank (what it received), the collector's
 * global rank, the verdict; other links (the newcomer's provenance record to the collector)
 * are kept apart in `others`. Packets per link are floor(bytes / packet message size)
 * (wire.packetMessageSize: a link also carries a few small control messages). The packets a
 * peer holds are Q from the start (the engine's placement); a newcomer holds Q once it received
 * anything (rlnc recodes Q), min(Q, received) for copies. Each peer's share of the global rank
 * comes from the collect event (RoundRecord.ranks / .contributions, the collector's own
 * observation): `ownRank`, the rank of the packets it delivered, and `contribution`, how much its
 * clean packets raise the rank when the collector takes the senders in ascending id order (the
 * contributions add up to the global rank, `contributionTotal`). Both are null until the round's
 * collect line, for the failed peer, and where the events lack them (the sim transport, older
 * histories); the newcomer's `rank` stays what it received from its parents.
 * @module model-state
 */

import { perPeer, totalPackets, uploadCount } from './rules.js';
import { packetMessageSize } from './wire.js';

/** Events of one round, in the order history.py writes them. */
export const ROUND_EVENTS = Object.freeze([
  'failure',
  'fault',
  'parents',
  'transfer',
  'store',
  'collect',
  'verdict',
]);
/** Lines of the log kept in the state. */
export const LOG_LINES = 12;

/** A fresh state: nothing known yet. */
export function createState() {
  return {
    params: null,
    transport: null,
    provenance: null,
    k: 0,
    q: 0,
    beta: 0,
    packets: 0, // K, made by the engine
    packetBytes: 0,
    trialsTotal: 0,
    maxRound: 0,
    trial: null,
    round: 0,
    phase: 'waiting',
    // in slot order: {id, slot, held, kind, role: alive|failed|newcomer, parent, rank (received,
    // the newcomer's), ownRank and contribution (from the collect line)}
    peers: [],
    failed: null,
    newcomer: null,
    parents: [],
    repairs: [], // {from, to, packets, bytes, measured}
    collects: [], // {from, packets, bytes, refused}
    others: [], // other links of the round (provenance): {from, to, label, bytes}
    faults: [],
    newcomerRank: null,
    newcomerPackets: null,
    globalRank: null,
    contributionTotal: null, // the peers' contributions added up (= globalRank when present)
    collectPackets: null,
    collectBytes: null,
    verdict: null, // {verdict, decoded, verified, error, trial, round}
    trials: new Map(), // trial -> {trial, verdicts: [..], finished, success, survived, finish}
    survival: [], // per round r = 1..R: fraction of finished trials that survived r rounds
    trialsDone: 0,
    successes: 0,
    point: null,
    resumes: 0,
    events: 0,
    problems: [],
    log: [],
    browsers: new Map(), // trial -> Set of ids that ran as browser pages (lookahead)
  };
}

/**
 * The ids each trial ran as browser pages, from its `trial` line (`browsers`), for
 * `stateAt(events, n, {browsers})` to know them before the trial ends.
 */
export function browsersOf(events) {
  const out = new Map();
  for (const event of events) {
    if (event && event.event === 'trial' && Array.isArray(event.browsers)) {
      out.set(event.trial, new Set(event.browsers.map(String)));
    }
  }
  return out;
}

/** The state after the first `count` events (all by default). */
export function stateAt(events, count = events.length, options = {}) {
  const state = createState();
  if (options.browsers) state.browsers = options.browsers;
  const end = Math.max(0, Math.min(count, events.length));
  for (let i = 0; i < end; i += 1) applyEvent(state, events[i]);
  return state;
}

/**
 * Where each round ends: `[{index, trial, round, verdict}]` with `index` the number of events
 * up to and including the round's verdict line (so `stateAt(events, index)` shows it judged).
 */
export function roundMarks(events) {
  const marks = [];
  events.forEach((event, i) => {
    if (event && event.event === 'verdict') {
      marks.push({ index: i + 1, trial: event.trial, round: event.round, verdict: event.verdict });
    }
  });
  return marks;
}

/** Fold one history event into `state`; returns `state`. Unknown events are problems, kept. */
export function applyEvent(state, event) {
  state.events += 1;
  if (event === null || typeof event !== 'object' || typeof event.event !== 'string') {
    note(state, `not an event: ${short(event)}`, true);
    return state;
  }
  const handler = HANDLERS[event.event];
  if (handler === undefined) {
    note(state, `unknown event ${short(event.event)}`, true);
    return state;
  }
  try {
    handler(state, event);
  } catch (error) {
    note(state, `${event.event} event: ${error.message}`, true);
  }
  return state;
}

/** Survival per round r = 1..R over the finished trials (as summary.summarize computes it). */
export function survivalCurve(trials, maxRound) {
  const finished = [...trials.values()].filter((t) => t.finished);
  if (finished.length === 0) return [];
  const curve = [];
  for (let r = 1; r <= maxRound; r += 1) {
    curve.push(finished.filter((t) => t.survived >= r).length / finished.length);
  }
  return curve;
}

/** The peer with id `id` (a number or its string), or undefined. */
export function peerById(state, id) {
  const key = String(id);
  return state.peers.find((p) => String(p.id) === key);
}

// -- handlers -------------------------------------------------------------------------------

const HANDLERS = {
  start(state, event) {
    header(state, event);
    state.phase = 'start';
    note(state, `start: ${state.params.scheme}, N=${state.params.peers}, k=${state.k}, ` +
      `Q=${state.q}, P=${state.params.parents}, R=${state.maxRound}, T=${state.trialsTotal}` +
      ` over ${state.transport ?? 'an unrecorded transport'}`);
  },
  resume(state, event) {
    header(state, event);
    state.resumes += 1;
    note(state, `resume (${state.resumes})`);
  },
  failure(state, event) {
    enterRound(state, event);
    state.phase = 'failure';
    state.failed = event.peer;
    const peer = peerById(state, event.peer);
    if (peer === undefined) throw new Error(`peer ${event.peer} is not in the system`);
    peer.role = 'failed';
    note(state, `trial ${event.trial} round ${event.round}: peer ${event.peer} fails`);
  },
  fault(state, event) {
    sameRound(state, event);
    state.faults.push(event);
    note(state, `fault ${event.kind ?? ''} ${event.spec ?? ''}`.trim());
  },
  parents(state, event) {
    sameRound(state, event);
    state.phase = 'repair';
    state.newcomer = event.newcomer;
    state.parents = [...event.parents];
    const failed = peerById(state, state.failed);
    const slot = failed ? failed.slot : state.peers.length;
    state.peers.push({
      id: event.newcomer,
      slot,
      held: 0,
      kind: kindOf(state, event.newcomer),
      role: 'newcomer',
      parent: false,
      rank: null,
      ownRank: null,
      contribution: null,
    });
    for (const id of event.parents) {
      const parent = peerById(state, id);
      if (parent === undefined) throw new Error(`parent ${id} is not in the system`);
      parent.parent = true;
    }
    state.repairs = event.parents.map((id) => ({
      from: id,
      to: event.newcomer,
      packets: Math.min(state.beta, peerById(state, id).held),
      bytes: null,
      measured: false,
    }));
    note(state, `newcomer ${event.newcomer} replaces ${state.failed}; parents ` +
      `${event.parents.join(', ')}`);
  },
  transfer(state, event) {
    sameRound(state, event);
    const link = event.link ?? {};
    const label = String(link.label ?? '');
    const bytes = Number(link.bytes_received ?? 0) || Number(link.bytes_sent ?? 0);
    const packets = state.packetBytes > 0 ? Math.floor(bytes / state.packetBytes) : null;
    if (label.startsWith('repair')) {
      const from = Number(link.remote);
      const to = Number(link.local);
      let arrow = state.repairs.find((a) => a.from === from && a.to === to);
      if (arrow === undefined) {
        arrow = { from, to, packets: 0, bytes: 0, measured: true };
        state.repairs.push(arrow);
      }
      Object.assign(arrow, { packets, bytes, measured: true });
    } else if (label.startsWith('collect')) {
      state.phase = 'collect';
      state.collects.push({ from: Number(link.remote), packets, bytes, refused: false });
    } else {
      // Another link (the newcomer's provenance record to the collector, ...): drawn apart.
      state.others.push({ from: Number(link.remote), to: String(link.local), label, bytes });
    }
  },
  store(state, event) {
    sameRound(state, event);
    state.phase = 'store';
    state.newcomerRank = event.rank;
    state.newcomerPackets = event.packets;
    const newcomer = peerById(state, event.newcomer);
    if (newcomer !== undefined) {
      newcomer.rank = event.rank;
      const scheme = state.params?.scheme;
      newcomer.held = event.packets === 0 ? 0 : scheme === 'rlnc' ? state.q
        : Math.min(state.q, event.packets);
    }
    note(state, `newcomer ${event.newcomer} received ${event.packets} packets ` +
      `(${event.bytes} B), rank ${event.rank}`);
  },
  collect(state, event) {
    sameRound(state, event);
    state.phase = 'collect';
    state.globalRank = event.rank;
    state.collectPackets = event.packets;
    state.collectBytes = event.bytes;
    const refused = new Set((event.refused ?? []).map((r) => Number(r.sender)));
    for (const arrow of state.collects) arrow.refused = refused.has(arrow.from);
    const ranks = countsOf(event.ranks, 'ranks');
    const shares = countsOf(event.contributions, 'contributions');
    for (const peer of state.peers) {
      const key = String(peer.id);
      peer.ownRank = ranks.has(key) ? ranks.get(key) : null;
      peer.contribution = shares.has(key) ? shares.get(key) : null;
    }
    state.contributionTotal = shares.size === 0 ? null
      : [...shares.values()].reduce((a, b) => a + b, 0);
    if (state.contributionTotal !== null && state.contributionTotal !== event.rank) {
      note(state, `collect: contributions add up to ${state.contributionTotal}, not the rank ` +
        `${event.rank}`, true);
    }
    if (state.collects.length === 0) {
      // No measured links (sim): every peer in the system delivers what it holds.
      state.collects = state.peers
        .filter((p) => p.role !== 'failed')
        .map((p) => ({ from: p.id, packets: p.held, bytes: null, refused: false }));
    }
    note(state, `collector: ${event.packets} packets (${event.bytes} B), rank ${event.rank}` +
      ` of ${state.k}`);
  },
  verdict(state, event) {
    sameRound(state, event);
    state.phase = 'verdict';
    state.verdict = {
      verdict: event.verdict,
      decoded: event.decoded,
      verified: event.verified,
      error: event.error ?? '',
      trial: event.trial,
      round: event.round,
    };
    const record = trialEntry(state, event.trial);
    record.verdicts[event.round - 1] = event.verdict;
    note(state, `verdict: ${event.verdict}`);
  },
  trial(state, event) {
    const record = trialEntry(state, event.trial);
    const rounds = Array.isArray(event.rounds) ? event.rounds : [];
    record.verdicts = rounds.map((r) => r.verdict);
    record.finished = true;
    record.success = Boolean(event.success);
    record.finish = event.finish ?? '';
    let survived = 0;
    for (const r of rounds) {
      if (!r.verified) break;
      survived += 1;
    }
    record.survived = survived;
    if (Array.isArray(event.browsers) && event.browsers.length > 0) {
      state.browsers.set(event.trial, new Set(event.browsers.map(String)));
      if (state.trial === event.trial) {
        for (const peer of state.peers) peer.kind = kindOf(state, peer.id);
      }
    }
    recount(state);
    state.phase = 'trial-end';
    note(state, `trial ${event.trial} ends: ${record.success ? 'success' : 'failure'}` +
      `${record.finish ? ` (${record.finish})` : ''}, ${survived} rounds survived`);
  },
  point(state, event) {
    state.point = event;
    state.phase = 'point';
    note(state, `point: ${event.successes} of ${event.trials} trials survived`);
  },
  malformed(state, event) {
    // Not a history event: the dashboard's report of a line it could not parse.
    note(state, `line ${event.line}: ${event.error}`, true);
  },
};

// -- helpers --------------------------------------------------------------------------------

function header(state, event) {
  const params = event.params;
  if (params === null || typeof params !== 'object') throw new Error('no params');
  state.params = params;
  state.transport = event.transport ?? state.transport ?? null;
  state.provenance = event.provenance ?? state.provenance ?? null;
  state.k = params.symbols;
  state.q = perPeer(params);
  state.beta = uploadCount(params);
  state.packets = totalPackets(params);
  state.packetBytes = packetMessageSize(params.symbols, params.symbol_size);
  state.trialsTotal = params.trials;
  state.maxRound = params.rounds;
  state.survival = survivalCurve(state.trials, state.maxRound);
}

/** A failure line opens a round; a new trial starts from the engine's N peers. */
function enterRound(state, event) {
  if (state.params === null) throw new Error('a round before the start line');
  const rerun = state.trial === event.trial && event.round <= state.round; // a resumed trial
  if (state.trial !== event.trial || state.peers.length === 0 || rerun) {
    startTrial(state, event.trial);
  } else {
    settle(state);
  }
  state.round = event.round;
  trialEntry(state, event.trial);
}

function startTrial(state, trial) {
  state.trial = trial;
  state.peers = [];
  for (let id = 1; id <= state.params.peers; id += 1) {
    state.peers.push({
      id,
      slot: id - 1,
      held: state.q,
      kind: kindOf(state, id),
      role: 'alive',
      parent: false,
      rank: null,
      ownRank: null,
      contribution: null,
    });
  }
  clearRound(state);
}

/** The previous round is over: its failed peer leaves, its newcomer is an ordinary peer. */
function settle(state) {
  state.peers = state.peers.filter((p) => p.role !== 'failed');
  for (const peer of state.peers) {
    peer.role = 'alive';
    peer.parent = false;
    peer.rank = null; // a newcomer's received rank is shown in its own round
    peer.ownRank = null; // so is every peer's share of the global rank
    peer.contribution = null;
  }
  state.peers.sort((a, b) => a.slot - b.slot);
  clearRound(state);
}

function clearRound(state) {
  state.failed = null;
  state.newcomer = null;
  state.parents = [];
  state.repairs = [];
  state.collects = [];
  state.others = [];
  state.faults = [];
  state.newcomerRank = null;
  state.newcomerPackets = null;
  state.globalRank = null;
  state.contributionTotal = null;
  state.collectPackets = null;
  state.collectBytes = null;
  state.verdict = null;
}

/** A (peer id -> count) object of an event as a Map; absent (older histories, sim) is empty. */
function countsOf(value, name) {
  if (value === undefined || value === null) return new Map();
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new Error(`${name} is not an object`);
  }
  const out = new Map();
  for (const [key, count] of Object.entries(value)) {
    if (!Number.isInteger(count) || count < 0) throw new Error(`${name}[${key}] is not a count`);
    out.set(String(key), count);
  }
  return out;
}

function sameRound(state, event) {
  if (state.trial !== event.trial || state.round !== event.round) {
    throw new Error(`trial ${event.trial} round ${event.round} outside the round in progress ` +
      `(trial ${state.trial} round ${state.round})`);
  }
}

function trialEntry(state, trial) {
  let record = state.trials.get(trial);
  if (record === undefined) {
    record = { trial, verdicts: [], finished: false, success: false, survived: 0, finish: '' };
    state.trials.set(trial, record);
  }
  return record;
}

function recount(state) {
  const finished = [...state.trials.values()].filter((t) => t.finished);
  state.trialsDone = finished.length;
  state.successes = finished.filter((t) => t.success).length;
  state.survival = survivalCurve(state.trials, state.maxRound);
}

function kindOf(state, id) {
  const browsers = state.browsers.get(state.trial);
  if (browsers !== undefined && browsers.has(String(id))) return 'browser';
  if (state.transport === 'webrtc') return 'aiortc';
  return state.transport ?? 'peer';
}

function note(state, text, problem = false) {
  state.log.push(text);
  if (state.log.length > LOG_LINES) state.log.splice(0, state.log.length - LOG_LINES);
  if (problem) state.problems.push(text);
}

function short(value) {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text === undefined ? String(value) : text.slice(0, 80);
}
