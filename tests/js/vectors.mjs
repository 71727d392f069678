/**
 * Shared helpers of the JS tests: the vector files made by the Python side, and hex bytes.
 * (Not a test file: node --test only runs *.test.mjs here.)
 */
import { readFileSync } from 'node:fs';

const VECTORS = new URL('../vectors/', import.meta.url);
const GOLDEN = new URL('../golden/', import.meta.url);

/** A vector file of tests/vectors/ (draws.json, field.json, wire.json), parsed. */
export function vectors(name) {
  return JSON.parse(readFileSync(new URL(name, VECTORS), 'utf8'));
}

/** The bytes of a golden file of tests/golden/. */
export function golden(name) {
  return new Uint8Array(readFileSync(new URL(name, GOLDEN)));
}

export function fromHex(text) {
  if (text.length % 2 !== 0) throw new Error(`odd hex length ${text.length}`);
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** A 64-bit vector value ("0x..." hex string or a small number) as a BigInt. */
export function big(value) {
  return BigInt(value);
}
