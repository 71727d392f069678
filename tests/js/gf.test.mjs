/**
 * GF(2) / GF(2^8) arithmetic (rlnc_testbed/web/gf.js) against tests/vectors/field.json, made by
 * rlnc_testbed.coding: the whole multiplication table, inverses, matrix products (the payload
 * path of the Python encoder/recoder) and ranks.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { FIELDS, add, combine, inv, mul, mulAddRegion, rank } from '../../rlnc_testbed/web/gf.js';
import { fromHex, toHex, vectors } from './vectors.mjs';

const field = vectors('field.json');

describe('scalars', () => {
  test('FIELDS', () => assert.deepEqual(FIELDS, [2, 256]));

  test('mul equals the whole Python table', () => {
    for (let a = 0; a < 256; a++) {
      const row = fromHex(field.mul[a]);
      for (let b = 0; b < 256; b++) {
        if (mul(a, b) !== row[b])
          assert.fail(`mul(${a}, ${b}) = ${mul(a, b)}, Python says ${row[b]}`);
      }
    }
  });

  test('inv equals the Python table and inverts', () => {
    for (let a = 1; a < 256; a++) {
      assert.equal(inv(a), field.inv[a], `inv(${a})`);
      assert.equal(mul(a, inv(a)), 1);
    }
    assert.equal(field.inv[0], null);
    assert.throws(() => inv(0), { name: 'RangeError', message: /0 has no inverse/ });
  });

  test('add is XOR; the generator 2 has order 255', () => {
    assert.equal(add(0x53, 0xca), 0x99);
    let x = 1;
    for (let i = 1; i <= 255; i++) {
      x = mul(x, 2);
      if (i < 255) assert.notEqual(x, 1, `2^${i} = 1 too early`);
    }
    assert.equal(x, 1);
    assert.equal(mul(0x80, 2), 0x1d); // the reduction by 0x11d
  });

  test('scalars outside GF(2^8) are refused', () => {
    assert.throws(() => mul(256, 1), RangeError);
    assert.throws(() => add(-1, 1), RangeError);
    assert.throws(() => inv(1.5), RangeError);
  });
});

describe('combine', () => {
  for (const p of field.products) {
    const name = `GF(${p.field}) ${p.rows}x${p.inner} by ${p.inner}x${p.length}`;
    test(name, () => {
      const vectorsIn = p.vectors.map(fromHex);
      const before = vectorsIn.map(toHex);
      const out = combine(p.field, fromHex(p.matrix), p.rows, p.inner, vectorsIn);
      assert.deepEqual(out.map(toHex), p.product);
      assert.deepEqual(vectorsIn.map(toHex), before, 'inputs unchanged');
      for (const row of out) assert.equal(row.byteLength, row.buffer.byteLength, 'own buffer');
    });

    test(`${name}, vectors not 4-byte aligned`, () => {
      const shifted = p.vectors.map((hex) => {
        const bytes = fromHex(hex);
        const room = new Uint8Array(bytes.length + 3);
        room.set(bytes, 3);
        return room.subarray(3);
      });
      assert.deepEqual(
        combine(p.field, fromHex(p.matrix), p.rows, p.inner, shifted).map(toHex),
        p.product,
      );
    });
  }

  test('mulAddRegion is one row of combine', () => {
    const p = field.products.find((x) => x.field === 256 && x.length > 64);
    const matrix = fromHex(p.matrix);
    const dst = new Uint8Array(p.length);
    p.vectors.forEach((hex, j) => mulAddRegion(256, dst, fromHex(hex), matrix[j]));
    assert.equal(toHex(dst), p.product[0]);
    const unaligned = new Uint8Array(p.length + 1).subarray(1);
    p.vectors.forEach((hex, j) => mulAddRegion(256, unaligned, fromHex(hex), matrix[j]));
    assert.equal(toHex(unaligned), p.product[0]);
  });

  test('GF(2) is XOR of whole bytes and refuses other coefficients', () => {
    const a = Uint8Array.of(0xf0, 0x0f, 0xaa);
    const b = Uint8Array.of(0xff, 0x01, 0x55);
    const [sum] = combine(2, Uint8Array.of(1, 1), 1, 2, [a, b]);
    assert.deepEqual(Array.from(sum), [0x0f, 0x0e, 0xff]);
    assert.throws(() => combine(2, Uint8Array.of(1, 2), 1, 2, [a, b]), {
      name: 'RangeError',
      message: /GF\(2\)/,
    });
    assert.throws(() => mulAddRegion(2, a.slice(), b, 2), RangeError);
  });

  test('shape mistakes are refused', () => {
    const v = [new Uint8Array(4), new Uint8Array(4)];
    assert.throws(() => combine(256, new Uint8Array(3), 1, 2, v), {
      message: /matrix has 3 entries/,
    });
    assert.throws(() => combine(256, new Uint8Array(2), 1, 2, [v[0]]), {
      message: /needs 2 vectors/,
    });
    assert.throws(() => combine(256, new Uint8Array(2), 1, 2, [v[0], new Uint8Array(5)]), {
      message: /vectors\[1\]/,
    });
    assert.throws(() => combine(3, new Uint8Array(2), 1, 2, v), {
      message: /field must be 2 or 256/,
    });
    assert.throws(() => combine(256, [1, 2], 1, 2, v), TypeError);
    assert.throws(() => mulAddRegion(256, new Uint8Array(2), new Uint8Array(3), 1), RangeError);
  });
});

describe('rank', () => {
  for (const r of field.ranks) {
    test(`GF(${r.field}) ${r.rows.length}x${r.rows[0].length / 2} has rank ${r.rank}`, () => {
      const rows = r.rows.map(fromHex);
      assert.equal(rank(r.field, rows), r.rank);
      assert.deepEqual(rows.map(toHex), r.rows, 'inputs unchanged');
    });
  }

  test('edge cases', () => {
    assert.equal(rank(256, []), 0);
    assert.equal(rank(2, [Uint8Array.of(1, 0), Uint8Array.of(1, 0)]), 1);
    assert.throws(() => rank(2, [Uint8Array.of(2)]), RangeError);
    assert.throws(() => rank(256, [new Uint8Array(2), new Uint8Array(3)]), RangeError);
  });
});
