/**
 * The peer-side rules (rlnc_testbed/web/rules.js) end to end against the full trial traces of
 * tests/vectors/draws.json, which the Python reference simulator made: every round's failed
 * peer and parents (replayed here from the SERVER stream), every parent's upload and what the
 * newcomer keeps (rules.js, compared with the newcomer's stored coefficients and payloads),
 * the engine's round-0 packets and every payload against the source (gf.js), and the
 * recorded ranks. A peer that drew from a wrong stream, in a wrong order or combined wrongly
 * would store different packets here.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { Role, streamFor } from '../../rlnc_testbed/web/draws.js';
import { combine, rank } from '../../rlnc_testbed/web/gf.js';
import {
  newcomerKeep,
  parentUpload,
  perPeer,
  totalPackets,
  uploadCount,
} from '../../rlnc_testbed/web/rules.js';
import { fromHex, toHex, vectors } from './vectors.mjs';

const { trials } = vectors('draws.json');

function packetsOf(round, id) {
  const coefficients = round.stored[String(id)];
  const payloads = round.payloads[String(id)];
  return coefficients.map((c, i) => ({
    coefficients: Uint8Array.from(c),
    payload: fromHex(payloads[i]),
  }));
}

function shown(packets) {
  return packets.map((p) => `${Array.from(p.coefficients).join(',')}|${toHex(p.payload)}`);
}

function ids(round) {
  return Object.keys(round.stored)
    .map(Number)
    .sort((a, b) => a - b);
}

/** The engine's K packets (§6.3 ENGINE), written here from the table (not part of rules.js). */
function enginePackets(params, trial, symbols) {
  const k = params.symbols;
  const K = totalPackets(params);
  const unit = (j) => Uint8Array.from({ length: k }, (_, i) => (i === j ? 1 : 0));
  if (params.scheme === 'replication') {
    return Array.from({ length: K }, (_, j) => ({
      coefficients: unit(j % k),
      payload: symbols[j % k],
    }));
  }
  const plain = params.systematic ? Math.min(K, k) : 0;
  const packets = Array.from({ length: plain }, (_, j) => ({
    coefficients: unit(j),
    payload: symbols[j],
  }));
  const rows = streamFor(params.seed, trial, 0, Role.ENGINE).elements(
    params.field,
    (K - plain) * k,
  );
  for (let i = 0; i < K - plain; i++) {
    const coefficients = rows.slice(i * k, (i + 1) * k);
    const [payload] = combine(params.field, coefficients, 1, k, symbols);
    packets.push({ coefficients, payload });
  }
  return packets;
}

for (const vector of trials) {
  const { params, trial } = vector;
  const name =
    `${params.scheme} GF(${params.field}) keep=${params.keep} N=${params.peers} ` +
    `k=${params.symbols} Q=${perPeer(params)} P=${params.parents} beta=${uploadCount(params)} ` +
    `seed=${params.seed} trial=${trial}`;

  describe(name, () => {
    const k = params.symbols;
    const s = params.symbol_size;
    const source = fromHex(vector.source);
    const symbols = Array.from({ length: k }, (_, i) => source.slice(i * s, (i + 1) * s));

    test('the source is elements(256, k*s) of the SOURCE stream', () => {
      assert.equal(
        toHex(streamFor(params.seed, trial, 0, Role.SOURCE).elements(256, k * s)),
        vector.source,
      );
    });

    test('round-0 storage: the engine packets, placed Q per peer in id order', () => {
      const q = perPeer(params);
      const made = enginePackets(params, trial, symbols);
      const first = vector.rounds[0];
      for (const id of ids(first).filter((x) => x <= params.peers)) {
        assert.deepEqual(
          shown(packetsOf(first, id)),
          shown(made.slice((id - 1) * q, id * q)),
          `peer ${id}`,
        );
      }
    });

    test('every stored payload is its coefficients applied to the source', () => {
      for (const round of vector.rounds) {
        for (const id of ids(round)) {
          for (const packet of packetsOf(round, id)) {
            const [payload] = combine(params.field, packet.coefficients, 1, k, symbols);
            assert.equal(toHex(payload), toHex(packet.payload), `round ${round.round} peer ${id}`);
          }
        }
      }
    });

    let alive = Array.from({ length: params.peers }, (_, i) => i + 1);
    for (const round of vector.rounds) {
      const r = round.round;
      const aliveNow = alive;
      alive = ids(round);

      test(`round ${r}: failed ${round.failed}, parents ${round.parents} (SERVER stream)`, () => {
        const server = streamFor(params.seed, trial, r, Role.SERVER);
        const failed =
          r <= params.failures.length
            ? params.failures[r - 1]
            : aliveNow[server.below(aliveNow.length)];
        assert.equal(failed, round.failed);
        const survivors = aliveNow.filter((id) => id !== failed);
        const parents = server.sample(survivors.length, params.parents).map((i) => survivors[i]);
        assert.deepEqual(
          parents.sort((a, b) => a - b),
          round.parents,
        );
        assert.equal(round.newcomer, params.peers + r);
        assert.deepEqual(ids(round), [...survivors, round.newcomer]);
      });

      test(`round ${r}: parentUpload + newcomerKeep = newcomer ${round.newcomer}'s store`, () => {
        const uploads = round.parents.map((id) =>
          parentUpload(
            params,
            packetsOf(round, id),
            streamFor(params.seed, trial, r, Role.PARENT, id),
          ),
        );
        for (const upload of uploads)
          assert.equal(upload.length, Math.min(uploadCount(params), perPeer(params)));
        const flat = uploads.flat();
        assert.equal(flat.length, round.repair_packets);
        assert.equal(
          rank(
            params.field,
            flat.map((p) => p.coefficients),
          ),
          round.newcomer_rank,
        );
        const kept = newcomerKeep(
          params,
          uploads,
          streamFor(params.seed, trial, r, Role.NEWCOMER, 0),
        );
        assert.deepEqual(shown(kept), shown(packetsOf(round, round.newcomer)));
      });

      test(`round ${r}: global rank ${round.global_rank} and verdict ${round.verdict}`, () => {
        const rows = ids(round).flatMap((id) => packetsOf(round, id).map((p) => p.coefficients));
        assert.equal(rank(params.field, rows), round.global_rank);
        assert.equal(round.verdict === 'ok', round.global_rank === k);
      });
    }
  });
}

describe('rules without draws, and refusals', () => {
  const params = {
    peers: 10,
    symbols: 20,
    symbol_size: 4,
    redundancy: 2.0,
    q: null,
    parents: 3,
    scheme: 'rlnc',
    field: 256,
    keep: 'distinct',
    beta: null,
    rounds: 10,
    trials: 1,
    seed: 0,
    systematic: false,
    failures: [],
  };
  const packet = (x) => ({
    coefficients: new Uint8Array(20).fill(x),
    payload: new Uint8Array(4).fill(x),
  });

  test('derived sizes follow Params (K, Q, beta)', () => {
    assert.equal(totalPackets(params), 40);
    assert.equal(perPeer(params), 4);
    assert.equal(uploadCount(params), 4);
    assert.equal(perPeer({ ...params, redundancy: 2.2, symbols: 10, peers: 3 }), 7); // 22, not 23
    assert.equal(uploadCount({ ...params, q: 3, beta: 2 }), 2);
    assert.equal(perPeer({ scheme: 'rlnc', perPeer: 5 }), 5);
    assert.equal(uploadCount({ scheme: 'rlnc', field: 256, beta: 1 }), 1);
  });

  test('beta >= have: every stored packet in order, the same objects, no draw', () => {
    const stored = [packet(1), packet(2)];
    const stream = streamFor(0, 0, 1, Role.PARENT, 3);
    const upload = parentUpload(params, stored, stream);
    assert.deepEqual(upload, stored);
    assert.ok(upload[0] === stored[0] && upload !== stored);
    assert.equal(stream.used, 0);
  });

  test('beta < have draws: rlnc recodes, copies pick', () => {
    const stored = [packet(1), packet(2), packet(3), packet(4), packet(5)];
    const rlnc = streamFor(0, 0, 1, Role.PARENT, 3);
    assert.equal(parentUpload({ ...params, beta: 2 }, stored, rlnc).length, 2);
    assert.equal(rlnc.used, 2); // elements(256, 2 * 5): ten bytes, two words
    const copy = parentUpload(
      { ...params, scheme: 'coded-copy', beta: 2 },
      stored,
      streamFor(0, 0, 1, Role.PARENT, 3),
    );
    assert.ok(copy.every((p) => stored.includes(p)));
  });

  test('nothing to keep: no draw', () => {
    const stream = streamFor(0, 0, 1, Role.NEWCOMER);
    assert.deepEqual(newcomerKeep(params, [], stream), []);
    assert.deepEqual(
      newcomerKeep({ ...params, scheme: 'replication', keep: 'block' }, [], stream),
      [],
    );
    assert.deepEqual(newcomerKeep({ ...params, scheme: 'coded-copy' }, [[]], stream), []);
    assert.equal(stream.used, 0);
  });

  test('block keeps the first Q of one upload', () => {
    const uploads = [
      [packet(1), packet(2)],
      [packet(3), packet(4), packet(5), packet(6), packet(7)],
    ];
    const kept = newcomerKeep(
      { ...params, scheme: 'replication', keep: 'block' },
      uploads,
      streamFor(1, 0, 1, Role.NEWCOMER),
    );
    assert.ok(
      kept.length === 2
        ? kept[0] === uploads[0][0]
        : kept.length === 4 && kept[0] === uploads[1][0],
    );
  });

  test('distinct keeps each vector once before any repeat, Q in all', () => {
    const a = (tag) => ({ coefficients: Uint8Array.of(1, 0), payload: Uint8Array.of(tag) });
    const b = (tag) => ({ coefficients: Uint8Array.of(0, 1), payload: Uint8Array.of(tag) });
    const uploads = [
      [a(0), a(1)],
      [a(2), b(3)],
    ];
    const flat = uploads.flat();
    for (let seed = 0; seed < 20; seed++) {
      const copy = { ...params, scheme: 'replication', q: 3, peers: 4 };
      const stream = streamFor(seed, 0, 1, Role.NEWCOMER);
      const kept = newcomerKeep(copy, uploads, stream);
      assert.equal(stream.used, 4); // a full shuffle of 4: four below() draws
      assert.equal(kept.length, 3);
      assert.deepEqual(kept.slice(0, 2).map((p) => p.coefficients[0]).sort(), [0, 1]);
      assert.equal(kept[2].coefficients[0], 1); // the only repeat, after both distinct ones
      // the order is the shuffle's: first occurrences, then the repeats, as drawn
      const order = streamFor(seed, 0, 1, Role.NEWCOMER).sample(4, 4);
      const seen = new Set();
      const firsts = [];
      const repeats = [];
      for (const i of order) {
        const v = flat[i].coefficients[0];
        (seen.has(v) ? repeats : firsts).push(flat[i]);
        seen.add(v);
      }
      assert.ok(firsts.concat(repeats).slice(0, 3).every((p, i) => p === kept[i]));
    }
  });

  test('without repeats distinct keeps what shuffle keeps', () => {
    const uploads = [
      [packet(1), packet(2), packet(3)],
      [packet(4), packet(5)],
    ];
    const copy = { ...params, scheme: 'coded-copy', q: 3, peers: 4 };
    const distinct = newcomerKeep(copy, uploads, streamFor(7, 2, 3, Role.NEWCOMER));
    const shuffle = newcomerKeep(
      { ...copy, keep: 'shuffle' },
      uploads,
      streamFor(7, 2, 3, Role.NEWCOMER),
    );
    assert.equal(distinct.length, 3);
    assert.ok(distinct.every((p, i) => p === shuffle[i]));
  });

  test('unknown scheme, keep or field are refused by name', () => {
    const stream = streamFor(0, 0, 1, Role.NEWCOMER);
    assert.throws(() => parentUpload({ ...params, scheme: 'raid' }, [packet(1)], stream), /scheme/);
    assert.throws(() => newcomerKeep({ ...params, keep: 'first' }, [], stream), /keep/);
    assert.throws(() => newcomerKeep({ ...params, field: 3 }, [], stream), /field/);
    assert.throws(() => parentUpload({ ...params, beta: 0 }, [packet(1)], stream), /beta/);
  });
});
