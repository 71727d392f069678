"""Every random decision of an experiment, from generators derived from the scenario seed.

A generator is derived from ``(seed, trial, round, role, index)`` alone - never from arrival
order or wall-clock time - so the same scenario and seed give the same failures, parents,
coefficients and keep orders over the in-process simulator and over real WebRTC.

Roles and what they draw, in order:

* ``Role.SERVER`` (round >= 1): the failed peer, then the P parents.
* ``Role.ENGINE`` (round 0): the encoding coefficients.
* ``Role.PARENT`` (index = parent id): the beta recoded packets a parent uploads (rlnc with
  beta < Q) or which beta stored packets it sends (other schemes).
* ``Role.NEWCOMER``: the recoding coefficients (rlnc) or the keep order (other schemes).
* ``Role.SOURCE`` (round 0): the synthetic source bytes, when no file is given.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

import numpy as np

__all__ = ["Role", "choose_failure", "choose_parents", "rng_for", "source_bytes"]

_MASK = (1 << 64) - 1


class Role(enum.IntEnum):
    """Who draws from a generator; part of its derivation key."""

    SERVER = 1
    ENGINE = 2
    PARENT = 3
    NEWCOMER = 4
    SOURCE = 5


def _mix(x: int) -> int:
    """splitmix64 finaliser: a bijective 64-bit mixer."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def rng_for(seed: int, trial: int, round: int, role: Role, index: int = 0) -> np.random.Generator:
    """Return the generator for one (seed, trial, round, role, index).

    A Philox counter-based generator keyed by a 128-bit mix of the five integers: cheap to
    create (~10 us), independent streams for distinct keys, identical on every platform.
    """
    h = _mix(seed & _MASK)
    h = _mix(h ^ (trial & _MASK))
    h = _mix(h ^ (round & _MASK))
    h = _mix(h ^ int(role))
    lo = _mix(h ^ (index & _MASK))
    hi = _mix(lo ^ 0x5851F42D4C957F2D)
    return np.random.Generator(np.random.Philox(key=(hi << 64) | lo))


def choose_failure(rng: np.random.Generator, alive: Sequence[int]) -> int:
    """Pick the peer that fails, uniformly among ``alive`` (taken in ascending id order)."""
    ordered = sorted(alive)
    if not ordered:
        raise ValueError("no alive peer to fail")
    return ordered[int(rng.integers(len(ordered)))]


def choose_parents(
    rng: np.random.Generator, survivors: Sequence[int], count: int
) -> tuple[int, ...]:
    """Pick ``count`` parents uniformly without replacement; returned in ascending id order."""
    ordered = sorted(survivors)
    if not 1 <= count <= len(ordered):
        raise ValueError(f"cannot choose {count} parents among {len(ordered)} survivors")
    picked = rng.choice(len(ordered), size=count, replace=False)
    return tuple(sorted(ordered[int(i)] for i in picked))


def source_bytes(seed: int, trial: int, length: int) -> bytes:
    """Synthetic source data of ``length`` bytes for one trial (used when no file is given)."""
    if length < 0:
        raise ValueError(f"length must be >= 0, got {length}")
    rng = rng_for(seed, trial, 0, Role.SOURCE)
    return rng.integers(0, 256, size=length, dtype=np.uint8).tobytes()
