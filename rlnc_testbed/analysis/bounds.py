"""The storage / repair-bandwidth tradeoff of functional repair (Dimakis et al., IEEE Trans. IT
2010): the cut-set bound and the curve of the least repair traffic for each storage size.

A file of B symbols lives on nodes that store ``alpha`` each; a data collector reads ``k``
nodes; a newcomer downloads ``beta`` from each of ``d`` parents (repair traffic
``gamma = d * beta``). Every information flow graph then has a cut of at most

    sum_{i=0}^{k-1} min(alpha, (d - i)^+ beta)

so the file survives every sequence of failures only if that sum is >= B. ``(d - i)^+`` is
``max(d - i, 0)``: with ``k > d`` the collector's later nodes may have all their parents among
its earlier ones and add nothing, so the bound is that of ``k = d`` (:func:`effective_k`). In
this testbed the collector reads every alive node (``k = N``) and the parents are ``d = P``.

Plain arithmetic on ints, floats or :class:`fractions.Fraction` (exact in, exact out), no
numpy; :func:`tradeoff_curve` gives the curve's corner points from MSR to MBR.
"""

from __future__ import annotations

import itertools
from fractions import Fraction

__all__ = [
    "cut_set_bound",
    "effective_k",
    "mbr_point",
    "min_repair_bandwidth",
    "msr_point",
    "tradeoff_curve",
]

#: What goes in (alpha, beta, sizes); what comes out is a Fraction for exact input, else a float.
Number = int | float | Fraction
Real = Fraction | float


def _check(k: int, d: int) -> None:
    for name, value in (("k", k), ("d", d)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1; got {value!r}")


def effective_k(k: int, d: int) -> int:
    """The collector's nodes that can add information: ``min(k, d)`` (see the module text)."""
    _check(k, d)
    return min(k, d)


def cut_set_bound(alpha: Number, beta: Number, k: int, d: int) -> Number:
    """``sum_{i=0}^{k-1} min(alpha, (d - i)^+ beta)``: the most a file may hold (in the units
    of ``alpha`` and ``beta``) and survive every failure sequence."""
    _check(k, d)
    if alpha < 0 or beta < 0:
        raise ValueError(f"alpha and beta must be >= 0; got {alpha!r}, {beta!r}")
    return sum((min(alpha, max(d - i, 0) * beta) for i in range(k)), start=alpha * 0)


def _corner(j: int, k: int, d: int, size: Number) -> tuple[Real, Real]:
    # alpha = (d - j) beta: nodes i <= j are cut at alpha, the rest at (d - i) beta
    weight = (j + 1) * (d - j) + sum(d - i for i in range(j + 1, k))
    beta: Real = Fraction(size, weight) if isinstance(size, int | Fraction) else size / weight
    return (d - j) * beta, d * beta


def tradeoff_curve(k: int, d: int, size: Number = 1) -> list[tuple[Real, Real]]:
    """The corner points ``(alpha, gamma)`` of the least repair traffic ``gamma = d beta`` for
    each storage ``alpha``, for a file of ``size`` (default 1: in units of the file): from the
    minimum-storage point (MSR) to the minimum-bandwidth point (MBR), ``effective_k`` points.
    The curve is linear between corners; above MBR's alpha gamma stays at MBR's, below MSR's
    alpha no gamma suffices. An int or Fraction size gives Fractions."""
    k = effective_k(k, d)
    return [_corner(j, k, d, size) for j in range(k - 1, -1, -1)]


def msr_point(k: int, d: int, size: Number = 1) -> tuple[Real, Real]:
    """``(B / k, B d / (k (d - k + 1)))`` with ``k = effective_k(k, d)``."""
    return tradeoff_curve(k, d, size)[0]


def mbr_point(k: int, d: int, size: Number = 1) -> tuple[Real, Real]:
    """``(2 B d / (k (2 d - k + 1)),)`` twice (alpha = gamma), with ``k = effective_k(k, d)``."""
    return tradeoff_curve(k, d, size)[-1]


def min_repair_bandwidth(alpha: Number, k: int, d: int, size: Number = 1) -> Real | None:
    """The least ``gamma = d beta`` with ``cut_set_bound(alpha, beta, k, d) >= size``, or
    None when no beta suffices (``alpha`` below MSR's ``size / effective_k``)."""
    curve = tradeoff_curve(k, d, size)
    if alpha < curve[0][0]:
        return None
    if alpha >= curve[-1][0]:
        return curve[-1][1]
    for (a0, g0), (a1, g1) in itertools.pairwise(curve):
        if a0 <= alpha <= a1:
            return g0 + (g1 - g0) * (alpha - a0) / (a1 - a0)
    raise AssertionError("unreachable: alpha lies between MSR and MBR")  # pragma: no cover
