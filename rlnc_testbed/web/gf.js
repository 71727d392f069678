/**
 * GF(2) and GF(2^8) arithmetic for the browser peer: scalars, region multiply-add, the matrix
 * product every encode/recode is, and rank (docs/protocol.md §6.3 "Arithmetic").
 *
 * GF(2^8) uses the polynomial 0x11d (x^8+x^4+x^3+x^2+1) with generator 2, as galois, ISA-L and
 * the Python side (rlnc_testbed/coding/gf.py) do. GF(2) is the {0, 1} subfield of GF(2^8): a
 * GF(2) coefficient is one byte holding 0 or 1, and a payload is combined by XOR of whole bytes.
 * So both fields share the same tables; field 2 only restricts which coefficients are allowed.
 *
 * Inputs are checked once at the public functions; the loops behind them only index tables.
 * @module gf
 */

/** Field orders a coefficient may live in, as passed in `field`. */
export const FIELDS = Object.freeze([2, 256]);
/** The GF(2^8) reduction polynomial. */
export const POLY = 0x11d;
/** The primitive element the log/exp tables are built on. */
export const GENERATOR = 2;

/** EXP[i] = 2^i for i in [0, 510): doubled so EXP[LOG[a] + LOG[b]] needs no modulo. */
const EXP = new Uint8Array(512);
/** LOG[a] for a != 0 (LOG[0] is meaningless). */
const LOG = new Uint8Array(256);
/**
 * MUL[(c << 8) | x] = c * x: 64 KiB, built once. Row c (256 entries starting at c << 8) is the
 * "multiply by c" table the region kernels index, so a product costs one load per byte.
 */
const MUL = new Uint8Array(65536);
/** INV[a] = a^-1 for a != 0 (INV[0] is 0 and never returned). */
const INV = new Uint8Array(256);

(function buildTables() {
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= POLY;
  }
  for (let i = 255; i < 510; i++) EXP[i] = EXP[i - 255];
  for (let a = 1; a < 256; a++) {
    INV[a] = EXP[255 - LOG[a]];
    const base = a << 8;
    for (let b = 1; b < 256; b++) MUL[base | b] = EXP[LOG[a] + LOG[b]];
  }
})();

function checkField(field) {
  if (field !== 2 && field !== 256) {
    throw new RangeError(`field must be 2 or 256 (the field order), got ${String(field)}`);
  }
  return field;
}

function checkElement(value, field, name) {
  if (!Number.isInteger(value) || value < 0 || value >= field) {
    throw new RangeError(
      `${name} must be an element of GF(${field}) (0..${field - 1}), got ${String(value)}`,
    );
  }
  return value;
}

function checkBytes(value, name) {
  if (!(value instanceof Uint8Array)) {
    throw new TypeError(
      `${name} must be a Uint8Array, got ${value === null ? 'null' : typeof value}`,
    );
  }
  return value;
}

/** a + b in GF(2^8) (and GF(2)): XOR. */
export function add(a, b) {
  return checkElement(a, 256, 'a') ^ checkElement(b, 256, 'b');
}

/** a * b in GF(2^8). */
export function mul(a, b) {
  return MUL[(checkElement(a, 256, 'a') << 8) | checkElement(b, 256, 'b')];
}

/** a^-1 in GF(2^8); RangeError for 0, which has no inverse. */
export function inv(a) {
  if (checkElement(a, 256, 'a') === 0) throw new RangeError('0 has no inverse in GF(2^8)');
  return INV[a];
}

/**
 * A region: a byte vector with a Uint32Array view of its whole words. Building a typed-array
 * view costs about as much as multiplying a short payload, so each vector gets its view once
 * per public call; the bytes are copied first if they do not start on a 4-byte boundary.
 */
function region(bytes) {
  const own = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
  return { bytes: own, words: new Uint32Array(own.buffer, own.byteOffset, own.length >>> 2) };
}

/**
 * dst ^= c * src over the bytes of two regions of one length. A 32-bit word at a time: four
 * loads from row c of MUL build one product word, so there is one read-modify-write per four
 * bytes; the last length % 4 bytes go one by one. Byte order inside a word does not matter,
 * as each byte goes through the same table and back to its own place.
 */
function mulAddUnchecked(dst, src, c) {
  if (c === 0) return;
  const d = dst.words;
  const s = src.words;
  const words = d.length;
  const base = c << 8;
  if (c === 1) {
    for (let w = 0; w < words; w++) d[w] ^= s[w];
  } else {
    for (let w = 0; w < words; w++) {
      const v = s[w];
      d[w] ^=
        MUL[base | (v & 0xff)] |
        (MUL[base | ((v >>> 8) & 0xff)] << 8) |
        (MUL[base | ((v >>> 16) & 0xff)] << 16) |
        (MUL[base | (v >>> 24)] << 24);
    }
  }
  const db = dst.bytes;
  const sb = src.bytes;
  for (let t = words << 2; t < db.length; t++) db[t] ^= MUL[base | sb[t]];
}

/**
 * dst ^= c * src over GF(field), in place. For field 2, c must be 0 or 1 and this is XOR
 * (the bytes of a payload are combined whole; only the coefficient is a GF(2) element).
 */
export function mulAddRegion(field, dst, src, c) {
  checkField(field);
  checkBytes(dst, 'dst');
  checkBytes(src, 'src');
  if (dst.length !== src.length) {
    throw new RangeError(
      `dst and src must have the same length, got ${dst.length} and ${src.length}`,
    );
  }
  const c2 = checkElement(c, field, 'c');
  if (c2 === 0) return;
  if (dst.byteOffset % 4 === 0) {
    mulAddUnchecked(region(dst), region(src), c2);
  } else {
    const copy = region(dst);
    mulAddUnchecked(copy, region(src), c2);
    dst.set(copy.bytes);
  }
}

/**
 * The matrix product over GF(field): `rows` new vectors, output i = sum_j matrix[i*inner + j]
 * * vectors[j]. `matrix` is row-major (rows x inner), `vectors` are `inner` byte vectors of one
 * length; each output is a fresh Uint8Array of that length (its own ArrayBuffer, so it can be
 * sent or kept without dragging a larger buffer along). For field 2 every matrix entry must be
 * 0 or 1; the vectors are arbitrary bytes combined by XOR.
 *
 * This is encoding, recoding and what a newcomer keeps: coefficient rows and payloads are both
 * combined with it, with the same matrix.
 */
export function combine(field, matrix, rows, inner, vectors) {
  checkField(field);
  checkBytes(matrix, 'matrix');
  if (!Number.isInteger(rows) || rows < 0 || !Number.isInteger(inner) || inner < 1) {
    throw new RangeError(
      `combine needs rows >= 0 and inner >= 1, got rows=${rows}, inner=${inner}`,
    );
  }
  if (matrix.length !== rows * inner) {
    throw new RangeError(`matrix has ${matrix.length} entries; rows*inner = ${rows * inner}`);
  }
  if (!Array.isArray(vectors) || vectors.length !== inner) {
    const got = Array.isArray(vectors) ? vectors.length : typeof vectors;
    throw new RangeError(`combine needs ${inner} vectors, got ${got}`);
  }
  const length = checkBytes(vectors[0], 'vectors[0]').length;
  vectors.forEach((v, j) => {
    if (checkBytes(v, `vectors[${j}]`).length !== length) {
      throw new RangeError(`vectors[${j}] has ${v.length} bytes; vectors[0] has ${length}`);
    }
  });
  if (field === 2) {
    for (let e = 0; e < matrix.length; e++) {
      if (matrix[e] > 1)
        throw new RangeError(`matrix[${e}] = ${matrix[e]} is not a GF(2) element (0 or 1)`);
    }
  }
  const sources = vectors.map(region);
  const out = [];
  for (let i = 0; i < rows; i++) {
    const dst = region(new Uint8Array(length));
    const row = i * inner;
    for (let j = 0; j < inner; j++) mulAddUnchecked(dst, sources[j], matrix[row + j]);
    out.push(dst.bytes);
  }
  return out;
}

/**
 * Rank over GF(field) of `rows` (byte vectors of one length), by Gaussian elimination on a
 * copy: the inputs are not modified. For field 2 every entry must be 0 or 1.
 */
export function rank(field, rows) {
  checkField(field);
  if (!Array.isArray(rows)) throw new TypeError('rows must be an array of Uint8Array');
  if (rows.length === 0) return 0;
  const width = checkBytes(rows[0], 'rows[0]').length;
  const work = rows.map((row, i) => {
    if (checkBytes(row, `rows[${i}]`).length !== width) {
      throw new RangeError(`rows[${i}] has ${row.length} entries; rows[0] has ${width}`);
    }
    if (field === 2 && row.some((x) => x > 1)) {
      throw new RangeError(`rows[${i}] has an entry that is not a GF(2) element (0 or 1)`);
    }
    return region(row.slice());
  });
  let r = 0;
  for (let col = 0; col < width && r < work.length; col++) {
    let pivot = r;
    while (pivot < work.length && work[pivot].bytes[col] === 0) pivot++;
    if (pivot === work.length) continue;
    [work[r], work[pivot]] = [work[pivot], work[r]];
    const top = work[r];
    const scale = INV[top.bytes[col]];
    if (scale !== 1) {
      const base = scale << 8;
      for (let t = col; t < width; t++) top.bytes[t] = MUL[base | top.bytes[t]];
    }
    for (let i = r + 1; i < work.length; i++) {
      const factor = work[i].bytes[col];
      if (factor !== 0) mulAddUnchecked(work[i], top, factor);
    }
    r++;
  }
  return r;
}
