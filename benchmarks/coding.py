"""Coding benchmark: encode/decode goodput of rlnc_testbed.coding vs galois and Intel ISA-L.

Run: ``python benchmarks/coding.py [--reps N] [--quick]``. Everything is measured in this one
run and printed as medians (source bytes per second) with ratios ours/galois and ours/ISA-L.

* encode: ``Encoder.encode(k)`` (k random GF(2^8) combinations of k symbols, draws included);
  galois: the same k x k by k x s matrix product on field arrays; ISA-L: ``ec_init_tables`` +
  ``ec_encode_data`` with the same matrix.
* decode: a fresh ``Decoder`` consuming k packets and ``recover()``; galois: matrix inverse +
  product; ISA-L (the native ceiling): ``gf_invert_matrix`` + tables + ``ec_encode_data``.

ISA-L is loaded with ctypes when ``libisal.so.2`` is installed (``apt-get install libisal2``);
otherwise its columns are blank. GF(2) goodput of our coder is printed alongside for reference.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rlnc_testbed.coding import CodedPacket, Decoder, Encoder

__all__ = ["main"]

KS = (16, 32, 64)
SIZES = (1024, 16 * 1024, 64 * 1024)


def median_seconds(run: Callable[[], object], reps: int) -> float:
    """Median wall time of ``reps`` calls of ``run`` (after one warm-up call)."""
    run()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


class IsaL:
    """Minimal ctypes binding of ISA-L's erasure-code API (GF(2^8), polynomial 0x11d)."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        self.lib = lib
        lib.ec_init_tables.restype = None
        lib.ec_encode_data.restype = None
        lib.gf_invert_matrix.restype = ctypes.c_int

    @classmethod
    def load(cls) -> IsaL | None:
        name = ctypes.util.find_library("isal") or "libisal.so.2"
        try:
            return cls(ctypes.CDLL(name))
        except OSError:
            return None

    def bind(self, rows: np.ndarray, out: np.ndarray) -> Callable[[np.ndarray], None]:
        """Return ``f(matrix)`` doing out = matrix @ rows; row pointers are built once here."""
        k, n, size = rows.shape[0], out.shape[0], rows.shape[1]
        sources = (ctypes.c_void_p * k)(*[rows[i].ctypes.data for i in range(k)])
        outputs = (ctypes.c_void_p * n)(*[out[i].ctypes.data for i in range(n)])
        tables = np.empty(32 * n * k, dtype=np.uint8)

        def product(matrix: np.ndarray) -> None:
            matrix = np.ascontiguousarray(matrix)
            self.lib.ec_init_tables(k, n, _ptr(matrix), _ptr(tables))
            self.lib.ec_encode_data(size, k, n, _ptr(tables), sources, outputs)

        return product

    def invert(self, matrix: np.ndarray) -> np.ndarray:
        work = np.array(matrix, dtype=np.uint8, order="C")
        inverse = np.empty_like(work)
        if self.lib.gf_invert_matrix(_ptr(work), _ptr(inverse), work.shape[0]) != 0:
            raise ValueError("singular matrix")
        return inverse


def _ptr(array: np.ndarray) -> ctypes.c_void_p:
    return ctypes.c_void_p(array.ctypes.data)


def full_rank_packets(enc: Encoder) -> list[CodedPacket]:
    """k packets from ``enc`` whose coefficient matrix is invertible."""
    while True:
        packets = enc.encode(enc.symbols)
        dec = Decoder(symbols=enc.symbols, symbol_size=enc.symbol_size, field=enc.field)
        if all(dec.consume(p) for p in packets):
            return packets


def decode(packets: list[CodedPacket], k: int, s: int, field: int) -> bytes:
    dec = Decoder(symbols=k, symbol_size=s, field=field)
    for packet in packets:
        dec.consume(packet)
    return dec.recover()


def measure(k: int, s: int, reps: int, gf: object, isal: IsaL | None) -> dict[str, float]:
    """Goodputs (bytes/s) for one (k, s) point."""
    rng = np.random.default_rng(k * 1_000_003 + s)
    data = rng.integers(0, 256, size=k * s, dtype=np.uint8).tobytes()
    rates: dict[str, float] = {}
    for field in (256, 2):
        enc = Encoder(data, symbols=k, symbol_size=s, field=field, rng=rng)
        rates[f"enc{field}"] = k * s / median_seconds(partial(enc.encode, k), reps)
        packets = full_rank_packets(enc)
        assert decode(packets, k, s, field) == data
        run = partial(decode, packets, k, s, field)
        rates[f"dec{field}"] = k * s / median_seconds(run, reps)
    enc = Encoder(data, symbols=k, symbol_size=s, rng=rng)
    packets = full_rank_packets(enc)
    c = np.stack([p.coefficients for p in packets])
    y = np.stack([p.payload for p in packets])
    source = enc.source
    slow_reps = max(1, min(reps, 3))
    gc, gy, gs = gf(c), gf(y), gf(source)  # type: ignore[operator]
    assert np.array_equal(np.array(gc @ gs), y)
    rates["enc_galois"] = k * s / median_seconds(lambda: gc @ gs, slow_reps)
    rates["dec_galois"] = k * s / median_seconds(lambda: np.linalg.inv(gc) @ gy, slow_reps)
    if isal is not None:
        out = np.empty((k, s), dtype=np.uint8)
        encode = isal.bind(source, out)
        encode(c)
        assert np.array_equal(out, y)
        rates["enc_isal"] = k * s / median_seconds(lambda: encode(c), reps)
        decode_isal = isal.bind(y, out)
        decode_isal(isal.invert(c))
        assert out.tobytes() == data
        rates["dec_isal"] = k * s / median_seconds(lambda: decode_isal(isal.invert(c)), reps)
    return rates


def _fmt(rate: float | None) -> str:
    return "       -" if rate is None else f"{rate / 1e6:8.1f}"


def _ratio(a: float, b: float | None) -> str:
    return "      -" if b is None else f"{a / b:7.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=15, help="timed repetitions per point")
    parser.add_argument("--quick", action="store_true", help="only k=32 with 16 KiB symbols")
    args = parser.parse_args(argv)
    import galois

    gf = galois.GF(2**8)
    isal = IsaL.load()
    print(f"galois {galois.__version__}; ISA-L: {'loaded' if isal else 'not installed'}")
    print("goodput in MB/s of source data (median of runs); GF(2^8) unless marked gf2")
    head = (
        f"{'k':>3} {'size':>6} | {'op':>3} {'ours':>8} {'galois':>8} {'ISA-L':>8} "
        f"{'/galois':>7} {'/ISA-L':>7} | {'ours gf2':>8}"
    )
    print(head)
    print("-" * len(head))
    points = [(32, 16 * 1024)] if args.quick else [(k, s) for k in KS for s in SIZES]
    for k, s in points:
        r = measure(k, s, args.reps, gf, isal)
        for op in ("enc", "dec"):
            ours, ref, nat = r[f"{op}256"], r[f"{op}_galois"], r.get(f"{op}_isal")
            print(
                f"{k:>3} {s // 1024:>4}Ki | {op:>3} {_fmt(ours)} {_fmt(ref)} {_fmt(nat)} "
                f"{_ratio(ours, ref)} {_ratio(ours, nat)} | {_fmt(r[f'{op}2'])}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
