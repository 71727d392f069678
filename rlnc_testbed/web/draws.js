/**
 * The specified random draws (docs/protocol.md §6.1-6.2) for the browser peer: one
 * counter-based word stream per key (seed, trial, round, role, index), and the three primitives
 * every decision is made of. Bit for bit what rlnc_testbed/protocol/draws.py makes, so a
 * browser parent uploads and a browser newcomer keeps exactly the packets an aiortc one would.
 *
 * Words are unsigned 64-bit, so they are BigInt here: Philox4x64-10 needs 64x64 -> 128-bit
 * products, which BigInt gives exactly (a block of four words costs a few microseconds; a round
 * draws a handful of words). Results that are small (indices, field elements) come back as
 * plain numbers.
 * @module draws
 */

/** Who draws from a stream; part of its key (protocol.md §6.1). */
export const Role = Object.freeze({
  SERVER: 1,
  ENGINE: 2,
  PARENT: 3,
  NEWCOMER: 4,
  SOURCE: 5,
  FAULT: 6,
  LINK: 7,
});

const MASK64 = (1n << 64n) - 1n;
const TWO64 = 1n << 64n;
const SAFE = 2n ** 53n;

/** The largest `n` for which below(n) still answers a plain number (every answer < 2^53). */
export const BELOW_NUMBER_LIMIT = 2 ** 53;

/** An unsigned 64-bit key part from a number (a safe integer) or a BigInt, checked. */
function u64(value, name) {
  let big;
  if (typeof value === 'bigint') {
    big = value;
  } else if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) {
      throw new RangeError(
        `${name} must be an integer in [0, 2**64) (a number must be a safe integer), got ${value}`,
      );
    }
    big = BigInt(value);
  } else {
    throw new TypeError(`${name} must be a number or a BigInt, got ${typeof value}`);
  }
  if (big < 0n || big > MASK64) throw new RangeError(`${name} must be in [0, 2**64), got ${big}`);
  return big;
}

/** splitmix64's finaliser: a bijective 64-bit mixer. */
function mix(x) {
  x = (x + 0x9e3779b97f4a7c15n) & MASK64;
  x = ((x ^ (x >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  x = ((x ^ (x >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return x ^ (x >> 31n);
}

/**
 * The Philox key [lo, hi] (BigInt) of one stream: a chain of splitmix64 mixes of the five
 * parts. `role` is a Role value; the others are numbers (safe integers) or BigInts in
 * [0, 2^64) - a LINK index (sender * 2^32 + receiver) can pass 2^53, so pass it as a BigInt.
 */
export function streamKey(seed, trial, round, role, index = 0) {
  if (!Object.values(Role).includes(role)) {
    throw new RangeError(`role must be a Role value (1..7), got ${String(role)}`);
  }
  let h = mix(u64(seed, 'seed'));
  h = mix(h ^ u64(trial, 'trial'));
  h = mix(h ^ u64(round, 'round'));
  h = mix(h ^ BigInt(role));
  const lo = mix(h ^ u64(index, 'index'));
  const hi = mix(lo ^ 0x5851f42d4c957f2dn);
  return [lo, hi];
}

const PHILOX_M0 = 0xd2e7470ee14c6c93n;
const PHILOX_M1 = 0xca5a826395121157n;
const PHILOX_W0 = 0x9e3779b97f4a7c15n;
const PHILOX_W1 = 0xbb67ae8584caa73bn;

/** One Philox4x64-10 block: the four output words for counter (c0, 0, 0, 0) under (k0, k1). */
function philoxBlock(c0, k0, k1) {
  let x0 = c0;
  let x1 = 0n;
  let x2 = 0n;
  let x3 = 0n;
  for (let round = 0; round < 10; round++) {
    const p0 = x0 * PHILOX_M0;
    const p1 = x2 * PHILOX_M1;
    const hi0 = p0 >> 64n;
    const lo0 = p0 & MASK64;
    const hi1 = p1 >> 64n;
    const lo1 = p1 & MASK64;
    x0 = hi1 ^ x1 ^ k0;
    x1 = lo1;
    x2 = hi0 ^ x3 ^ k1;
    x3 = lo0;
    k0 = (k0 + PHILOX_W0) & MASK64;
    k1 = (k1 + PHILOX_W1) & MASK64;
  }
  return [x0, x1, x2, x3];
}

function count(value, name) {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative integer, got ${String(value)}`);
  }
  return value;
}

/**
 * The word stream of one key and the specified draws on it. Word w is output word w mod 4 of
 * Philox4x64-10 with key (lo, hi) on the counter (w div 4 + 1, 0, 0, 0) - numpy's
 * `Philox(key=(hi << 64) | lo).random_raw()` stream. Each primitive consumes whole words and
 * continues where the previous draw stopped; `used` counts the words consumed so far.
 */
export class DrawStream {
  /** @param {[bigint, bigint]} key the [lo, hi] of streamKey */
  constructor(key) {
    if (!Array.isArray(key) || key.length !== 2) {
      throw new TypeError('key must be [lo, hi], two BigInts (see streamKey)');
    }
    this.key = Object.freeze([u64(key[0], 'key[0]'), u64(key[1], 'key[1]')]);
    /** Words consumed so far. */
    this.used = 0;
    this._block = null;
  }

  /** The next 64-bit word, as a BigInt. */
  nextWord() {
    const slot = this.used % 4;
    if (slot === 0) {
      this._block = philoxBlock(BigInt(this.used / 4 + 1), this.key[0], this.key[1]);
    }
    this.used += 1;
    return this._block[slot];
  }

  /**
   * A uniform integer in [0, n), 1 <= n < 2^64 (Lemire's multiply-and-reject): m = x * n for
   * the next word x; while low64(m) < (2^64 - n) mod n (checked only when low64(m) < n), retry
   * with the next word; the answer is m >> 64. `n` is a number (a safe integer) or a BigInt;
   * the answer is a number when n <= 2^53 (BELOW_NUMBER_LIMIT), else a BigInt.
   */
  below(n) {
    const bound = u64(n, 'below(n): n');
    if (bound === 0n) throw new RangeError('below(n) needs 1 <= n < 2**64, got 0');
    let m = this.nextWord() * bound;
    let low = m & MASK64;
    if (low < bound) {
      const threshold = (TWO64 - bound) % bound;
      while (low < threshold) {
        m = this.nextWord() * bound;
        low = m & MASK64;
      }
    }
    const answer = m >> 64n;
    return bound <= SAFE ? Number(answer) : answer;
  }

  /**
   * m distinct values of [0, n) in draw order (a partial Fisher-Yates shuffle): a = [0..n-1];
   * for i < m: j = i + below(n - i), swap a[i] and a[j]; the answer is a[0..m-1]. A shuffle is
   * sample(n, n), and its first m entries equal sample(n, m).
   */
  sample(n, m) {
    count(n, 'sample(n, m): n');
    count(m, 'sample(n, m): m');
    if (m > n) throw new RangeError(`sample(n, m) needs 0 <= m <= n, got n=${n}, m=${m}`);
    const a = Array.from({ length: n }, (_, i) => i);
    for (let i = 0; i < m; i++) {
      const j = i + this.below(n - i);
      const swap = a[i];
      a[i] = a[j];
      a[j] = swap;
    }
    return a.slice(0, m);
  }

  /**
   * `count` field elements from fresh words, as a Uint8Array (a rows x cols matrix is
   * elements(field, rows * cols), row-major). GF(2^8): element t is byte t mod 8 of word
   * t div 8, byte 0 the lowest; GF(2): element t is bit t mod 64 of word t div 64, bit 0 the
   * least significant. Unused bits of the last word are discarded.
   */
  elements(field, n) {
    count(n, 'elements(field, count): count');
    const out = new Uint8Array(n);
    if (field === 256) {
      for (let t = 0; t < n; t += 8) {
        const word = this.nextWord();
        const lo = Number(word & 0xffffffffn);
        const hi = Number(word >> 32n);
        for (let b = 0; b < 8 && t + b < n; b++) {
          out[t + b] = (b < 4 ? lo >>> (8 * b) : hi >>> (8 * (b - 4))) & 0xff;
        }
      }
    } else if (field === 2) {
      for (let t = 0; t < n; t += 64) {
        const word = this.nextWord();
        const halves = [Number(word & 0xffffffffn), Number(word >> 32n)];
        for (let b = 0; b < 64 && t + b < n; b++) out[t + b] = (halves[b >>> 5] >>> (b & 31)) & 1;
      }
    } else {
      throw new RangeError(`field must be 2 or 256, got ${String(field)}`);
    }
    return out;
  }
}

/** The fresh stream of one (seed, trial, round, role, index). */
export function streamFor(seed, trial, round, role, index = 0) {
  return new DrawStream(streamKey(seed, trial, round, role, index));
}
