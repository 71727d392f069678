"""Wilson score interval: published values, closed forms, properties and argument errors."""

from __future__ import annotations

import math
from statistics import NormalDist

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rlnc_testbed.analysis.stats import wilson_interval

Z95 = NormalDist().inv_cdf(0.975)


@pytest.mark.parametrize(
    ("successes", "trials", "lo", "hi"),
    [
        # Newcombe (1998), Statistics in Medicine 17:857, table I, method 3 (Wilson score).
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
        # symmetric case, by hand: centre 0.5, half-width 0.2634
        (5, 10, 0.2366, 0.7634),
    ],
)
def test_published_values(successes: int, trials: int, lo: float, hi: float) -> None:
    got = wilson_interval(successes, trials)
    assert got == pytest.approx((lo, hi), abs=6e-5)


def test_closed_forms_at_the_edges() -> None:
    n = 10
    assert wilson_interval(0, n) == (0.0, pytest.approx(Z95**2 / (n + Z95**2), rel=1e-12))
    assert wilson_interval(n, n) == (pytest.approx(n / (n + Z95**2), rel=1e-12), 1.0)


def test_no_trials_means_nothing_known() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_confidence_changes_z() -> None:
    z99 = NormalDist().inv_cdf(0.995)
    assert wilson_interval(0, 10, confidence=0.99)[1] == pytest.approx(z99**2 / (10 + z99**2))


@given(st.integers(0, 10_000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_bounds_contain_the_estimate(case: tuple[int, int]) -> None:
    successes, trials = case
    lo, hi = wilson_interval(successes, trials)
    assert 0.0 <= lo <= hi <= 1.0
    if trials:
        p = successes / trials
        assert lo <= p <= hi
        assert hi - lo > 0


@given(st.integers(1, 200), st.integers(0, 200), st.integers(2, 20))
def test_narrows_as_trials_grow(n: int, s: int, factor: int) -> None:
    s = min(s, n)
    small = wilson_interval(s, n)
    large = wilson_interval(s * factor, n * factor)
    assert large[1] - large[0] < small[1] - small[0]


@given(st.integers(1, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_symmetric_in_success_and_failure(case: tuple[int, int]) -> None:
    s, n = case
    lo, hi = wilson_interval(s, n)
    lo2, hi2 = wilson_interval(n - s, n)
    assert math.isclose(lo, 1.0 - hi2, abs_tol=1e-12)
    assert math.isclose(hi, 1.0 - lo2, abs_tol=1e-12)


def test_higher_confidence_is_wider() -> None:
    w90 = wilson_interval(30, 100, confidence=0.90)
    w99 = wilson_interval(30, 100, confidence=0.99)
    assert w99[0] < w90[0] and w99[1] > w90[1]


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((5, 4), {}, ValueError, "successes must be <= trials"),
        ((-1, 4), {}, ValueError, "successes must be >= 0"),
        ((0, -4), {}, ValueError, "trials must be >= 0"),
        ((1.0, 4), {}, TypeError, "successes must be an integer"),
        ((1, True), {}, TypeError, "trials must be an integer"),
        ((1, 4), {"confidence": 1.0}, ValueError, "confidence must be in"),
        ((1, 4), {"confidence": 0}, ValueError, "confidence must be in"),
        ((1, 4), {"confidence": "95%"}, TypeError, "confidence must be a number"),
    ],
)
def test_argument_errors_are_named(
    args: tuple[object, object], kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        wilson_interval(*args, **kwargs)  # type: ignore[arg-type]
