"""Byzantine roles: peers that send well-formed packets whose payloads do not match their
coefficients, to test that the collector never says ``ok`` for them and names the polluter.

Two kinds of pollution (every payload byte of every packet XORed with 1; coefficients, counts
and framing stay exactly as specified, so only a check against the source can tell):

* ``"peer"``: the collect batch it delivers to the collector (what it stores stays clean);
* ``"parent"``: the upload it sends a newcomer (a newcomer recodes it into its own packets,
  so the collector sees the *newcomer's* packets polluted and needs its provenance).

:func:`byzantine` makes a role class that is byzantine only for the given ids and honest for
every other id, e.g. ``run_trial(params, 0, roles={"peer": byzantine({"3"}, "parent")})``;
:func:`byzantine_roles` gives both the ``peer`` and the ``newcomer`` class (a newcomer's id is
N + r), sharing one :attr:`acted` log.
Each class counts, in :attr:`acted`, the rounds in which it actually sent polluted packets.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np

from ..coding import CodedPacket
from .node import Node
from .storage import Newcomer, StoragePeer

__all__ = ["KINDS", "byzantine", "byzantine_roles", "pollute"]

#: What a byzantine peer pollutes: its deliveries to the collector, or its uploads as a parent.
KINDS = ("peer", "parent")


def pollute(packets: Iterable[CodedPacket]) -> list[CodedPacket]:
    """The packets with every payload byte XORed with 1 (the coefficients unchanged)."""
    return [CodedPacket(pk.coefficients, np.bitwise_xor(pk.payload, 1)) for pk in packets]


class _Byzantine:
    """Pollutes deliveries (``kind`` "peer") or uploads (``kind`` "parent") if its id is one of
    ``ids`` (a mixin before the honest class)."""

    ids: ClassVar[frozenset[str]] = frozenset()
    kind: ClassVar[str] = "peer"
    #: (round, "collect" or "repair", id) for every batch this class's nodes polluted.
    acted: ClassVar[list[tuple[int, str, str]]]
    id: str

    @property
    def byzantine(self) -> bool:
        return self.id in self.ids

    def upload(self, msg: dict[str, Any]) -> list[CodedPacket]:
        packets: list[CodedPacket] = super().upload(msg)  # type: ignore[misc]
        if self.byzantine and self.kind == "parent" and packets:
            self.acted.append((int(msg["round"]), "repair", self.id))
            return pollute(packets)
        return packets

    def delivery(self, round: int) -> list[CodedPacket]:
        packets: list[CodedPacket] = super().delivery(round)  # type: ignore[misc]
        if self.byzantine and self.kind == "peer" and packets:
            self.acted.append((round, "collect", self.id))
            return pollute(packets)
        return packets


def byzantine(
    ids: Iterable[str | int], kind: str, *, base: type[StoragePeer] = StoragePeer
) -> type[StoragePeer]:
    """A role class (subclass of ``base``: :class:`StoragePeer`, or :class:`Newcomer` for the
    ``"newcomer"`` role) that is byzantine of ``kind`` (:data:`KINDS`) for ``ids`` only."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    if not (isinstance(base, type) and issubclass(base, StoragePeer)):
        raise TypeError(f"base must be StoragePeer or a subclass; got {base!r}")
    chosen = frozenset(str(i) for i in ids)
    name = f"Byzantine{kind.capitalize()}{'Newcomer' if issubclass(base, Newcomer) else 'Peer'}"
    namespace = {"ids": chosen, "kind": kind, "acted": [], "__module__": __name__}
    return type(name, (_Byzantine, base), namespace)


def byzantine_roles(ids: Iterable[str | int], kind: str) -> dict[str, type[Node]]:
    """``{"peer": ..., "newcomer": ...}`` byzantine of ``kind`` for ``ids`` (initial peers and
    newcomers alike), for ``Cluster(roles=...)`` / ``run_trial(roles=...)``; both classes
    append to the same :attr:`acted` list."""
    peer = byzantine(ids, kind)
    newcomer = byzantine(ids, kind, base=Newcomer)
    newcomer.acted = peer.acted  # type: ignore[attr-defined]
    return {"peer": peer, "newcomer": newcomer}
