/**
 * Benchmark: the browser peer's GF(2^8) matrix product (rlnc_testbed/web/gf.js `combine`) on
 * the default point, a 20x20 coefficient matrix times 20 payloads of 220 bytes (one newcomer
 * recode of k = 20, s = 220), plus GF(2) and a larger 64 KiB-symbol product for throughput.
 *
 * Also the BigInt Philox stream behind every draw (docs/protocol.md §6.1).
 *
 * Run: `node benchmarks/js_gf.mjs`. Prints the median of many timed repetitions (after a
 * warm-up, so the JIT has compiled the kernel) and the bytes produced and combined per second.
 */
import { Role, streamFor } from '../rlnc_testbed/web/draws.js';
import { combine } from '../rlnc_testbed/web/gf.js';

function randomBytes(length, seed) {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function bench(label, field, rows, inner, length, { repeats, batch }) {
  let matrix = randomBytes(rows * inner, 7);
  if (field === 2) matrix = matrix.map((x) => x & 1);
  const vectors = Array.from({ length: inner }, (_, j) => randomBytes(length, 100 + j));
  for (let i = 0; i < 200; i++) combine(field, matrix, rows, inner, vectors);
  const times = [];
  for (let r = 0; r < repeats; r++) {
    const start = process.hrtime.bigint();
    for (let b = 0; b < batch; b++) combine(field, matrix, rows, inner, vectors);
    times.push(Number(process.hrtime.bigint() - start) / 1e6 / batch);
  }
  report(label, median(times), rows * length, rows * inner * length, `${repeats} x ${batch}`);
}

/** One line: the median, output MB/s, and MB/s of source bytes multiplied and added. */
function report(label, ms, outputBytes, workBytes, runs) {
  const perSecond = (bytes) => (bytes / 1e6 / (ms / 1000)).toFixed(1);
  console.log(
    `${label}: median ${(ms * 1000).toFixed(1)} us, ${perSecond(outputBytes)} MB/s out, ` +
      `${perSecond(workBytes)} MB/s multiply-added (${runs} runs)`,
  );
}

/** The BigInt Philox stream: a newcomer's draw (elements(256, 20 * 60)) and words/s. */
function benchDraws() {
  const draw = () => streamFor(2026, 3, 5, Role.NEWCOMER).elements(256, 20 * 60);
  for (let i = 0; i < 200; i++) draw();
  const times = [];
  for (let r = 0; r < 31; r++) {
    const start = process.hrtime.bigint();
    for (let b = 0; b < 50; b++) draw();
    times.push(Number(process.hrtime.bigint() - start) / 1e6 / 50);
  }
  const ms = median(times);
  const words = (20 * 60) / 8;
  console.log(
    `draws elements(256, 1200) (${words} Philox words): median ${(ms * 1000).toFixed(1)} us, ` +
      `${((words / ms) * 1000).toFixed(0)} words/s (31 x 50 runs)`,
  );
}

bench('GF(2^8) 20x20 by 20x220', 256, 20, 20, 220, { repeats: 51, batch: 200 });
bench('GF(2)   20x20 by 20x220', 2, 20, 20, 220, { repeats: 51, batch: 200 });
bench('GF(2^8) 20x20 by 20x65536', 256, 20, 20, 65536, { repeats: 11, batch: 2 });
benchDraws();
