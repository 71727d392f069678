"""The one-off warm-up before the first timed trial, so that no round's duration holds it."""

from __future__ import annotations

import logging

from ...protocol.params import Params

__all__ = ["warm_up"]

logger = logging.getLogger(__name__)


def warm_up(points: list[Params], transport: str, data: bytes | None) -> None:
    """Before the first timed trial, run the one-off warm-up untimed: numba compiling (or
    loading from its cache) the coding kernels, first imports and first calls. For memory and
    webrtc: one 3-peer, 1-round trial of each (scheme, field, systematic) over the same
    transport; for sim with data, one round in the reference simulator (the compiled simulator
    records no durations). So no round's duration (the rounds table's ms column, the
    histories' ``duration``) holds it. Best effort: a failed warm-up is logged and the run goes
    on (its own trials report any real failure)."""
    if transport == "sim" and data is None:
        return
    import asyncio

    seen = set()
    for p in points:
        key = (p.scheme, p.field, p.systematic)
        if key in seen:
            continue
        seen.add(key)
        tiny = Params(
            peers=3, symbols=2, symbol_size=8, redundancy=3.0, parents=2, rounds=1,
            scheme=p.scheme, field=p.field, keep=p.keep, systematic=p.systematic, seed=p.seed,
        )  # fmt: skip
        try:
            if transport == "sim":
                from ...simulation.reference import simulate_trial

                simulate_trial(tiny, 0)
            else:
                from ...experiment.cluster import run_trial

                asyncio.run(run_trial(tiny, 0, transport=transport))
        except Exception as exc:  # best effort, see above
            logger.warning("warm-up trial over %s failed (the run goes on): %s", transport, exc)
            return
