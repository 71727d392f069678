/**
 * The peer-side round rules (docs/protocol.md §6.3) for the browser peer: what a parent
 * uploads to a newcomer, and what a newcomer keeps of its parents' uploads; and the server's
 * draws of who fails and who the parents are (`failedPeer`, `chooseParents`, `newcomerId`),
 * which a browser only replays to know the faults a plan gives it (faults.js, §7). The
 * engine's rules are not here: a browser is only ever a storage peer, a parent or a newcomer.
 *
 * `params` is the experiment's parameter dict exactly as the server's `params` signaling
 * message carries it (Python's `Params.to_dict()`, snake_case keys): `scheme`, `field`,
 * `keep`, `beta` (null: Q), `q` (null: derived from `redundancy`, `symbols` and `peers`).
 * A packet is `{coefficients: Uint8Array, payload: Uint8Array}` (what wire.parse gives for a
 * packet message has these two fields too). The stream is the caller's: PARENT (round, own
 * id) for an upload, NEWCOMER (round, 0) for what is kept - see draws.streamFor.
 * @module rules
 */

import { combine } from './gf.js';

/** Storage schemes (Params.SCHEMES). */
export const SCHEMES = Object.freeze(['replication', 'coded-copy', 'rlnc']);
/** What a non-recoding newcomer keeps (Params.KEEP_RULES; "distinct" is the default). */
export const KEEP_RULES = Object.freeze(['distinct', 'shuffle', 'block']);

function positiveInteger(value, name) {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`${name} must be an integer >= 1, got ${String(value)}`);
  }
  return value;
}

/**
 * K, the packets the engine makes: N * q when `q` is set, else ceil(redundancy * symbols)
 * after rounding the product to 9 decimals (as Params does, so 2.2 * 10 is 22, not 23).
 */
export function totalPackets(params) {
  const peers = positiveInteger(params.peers, 'params.peers');
  if (params.q !== null && params.q !== undefined)
    return peers * positiveInteger(params.q, 'params.q');
  const symbols = positiveInteger(params.symbols, 'params.symbols');
  const r = params.redundancy;
  if (typeof r !== 'number' || !Number.isFinite(r) || r <= 0) {
    throw new RangeError(`params.redundancy must be a positive number, got ${String(r)}`);
  }
  return Math.ceil(Number((r * symbols).toFixed(9)));
}

/**
 * Q, the packets each peer stores: `q` when set, else floor(K / N). An object that already
 * carries `perPeer` (a number) is taken at its word, for callers that pass derived values.
 */
export function perPeer(params) {
  if (typeof params.perPeer === 'number') return positiveInteger(params.perPeer, 'params.perPeer');
  if (params.q !== null && params.q !== undefined) return positiveInteger(params.q, 'params.q');
  return Math.floor(totalPackets(params) / positiveInteger(params.peers, 'params.peers'));
}

/** beta, the packets a parent uploads to a newcomer: `beta` when set, else Q. */
export function uploadCount(params) {
  if (params.beta !== null && params.beta !== undefined)
    return positiveInteger(params.beta, 'params.beta');
  return perPeer(params);
}

function checkScheme(params) {
  if (!SCHEMES.includes(params.scheme)) {
    throw new RangeError(
      `params.scheme must be one of ${SCHEMES.join(', ')}, got ${String(params.scheme)}`,
    );
  }
  if (params.field !== 2 && params.field !== 256) {
    throw new RangeError(`params.field must be 2 or 256, got ${String(params.field)}`);
  }
}

/**
 * `rows` packets combining `packets` with the row-major matrix (rows x packets.length): the
 * coefficient vectors and the payloads alike, over GF(field).
 */
export function combinePackets(field, matrix, rows, packets) {
  const inner = packets.length;
  const coefficients = combine(
    field,
    matrix,
    rows,
    inner,
    packets.map((p) => p.coefficients),
  );
  const payloads = combine(
    field,
    matrix,
    rows,
    inner,
    packets.map((p) => p.payload),
  );
  return coefficients.map((c, i) => ({ coefficients: c, payload: payloads[i] }));
}

/**
 * What one parent sends the newcomer: beta packets derived from its `stored` ones (in stored
 * order), drawing from its PARENT stream. beta >= have: all of them in order, no draw (the
 * same objects). rlnc: M = elements(field, beta * have) as beta x have, upload i =
 * sum_j M[i, j] * stored[j]. coded-copy / replication: stored[sample(have, beta)[i]].
 */
export function parentUpload(params, stored, stream) {
  checkScheme(params);
  const beta = uploadCount(params);
  const have = stored.length;
  if (beta >= have) return [...stored];
  if (params.scheme === 'rlnc') {
    return combinePackets(params.field, stream.elements(params.field, beta * have), beta, stored);
  }
  return stream.sample(have, beta).map((i) => stored[i]);
}

/**
 * What a newcomer stores: Q packets from `uploads`, one array of packets per parent in
 * ascending numeric parent id order ("10" after "9"), each in the order sent; drawing from its
 * NEWCOMER stream. flat = the uploads concatenated. rlnc: nothing (no draw) if flat is empty,
 * else M = elements(field, Q * len(flat)) as Q x len(flat), kept i = sum_j M[i, j] * flat[j].
 * Copies, keep "distinct": order = sample(len(flat), len(flat)); walking it, each coefficient
 * vector's first packet goes to `firsts`, every later one to `repeats`; kept = the first
 * min(Q, len(flat)) of firsts then repeats (never a duplicate while a distinct packet is
 * unused). keep "shuffle": flat[sample(len(flat), min(Q, len(flat)))[i]]; keep "block": the
 * first min(Q, len) packets of upload below(P), P = uploads.length (nothing, no draw, if P = 0).
 */
export function newcomerKeep(params, uploads, stream) {
  checkScheme(params);
  if (!KEEP_RULES.includes(params.keep)) {
    throw new RangeError(
      `params.keep must be one of ${KEEP_RULES.join(', ')}, got ${String(params.keep)}`,
    );
  }
  const q = perPeer(params);
  const flat = uploads.flat();
  if (params.scheme === 'rlnc') {
    if (flat.length === 0) return [];
    return combinePackets(params.field, stream.elements(params.field, q * flat.length), q, flat);
  }
  if (params.keep === 'distinct') {
    const firsts = [];
    const repeats = [];
    const seen = new Set();
    for (const i of stream.sample(flat.length, flat.length)) {
      const vector = flat[i].coefficients.join(',');
      if (seen.has(vector)) {
        repeats.push(flat[i]);
      } else {
        seen.add(vector);
        firsts.push(flat[i]);
      }
    }
    return firsts.concat(repeats).slice(0, Math.min(q, flat.length));
  }
  if (params.keep === 'shuffle') {
    return stream.sample(flat.length, Math.min(q, flat.length)).map((i) => flat[i]);
  }
  if (uploads.length === 0) return [];
  return uploads[stream.below(uploads.length)].slice(0, q);
}

/** The id of round `round`'s newcomer: N + round (rules.newcomer_id). */
export function newcomerId(params, round) {
  return positiveInteger(params.peers, 'params.peers') + positiveInteger(round, 'round');
}

/**
 * Who fails in `round` among the `alive` peer ids (numbers): `failures[round - 1]` if the
 * params schedule one (no draw; it must be alive), else `sorted(alive)[server.below(len)]`
 * on the round's SERVER stream (rules.failed_peer).
 */
export function failedPeer(params, round, alive, server) {
  const ordered = [...alive].sort((a, b) => a - b);
  const failures = params.failures ?? [];
  if (round <= failures.length) {
    const failed = Number(failures[round - 1]);
    if (!ordered.includes(failed)) {
      throw new RangeError(
        `failures[${round - 1}] = ${failed} is not alive in round ${round} (alive: ${ordered})`,
      );
    }
    return failed;
  }
  if (ordered.length === 0) throw new RangeError('no alive peer to fail');
  return ordered[server.below(ordered.length)];
}

/**
 * `count` parents: `sample(len(survivors), count)` over the ascending survivors (numbers),
 * continuing the SERVER stream after the failed peer's draw; in ascending id order
 * (rules.choose_parents).
 */
export function chooseParents(server, survivors, count) {
  const ordered = [...survivors].sort((a, b) => a - b);
  if (!Number.isSafeInteger(count) || count < 1 || count > ordered.length) {
    throw new RangeError(`cannot choose ${count} parents among ${ordered.length} survivors`);
  }
  return server
    .sample(ordered.length, count)
    .map((i) => ordered[i])
    .sort((a, b) => a - b);
}
