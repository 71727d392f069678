/**
 * HMAC-SHA256 (RFC 2104 over FIPS 180-4 SHA-256) for the browser peer, as the Python side
 * computes it (`hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()`), so a
 * serve-session page can derive its trial credentials and pool-waiter proofs itself.
 *
 * Web Crypto (`crypto.subtle`) exists only in a secure context (https or localhost); a page
 * served over plain http from another machine has none. So hmacHex() uses crypto.subtle when it
 * is there and falls back to the pure JS SHA-256 below otherwise; both give the same answer.
 *
 * Easy to get wrong: every 32-bit sum must be brought back into range with `>>> 0` (JS bitwise
 * operators yield signed 32-bit numbers); the padding must append 0x80, zeros up to 56 mod 64
 * and the message length in *bits* as a big-endian u64 (a 55-byte message fits one block, 56
 * needs two); HMAC keys longer than the 64-byte block are hashed first, then every key is
 * zero-padded to 64 bytes; and text is UTF-8 (TextEncoder), as Python's str.encode() makes it.
 * @module hmac
 */

const BLOCK = 64;

/** SHA-256 round constants: first 32 bits of the fractional cube roots of the first 64 primes. */
const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

/** Initial hash value H(0): first 32 bits of the fractional square roots of the first 8 primes. */
const H0 = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

const rotr = (x, n) => (x >>> n) | (x << (32 - n));

/** SHA-256 digest (32 bytes) of `bytes` (FIPS 180-4 §6.2). */
export function sha256(bytes) {
  // Padding (§5.1.1): 0x80, zeros, then the bit length as a big-endian u64.
  const padded = new Uint8Array(Math.ceil((bytes.length + 9) / BLOCK) * BLOCK);
  padded.set(bytes);
  padded[bytes.length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, Math.floor(bytes.length / 0x20000000));
  view.setUint32(padded.length - 4, (bytes.length * 8) >>> 0);

  const h = Uint32Array.from(H0);
  const w = new Uint32Array(64);
  for (let block = 0; block < padded.length; block += BLOCK) {
    for (let t = 0; t < 16; t++) w[t] = view.getUint32(block + 4 * t);
    for (let t = 16; t < 64; t++) {
      const s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >>> 3);
      const s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >>> 10);
      w[t] = (w[t - 16] + s0 + w[t - 7] + s1) >>> 0;
    }
    let [a, b, c, d, e, f, g, hh] = h;
    for (let t = 0; t < 64; t++) {
      const S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
      const ch = (e & f) ^ (~e & g);
      const t1 = (hh + S1 + ch + K[t] + w[t]) >>> 0;
      const S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (S0 + maj) >>> 0;
      hh = g; g = f; f = e; e = (d + t1) >>> 0;
      d = c; c = b; b = a; a = (t1 + t2) >>> 0;
    }
    [a, b, c, d, e, f, g, hh].forEach((x, i) => { h[i] = (h[i] + x) >>> 0; });
  }
  const out = new Uint8Array(32);
  const outView = new DataView(out.buffer);
  h.forEach((x, i) => outView.setUint32(4 * i, x));
  return out;
}

/** HMAC-SHA256 (RFC 2104) of `message` under `key`, both bytes: 32 bytes. */
export function hmacSha256(key, message) {
  const k = new Uint8Array(BLOCK); // the key, hashed if longer than a block, zero-padded
  k.set(key.length > BLOCK ? sha256(key) : key);
  const inner = new Uint8Array(BLOCK + message.length);
  const outer = new Uint8Array(BLOCK + 32);
  for (let i = 0; i < BLOCK; i++) {
    inner[i] = k[i] ^ 0x36;
    outer[i] = k[i] ^ 0x5c;
  }
  inner.set(message, BLOCK);
  outer.set(sha256(inner), BLOCK);
  return sha256(outer);
}

const utf8 = (text) => new TextEncoder().encode(text);
const toHex = (bytes) => Array.from(bytes, (x) => x.toString(16).padStart(2, '0')).join('');

/** Lowercase hex HMAC-SHA256 of the UTF-8 of `messageText` under the UTF-8 of `keyText`, pure JS. */
export function hmacHexSync(keyText, messageText) {
  return toHex(hmacSha256(utf8(keyText), utf8(messageText)));
}

/**
 * hmacHexSync()'s answer, computed by `subtle` (default: `globalThis.crypto?.subtle`) when there
 * is one, else in pure JS. The third argument exists so tests can hide Web Crypto. An empty key
 * always takes the pure path: Web Crypto refuses zero-length HMAC keys, Python does not.
 */
export async function hmacHex(keyText, messageText, subtle = globalThis.crypto?.subtle) {
  const keyBytes = utf8(keyText);
  if (!subtle || keyBytes.length === 0) return hmacHexSync(keyText, messageText);
  const algorithm = { name: 'HMAC', hash: 'SHA-256' };
  const key = await subtle.importKey('raw', keyBytes, algorithm, false, ['sign']);
  return toHex(new Uint8Array(await subtle.sign('HMAC', key, utf8(messageText))));
}

/** A slot's join credential in a trial; mirrors `rlnc_testbed.signaling.server.trial_credential`. */
export const trialCredential = (sessionCredential, trial, slot) =>
  hmacHex(sessionCredential, `rlnc-trial|${trial}|${slot}`);

/** A pool newcomer's waiter proof; mirrors `rlnc_testbed.signaling.server.pool_waiter_proof`. */
export const poolWaiterProof = (poolCredential, waiter) =>
  hmacHex(poolCredential, `rlnc-pool-wait|${waiter}`);
