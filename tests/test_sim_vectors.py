"""The compiled simulator reproduces the shared test vectors of the specification.

``tests/vectors/draws.json`` is made from the Python implementation (and checked against a
model of the specification text in ``tests/test_protocol_draws.py``); here the numba
implementation, which shares no rule code with it, must give the same words, bounded
integers, samples, elements and, for whole trials, the same decisions and the same stored
coefficient rows of every peer after every round.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rlnc_testbed.protocol import Params
from rlnc_testbed.simulation import compiled

VECTORS = json.loads((Path(__file__).parent / "vectors" / "draws.json").read_text("utf-8"))


def _key(entry: dict[str, Any]) -> tuple[int, int, int, int, int]:
    k = entry["key"]
    return int(k["seed"], 16), int(k["trial"], 16), k["round"], k["role"], k["index"]


def test_keys_and_words() -> None:
    for entry in VECTORS["streams"]:
        key = _key(entry)
        assert [f"0x{v:016x}" for v in compiled.stream_key(*key)] == entry["philox_key"]
        words = compiled.stream_words(*key, len(entry["words"]))
        assert [f"0x{int(w):016x}" for w in words] == entry["words"]


def test_below_sample_elements() -> None:
    for entry in VECTORS["below"]:
        values, used = compiled.stream_below(*_key(entry), [int(n, 16) for n in entry["bounds"]])
        assert [f"0x{int(v):016x}" for v in values] == entry["values"]
        assert used == entry["words_used"]
    for entry in VECTORS["sample"]:
        picks, used = compiled.stream_sample(*_key(entry), entry["n"], entry["m"])
        assert [int(p) for p in picks] == entry["values"] and used == entry["words_used"]
    for entry in VECTORS["elements"]:
        values, used = compiled.stream_elements(*_key(entry), entry["field"], entry["count"])
        assert [int(v) for v in values] == entry["values"] and used == entry["words_used"]


@pytest.mark.parametrize("case", VECTORS["trials"], ids=lambda c: f"trial{c['trial']}")
def test_whole_trials(case: dict[str, Any]) -> None:
    params = Params.from_dict(case["params"])
    trace = compiled.trace_trial(params, case["trial"])
    cols = trace.columns
    assert int(cols.rounds_played[0]) == len(case["rounds"])
    for r, want in enumerate(case["rounds"]):
        got = {
            "failed": int(cols.failed[0, r]),
            "newcomer": int(cols.newcomer[0, r]),
            "parents": [int(x) for x in cols.parents[0, r]],
            "newcomer_rank": int(cols.newcomer_rank[0, r]),
            "global_rank": int(cols.global_rank[0, r]),
            "repair_packets": int(cols.repair_packets[0, r]),
        }
        assert got == {name: want[name] for name in got}, f"round {r + 1}"
        stored = {
            str(peer): [[int(c) for c in row] for row in rows]
            for peer, rows in sorted(trace.stored(r + 1).items())
        }
        assert stored == want["stored"], f"round {r + 1}: stored rows"
