"""Make ``tests/js/model-fixture.jsonl``: the history of a real run that the animated model's
state tests (``model.test.mjs``) fold.

Three trials over the memory transport (real signaling, real roles, in-memory data channels,
so the history has per-link ``transfer`` lines), five peers, two parents, redundancy 1.6: two
trials survive all four rounds and one is lost in round 3 (``undecodable``). Run it from the
repository root after changing the history format::

    python tests/js/model_fixture.py

``tests/test_dashboard.py`` checks the committed file still reads back and that its decided
outcomes are those the simulator gives for the same parameters.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rlnc_testbed.protocol.params import Params

FIXTURE = Path(__file__).resolve().parent / "model-fixture.jsonl"
PARAMS = Params(
    peers=5, symbols=8, symbol_size=32, redundancy=1.6, parents=2, scheme="rlnc", rounds=4,
    trials=3, seed=0,
)  # fmt: skip
TRANSPORT = "memory"


def make(path: Path = FIXTURE, *, transport: str = TRANSPORT) -> Path:
    """Run :data:`PARAMS` over ``transport`` with its history at ``path``; returns ``path``."""
    from rlnc_testbed.experiment.runner import run_point

    run_point(PARAMS, transport=transport, history=path, overwrite=True,
              command=["python", "tests/js/model_fixture.py"])  # fmt: skip
    return path


if __name__ == "__main__":
    print(make(Path(sys.argv[1]) if len(sys.argv) > 1 else FIXTURE))
