"""Result records: one per round, one per trial, shared by the simulator and the real runner.

The same scenario and seed give equal :meth:`RoundRecord.outcome` tuples over every
transport; that equality is what the equivalence tests assert. Byte and time counters are
kept beside the outcome because they are measured, not decided.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..coding.packet import CodedPacket

__all__ = ["VERDICTS", "RoundRecord", "TrialRecord", "stored_digest", "verdict_of"]

#: How a round can end. ``ok`` is the only success.
VERDICTS = (
    "ok",  # decoded and verified byte for byte (and SHA-256) against the source
    "undecodable",  # collector rank < k
    "corrupt",  # decoded but the bytes differ from the source
    "repair-timeout",  # a parent or the newcomer did not finish the repair in time
    "collect-timeout",  # a peer did not deliver its packets to the collector in time
    "error",  # an unexpected failure; the record's ``error`` says what
)


def stored_digest(packets: Iterable[CodedPacket]) -> str:
    """SHA-256 (hex) of packets in order: each packet's k coefficient bytes, then its s payload
    bytes. What a peer stores, in one comparable value."""
    digest = hashlib.sha256()
    for packet in packets:
        digest.update(np.ascontiguousarray(packet.coefficients, dtype=np.uint8).tobytes())
        digest.update(np.ascontiguousarray(packet.payload, dtype=np.uint8).tobytes())
    return digest.hexdigest()


def verdict_of(decoded: bool, verified: bool) -> str:
    """The verdict of a judged round: ``ok`` if verified, else ``corrupt`` if decoded, else
    ``undecodable``."""
    if verified:
        return "ok"
    return "corrupt" if decoded else "undecodable"


@dataclass
class RoundRecord:
    """What happened in one round of one trial."""

    round: int
    failed: int
    newcomer: int
    parents: tuple[int, ...]
    newcomer_rank: int
    global_rank: int
    decoded: bool
    verified: bool
    verdict: str = "ok"
    repair_packets: int = 0
    repair_bytes: int = 0
    collect_packets: int = 0
    collect_bytes: int = 0
    duration: float = 0.0
    error: str = ""
    #: Per-link counters and transport details (selected ICE pair), transport-specific.
    links: list[dict[str, Any]] = field(default_factory=list)
    #: What each alive peer delivered to the collector this round: peer id -> SHA-256 hex of
    #: its packets (:func:`stored_digest`). Empty where payloads are not simulated.
    stored: dict[str, str] = field(default_factory=dict)

    def outcome(self) -> tuple[Any, ...]:
        """The decided part of the round: equal across transports for the same seed."""
        return (
            self.round,
            self.failed,
            self.newcomer,
            tuple(self.parents),
            self.newcomer_rank,
            self.global_rank,
            self.decoded,
            self.verified,
        )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["parents"] = list(self.parents)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RoundRecord:
        values = dict(data)
        values["parents"] = tuple(values.get("parents", ()))
        return cls(**values)


@dataclass
class TrialRecord:
    """One loop test: rounds run until one fails verification or the max round is reached."""

    trial: int
    seed: int
    rounds: list[RoundRecord] = field(default_factory=list)

    @property
    def success(self) -> bool:
        """True iff every round verified (and at least one round ran)."""
        return bool(self.rounds) and all(r.verified for r in self.rounds)

    @property
    def survived_rounds(self) -> int:
        """Rounds verified before the first failure."""
        count = 0
        for record in self.rounds:
            if not record.verified:
                break
            count += 1
        return count

    def to_dict(self) -> dict[str, Any]:
        return {
            "trial": self.trial,
            "seed": self.seed,
            "success": self.success,
            "rounds": [r.to_dict() for r in self.rounds],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrialRecord:
        return cls(
            trial=int(data["trial"]),
            seed=int(data["seed"]),
            rounds=[RoundRecord.from_dict(r) for r in data.get("rounds", [])],
        )
