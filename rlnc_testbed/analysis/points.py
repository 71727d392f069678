"""What tells experiment points apart: the parameters that vary, the ones a scheme ignores, and
a point's name (the file name of its history in a sweep's history directory).

A parameter *means nothing* for a scheme when no outcome depends on it
(:data:`IGNORED_BY_SCHEME`; ``tests/test_sweep_axes.py`` checks it against the simulator):
replication stores unit-vector copies of source symbols, so neither the field nor systematic
encoding changes anything; rlnc recodes, so the keep rule (which packets a copying newcomer
keeps) is never used. Two points equal but for such parameters are the same experiment, and a
sweep runs it once (:func:`collapse`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

from rlnc_testbed.protocol.params import Params

__all__ = [
    "IGNORED_BY_SCHEME",
    "PARAM_FIELDS",
    "Collapsed",
    "collapse",
    "point_name",
    "varying_fields",
]

#: Params fields, in declaration order (the order CSV columns and names use).
PARAM_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Params))

#: Per scheme, the Params fields no outcome of that scheme depends on.
IGNORED_BY_SCHEME: Mapping[str, tuple[str, ...]] = {
    "replication": ("field", "systematic"),
    "coded-copy": (),
    "rlnc": ("keep",),
}


class Collapsed:
    """The points to run (first of each experiment, in order) and what was dropped."""

    def __init__(self, points: list[Params], dropped: list[tuple[Params, Params]]) -> None:
        self.points = points
        #: (dropped point, the kept point it is the same experiment as)
        self.dropped = dropped

    def note(self) -> str:
        """One line saying what was collapsed and why ('' when nothing was)."""
        if not self.dropped:
            return ""
        reasons: dict[str, int] = {}
        for gone, kept in self.dropped:
            differ = [
                name
                for name in IGNORED_BY_SCHEME.get(gone.scheme, ())
                if getattr(gone, name) != getattr(kept, name)
            ]
            if differ:
                reason = f"{' and '.join(differ)} mean{'s' * (len(differ) == 1)} nothing for "
                reason += gone.scheme
            else:
                reason = "repeated values"
            reasons[reason] = reasons.get(reason, 0) + 1
        count = len(self.dropped)
        why = "; ".join(f"{reason} ({n})" for reason, n in reasons.items())
        return (
            f"{count} point{'s' * (count != 1)} not run (the same experiment as a point "
            f"kept): {why}"
        )


def _key(params: Params) -> tuple[Any, ...]:
    ignored = IGNORED_BY_SCHEME.get(params.scheme, ())
    data = params.to_dict()
    return tuple(
        (name, None if name in ignored else _hashable(data[name])) for name in PARAM_FIELDS
    )


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def collapse(points: Sequence[Params]) -> Collapsed:
    """Keep the first of the points that are the same experiment (equal but for parameters
    their scheme ignores, or repeated), in order."""
    kept: dict[tuple[Any, ...], Params] = {}
    dropped: list[tuple[Params, Params]] = []
    for params in points:
        first = kept.setdefault(_key(params), params)
        if first is not params:
            dropped.append((params, first))
    return Collapsed(list(kept.values()), dropped)


def varying_fields(points: Sequence[Params]) -> tuple[str, ...]:
    """The Params fields whose values differ among ``points``, in declaration order."""
    dicts = [p.to_dict() for p in points]
    return tuple(name for name in PARAM_FIELDS if len({repr(d[name]) for d in dicts}) > 1)


def point_name(params: Params) -> str:
    """A file-name-safe name made of every parameter but ``trials``, e.g.
    ``rlnc-GF256-keep_shuffle-r2.0-P3-N10-k20-size220-R10-seed0``: equal names are the same
    point up to its number of trials (so a history keeps its name when a sweep gains values
    or trials, and a resume finds it)."""
    parts = [params.scheme, f"GF{params.field}", f"keep_{params.keep}"]
    if params.redundancy is not None:
        parts.append(f"r{float(params.redundancy)!r}")
    if params.q is not None:
        parts.append(f"Q{params.q}")
    parts.append(f"P{params.parents}")
    if params.beta is not None:
        parts.append(f"beta{params.beta}")
    parts += [
        f"N{params.peers}",
        f"k{params.symbols}",
        f"size{params.symbol_size}",
        f"R{params.rounds}",
        f"seed{params.seed}",
    ]
    if params.systematic:
        parts.append("systematic")
    if params.failures:
        parts.append("fail_" + "_".join(map(str, params.failures)))
    return "-".join(parts)
