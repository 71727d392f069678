/**
 * The specified streams (rlnc_testbed/web/draws.js) against tests/vectors/draws.json, which the
 * Python implementation made: keys, raw words, below, sample, elements, words consumed.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { DrawStream, Role, streamFor, streamKey } from '../../rlnc_testbed/web/draws.js';
import { big, vectors } from './vectors.mjs';

const draws = vectors('draws.json');

function keyArgs(key) {
  return [big(key.seed), big(key.trial), key.round, key.role, big(key.index)];
}

function label(key) {
  const { seed, trial, round, index } = key;
  return `${key.role_name} seed=${seed} trial=${trial} round=${round} index=${index}`;
}

describe('streams', () => {
  test('Role values are the specification table', () => {
    assert.deepEqual(Role, {
      SERVER: 1,
      ENGINE: 2,
      PARENT: 3,
      NEWCOMER: 4,
      SOURCE: 5,
      FAULT: 6,
      LINK: 7,
    });
    assert.ok(Object.isFrozen(Role));
  });

  for (const vector of draws.streams) {
    test(`key and first words: ${label(vector.key)}`, () => {
      const [lo, hi] = streamKey(...keyArgs(vector.key));
      assert.deepEqual([lo, hi], vector.philox_key.map(big));
      const stream = new DrawStream([lo, hi]);
      const words = vector.words.map(() => stream.nextWord());
      assert.deepEqual(words, vector.words.map(big));
      assert.equal(stream.used, vector.words.length);
    });
  }

  test('small parts may be numbers or BigInts alike', () => {
    const { key } = draws.streams[5];
    const asNumbers = [Number(key.seed), Number(key.trial), key.round, key.role, Number(key.index)];
    assert.deepEqual(streamKey(...asNumbers), streamKey(...keyArgs(key)));
    assert.deepEqual(streamFor(...asNumbers).nextWord(), big(draws.streams[5].words[0]));
  });

  test('index defaults to 0', () => {
    const { key } = draws.streams[0];
    assert.equal(key.index, 0);
    assert.deepEqual(streamKey(0, 0, 0, Role.ENGINE), draws.streams[0].philox_key.map(big));
  });

  test('bad key parts are refused by name', () => {
    assert.throws(() => streamKey(-1, 0, 0, Role.ENGINE), { name: 'RangeError', message: /seed/ });
    assert.throws(() => streamKey(0, 2 ** 64, 0, Role.ENGINE), {
      name: 'RangeError',
      message: /trial/,
    });
    assert.throws(() => streamKey(0, 0, 1n << 64n, Role.ENGINE), {
      name: 'RangeError',
      message: /round/,
    });
    assert.throws(() => streamKey(0, 0, 0, 8), { name: 'RangeError', message: /role/ });
    assert.throws(() => streamKey(0, 0, 0, Role.PARENT, '3'), {
      name: 'TypeError',
      message: /index/,
    });
    assert.throws(() => streamKey(0.5, 0, 0, Role.ENGINE), { name: 'RangeError', message: /seed/ });
    assert.throws(() => new DrawStream([1n]), TypeError);
  });
});

describe('below', () => {
  for (const vector of draws.below) {
    test(`bounds up to 2^64-1: ${label(vector.key)}`, () => {
      const stream = streamFor(...keyArgs(vector.key));
      const values = vector.bounds.map((n) => stream.below(big(n)));
      values.forEach((value, i) => {
        const bound = big(vector.bounds[i]);
        // small bounds answer numbers, bounds above 2^53 BigInts
        assert.equal(typeof value, bound <= 2n ** 53n ? 'number' : 'bigint', `bound ${bound}`);
        assert.equal(BigInt(value), big(vector.values[i]), `below(${bound})`);
      });
      assert.equal(stream.used, vector.words_used);
    });
  }

  test('a number bound draws exactly like a BigInt bound', () => {
    const { key, bounds } = draws.below[1];
    const a = streamFor(...keyArgs(key));
    const b = streamFor(...keyArgs(key));
    for (const n of bounds.map(big).filter((n) => n < 2n ** 53n))
      assert.equal(a.below(Number(n)), b.below(n));
  });

  test('n outside [1, 2^64) is refused', () => {
    const stream = streamFor(1, 2, 3, Role.SERVER);
    assert.throws(() => stream.below(0), RangeError);
    assert.throws(() => stream.below(1n << 64n), RangeError);
    assert.throws(() => stream.below(2 ** 60), RangeError); // not a safe integer: pass a BigInt
    assert.equal(stream.used, 0);
  });
});

describe('sample', () => {
  for (const vector of draws.sample) {
    test(`sample(${vector.n}, ${vector.m}): ${label(vector.key)}`, () => {
      const stream = streamFor(...keyArgs(vector.key));
      assert.deepEqual(stream.sample(vector.n, vector.m), vector.values);
      assert.equal(stream.used, vector.words_used);
    });
  }

  test('the first m of a shuffle are sample(n, m)', () => {
    const shuffle = streamFor(5, 0, 2, Role.SERVER).sample(12, 12);
    assert.deepEqual(streamFor(5, 0, 2, Role.SERVER).sample(12, 4), shuffle.slice(0, 4));
    assert.deepEqual(
      [...shuffle].sort((a, b) => a - b),
      [...Array(12).keys()],
    );
  });

  test('m > n is refused', () => {
    assert.throws(() => streamFor(0, 0, 1, Role.SERVER).sample(3, 4), RangeError);
  });
});

describe('elements', () => {
  for (const vector of draws.elements) {
    test(`elements(${vector.field}, ${vector.count}): ${label(vector.key)}`, () => {
      const stream = streamFor(...keyArgs(vector.key));
      const values = stream.elements(vector.field, vector.count);
      assert.ok(values instanceof Uint8Array);
      assert.deepEqual(Array.from(values), vector.values);
      assert.equal(stream.used, vector.words_used);
    });
  }

  test('consecutive draws continue on whole words', () => {
    const { key } = draws.elements[0];
    const stream = streamFor(...keyArgs(key));
    stream.elements(256, 3); // one word, 5 bytes of it discarded
    const next = streamFor(...keyArgs(key));
    next.nextWord();
    assert.deepEqual(stream.elements(256, 8), next.elements(256, 8));
  });

  test('other fields are refused', () => {
    assert.throws(() => streamFor(0, 0, 0, Role.ENGINE).elements(16, 4), {
      name: 'RangeError',
      message: /field/,
    });
  });
});
