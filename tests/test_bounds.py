"""The functional-repair cut-set bound against hand-computed values (Dimakis et al. 2010)."""

from __future__ import annotations

import itertools
from fractions import Fraction as F

import pytest

from rlnc_testbed.analysis.bounds import (
    cut_set_bound,
    effective_k,
    mbr_point,
    min_repair_bandwidth,
    msr_point,
    tradeoff_curve,
)


@pytest.mark.parametrize("k, d", [(1, 1), (2, 3), (3, 4), (4, 4), (5, 9), (20, 25)])
def test_msr_and_mbr_points_are_the_closed_forms(k: int, d: int) -> None:
    size = F(1)
    assert msr_point(k, d) == (size / k, size * d / (k * (d - k + 1)))
    mbr = 2 * size * d / (k * (2 * d - k + 1))
    assert mbr_point(k, d) == (mbr, mbr)


def test_hand_computed_curve_k3_d4() -> None:
    # B = 1: MSR (1/3, 2/3); corner alpha = 3 beta: beta = 1/8 -> (3/8, 1/2); MBR (4/9, 4/9)
    assert tradeoff_curve(3, 4) == [(F(1, 3), F(2, 3)), (F(3, 8), F(1, 2)), (F(4, 9), F(4, 9))]
    assert cut_set_bound(F(3, 8), F(1, 8), 3, 4) == 1  # 3/8 + 3/8 + 2/8
    assert cut_set_bound(F(1, 3), F(1, 6), 3, 4) == 1  # 1/3 * 3 (every term at alpha)
    assert cut_set_bound(F(4, 9), F(1, 9), 3, 4) == 1  # 4/9 + 3/9 + 2/9
    assert tradeoff_curve(3, 4, 20) == [(a * 20, g * 20) for a, g in tradeoff_curve(3, 4)]


def test_the_bound_of_a_few_plain_numbers() -> None:
    assert cut_set_bound(2, 1, 2, 3) == 2 + 2  # min(2, 3) + min(2, 2)
    assert cut_set_bound(1.0, 0.25, 3, 3) == pytest.approx(0.75 + 0.5 + 0.25)
    assert cut_set_bound(5, 1, 4, 2) == 2 + 1  # (d - i)^+: nodes 3 and 4 add nothing
    assert cut_set_bound(0, 3, 2, 2) == 0


@pytest.mark.parametrize("k, d", [(2, 3), (3, 4), (5, 9), (4, 4)])
def test_every_corner_and_midpoint_meets_the_bound_exactly(k: int, d: int) -> None:
    curve = tradeoff_curve(k, d)
    assert len(curve) == k
    assert [a for a, _ in curve] == sorted(a for a, _ in curve)  # storage grows, traffic falls
    assert [g for _, g in curve] == sorted((g for _, g in curve), reverse=True)
    points = [*curve, *(((a0 + a1) / 2, (g0 + g1) / 2)
                        for (a0, g0), (a1, g1) in itertools.pairwise(curve))]  # fmt: skip
    for alpha, gamma in points:
        assert min_repair_bandwidth(alpha, k, d) == gamma
        assert cut_set_bound(alpha, gamma / d, k, d) == 1
        assert cut_set_bound(alpha, gamma / d * F(99, 100), k, d) < 1


def test_below_msr_nothing_suffices_and_above_mbr_traffic_stays() -> None:
    assert min_repair_bandwidth(F(1, 4), 3, 4) is None
    assert min_repair_bandwidth(F(1), 3, 4) == F(4, 9)


def test_a_collector_reading_more_nodes_than_parents_is_bounded_as_k_equals_d() -> None:
    # the testbed: the collector reads all N = 10 nodes, a newcomer P = 3 parents
    assert effective_k(10, 3) == 3
    assert tradeoff_curve(10, 3) == tradeoff_curve(3, 3)
    assert msr_point(10, 3) == (F(1, 3), F(1))  # B / d, a whole file per repair
    assert mbr_point(10, 3) == (F(1, 2), F(1, 2))  # 2B / (d + 1)
    assert min_repair_bandwidth(F(9, 10), 10, 1) is None  # P = 1 needs a whole file per node
    assert mbr_point(10, 1) == (1, 1)


@pytest.mark.parametrize("k, d", [(0, 1), (1, 0), (True, 2), (2.0, 3)])
def test_bad_k_or_d_is_named(k: object, d: object) -> None:
    with pytest.raises(ValueError, match="must be an integer >= 1"):
        tradeoff_curve(k, d)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=">= 0"):
        cut_set_bound(-1, 1, 2, 2)
