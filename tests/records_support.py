"""What the tests that judge hand-built trial records share: a trial that verified some rounds."""

from __future__ import annotations

from rlnc_testbed.protocol.records import RoundRecord, TrialRecord


def trial_record(
    index: int, rounds: int, *, verified: int, verdict: str = "undecodable", peers: int
) -> TrialRecord:
    """Trial ``index`` of a point of ``peers`` peers and k = 6 symbols, ``rounds`` rounds long:
    rounds 1..``verified`` verify, later ones fail with ``verdict`` (an ``error`` verdict says
    ``boom``). Round r's newcomer is peer ``peers + r``."""
    made = []
    for r in range(1, rounds + 1):
        ok = r <= verified
        made.append(
            RoundRecord(
                round=r,
                failed=1,
                newcomer=peers + r,
                parents=(2, 3),
                newcomer_rank=2,
                global_rank=6 if ok else 5,
                decoded=ok,
                verified=ok,
                verdict="ok" if ok else verdict,
                error="boom" if not ok and verdict == "error" else "",
            )
        )
    return TrialRecord(trial=index, seed=0, rounds=made)
