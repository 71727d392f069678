"""Which slots of a run are browser pages, and the address a browser peer's page is opened at.

``browser_peers`` is either a collection of peer slots (``[2, 5]``: exactly those) or a count
``n`` (the first n peer slots, ``1..n``); ``0``, ``None`` and an empty collection mean none.
Newcomers are browsers or not as a whole (``browser_newcomers``).

The page is ``/web/peer.html`` of the signaling server itself; its arguments (server URL,
role, slot, the slot's credential, the timeout unit and, in a trial with node faults, the
fault plan) travel in the URL *fragment*, which a browser never sends to a server and servers
do not log. A page opened ahead of its node (:func:`standby_url`, ``#standby``) loads its
modules and waits; it gets the same arguments (:func:`peer_fragment`) as the argument of its
``rlncStart`` when the node is to join.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from ..protocol.params import ParameterError

__all__ = ["PEER_PAGE", "STANDBY", "browser_slots", "peer_fragment", "peer_url", "standby_url"]

#: The browser peer's page, under the signaling server's ``/web/`` (signaling/web.py).
PEER_PAGE = "/web/peer.html"
#: The fragment of a peer page opened ahead, in standby (web/peer.js).
STANDBY = "standby"


def browser_slots(value: Iterable[int] | int | None, peers: int) -> tuple[int, ...]:
    """The peer slots (ascending, each in ``1..peers``) that ``value`` makes browsers.

    Raises :class:`~rlnc_testbed.protocol.params.ParameterError` naming a slot out of range,
    a repeated slot, a count above ``peers`` or a value of the wrong type."""
    if value is None:
        return ()
    if isinstance(value, bool):
        raise ParameterError(f"browser_peers must be a count or a list of slots, got {value!r}")
    if isinstance(value, int):
        if not 0 <= value <= peers:
            raise ParameterError(f"browser_peers = {value}: a count must be in 0..{peers}")
        return tuple(range(1, value + 1))
    if isinstance(value, str | bytes):
        raise ParameterError(f"browser_peers must be a count or a list of slots, got {value!r}")
    slots = list(value)
    for slot in slots:
        if isinstance(slot, bool) or not isinstance(slot, int):
            raise ParameterError(f"browser_peers: slot {slot!r} is not an integer")
        if not 1 <= slot <= peers:
            raise ParameterError(f"browser_peers: slot {slot} is not a peer slot (1..{peers})")
    if len(set(slots)) != len(slots):
        raise ParameterError(f"browser_peers: {slots} names a slot twice")
    return tuple(sorted(slots))


def peer_url(
    server_url: str,
    *,
    role: str,
    slot: str,
    token: str,
    unit: float,
    faults: Sequence[Mapping[str, Any]] | None = None,
) -> str:
    """The page a browser ``role`` (``peer``/``newcomer``) of ``slot`` opens: the signaling
    server's ``/web/peer.html``, its arguments in the fragment (:func:`peer_fragment`)."""
    fragment = peer_fragment(server_url, role=role, slot=slot, token=token, unit=unit,
                             faults=faults)  # fmt: skip
    return _page(server_url, fragment)


def standby_url(server_url: str) -> str:
    """The peer page opened ahead of its node: ``/web/peer.html#standby`` (loads its modules,
    joins nothing; its ``rlncStart(peer_fragment(...))`` starts the node)."""
    return _page(server_url, STANDBY)


def peer_fragment(
    server_url: str,
    *,
    role: str,
    slot: str,
    token: str,
    unit: float,
    faults: Sequence[Mapping[str, Any]] | None = None,
) -> str:
    """The arguments of a browser ``role`` (``peer``/``newcomer``) of ``slot``, as the URL
    fragment web/peer.js reads. ``faults`` is the trial's fault plan
    (``FaultPlan.to_list()``, every spec in plan order: a spec's position is its FAULT stream
    index), given when it has node faults: the page replays it (web/faults.js) and carries
    out its own (web/faulty.js)."""
    _page(server_url, "")  # checks the scheme
    args = {"server": server_url, "role": role, "slot": slot, "token": token, "unit": repr(unit)}
    if faults:
        args["faults"] = json.dumps(list(faults), separators=(",", ":"))
    return urlencode(args)


def _page(server_url: str, fragment: str) -> str:
    parts = urlsplit(server_url)
    if parts.scheme not in ("ws", "wss"):
        raise ValueError(f"server_url must be a ws:// or wss:// URL, got {server_url!r}")
    http = "https" if parts.scheme == "wss" else "http"
    return urlunsplit((http, parts.netloc, PEER_PAGE, "", fragment))
