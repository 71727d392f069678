/**
 * The wire format (rlnc_testbed/web/wire.js) against the golden files tests/golden/*.bin and
 * tests/vectors/wire.json, made by rlnc_testbed.wire: encodings byte for byte, and every
 * refusal with wire.py's field, offset and message (hand-made malformed messages and
 * deterministic random damage to valid ones).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  DEFAULT_LIMITS,
  WireError,
  crc32,
  encode,
  encodeDone,
  encodeHello,
  encodePacket,
  encodeSourceChunk,
  packetMessageSize,
  parse,
} from '../../rlnc_testbed/web/wire.js';
import { fromHex, golden, toHex, vectors } from './vectors.mjs';

const wire = vectors('wire.json');
const BYTE_FIELDS = ['coefficients', 'payload', 'sha256', 'data'];
const U64_FIELDS = ['offset', 'total'];

/** A vector's message (hex bytes, decimal u64 strings) as the JS objects encode/parse use. */
function fromVector(message) {
  const out = { ...message };
  for (const name of BYTE_FIELDS) if (name in out) out[name] = fromHex(out[name]);
  for (const name of U64_FIELDS) if (name in out) out[name] = BigInt(out[name]);
  return out;
}

/** A parsed message in the vector's JSON shape. */
function toVector(message) {
  const out = { ...message };
  for (const name of BYTE_FIELDS) {
    if (name in out) {
      assert.ok(out[name] instanceof Uint8Array, `${name} is a Uint8Array`);
      out[name] = toHex(out[name]);
    }
  }
  for (const name of U64_FIELDS) if (name in out) out[name] = String(out[name]);
  return out;
}

function assertRefused(bytes, expected, limits) {
  let caught;
  try {
    if (limits === undefined) parse(bytes);
    else parse(bytes, limits);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof WireError, `expected WireError ${expected.message}, got ${caught}`);
  assert.deepEqual(
    { field: caught.field, offset: caught.offset, message: caught.message },
    expected,
  );
}

function checkOutcome(vector) {
  const bytes = fromHex(vector.hex);
  if (vector.error) {
    assertRefused(bytes, vector.error, vector.limits);
  } else {
    const message = vector.limits ? parse(bytes, vector.limits) : parse(bytes);
    assert.deepEqual(toVector(message), vector.message);
  }
}

describe('golden files', () => {
  for (const g of wire.golden) {
    test(`${g.file}: encoded byte for byte and parsed back`, () => {
      const bytes = golden(g.file);
      assert.equal(toHex(encode(fromVector(g.message))), toHex(bytes));
      assert.deepEqual(toVector(parse(bytes)), g.message);
      // and as an ArrayBuffer, the way a data channel delivers it
      assert.deepEqual(toVector(parse(bytes.slice().buffer)), g.message);
    });
  }

  test('the documented Hello example, field by field', () => {
    const bytes = encodeHello({ sender: '12', role: 'newcomer', purpose: 'repair', round: 3 });
    assert.equal(toHex(bytes), '524c0102023132086e6577636f6d657206726570616972000000036458fb50');
    assert.equal(crc32(bytes.subarray(0, 27)), 0x6458fb50);
    const done = encodeDone({ count: 5, generation: 9 });
    assert.equal(toHex(done), '524c0103000000050000000910b4e9fb');
  });
});

describe('valid messages', () => {
  for (const v of wire.valid) {
    test(`${v.message.type} ${JSON.stringify(v.message).slice(0, 70)}`, () => {
      assert.equal(toHex(encode(fromVector(v.message))), v.hex);
      assert.deepEqual(toVector(parse(fromHex(v.hex))), v.message);
    });
  }

  test('parsed byte fields are copies on their own buffers', () => {
    const v = wire.valid.find((x) => x.message.type === 'packet');
    const bytes = fromHex(v.hex);
    const message = parse(bytes);
    bytes.fill(0);
    assert.equal(toHex(message.payload), v.message.payload);
    assert.equal(message.coefficients.byteOffset, 0);
    assert.equal(message.payload.buffer.byteLength, message.payload.length);
  });

  test('u64 fields above 2^53 stay exact as BigInts', () => {
    const v = wire.valid.find(
      (x) => x.message.type === 'source-chunk' && BigInt(x.message.total) > 2n ** 53n,
    );
    const message = parse(fromHex(v.hex));
    assert.equal(typeof message.total, 'bigint');
    assert.equal(message.total, BigInt(v.message.total));
  });

  test('packetMessageSize: k = 20, s = 220 is 262 bytes', () => {
    assert.equal(packetMessageSize(20, 220), 262);
    const bytes = encodePacket({
      generation: 0,
      field: 256,
      k: 20,
      symbolSize: 220,
      coefficients: new Uint8Array(20),
      payload: new Uint8Array(220),
    });
    assert.equal(bytes.length, 262);
    assert.throws(() => packetMessageSize(0, 220), RangeError);
  });
});

describe('refused messages (hand-made)', () => {
  for (const v of wire.malformed) {
    const what = v.error ? v.error.message : 'accepted';
    test(`${what.slice(0, 90)} [${v.hex.length / 2} bytes${v.limits ? ', limits' : ''}]`, () =>
      checkOutcome(v));
  }
});

describe('damaged messages (random, seeded)', () => {
  test(`${wire.damaged.length} outcomes equal wire.py's`, () => {
    let refused = 0;
    for (const v of wire.damaged) {
      checkOutcome(v);
      if (v.error) refused += 1;
    }
    assert.ok(refused > wire.damaged.length / 2, 'most damage is refused');
  });

  test('random bytes raise nothing but WireError', () => {
    let state = 12345;
    const next = () => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return state >>> 24;
    };
    for (let i = 0; i < 2000; i++) {
      const bytes = Uint8Array.from({ length: next() % 80 }, next);
      if (i % 2 && bytes.length >= 4) bytes.set([0x52, 0x4c, 1, 1 + (next() % 4)]);
      try {
        parse(bytes);
      } catch (error) {
        if (!(error instanceof WireError)) throw error;
      }
    }
  });
});

describe('encoding refuses bad values', () => {
  for (const v of wire.build_errors) {
    test(v.error.message.slice(0, 100), () => {
      assert.throws(
        () => encode(fromVector(v.message)),
        (error) => {
          assert.ok(error instanceof WireError);
          assert.deepEqual(
            { field: error.field, offset: error.offset, message: error.message },
            v.error,
          );
          return true;
        },
      );
    });
  }

  test('wrong types are TypeErrors, mismatched sizes WireErrors', () => {
    assert.throws(() => encodeDone({ count: '1', generation: 0 }), TypeError);
    assert.throws(
      () => encodeHello({ sender: 1, role: 'peer', purpose: 'store', round: 0 }),
      TypeError,
    );
    assert.throws(
      () =>
        encodePacket({ generation: 0, field: 256, coefficients: [1], payload: new Uint8Array(1) }),
      TypeError,
    );
    assert.throws(
      () =>
        encodePacket({
          generation: 0,
          field: 256,
          k: 2,
          coefficients: new Uint8Array(1),
          payload: new Uint8Array(1),
        }),
      { name: 'WireError', message: /symbols/ },
    );
    assert.throws(() => encode({ type: 'frame' }), TypeError);
    const sha256 = new Uint8Array(32);
    assert.equal(
      encodeSourceChunk({ generation: 0, offset: 0, total: 0, sha256, data: new Uint8Array(0) })
        .length,
      64,
    );
  });

  test('limits: partial overrides, unknown or bad ones refused', () => {
    const bytes = golden('wire_packet_gf256.bin');
    assert.throws(() => parse(bytes, { maxSymbols: 15 }), {
      name: 'WireError',
      message: /max_symbols=15/,
    });
    assert.equal(parse(bytes, { maxSymbols: 16 }).k, 16);
    assert.throws(() => parse(bytes, { maxSymbol: 16 }), {
      name: 'RangeError',
      message: /unknown limit/,
    });
    assert.throws(() => parse(bytes, { maxMessage: 7 }), RangeError);
    assert.deepEqual(Object.keys(DEFAULT_LIMITS), [
      'maxSymbols',
      'maxSymbolSize',
      'maxMessage',
      'maxChunk',
    ]);
  });
});

test("crc32 is zlib's", () => {
  assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
  assert.equal(crc32(new Uint8Array(0)), 0);
  const all = new TextEncoder().encode('hello world');
  assert.equal(crc32(all.subarray(5), crc32(all.subarray(0, 5))), crc32(all));
});
