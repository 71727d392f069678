/**
 * HMAC-SHA256 (rlnc_testbed/web/hmac.js) against values computed independently of it: the
 * FIPS 180-2 SHA-256 vectors, padding-edge digests and project credentials made by Python
 * (hashlib / rlnc_testbed.signaling.server), RFC 4231; and Web Crypto vs the pure JS path.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  hmacHex,
  hmacHexSync,
  hmacSha256,
  poolWaiterProof,
  sha256,
  trialCredential,
} from '../../rlnc_testbed/web/hmac.js';
import { fromHex, toHex } from './vectors.mjs';

const ascii = (text) => new TextEncoder().encode(text);

describe('sha256', () => {
  const fips = [
    ['', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
    ['abc', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
    [
      'abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq',
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    ],
    ['a'.repeat(1_000_000), 'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0'],
  ];
  for (const [text, digest] of fips) {
    test(`FIPS 180-2 vector of ${text.length} bytes`, () => {
      assert.equal(toHex(sha256(ascii(text))), digest);
    });
  }

  // Bytes (7i + 3) mod 256, i = 0..n-1; digests by
  // python3 -c "import hashlib; print(hashlib.sha256(bytes((i*7+3)&255 for i in range(n))).hexdigest())"
  const edges = {
    55: 'e7313d333c272e639f790978283f9eb392e843d0f29b7016828bb1daa4aac70b',
    56: '4324d65f3c103567f5589c710bc08f8523f929a9272e3af36fc968e52abc6c27',
    63: '81c80242132f230c3bd41b3e63bbcff16107339549214a99614ff26664625055',
    64: '39e3d7b6b5d075d37d053ad89b24b41bef4f3c29760c84447cab3f3be1882241',
    65: 'aacca6ff74fdbb296d165a45cecfa04e5127bc008770fbbdd48006f2d2fae95e',
  };
  for (const [n, digest] of Object.entries(edges)) {
    test(`padding edge: ${n} bytes`, () => {
      const bytes = Uint8Array.from({ length: Number(n) }, (_, i) => (i * 7 + 3) & 255);
      assert.equal(toHex(sha256(bytes)), digest);
    });
  }

  test('does not modify its input', () => {
    const bytes = ascii('abc');
    sha256(bytes);
    assert.deepEqual(bytes, ascii('abc'));
  });
});

describe('hmacSha256: RFC 4231', () => {
  const longKey = new Uint8Array(131).fill(0xaa);
  const cases = [
    [1, new Uint8Array(20).fill(0x0b), ascii('Hi There'),
      'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7'],
    [2, ascii('Jefe'), ascii('what do ya want for nothing?'),
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843'],
    [3, new Uint8Array(20).fill(0xaa), new Uint8Array(50).fill(0xdd),
      '773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe'],
    [4, fromHex('0102030405060708090a0b0c0d0e0f10111213141516171819'), new Uint8Array(50).fill(0xcd),
      '82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b'],
    [6, longKey, ascii('Test Using Larger Than Block-Size Key - Hash Key First'),
      '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54'],
    [7, longKey, ascii('This is a test using a larger than block-size key and a larger than block-size data. '
      + 'The key needs to be hashed before being used by the HMAC algorithm.'),
      '9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2'],
  ];
  for (const [number, key, message, mac] of cases) {
    test(`test case ${number}`, () => {
      assert.equal(toHex(hmacSha256(key, message)), mac);
    });
  }
});

describe('project credentials, as rlnc_testbed.signaling.server computes them', () => {
  // python -c "from rlnc_testbed.signaling.server import trial_credential, pool_waiter_proof;
  //            print(trial_credential(K, TRIAL, SLOT), pool_waiter_proof(K, WAITER))"
  const nonAscii = 'clé-ü-日本-🔑';

  test('trialCredential', async () => {
    assert.equal(await trialCredential('ab'.repeat(32), 3, '7'),
      '44df4d528a0b7f7dda2bb7d17eeb75a40e1279a652113427d8eaa623d363f52c');
    assert.equal(await trialCredential(nonAscii, 12, 'newcomer-2'),
      'a1986a8af34e8271cf586f1ee1b9faf6c45f933366bce897f2d7efddafee04de');
  });

  test('poolWaiterProof', async () => {
    assert.equal(await poolWaiterProof('cd'.repeat(32), 'a1b2'),
      'fec5479fb7a4192559c0c66995bdd351fcf56e5ce2ccc98b129112d63c2827fe');
    assert.equal(await poolWaiterProof(nonAscii, 'ff00'),
      'e60fae7d4d85a4b3f14c820475696937d9be22b52b787a318a0bed57e35633f3');
  });

  test('an empty key (Web Crypto refuses one; Python and the pure path do not)', async () => {
    // python3 -c "import hmac, hashlib; print(hmac.new(b'', b'rlnc-pool-wait|x', hashlib.sha256).hexdigest())"
    const mac = 'c20a1e05f302f62de34c1fac024f41ecc5f2bd66050adbc0eebaf5b708a0c684';
    assert.equal(await poolWaiterProof('', 'x'), mac);
    assert.equal(hmacHexSync('', 'rlnc-pool-wait|x'), mac);
  });
});

describe('hmacHex: Web Crypto and the pure JS path agree', () => {
  /** mulberry32: a small seeded generator, so a failure is reproducible. */
  function generator(seed) {
    let state = seed >>> 0;
    return () => {
      state = (state + 0x6d2b79f5) >>> 0;
      let t = Math.imul(state ^ (state >>> 15), state | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
    };
  }
  const random = generator(20240917);
  const below = (n) => Math.floor(random() * n);
  /** A code point from ASCII, Latin-1/Greek/Cyrillic, the BMP above the surrogates, or astral. */
  function codePoint() {
    switch (below(4)) {
      case 0: return below(0x80);
      case 1: return 0x80 + below(0x800 - 0x80);
      case 2: return 0xe000 + below(0x10000 - 0xe000);
      default: return 0x10000 + below(0x110000 - 0x10000);
    }
  }
  const text = () => String.fromCodePoint(...Array.from({ length: below(301) }, codePoint));
  const pairs = Array.from({ length: 200 }, () => [text(), text()]);

  test('globalThis.crypto.subtle is there (Node 20)', () => {
    assert.ok(globalThis.crypto?.subtle);
  });

  test('200 random (key, message) pairs: subtle, hidden subtle, hmacHexSync', async () => {
    // A counting wrapper around the real crypto.subtle proves the Web Crypto path ran.
    let signs = 0;
    const { subtle } = globalThis.crypto;
    const counting = {
      importKey: (...args) => subtle.importKey(...args),
      sign: (...args) => { signs += 1; return subtle.sign(...args); },
    };
    let nonEmptyKeys = 0;
    for (const [key, message] of pairs) {
      const pure = hmacHexSync(key, message);
      assert.match(pure, /^[0-9a-f]{64}$/);
      const label = JSON.stringify([key, message]);
      assert.equal(await hmacHex(key, message), pure, label);
      assert.equal(await hmacHex(key, message, counting), pure, label);
      assert.equal(await hmacHex(key, message, null), pure, label);
      if (key.length > 0) nonEmptyKeys += 1;
    }
    assert.equal(signs, nonEmptyKeys);
    assert.ok(signs > 150);
  });

  test('with globalThis.crypto shadowed, hmacHex takes the pure path', async () => {
    const descriptor = Object.getOwnPropertyDescriptor(globalThis, 'crypto');
    const expected = await Promise.all(pairs.slice(0, 20).map(([k, m]) => hmacHex(k, m)));
    Object.defineProperty(globalThis, 'crypto', { value: undefined, configurable: true });
    try {
      assert.equal(globalThis.crypto, undefined);
      const got = await Promise.all(pairs.slice(0, 20).map(([k, m]) => hmacHex(k, m)));
      assert.deepEqual(got, expected);
      assert.equal(await trialCredential('ab'.repeat(32), 3, '7'),
        '44df4d528a0b7f7dda2bb7d17eeb75a40e1279a652113427d8eaa623d363f52c');
    } finally {
      Object.defineProperty(globalThis, 'crypto', descriptor);
    }
    assert.ok(globalThis.crypto.subtle);
  });
});
