"""Experiment parameters: one validated, immutable record shared by every layer.

The engine sets these and every peer and the collector receives them (as a JSON dict through
signaling), the simulator reads them, and the CLI and pytest plugin build them from scenario
files and options. Validation happens once, here, with errors that name the parameter.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from ..coding.gf import FIELDS

__all__ = [
    "FIELDS",
    "KEEP_RULES",
    "SCHEMES",
    "ParameterError",
    "Params",
]

#: Storage schemes: plain copies of source symbols, RLNC-coded packets copied on repair, and
#: RLNC-coded packets recoded on repair.
SCHEMES = ("replication", "coded-copy", "rlnc")
#: What a non-recoding (replication, coded-copy) newcomer keeps of the packets its parents sent
#: (docs/protocol.md §6.3, NEWCOMER); rlnc recodes and ignores the rule. ``"distinct"`` (the
#: default): the received packets in uniformly random order, first one of each distinct
#: coefficient vector, then (only if fewer than Q are distinct) the duplicates, the first Q of
#: that; it never stores two copies of a packet while a distinct one is unused. ``"shuffle"``:
#: the first Q in uniformly random order, duplicates and all (the default before).
#: ``"block"``: one uniformly chosen parent's whole upload (what the original JS system did).
KEEP_RULES = ("distinct", "shuffle", "block")

MAX_PEERS = 10_000
MAX_SYMBOLS = 4_096
MAX_SYMBOL_SIZE = 16 * 1024 * 1024


class ParameterError(ValueError):
    """Raised for an invalid experiment parameter; the message names the parameter."""


@dataclass(frozen=True)
class Params:
    """Parameters of one experiment point (all trials of it).

    Peers are numbered 1..N; the newcomer of round r gets id N + r. K = ceil(r * k) coded
    packets are made and Q = floor(K / N) are stored per peer, unless ``q`` is given directly
    (then K = N * Q). ``beta`` is what each parent uploads to a newcomer (default Q).
    ``keep`` is what a copying newcomer (replication, coded-copy) keeps, one of
    :data:`KEEP_RULES`; rlnc recodes and ignores it. The default ``"distinct"`` (for both copy
    schemes) stores as many packets as ``"shuffle"`` but never a duplicate while a distinct
    packet is unused, so no slot is wasted on a second copy: the fair copy baseline.
    ``"shuffle"`` (the old default) and ``"block"`` stay selectable. (Replication at P = 1
    still beats P >= 2 at the default point: a one-parent newcomer clones a whole block; see
    docs/protocol.md §6.3.)
    ``failures`` optionally fixes which peer fails in the first rounds (e.g. ``(2,)`` for the
    user's 3-peer workflow); later rounds draw the failed peer uniformly among the alive ones.
    """

    peers: int = 10
    symbols: int = 20
    symbol_size: int = 220
    redundancy: float | None = 2.0
    q: int | None = None
    parents: int = 3
    scheme: str = "rlnc"
    field: int = 256
    keep: str = "distinct"
    beta: int | None = None
    rounds: int = 10
    trials: int = 1
    seed: int = 0
    systematic: bool = False
    failures: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        _check_int("peers", self.peers, 2, MAX_PEERS)
        _check_int("symbols", self.symbols, 1, MAX_SYMBOLS)
        _check_int("symbol_size", self.symbol_size, 1, MAX_SYMBOL_SIZE)
        _check_int("rounds", self.rounds, 1, 1_000_000)
        _check_int("trials", self.trials, 1, 100_000_000)
        _check_int("seed", self.seed, 0, 2**63 - 1)
        if self.scheme not in SCHEMES:
            raise ParameterError(f"scheme must be one of {', '.join(SCHEMES)}; got {self.scheme!r}")
        if self.field not in FIELDS or isinstance(self.field, bool):
            raise ParameterError(f"field must be one of {FIELDS}; got {self.field!r}")
        if self.keep not in KEEP_RULES:
            raise ParameterError(f"keep must be one of {', '.join(KEEP_RULES)}; got {self.keep!r}")
        if not isinstance(self.systematic, bool):
            raise ParameterError(f"systematic must be a boolean; got {self.systematic!r}")
        if self.q is None:
            if self.redundancy is None:
                raise ParameterError("give either redundancy or q")
            r = self.redundancy
            if (
                isinstance(r, bool)
                or not isinstance(r, int | float)
                or not math.isfinite(r)
                or r <= 0
            ):
                raise ParameterError(f"redundancy must be a positive number; got {r!r}")
        else:
            _check_int("q", self.q, 1, MAX_SYMBOLS * 64)
        if self.per_peer < 1:
            raise ParameterError(
                f"Q = floor(ceil(redundancy * symbols) / peers) = "
                f"floor({self.total_packets_made} / {self.peers}) = 0: raise redundancy or "
                f"lower peers (or give q)"
            )
        _check_int("parents", self.parents, 1, self.peers - 1, hint="P must be <= N - 1")
        if self.beta is not None:
            _check_int("beta", self.beta, 1, self.per_peer, hint="beta must be <= Q")
        if not isinstance(self.failures, tuple):
            object.__setattr__(self, "failures", tuple(self.failures))
        for position, peer in enumerate(self.failures, start=1):
            if isinstance(peer, bool) or not isinstance(peer, int) or peer < 1:
                raise ParameterError(
                    f"failures[{position - 1}] must be a peer id >= 1; got {peer!r}"
                )
            if peer > self.peers + position - 1:
                raise ParameterError(
                    f"failures[{position - 1}] = {peer} is not alive in round {position} "
                    f"(ids alive are <= {self.peers + position - 1})"
                )

    @property
    def total_packets_made(self) -> int:
        """K = ceil(r * k) coded packets the engine makes (N * Q when q is given)."""
        if self.q is not None:
            return self.peers * self.q
        assert self.redundancy is not None
        # round() guards against 2.2 * 10 = 22.000000000000004 becoming 23.
        return math.ceil(round(self.redundancy * self.symbols, 9))

    @property
    def per_peer(self) -> int:
        """Q, the packets each peer stores."""
        if self.q is not None:
            return self.q
        return self.total_packets_made // self.peers

    @property
    def upload(self) -> int:
        """beta, the packets each parent uploads to a newcomer (Q unless set)."""
        return self.per_peer if self.beta is None else self.beta

    def with_(self, **changes: Any) -> Params:
        """Return a copy with ``changes`` applied (and validated)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (``failures`` as a list)."""
        out = asdict(self)
        out["failures"] = list(self.failures)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Params:
        """Build from a dict, refusing unknown keys by name."""
        if not isinstance(data, dict):
            raise ParameterError(f"parameters must be a mapping; got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ParameterError(f"unknown parameter(s): {', '.join(unknown)}")
        values = dict(data)
        if "failures" in values:
            if not isinstance(values["failures"], list | tuple):
                raise ParameterError("failures must be a list of peer ids")
            values["failures"] = tuple(values["failures"])
        return cls(**values)


def _check_int(name: str, value: object, lo: int, hi: int, *, hint: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParameterError(f"{name} must be an integer; got {value!r}")
    if not lo <= value <= hi:
        extra = f" ({hint})" if hint else ""
        raise ParameterError(f"{name} must be in [{lo}, {hi}]; got {value}{extra}")
