"""One scalable unit for every wait in rlnc-testbed.

Every ``await`` that can block on the network is bounded by ``asyncio.timeout(n * unit())``.
The unit defaults to one second and is scaled by the ``RLNC_TIMEOUT_FACTOR`` environment
variable (or the pytest option ``--rlnc-timeout-factor``, which sets that variable), so a slow
CI machine can stretch all waits at once without editing code.

Waits that grow with the size of a run (a round's phase deadlines) are *derived from the work*
they cover: :class:`Work` counts what has to happen (signaling joins and messages, node
processes started, WebRTC links opened, packets and bytes moved, GF(2^8) operations), and
:func:`deadline_units` turns a fixed base plus that work into units, at the per-item costs
below and never past :data:`MAX_DEADLINE_UNITS`. The costs are a few times what each item
takes on the reference machine (2 shared cores, every node in one process), so a deadline
stays bounded and monotone in the work yet is never what a healthy run meets. Which work each
phase of a trial does is :func:`rlnc_testbed.protocol.rounds.phase_work`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

__all__ = [
    "BYTE_UNITS",
    "FIELD_OP_UNITS",
    "JOIN_UNITS",
    "LINK_UNITS",
    "MAX_DEADLINE_UNITS",
    "MESSAGE_UNITS",
    "PACKET_UNITS",
    "PROCESS_UNITS",
    "TIMEOUT_UNIT",
    "Work",
    "deadline_seconds",
    "deadline_units",
    "timeout_factor",
    "unit",
]

#: Base unit of time, in seconds, before scaling.
TIMEOUT_UNIT = 1.0


def timeout_factor() -> float:
    """Return the factor read from ``RLNC_TIMEOUT_FACTOR`` (default 1.0)."""
    raw = os.environ.get("RLNC_TIMEOUT_FACTOR", "1")
    try:
        factor = float(raw)
    except ValueError:
        raise ValueError(f"RLNC_TIMEOUT_FACTOR must be a number, got {raw!r}") from None
    if not factor > 0:
        raise ValueError(f"RLNC_TIMEOUT_FACTOR must be positive, got {raw!r}")
    return factor


def unit() -> float:
    """Return one scaled timeout unit, in seconds."""
    return TIMEOUT_UNIT * timeout_factor()


# -- deadlines derived from the work ---------------------------------------------------------
# Units per item of work. Measured here (one process, loopback): a join ~5 ms, a signaling
# message ~0.2 ms, a WebRTC link ~8 ms alone and ~15 ms of one core with a thousand others
# (both ends, DTLS and SCTP included), data channels ~10 MB/s, a node process ~1.5 s of CPU to
# start, numba GF(2^8) elimination ~1e9 operations per second (the fast product 10x more).

#: One signaling join (websocket, join, welcome, params).
JOIN_UNITS = 0.02
#: One node started as its own OS process (``rlnc-testbed node``: Python, numpy, aiortc).
PROCESS_UNITS = 1.0
#: One signaling message relayed or sent by the server.
MESSAGE_UNITS = 0.002
#: One WebRTC connection opened (offer, answer, ICE, DTLS, SCTP, data channel).
LINK_UNITS = 0.05
#: One data-channel message moved (a packet), on top of its bytes.
PACKET_UNITS = 2e-4
#: One byte moved over a data channel.
BYTE_UNITS = 4e-7
#: One GF(2^8) multiply-add (encoding, recoding, elimination, checks).
FIELD_OP_UNITS = 4e-9
#: No derived deadline exceeds this many units (10 minutes at factor 1).
MAX_DEADLINE_UNITS = 600.0

_COSTS = {
    "joins": JOIN_UNITS,
    "processes": PROCESS_UNITS,
    "messages": MESSAGE_UNITS,
    "links": LINK_UNITS,
    "packets": PACKET_UNITS,
    "bytes": BYTE_UNITS,
    "field_ops": FIELD_OP_UNITS,
}


@dataclass(frozen=True)
class Work:
    """What one bounded wait covers, counted (all counts >= 0)."""

    joins: int = 0
    processes: int = 0
    messages: int = 0
    links: int = 0
    packets: int = 0
    bytes: int = 0
    field_ops: int = 0

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"Work.{item.name} must be an integer >= 0, got {value!r}")

    def units(self) -> float:
        """The work's cost in timeout units (before :func:`unit` scaling, uncapped)."""
        return sum(getattr(self, name) * cost for name, cost in _COSTS.items())

    def __add__(self, other: Work) -> Work:
        if not isinstance(other, Work):
            return NotImplemented
        names = [item.name for item in fields(self)]
        return Work(**{name: getattr(self, name) + getattr(other, name) for name in names})


def deadline_units(base: float, work: Work = Work()) -> float:
    """``base`` units plus the cost of ``work``, at most :data:`MAX_DEADLINE_UNITS`.

    Monotone in every count of ``work``; ``base`` (> 0) is what the wait allows with no work
    at all (the fixed overheads: a process to start, a round trip, a slow scheduler)."""
    if isinstance(base, bool) or not isinstance(base, int | float) or not base > 0:
        raise ValueError(f"base must be a number > 0, got {base!r}")
    if not isinstance(work, Work):
        raise TypeError(f"work must be a Work, got {type(work).__name__}")
    return min(MAX_DEADLINE_UNITS, max(float(base), float(base) + work.units()))


def deadline_seconds(base: float, work: Work = Work()) -> float:
    """:func:`deadline_units` in seconds: scaled by ``RLNC_TIMEOUT_FACTOR`` via :func:`unit`."""
    return deadline_units(base, work) * unit()
