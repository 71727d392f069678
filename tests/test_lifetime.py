"""Lifetime until loss: Kaplan-Meier estimates, the runner's passes, and Nguyen et al.'s claim
that mean lifetime grows exponentially in redundancy for RLNC and only polynomially for
replication."""

from __future__ import annotations

import math
import random
import statistics
from pathlib import Path

import pytest

from rlnc_testbed.analysis.lifetime import (
    Lifetime,
    LifetimeSummary,
    kaplan_meier,
    lifetime_of,
    summarize_lifetimes,
)
from rlnc_testbed.experiment.runner import run_lifetime, run_lifetime_sweep, run_point
from rlnc_testbed.experiment.scenario import load_scenario
from rlnc_testbed.protocol.params import ParameterError, Params

ROOT = Path(__file__).resolve().parents[1]

# Freireich et al.'s 6-MP remission times (weeks; + = censored), the textbook Kaplan-Meier
# example: S, Greenwood SE and R's log-log 95% band (survfit(..., conf.type = "log-log")).
_SIX_MP_TEXT = "6 6 6 6+ 7 9+ 10 10+ 11+ 13 16 17+ 19+ 20+ 22 23 25+ 32+ 32+ 34+ 35+"
SIX_MP = _SIX_MP_TEXT.split()
SIX_MP_KM = [  # time, at risk, events, S, lower, upper
    (6, 21, 3, 0.8571, 0.620, 0.952),
    (7, 17, 1, 0.8067, 0.563, 0.923),
    (10, 15, 1, 0.7529, 0.503, 0.889),
    (13, 12, 1, 0.6902, 0.432, 0.849),
    (16, 11, 1, 0.6275, 0.368, 0.805),
    (22, 7, 1, 0.5378, 0.268, 0.747),
    (23, 6, 1, 0.4482, 0.188, 0.680),
]


def _six_mp() -> tuple[list[int], list[bool]]:
    # an event at time X is a loss in round X (lifetime X - 1); X+ lived at least X rounds
    lifetimes = [int(t[:-1]) if t.endswith("+") else int(t) - 1 for t in SIX_MP]
    return lifetimes, [t.endswith("+") for t in SIX_MP]


def test_kaplan_meier_matches_the_textbook_example() -> None:
    km = kaplan_meier(*_six_mp())
    assert km.times == tuple(row[0] for row in SIX_MP_KM)
    assert km.at_risk == tuple(row[1] for row in SIX_MP_KM)
    assert km.lost == tuple(row[2] for row in SIX_MP_KM)
    for (_, _, _, s, lo, hi), got_s, got_lo, got_hi in zip(
        SIX_MP_KM, km.survival, km.lower, km.upper, strict=True
    ):
        assert got_s == pytest.approx(s, abs=5e-5)
        assert got_lo == pytest.approx(lo, abs=2e-3)
        assert got_hi == pytest.approx(hi, abs=2e-3)


def test_median_and_its_interval_of_the_textbook_example() -> None:
    lifetimes, censored = _six_mp()
    lives = [Lifetime(i, L, c) for i, (L, c) in enumerate(zip(lifetimes, censored, strict=True))]
    # the cap plays no part here: no lifetime reaches it uncensored
    summary = summarize_lifetimes(Params(), lives, cap=35)
    # R: median 23 (loss round), 0.95LCL 13, UCL NA
    assert summary.median == 23 - 1
    assert summary.median_ci95 == (13 - 1, None)
    assert summary.mean_restricted


def _brute_survival(lifetimes: list[int], censored: list[bool], t: int) -> float:
    """prod over rounds j <= t of (1 - lost in j / at risk in j), written out round by round."""
    s = 1.0
    for j in range(1, t + 1):
        at_risk = sum(1 for L, c in zip(lifetimes, censored, strict=True) if j <= L or
                      (not c and j <= L + 1))  # fmt: skip
        lost = sum(1 for L, c in zip(lifetimes, censored, strict=True) if not c and j == L + 1)
        if at_risk:
            s *= 1 - lost / at_risk
    return s


@pytest.mark.parametrize("seed", range(5))
def test_kaplan_meier_equals_a_round_by_round_product(seed: int) -> None:
    rng = random.Random(seed)
    lifetimes = [rng.randrange(0, 30) for _ in range(40)]
    censored = [rng.random() < 0.3 for _ in lifetimes]
    km = kaplan_meier(lifetimes, censored)
    for t in range(0, 35):
        assert km.at(t) == pytest.approx(_brute_survival(lifetimes, censored, t))


def test_without_censoring_the_estimates_are_the_sample_ones() -> None:
    rng = random.Random(7)
    values = [int(rng.expovariate(1 / 40)) for _ in range(301)]
    lives = [Lifetime(i, v, False) for i, v in enumerate(values)]
    summary = summarize_lifetimes(Params(), lives, cap=10**6)
    assert summary.mean == pytest.approx(statistics.fmean(values))
    assert not summary.mean_restricted and summary.censored == 0
    assert summary.median == sorted(values)[150]  # the lower median (odd count: the median)
    # the delta-method variance is (n - 1) / n times the sample one, over n
    half = (summary.mean_ci95[1] - summary.mean_ci95[0]) / 2
    n = len(values)
    expected = 1.959964 * math.sqrt(statistics.variance(values) * (n - 1) / n / n)
    assert half == pytest.approx(expected, rel=1e-3)


def test_with_a_common_cap_the_mean_is_restricted_to_it() -> None:
    values = [3, 5, 10, 10, 10, 10, 1]
    lives = [Lifetime(i, v, v == 10) for i, v in enumerate(values)]
    summary = summarize_lifetimes(Params(), lives, cap=10)
    assert summary.mean == pytest.approx(statistics.fmean(values))  # E[min(L, cap)]
    assert summary.mean_restricted and summary.censored == 4 and summary.lost == 3
    assert summary.median is None  # more than half the trials reached the cap
    assert summary.median_ci95[1] is None
    # S after round t, read from the curve, is the fraction with lifetime >= t
    km = summary.survival()
    for t in range(12):
        assert km.at(t) == pytest.approx(sum(v >= min(t, 10) for v in values) / 7)
    # exactly half lost: the median is the round by which half were lost, minus one
    half = summarize_lifetimes(Params(), lives[:2] + lives[3:5], cap=10)
    assert half.median == 5


def test_summary_round_trips_through_a_dict() -> None:
    lives = [Lifetime(0, 4, False), Lifetime(1, 9, True), Lifetime(2, 2, False)]
    summary = summarize_lifetimes(Params(), lives, cap=9)
    assert LifetimeSummary.from_dict(summary.to_dict()) == summary


def test_lifetimes_past_the_cap_are_refused() -> None:
    with pytest.raises(ValueError, match="trial 0"):
        summarize_lifetimes(Params(), [Lifetime(0, 12, False)], cap=10)


# -- the runner -------------------------------------------------------------------------------

LONG = Params(peers=10, symbols=20, redundancy=2.0, parents=3, trials=24, seed=3)


def test_sim_passes_give_the_records_rounds_survived() -> None:
    """Played in passes of growing max round (64, 512, ...): the same rounds survived as one
    run_point with rounds = cap, censored exactly when all cap rounds verified."""
    cap = 700
    result = run_lifetime(LONG, cap=cap)
    records = run_point(LONG.with_(rounds=cap)).trials
    assert [life.rounds for life in result.lifetimes] == [r.survived_rounds for r in records]
    assert [life.censored for life in result.lifetimes] == [r.success for r in records]
    assert any(life.censored for life in result.lifetimes)
    assert any(64 < life.rounds < cap for life in result.lifetimes)  # needed a second pass
    assert result.params.rounds == cap and result.summary.cap == cap


def test_networked_lifetimes_equal_the_simulator() -> None:
    params = Params(peers=4, symbols=6, symbol_size=16, redundancy=2.0, parents=2, trials=2)
    sim = run_lifetime(params, cap=40)
    memory = run_lifetime(params, cap=40, transport="memory")
    assert [(x.rounds, x.censored) for x in memory.lifetimes] == [
        (x.rounds, x.censored) for x in sim.lifetimes
    ]
    assert memory.summary.mean == sim.summary.mean


def test_lifetime_of_a_record() -> None:
    records = run_point(LONG.with_(rounds=5, trials=3)).trials
    assert [lifetime_of(r, 5).censored for r in records] == [r.success for r in records]


def test_sim_until_loss_refuses_a_history(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="history"):
        run_lifetime(LONG, cap=10, history=tmp_path / "h.jsonl")


# -- Nguyen et al. (TPDS 2013) ----------------------------------------------------------------


def _slope(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares slope of ys on xs, and R^2."""
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    slope = sxy / sxx
    residual = sum((y - my - slope * (x - mx)) ** 2 for x, y in zip(xs, ys, strict=True))
    return slope, 1 - residual / sum((y - my) ** 2 for y in ys)


def test_rlnc_lifetime_grows_exponentially_in_redundancy_replication_polynomially() -> None:
    """The scenario's sweep on small parameters: log(mean lifetime) is close to linear in r for
    rlnc, with a slope several times replication's, whose lifetime grows like a low power of
    r (log-log slope near 2)."""
    base = load_scenario(ROOT / "scenarios" / "lifetime_rlnc_vs_replication.toml").params
    qs = (2, 3, 4, 5)
    points = [
        base.with_(scheme=scheme, q=q, redundancy=None, trials=60)
        for scheme in ("rlnc", "replication")
        for q in qs
    ]
    results = run_lifetime_sweep(points, cap=100_000)
    assert all(r.summary.censored == 0 for r in results)
    r_values = [base.peers * q / base.symbols for q in qs]
    rlnc = [r.summary.mean for r in results[: len(qs)]]
    repl = [r.summary.mean for r in results[len(qs) :]]
    rlnc_slope, rlnc_fit = _slope(r_values, [math.log(m) for m in rlnc])
    assert rlnc_fit > 0.95, rlnc  # roughly a straight line on a log axis
    assert rlnc_slope > 2.0, rlnc  # x7 or more per unit of redundancy
    # where both have data to lose (r >= 2): rlnc's log-slope is several times replication's
    top = slice(1, None)
    rlnc_top, _ = _slope(r_values[top], [math.log(m) for m in rlnc[top]])
    repl_top, _ = _slope(r_values[top], [math.log(m) for m in repl[top]])
    assert rlnc_top > 3 * repl_top, (rlnc, repl)
    power, _ = _slope([math.log(r) for r in r_values[top]], [math.log(m) for m in repl[top]])
    assert 0.5 < power < 4, repl  # replication: polynomial, a low power of r
    assert all(a > 3 * b for a, b in zip(rlnc, repl, strict=True))
