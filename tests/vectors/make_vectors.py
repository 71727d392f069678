"""Generate ``draws.json``: test vectors of the specified draws (docs/protocol.md §6).

Run ``python tests/vectors/make_vectors.py`` after a deliberate change of the specification;
``tests/test_protocol_draws.py`` fails while the file and the code disagree. Every
implementation of the draws (Python roles, the compiled simulator, the JavaScript peer) is
checked against this one file. Numbers above 2**53 are written as hex strings so that any JSON
reader keeps them exact.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from rlnc_testbed.protocol.draws import Role, stream_for, stream_key  # noqa: E402
from rlnc_testbed.protocol.params import Params  # noqa: E402
from rlnc_testbed.protocol.rules import source_bytes  # noqa: E402
from rlnc_testbed.simulation.reference import simulate_trial  # noqa: E402

__all__ = ["build", "main"]

KEYS = [
    (0, 0, 0, Role.ENGINE, 0),
    (0, 0, 1, Role.SERVER, 0),
    (0, 0, 1, Role.PARENT, 1),
    (2026, 5, 3, Role.NEWCOMER, 0),
    (2**63 - 1, 2**40, 999, Role.SOURCE, 0),
    (7, 3, 2, Role.PARENT, 12),
    (11, 2, 3, Role.FAULT, 1),
    # LINK index of sender "3" -> receiver "collector": 3 * 2**32 + (2**32 - 2)
    (11, 2, 3, Role.LINK, 3 * 2**32 + 2**32 - 2),
]
BELOW_BOUNDS = [1, 2, 3, 10, 1000, 2**32 + 1, 2**63 + 1, 2**64 - 1, 2**63 + 1, 2**63 + 1, 6]
SAMPLES = [(1, 1), (5, 0), (6, 6), (10, 3), (100, 7), (9, 9)]
ELEMENTS = [(256, 0), (256, 1), (256, 8), (256, 13), (2, 1), (2, 64), (2, 70)]
TRIALS = [
    # keep is pinned on every trial: the default changed ("shuffle" -> "distinct") after these
    # vectors were made, and they must not change (rlnc ignores keep).
    (
        {
            "peers": 4,
            "symbols": 4,
            "symbol_size": 3,
            "q": 2,
            "parents": 2,
            "keep": "shuffle",
            "rounds": 3,
        },
        0,
    ),
    (
        {
            "peers": 4,
            "symbols": 4,
            "symbol_size": 3,
            "q": 2,
            "parents": 3,
            "beta": 1,
            "field": 2,
            "keep": "shuffle",
            "rounds": 3,
            "seed": 9,
        },
        1,
    ),
    (
        {
            "peers": 5,
            "symbols": 3,
            "symbol_size": 2,
            "q": 2,
            "parents": 2,
            "beta": 1,
            "scheme": "coded-copy",
            "keep": "shuffle",
            "systematic": True,
            "rounds": 3,
            "seed": 4,
        },
        2,
    ),
    (
        {
            "peers": 4,
            "symbols": 3,
            "symbol_size": 2,
            "q": 2,
            "parents": 2,
            "scheme": "replication",
            "keep": "block",
            "rounds": 3,
            "failures": [2],
            "seed": 1,
        },
        0,
    ),
    (
        {
            "peers": 4,
            "symbols": 4,
            "symbol_size": 2,
            "q": 3,
            "parents": 3,
            "beta": 2,
            "scheme": "coded-copy",
            "keep": "shuffle",
            "rounds": 3,
            "seed": 11,
        },
        3,
    ),
    (
        {
            "peers": 4,
            "symbols": 4,
            "symbol_size": 2,
            "q": 1,
            "parents": 2,
            "field": 2,
            "keep": "shuffle",
            "rounds": 4,
            "seed": 5,
        },
        0,
    ),
    # keep = "distinct" where uploads repeat vectors (so it keeps what "shuffle" would not):
    # every symbol on 4 of 5 peers; then GF(2) coded copies of 2 symbols (4 possible vectors)
    (
        {
            "peers": 5,
            "symbols": 3,
            "symbol_size": 2,
            "q": 3,
            "parents": 3,
            "scheme": "replication",
            "keep": "distinct",
            "rounds": 3,
            "seed": 3,
        },
        0,
    ),
    (
        {
            "peers": 5,
            "symbols": 2,
            "symbol_size": 2,
            "q": 3,
            "parents": 3,
            "beta": 2,
            "field": 2,
            "scheme": "coded-copy",
            "keep": "distinct",
            "rounds": 3,
            "seed": 6,
        },
        1,
    ),
]


def _hex(value: int) -> str:
    return f"0x{int(value):016x}"


def _key(seed: int, trial: int, rnd: int, role: Role, index: int) -> dict[str, Any]:
    return {
        "seed": _hex(seed),
        "trial": _hex(trial),
        "round": rnd,
        "role": int(role),
        "role_name": role.name,
        "index": index,
    }


def _streams() -> list[dict[str, Any]]:
    out = []
    for seed, trial, rnd, role, index in KEYS:
        lo, hi = stream_key(seed, trial, rnd, role, index)
        words = stream_for(seed, trial, rnd, role, index).words(9)
        out.append(
            {
                "key": _key(seed, trial, rnd, role, index),
                "philox_key": [_hex(lo), _hex(hi)],
                "words": [_hex(w) for w in words],
            }
        )
    return out


def _below() -> list[dict[str, Any]]:
    out = []
    for seed, trial, rnd, role, index in KEYS[:3]:
        stream = stream_for(seed, trial, rnd, role, index)
        values = [stream.below(n) for n in BELOW_BOUNDS]
        out.append(
            {
                "key": _key(seed, trial, rnd, role, index),
                "bounds": [_hex(n) for n in BELOW_BOUNDS],
                "values": [_hex(v) for v in values],
                "words_used": stream.used,
            }
        )
    return out


def _samples() -> list[dict[str, Any]]:
    out = []
    for seed, trial, rnd, role, index in KEYS[1:4]:
        for n, m in SAMPLES:
            stream = stream_for(seed, trial, rnd, role, index)
            out.append(
                {
                    "key": _key(seed, trial, rnd, role, index),
                    "n": n,
                    "m": m,
                    "values": stream.sample(n, m),
                    "words_used": stream.used,
                }
            )
    return out


def _elements() -> list[dict[str, Any]]:
    out = []
    for seed, trial, rnd, role, index in KEYS[2:5]:
        for field, count in ELEMENTS:
            stream = stream_for(seed, trial, rnd, role, index)
            values = stream.elements(field, count).tolist()
            out.append(
                {
                    "key": _key(seed, trial, rnd, role, index),
                    "field": field,
                    "count": count,
                    "values": values,
                    "words_used": stream.used,
                }
            )
    return out


def _trials() -> list[dict[str, Any]]:
    out = []
    for raw, trial in TRIALS:
        params = Params.from_dict(raw)
        rounds: list[dict[str, Any]] = []

        def on_round(record: Any, stored: Any, rounds: list[dict[str, Any]] = rounds) -> None:
            rounds.append(
                {
                    "round": record.round,
                    "failed": record.failed,
                    "newcomer": record.newcomer,
                    "parents": list(record.parents),
                    "newcomer_rank": record.newcomer_rank,
                    "global_rank": record.global_rank,
                    "verdict": record.verdict,
                    "repair_packets": record.repair_packets,
                    "stored": {
                        str(peer): [[int(c) for c in pk.coefficients] for pk in packets]
                        for peer, packets in sorted(stored.items())
                    },
                    "payloads": {
                        str(peer): [bytes(pk.payload).hex() for pk in packets]
                        for peer, packets in sorted(stored.items())
                    },
                }
            )

        simulate_trial(params, trial, on_round=on_round)
        data = source_bytes(params.seed, trial, params.symbols * params.symbol_size)
        out.append(
            {"params": params.to_dict(), "trial": trial, "source": data.hex(), "rounds": rounds}
        )
    return out


def build() -> dict[str, Any]:
    """The whole vector file as a JSON-ready dict."""
    return {
        "about": "Test vectors of rlnc-testbed's specified draws and round rules "
        "(docs/protocol.md section 6). Regenerate with tests/vectors/make_vectors.py.",
        "streams": _streams(),
        "below": _below(),
        "sample": _samples(),
        "elements": _elements(),
        "trials": _trials(),
    }


def main() -> None:
    (HERE / "draws.json").write_text(json.dumps(build(), indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
