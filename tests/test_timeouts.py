"""Deadlines derived from the work: monotone in every count, bounded, scaled by
``RLNC_TIMEOUT_FACTOR``, and the trial controller uses exactly them (no timing here)."""

from __future__ import annotations

import dataclasses

import pytest

from rlnc_testbed import timeouts
from rlnc_testbed.protocol import Params
from rlnc_testbed.protocol.rounds import (
    PHASE_UNITS,
    Phase,
    TrialController,
    phase_deadline_units,
    phase_work,
)
from rlnc_testbed.timeouts import MAX_DEADLINE_UNITS, Work, deadline_seconds, deadline_units

COUNTS = [f.name for f in dataclasses.fields(Work)]
PHASES = list(PHASE_UNITS)


def scaled(n: int, **overrides: object) -> Params:
    """The issue's scale family: k = 2N, 64-byte symbols, r = 2, P = 3."""
    values = dict(peers=n, symbols=2 * n, symbol_size=64, redundancy=2.0, parents=3, rounds=2)
    values.update(overrides)
    return Params(**values)  # type: ignore[arg-type]


# -- Work and deadline_units -----------------------------------------------------------------


def test_no_work_costs_nothing_and_the_base_is_the_floor() -> None:
    assert Work().units() == 0
    assert deadline_units(10.0) == 10.0
    assert deadline_units(10.0, Work()) == 10.0


@pytest.mark.parametrize("count", COUNTS)
def test_each_count_raises_the_deadline(count: str) -> None:
    previous = deadline_units(5.0)
    for amount in (1, 10, 1000, 100_000):
        now = deadline_units(5.0, Work(**{count: amount}))
        if previous == MAX_DEADLINE_UNITS:
            assert now == MAX_DEADLINE_UNITS
        else:
            assert now > previous, f"{count}={amount} did not raise the deadline"
        previous = now


@pytest.mark.parametrize("count", COUNTS)
def test_deadlines_are_bounded(count: str) -> None:
    assert deadline_units(20.0, Work(**{count: 10**15})) == MAX_DEADLINE_UNITS
    assert deadline_units(1000.0) == MAX_DEADLINE_UNITS  # the cap wins over a big base too


def test_work_adds_up() -> None:
    a, b = Work(links=3, bytes=100), Work(links=1, joins=2)
    assert a + b == Work(links=4, bytes=100, joins=2)
    assert (a + b).units() == pytest.approx(a.units() + b.units())


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_work_counts_must_be_non_negative_integers(bad: object) -> None:
    with pytest.raises(ValueError, match=r"Work\.links must be an integer >= 0"):
        Work(links=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [0, -1.0, True])
def test_base_must_be_positive(bad: object) -> None:
    with pytest.raises(ValueError, match="base must be a number > 0"):
        deadline_units(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="work must be a Work"):
        deadline_units(1.0, 5)  # type: ignore[arg-type]


def test_deadline_seconds_follow_the_timeout_factor(monkeypatch: pytest.MonkeyPatch) -> None:
    work = Work(links=1000, packets=4000)
    monkeypatch.setenv("RLNC_TIMEOUT_FACTOR", "1")
    one = deadline_seconds(10.0, work)
    monkeypatch.setenv("RLNC_TIMEOUT_FACTOR", "3")
    assert deadline_seconds(10.0, work) == pytest.approx(3 * one)
    assert deadline_units(10.0, work) == pytest.approx(one / timeouts.TIMEOUT_UNIT)


# -- the phases of a trial -------------------------------------------------------------------


@pytest.mark.parametrize("phase", PHASES)
def test_phase_deadlines_grow_with_n_and_stay_bounded(phase: Phase) -> None:
    sizes = [10, 30, 100, 300, 1000, 2000]
    values = [phase_deadline_units(phase, scaled(n)) for n in sizes]
    assert values == sorted(values), f"{phase.name}: {values}"
    assert values[0] >= PHASE_UNITS[phase]
    assert all(v <= MAX_DEADLINE_UNITS for v in values)


@pytest.mark.parametrize(
    ("change", "phases"),
    [
        ({"symbol_size": 1024}, (Phase.DISTRIBUTING, Phase.REPAIRING, Phase.COLLECTING)),
        ({"q": 8}, (Phase.DISTRIBUTING, Phase.REPAIRING, Phase.COLLECTING)),
        ({"parents": 6}, (Phase.REPAIRING, Phase.COLLECTING)),
    ],
)
def test_more_work_per_peer_means_longer_phases(change: dict[str, int], phases: tuple) -> None:
    base, more = scaled(100), scaled(100, **change)
    for phase in phases:
        assert phase_deadline_units(phase, more) > phase_deadline_units(phase, base), phase
    for phase in PHASES:
        assert phase_deadline_units(phase, more) >= phase_deadline_units(phase, base), phase


def test_process_nodes_lengthen_joining_and_failing_only() -> None:
    p = scaled(50)
    for phase in PHASES:
        own, procs = (
            phase_deadline_units(phase, p),
            phase_deadline_units(phase, p, process_nodes=True),
        )
        if phase in (Phase.JOINING, Phase.FAILING):
            assert procs > own
        else:
            assert procs == own
    assert phase_work(Phase.JOINING, p, process_nodes=True).processes == 50


def test_the_work_counted_per_phase() -> None:
    p = scaled(1000)
    assert phase_work(Phase.DISTRIBUTING, p).links == 2001
    assert phase_work(Phase.REPAIRING, p).links == p.parents + 1
    collect = phase_work(Phase.COLLECTING, p)
    assert collect.packets == 1000 * p.per_peer + p.parents * p.upload
    assert phase_work(Phase.DONE, p) == Work()
    assert phase_deadline_units(Phase.DONE, p) == 0.0


def test_small_runs_keep_the_base_deadlines() -> None:
    """The 3- and 10-peer workflows: the work adds at most a couple of units to the base."""
    p = Params(peers=10, symbols=20, symbol_size=220, parents=3, rounds=5)
    for phase in PHASES:
        assert PHASE_UNITS[phase] <= phase_deadline_units(phase, p) <= PHASE_UNITS[phase] + 2


def test_the_controller_uses_the_derived_deadlines() -> None:
    p = scaled(300)
    ctl = TrialController(p, 0)
    assert ctl.deadlines == {phase: phase_deadline_units(phase, p) for phase in PHASES}
    assert ctl.deadline_units() == phase_deadline_units(Phase.JOINING, p)
    per_round = sum(ctl.deadlines[x] for x in (Phase.FAILING, Phase.REPAIRING, Phase.COLLECTING))
    setup = ctl.deadlines[Phase.JOINING] + ctl.deadlines[Phase.DISTRIBUTING]
    assert ctl.max_units() == pytest.approx(setup + p.rounds * per_round + 10.0)
    assert TrialController(p, 0, process_nodes=True).max_units() > ctl.max_units()
