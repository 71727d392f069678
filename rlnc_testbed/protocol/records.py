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

__all__ = [
    "NORMAL_FINISHES",
    "VERDICTS",
    "RoundRecord",
    "TrialRecord",
    "stored_digest",
    "verdict_of",
]

#: How a round (or a trial that ended outside a round) can end. ``ok`` is the only success.
VERDICTS = (
    "ok",  # decoded and verified byte for byte (and SHA-256) against the source
    "undecodable",  # collector rank < k
    "corrupt",  # a delivered packet does not match the source, or decoded bytes differ
    "setup-timeout",  # the nodes did not all join, or the source was not distributed, in time
    "repair-timeout",  # a parent or the newcomer did not finish the repair in time
    "collect-timeout",  # a peer did not deliver its packets to the collector in time
    "signaling-lost",  # the signaling server went away: nothing more could be told or heard
    "error",  # an unexpected failure; the record's ``error`` says what
)

#: ``TrialRecord.finish`` values of a trial that ended normally: every round it ran was judged
#: (``""`` is a record that does not say, e.g. from the simulators or an older history).
NORMAL_FINISHES = ("", "max-round", "end")


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
    #: Batches the collector refused, as the server heard of them while this round ran:
    #: ``{"sender", "round", "reason"}`` each (a failed peer still sending, an unknown id,
    #: another round, a duplicate, too many packets). ``round`` names the batch's round: a
    #: refusal reported late (after its round was recorded) lands in the next record.
    refused: list[dict[str, Any]] = field(default_factory=list)
    #: Peers that delivered packets whose payload does not match their coefficients: id ->
    #: how many (the round's verdict is then ``corrupt``).
    polluted: dict[str, int] = field(default_factory=dict)
    #: Who the collector names as the polluter(s) this round, ascending ids: a sender of
    #: polluted packets other than the newcomer; a parent whose upload, in the newcomer's
    #: provenance, is polluted (``polluted`` then counts the newcomer's inherited packets, if
    #: it kept any); the newcomer if its polluted packets are not what the rules make of its
    #: provenance (docs/protocol.md §5). The evidence is in ``error``. Empty when nothing was
    #: polluted.
    polluters: list[str] = field(default_factory=list)
    #: Where a node's claim disagrees with what the collector observed (e.g. the newcomer says
    #: it kept 4 packets but delivered 3). ``newcomer_rank`` itself is the newcomer's claim:
    #: nobody else sees what its parents sent.
    disputes: list[str] = field(default_factory=list)
    #: Scheduled faults that happened this round (``protocol.faults.Fault.to_dict()`` each:
    #: ``{"spec", "kind", "target", "when", "node"}`` or, for a link fault, ``"links"`` and
    #: the shape). Empty without a fault plan, and in records older than fault plans.
    faults: list[dict[str, Any]] = field(default_factory=list)
    #: What each alive peer's delivery is worth, as the collector observed it: peer id -> the
    #: rank of the packets it delivered this round (polluted ones included). Empty where
    #: payloads are not simulated (the sim transport, the simulators) and in older records.
    ranks: dict[str, int] = field(default_factory=dict)
    #: Each alive peer's share of ``global_rank``: peer id -> how much its clean (unpolluted)
    #: packets raise the rank when the collector takes the senders in ascending id order (its
    #: decoding order), so the shares add up to ``global_rank`` and none exceeds the peer's
    #: ``ranks`` entry. It depends on that order: a peer whose packets a lower id already
    #: spans adds 0. Empty where ``ranks`` is.
    contributions: dict[str, int] = field(default_factory=dict)

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
    """One loop test: rounds run until one fails verification or the max round is reached.

    ``finish`` says why the trial ended: ``max-round``, ``end`` (the collector ended it after
    judging a round), or the verdict that stopped it (``setup-timeout``, ``signaling-lost``,
    ``error``, ...); ``""`` when the record does not say. ``error`` is the failure's text.

    A trial that stopped without judging the round it stopped in - no round at all (e.g. a
    ``setup-timeout``), or verified rounds followed by a non-normal ``finish`` - is *unjudged*
    (:attr:`unjudged`): it counts as a failure (``success`` is False) that survived its verified
    rounds, and summaries list it apart by reason.
    """

    trial: int
    seed: int
    rounds: list[RoundRecord] = field(default_factory=list)
    finish: str = ""
    error: str = ""
    #: Node ids (ascending) that ran as browser pages in Chromium (``Cluster(browser_peers=...,
    #: browser_newcomers=...)``); empty when every node was aiortc or simulated.
    browsers: list[str] = field(default_factory=list)
    #: The Chromium that ran them (``"Chromium 150.0.7871.100"``), ``""`` without browsers.
    browser_version: str = ""
    #: What the browser pages reported as failures (``rlnc_testbed.browser.PageEvent.to_dict()``
    #: each: ``slot``, ``role``, ``kind``, ``text``, ``at``), in order.
    browser_errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def unjudged(self) -> str:
        """Why the trial ended without a judged last round, or ``""`` if it did not.

        The reason is ``finish`` (``"unknown"`` for a record with no rounds that gives none)."""
        if not self.rounds:
            return self.finish or "unknown"
        if self.finish not in NORMAL_FINISHES and self.rounds[-1].verified:
            return self.finish
        return ""

    @property
    def success(self) -> bool:
        """True iff at least one round ran, every round verified and the trial is not
        :attr:`unjudged`."""
        return bool(self.rounds) and all(r.verified for r in self.rounds) and not self.unjudged

    @property
    def survived_rounds(self) -> int:
        """Rounds verified before the first failure (0 for a trial with no rounds)."""
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
            "finish": self.finish,
            "error": self.error,
            "rounds": [r.to_dict() for r in self.rounds],
            # Only when browsers ran: records of all-aiortc runs keep their shape.
            **(
                {
                    "browsers": list(self.browsers),
                    "browser_version": self.browser_version,
                    "browser_errors": [dict(e) for e in self.browser_errors],
                }
                if self.browsers or self.browser_version or self.browser_errors
                else {}
            ),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrialRecord:
        """Build from :meth:`to_dict` output; ``finish`` and ``error`` may be missing (older
        records), and then are ``""``; so may the browser fields (none ran)."""
        finish, error = data.get("finish", ""), data.get("error", "")
        version = data.get("browser_version", "")
        for name, value in (("finish", finish), ("error", error), ("browser_version", version)):
            if not isinstance(value, str):
                raise TypeError(f"trial {name} must be a string; got {value!r}")
        browsers, events = data.get("browsers", []), data.get("browser_errors", [])
        if not isinstance(browsers, list) or not all(isinstance(b, str) for b in browsers):
            raise TypeError(f"trial browsers must be a list of node ids; got {browsers!r}")
        if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
            raise TypeError(f"trial browser_errors must be a list of objects; got {events!r}")
        return cls(
            trial=int(data["trial"]),
            seed=int(data["seed"]),
            rounds=[RoundRecord.from_dict(r) for r in data.get("rounds", [])],
            finish=finish,
            error=error,
            browsers=list(browsers),
            browser_version=version,
            browser_errors=[dict(e) for e in events],
        )
