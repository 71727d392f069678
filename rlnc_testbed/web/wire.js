/**
 * The binary wire format (docs/protocol.md §4) for the browser peer: messages <-> bytes,
 * refusing exactly what rlnc_testbed/wire.py refuses, with the same field, offset and message.
 *
 * Every message is "RL" | version 1 | type | body | CRC32, big-endian, the CRC32 (zlib's)
 * covering every byte before it. Parsed messages are plain objects tagged by `type`:
 *
 *   packet        {generation, field, k, symbolSize, coefficients, payload}
 *   hello         {sender, role, purpose, round}
 *   done          {count, generation}
 *   source-chunk  {generation, offset, total, sha256, data}
 *
 * Byte fields are fresh Uint8Arrays (copies, each on its own buffer, never views into the
 * received message). SourceChunk `offset`/`total` are u64: numbers while they are safe
 * integers, BigInts beyond 2^53.
 *
 * parse() checks, in this order (first failure wins): length >= 8, magic, version, type code,
 * max_message, CRC, then each field as it is read (room before the CRC, declared lengths
 * against the limits before anything is allocated, k and symbol_size >= 1, UTF-8), then the
 * values (field 2|256, GF(2) entries 0|1, Hello strings, SourceChunk bounds), then trailing
 * bytes. Error messages are wire.py's, word for word, Python reprs included, so a failure
 * logged by a browser peer reads like one logged by an aiortc peer.
 * @module wire
 */

export const MAGIC = Object.freeze([0x52, 0x4c]);
export const VERSION = 1;
/** Field orders a packet may carry. */
export const FIELDS = Object.freeze([2, 256]);
/** The roles a Hello may announce. */
export const ROLES = Object.freeze(['engine', 'peer', 'newcomer', 'collector']);
/** Why a data channel was opened, as a Hello announces it. */
export const PURPOSES = Object.freeze(['store', 'repair', 'collect', 'source', 'provenance']);
/** Longest Hello string, in UTF-8 bytes. */
export const MAX_NAME = 64;

/**
 * Upper bounds parse() enforces before allocating (wire.py's Limits; the messages name them
 * in Python's spelling). Pass a partial object to parse() to override some of them.
 */
export const DEFAULT_LIMITS = Object.freeze({
  maxSymbols: 4096,
  maxSymbolSize: 16 * 1024 * 1024,
  maxMessage: 32 * 1024 * 1024,
  maxChunk: 1024 * 1024,
});

const TYPE_CODES = Object.freeze({ packet: 1, hello: 2, done: 3, 'source-chunk': 4 });
const HEADER_SIZE = 4;
const CRC_SIZE = 4;
const MIN_SIZE = HEADER_SIZE + CRC_SIZE;
const PACKET_HEAD_SIZE = 14;
const SHA256_SIZE = 32;
const U32_MAX = 0xffffffff;

/**
 * A malformed message or an invalid message value. `field` names the field, `offset` is the
 * byte offset in the parsed bytes (-1 for a message being encoded), `problem` says what is
 * wrong; the message is wire.py's `wire field 'FIELD' at offset N: PROBLEM`.
 */
export class WireError extends Error {
  constructor(field, offset, problem) {
    const where = offset >= 0 ? `at offset ${offset}` : '(message object)';
    super(`wire field '${field}' ${where}: ${problem}`);
    this.name = 'WireError';
    this.field = field;
    this.offset = offset;
    this.problem = problem;
  }
}

// -- CRC32 -----------------------------------------------------------------------------------

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/**
 * zlib's CRC-32 (reflected polynomial 0xEDB88320, init and final XOR 0xFFFFFFFF) of `bytes`,
 * as an unsigned number. `crc` continues a running checksum, like zlib.crc32(data, crc).
 */
export function crc32(bytes, crc = 0) {
  let c = (crc ^ 0xffffffff) >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// -- Python's repr, for messages identical to wire.py's --------------------------------------

/** Characters Python's str.isprintable() refuses: categories C* and Z*, except the space. */
const NOT_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u;

function isPrintableChar(ch) {
  return ch === ' ' || !NOT_PRINTABLE.test(ch);
}

function hex(value, width) {
  return value.toString(16).padStart(width, '0');
}

/** Python's repr() of a str (quote choice, escapes of non-printable characters). */
function pyRepr(text) {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of text) {
    const cp = ch.codePointAt(0);
    if (ch === quote || ch === '\\') out += `\\${ch}`;
    else if (ch === '\t') out += '\\t';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (cp < 0x20 || cp === 0x7f) out += `\\x${hex(cp, 2)}`;
    else if (cp < 0x7f || isPrintableChar(ch)) out += ch;
    else if (cp <= 0xff) out += `\\x${hex(cp, 2)}`;
    else if (cp <= 0xffff) out += `\\u${hex(cp, 4)}`;
    else out += `\\U${hex(cp, 8)}`;
  }
  return out + quote;
}

/** Python's repr() of bytes. */
function pyBytesRepr(bytes) {
  const quote = bytes.includes(0x27) && !bytes.includes(0x22) ? '"' : "'";
  let out = `b${quote}`;
  for (const b of bytes) {
    const ch = String.fromCharCode(b);
    if (ch === quote || ch === '\\') out += `\\${ch}`;
    else if (ch === '\t') out += '\\t';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (b < 0x20 || b >= 0x7f) out += `\\x${hex(b, 2)}`;
    else out += ch;
  }
  return out + quote;
}

// -- values (shared by encoding and parsing) -------------------------------------------------

/** An unsigned integer of `bits` bits from a number or BigInt; TypeError for other types. */
function uint(value, name, bits) {
  let big;
  if (typeof value === 'bigint') big = value;
  else if (typeof value === 'number' && Number.isInteger(value)) big = BigInt(value);
  else
    throw new TypeError(
      `${name} must be an integer; got ${value === null ? 'null' : typeof value}`,
    );
  const limit = (1n << BigInt(bits)) - 1n;
  if (big < 0n || big > limit) throw new WireError(name, -1, `must be in 0..${limit}; got ${big}`);
  return big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
}

function bytesValue(value, name) {
  if (!(value instanceof Uint8Array)) {
    throw new TypeError(
      `${name} must be a Uint8Array; got ${value === null ? 'null' : typeof value}`,
    );
  }
  return value;
}

function utf8Length(text) {
  let size = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0);
    size += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  }
  return size;
}

/** A Hello string: in `allowed` (if given), 1..64 UTF-8 bytes, printable, unpadded. */
function checkName(value, name, allowed) {
  if (typeof value !== 'string')
    throw new TypeError(`${name} must be a string; got ${typeof value}`);
  if (allowed !== null && !allowed.includes(value)) {
    throw new WireError(name, -1, `must be one of ${allowed.join(', ')}; got ${pyRepr(value)}`);
  }
  const size = utf8Length(value);
  const printable = [...value].every(isPrintableChar);
  // Printable text has no whitespace but the space, so "unpadded" is: no space at either end.
  if (size < 1 || size > MAX_NAME || !printable || value.startsWith(' ') || value.endsWith(' ')) {
    throw new WireError(
      name,
      -1,
      `must be 1..${MAX_NAME} UTF-8 bytes, printable, unpadded; got ${pyRepr(value)}`,
    );
  }
  return value;
}

function checkPacket(m) {
  const generation = uint(m.generation, 'generation', 32);
  const field = uint(m.field, 'field', 16);
  if (!FIELDS.includes(field))
    throw new WireError('field', -1, `must be one of (2, 256); got ${field}`);
  const coefficients = bytesValue(m.coefficients, 'coefficients');
  const payload = bytesValue(m.payload, 'payload');
  for (const [name, array] of [
    ['coefficients', coefficients],
    ['payload', payload],
  ]) {
    if (array.length < 1 || array.length > U32_MAX) {
      throw new WireError(name, -1, `length must be in 1..2**32-1; got ${array.length}`);
    }
  }
  if (field === 2 && coefficients.some((x) => x > 1)) {
    throw new WireError('coefficients', -1, 'GF(2) entries must be 0 or 1');
  }
  return {
    type: 'packet',
    generation,
    field,
    k: coefficients.length,
    symbolSize: payload.length,
    coefficients,
    payload,
  };
}

function checkHello(m) {
  return {
    type: 'hello',
    sender: checkName(m.sender, 'sender', null),
    role: checkName(m.role, 'role', ROLES),
    purpose: checkName(m.purpose, 'purpose', PURPOSES),
    round: uint(m.round, 'round', 32),
  };
}

function checkDone(m) {
  return {
    type: 'done',
    count: uint(m.count, 'count', 32),
    generation: uint(m.generation, 'generation', 32),
  };
}

function checkChunk(m) {
  const generation = uint(m.generation, 'generation', 32);
  const offset = uint(m.offset, 'offset', 64);
  const total = uint(m.total, 'total', 64);
  const sha256 = bytesValue(m.sha256, 'sha256');
  if (sha256.length !== SHA256_SIZE)
    throw new WireError('sha256', -1, `must be 32 bytes; got ${sha256.length}`);
  const data = bytesValue(m.data, 'data');
  if (data.length > U32_MAX) throw new WireError('data', -1, 'longer than 2**32-1 bytes');
  if (BigInt(offset) + BigInt(data.length) > BigInt(total)) {
    throw new WireError('data', -1, `offset ${offset} + ${data.length} bytes exceeds ${total}`);
  }
  return { type: 'source-chunk', generation, offset, total, sha256, data };
}

// -- encoding --------------------------------------------------------------------------------

/** Exact encoded size of a packet message with k coefficients and symbol_size payload bytes. */
export function packetMessageSize(k, symbolSize) {
  if (!Number.isInteger(k) || !Number.isInteger(symbolSize) || k < 1 || symbolSize < 1) {
    throw new RangeError(`k and symbol_size must be integers >= 1; got ${k}, ${symbolSize}`);
  }
  return MIN_SIZE + PACKET_HEAD_SIZE + k + symbolSize;
}

/** A message of `bodySize` body bytes: the header written, body filled by `fill`, CRC added. */
function seal(code, bodySize, fill) {
  const out = new Uint8Array(HEADER_SIZE + bodySize + CRC_SIZE);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  out[2] = VERSION;
  out[3] = code;
  fill(out, view);
  const end = out.length - CRC_SIZE;
  view.setUint32(end, crc32(out.subarray(0, end)));
  return out;
}

function putU64(view, at, value) {
  view.setBigUint64(at, BigInt(value));
}

/**
 * A PacketMessage's bytes. `k` and `symbolSize` may be left out; given, they must equal the
 * lengths of `coefficients` and `payload` (a mismatch is a WireError naming the field).
 */
export function encodePacket({ generation, field, k, symbolSize, coefficients, payload }) {
  const m = checkPacket({ generation, field, coefficients, payload });
  if (k !== undefined && k !== m.k) {
    throw new WireError('symbols', -1, `k=${k} but ${m.k} coefficients were given`);
  }
  if (symbolSize !== undefined && symbolSize !== m.symbolSize) {
    throw new WireError(
      'symbol_size',
      -1,
      `symbolSize=${symbolSize} but the payload has ${m.symbolSize} bytes`,
    );
  }
  return seal(TYPE_CODES.packet, PACKET_HEAD_SIZE + m.k + m.symbolSize, (out, view) => {
    view.setUint32(4, m.generation);
    view.setUint16(8, m.field);
    view.setUint32(10, m.k);
    view.setUint32(14, m.symbolSize);
    out.set(m.coefficients, 18);
    out.set(m.payload, 18 + m.k);
  });
}

/** A Hello's bytes: the first message on every data channel. */
export function encodeHello({ sender, role, purpose, round }) {
  const m = checkHello({ sender, role, purpose, round });
  const encoder = new TextEncoder();
  const texts = [m.sender, m.role, m.purpose].map((t) => encoder.encode(t));
  const size = texts.reduce((sum, t) => sum + 1 + t.length, 0) + 4;
  return seal(TYPE_CODES.hello, size, (out, view) => {
    let at = HEADER_SIZE;
    for (const t of texts) {
      out[at] = t.length;
      out.set(t, at + 1);
      at += 1 + t.length;
    }
    view.setUint32(at, m.round);
  });
}

/** A Done's bytes: the end of a batch of `count` messages of `generation`. */
export function encodeDone({ count, generation }) {
  const m = checkDone({ count, generation });
  return seal(TYPE_CODES.done, 8, (out, view) => {
    view.setUint32(4, m.count);
    view.setUint32(8, m.generation);
  });
}

/** A SourceChunk's bytes: `data` at `offset` of a `total`-byte source with that SHA-256. */
export function encodeSourceChunk({ generation, offset, total, sha256, data }) {
  const m = checkChunk({ generation, offset, total, sha256, data });
  return seal(TYPE_CODES['source-chunk'], 56 + m.data.length, (out, view) => {
    view.setUint32(4, m.generation);
    putU64(view, 8, m.offset);
    putU64(view, 16, m.total);
    out.set(m.sha256, 24);
    view.setUint32(56, m.data.length);
    out.set(m.data, 60);
  });
}

const ENCODERS = Object.freeze({
  packet: encodePacket,
  hello: encodeHello,
  done: encodeDone,
  'source-chunk': encodeSourceChunk,
});

/** The bytes of any message object parse() returns (dispatching on its `type`). */
export function encode(message) {
  const encoder =
    message !== null && typeof message === 'object' ? ENCODERS[message.type] : undefined;
  if (encoder === undefined) {
    throw new TypeError(
      `cannot encode ${JSON.stringify(message?.type)}; expected a wire message type`,
    );
  }
  return encoder(message);
}

// -- parsing ---------------------------------------------------------------------------------

/**
 * Strict UTF-8 validation with the position Python's decoder reports: the index of the first
 * byte of the first ill-formed sequence (overlongs, surrogates, > U+10FFFF and truncated
 * sequences included), or -1 when `bytes` is valid.
 */
function utf8ErrorAt(bytes) {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i];
    if (b < 0x80) {
      i += 1;
      continue;
    }
    let need;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) lo = 0xa0;
      if (b === 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) lo = 0x90;
      if (b === 0xf4) hi = 0x8f;
    } else return i;
    for (let n = 1; n <= need; n++) {
      const c = bytes[i + n];
      if (c === undefined || c < (n === 1 ? lo : 0x80) || c > (n === 1 ? hi : 0xbf)) return i;
    }
    i += need + 1;
  }
  return -1;
}

/** keeps the BOM: Python's utf-8 codec does not strip a leading U+FEFF, so neither may we. */
const DECODER = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Bounds-checked cursor over a body; remembers where each field started (for value errors). */
class Reader {
  constructor(bytes, end) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    this.pos = HEADER_SIZE;
    this.end = end;
    this.offsets = new Map();
  }

  take(field, size) {
    const start = this.pos;
    const remain = this.end - start;
    if (size > remain) {
      throw new WireError(field, start, `needs ${size} bytes, only ${remain} before the checksum`);
    }
    this.pos = start + size;
    if (!this.offsets.has(field)) this.offsets.set(field, start);
    return start;
  }

  u8(field) {
    return this.bytes[this.take(field, 1)];
  }

  u16(field) {
    return this.view.getUint16(this.take(field, 2));
  }

  u32(field) {
    return this.view.getUint32(this.take(field, 4));
  }

  u64(field) {
    const value = this.view.getBigUint64(this.take(field, 8));
    return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
  }

  length(field, limit, limitName) {
    const start = this.pos;
    const size = this.u32(field);
    if (size > limit)
      throw new WireError(field, start, `length ${size} exceeds ${limitName}=${limit}`);
    return size;
  }

  raw(field, size) {
    const start = this.take(field, size);
    return this.bytes.slice(start, start + size);
  }

  text(field) {
    const size = this.u8(field);
    const start = this.take(field, size);
    const raw = this.bytes.subarray(start, start + size);
    const bad = utf8ErrorAt(raw);
    if (bad >= 0) throw new WireError(field, start + bad, 'not valid UTF-8');
    return DECODER.decode(raw);
  }
}

function readPacket(r, limits) {
  const generation = r.u32('generation');
  const field = r.u16('field');
  const k = r.length('symbols', limits.maxSymbols, 'max_symbols');
  const symbolSize = r.length('symbol_size', limits.maxSymbolSize, 'max_symbol_size');
  for (const [name, value] of [
    ['symbols', k],
    ['symbol_size', symbolSize],
  ]) {
    if (value === 0) throw new WireError(name, r.offsets.get(name), 'must be at least 1');
  }
  const coefficients = r.raw('coefficients', k);
  const payload = r.raw('payload', symbolSize);
  return checkPacket({ generation, field, coefficients, payload });
}

function readHello(r) {
  const sender = r.text('sender');
  const role = r.text('role');
  const purpose = r.text('purpose');
  return checkHello({ sender, role, purpose, round: r.u32('round') });
}

function readDone(r) {
  const count = r.u32('count');
  return checkDone({ count, generation: r.u32('generation') });
}

function readChunk(r, limits) {
  const generation = r.u32('generation');
  const offset = r.u64('offset');
  const total = r.u64('total');
  const sha256 = r.raw('sha256', SHA256_SIZE);
  const size = r.length('data', limits.maxChunk, 'max_chunk');
  return checkChunk({ generation, offset, total, sha256, data: r.raw('data', size) });
}

const READERS = [readPacket, readHello, readDone, readChunk];

function asBytes(data) {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data))
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError(
    `parse needs a Uint8Array, an ArrayBuffer or a typed array; got ${typeof data}`,
  );
}

function checkLimits(limits) {
  if (limits === null || typeof limits !== 'object') {
    throw new TypeError(`limits must be an object like DEFAULT_LIMITS; got ${String(limits)}`);
  }
  for (const name of Object.keys(limits)) {
    if (!(name in DEFAULT_LIMITS)) {
      throw new RangeError(
        `unknown limit ${name}; known: ${Object.keys(DEFAULT_LIMITS).join(', ')}`,
      );
    }
  }
  const merged = { ...DEFAULT_LIMITS, ...limits };
  for (const [name, value] of Object.entries(merged)) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new RangeError(`limits.${name} must be a positive integer; got ${String(value)}`);
    }
  }
  if (merged.maxMessage < MIN_SIZE) {
    throw new RangeError(`limits.maxMessage must be at least ${MIN_SIZE}`);
  }
  return merged;
}

/**
 * Parse one message (a Uint8Array, an ArrayBuffer as a data channel delivers it, or any typed
 * array); a WireError for anything malformed. `limits` overrides some of DEFAULT_LIMITS.
 */
export function parse(data, limits = DEFAULT_LIMITS) {
  const bytes = asBytes(data);
  const bounds = limits === DEFAULT_LIMITS ? DEFAULT_LIMITS : checkLimits(limits);
  const n = bytes.length;
  if (n < MIN_SIZE)
    throw new WireError('header', n, `message has ${n} bytes; at least ${MIN_SIZE} needed`);
  if (bytes[0] !== MAGIC[0] || bytes[1] !== MAGIC[1]) {
    throw new WireError('magic', 0, `expected b'RL'; got ${pyBytesRepr(bytes.subarray(0, 2))}`);
  }
  if (bytes[2] !== VERSION) {
    throw new WireError('version', 2, `unsupported version ${bytes[2]}; this is ${VERSION}`);
  }
  const code = bytes[3];
  if (code < 1 || code > READERS.length)
    throw new WireError('type', 3, `unknown message type ${code}`);
  if (n > bounds.maxMessage) {
    throw new WireError('length', 0, `message has ${n} bytes; max_message=${bounds.maxMessage}`);
  }
  const end = n - CRC_SIZE;
  const expected = new DataView(bytes.buffer, bytes.byteOffset + end, CRC_SIZE).getUint32(0);
  if (crc32(bytes.subarray(0, end)) !== expected) {
    throw new WireError('checksum', end, 'CRC32 does not match the message');
  }
  const reader = new Reader(bytes, end);
  let message;
  try {
    message = READERS[code - 1](reader, bounds);
  } catch (error) {
    // A value refused while the message object is built names no offset yet: it is where the
    // field started in these bytes.
    if (!(error instanceof WireError) || error.offset >= 0) throw error;
    throw new WireError(error.field, reader.offsets.get(error.field) ?? 0, error.problem);
  }
  if (reader.pos !== end) {
    throw new WireError('trailing', reader.pos, `${end - reader.pos} bytes after the last field`);
  }
  return message;
}
