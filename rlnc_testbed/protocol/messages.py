"""Signaling message schema: JSON text <-> validated message dicts, with no I/O.

Every message is a JSON object with a ``"type"``; :data:`SCHEMA` lists, per type, its
required and optional fields, the kind of each field and which way the message travels.
Adding a message type is one entry in :data:`SCHEMA`. Any message may carry ``"from"`` (a
node id): the server stamps it on what it relays, and clients that set it must set their own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..wire import ROLES

#: The ids of the two unique roles: the role name itself.
ENGINE_ID = "engine"
COLLECTOR_ID = "collector"

__all__ = [
    "COLLECTOR_ID",
    "ENGINE_ID",
    "CLIENT_TYPES",
    "MAX_ID_LENGTH",
    "MAX_MESSAGE_BYTES",
    "ROLES",
    "SCHEMA",
    "SERVER_TYPES",
    "MessageSpec",
    "SchemaError",
    "decode_message",
    "encode_message",
    "validate_message",
]

#: Largest encoded message accepted, in bytes of UTF-8 (SDPs are ~1-4 KiB).
MAX_MESSAGE_BYTES = 256 * 1024
#: Longest node id accepted ("engine", "collector", "17", ...).
MAX_ID_LENGTH = 64

Direction = Literal["to_server", "to_client", "both"]


class SchemaError(ValueError):
    """A message is not valid JSON or does not match :data:`SCHEMA`.

    ``kind`` is a short machine-readable reason (``"oversize"``, ``"not-json"``,
    ``"not-object"``, ``"unknown-type"``, ``"missing-field"``, ``"unknown-field"``,
    ``"bad-field"``) used by the server to count rejections; the message names the problem.
    """

    def __init__(self, message: str, *, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


# Field kinds: each returns an error description, or None when the value is fine.
Check = Callable[[Any], str | None]


def _string(value: Any) -> str | None:
    return None if isinstance(value, str) else f"must be a string, got {_name(value)}"


def _node_id(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"must be a node id string, got {_name(value)}"
    if not 0 < len(value) <= MAX_ID_LENGTH:
        return f"must be a node id of 1..{MAX_ID_LENGTH} characters, got {len(value)}"
    return None


def _count(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return f"must be an integer, got {_name(value)}"
    return None if value >= 0 else f"must be >= 0, got {value}"


def _object(value: Any) -> str | None:
    return None if isinstance(value, dict) else f"must be an object, got {_name(value)}"


def _object_list(value: Any) -> str | None:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        return f"must be a list of objects, got {_name(value)}"
    return None


def _object_or_null(value: Any) -> str | None:
    return None if value is None else _object(value)


def _id_list(value: Any) -> str | None:
    if not isinstance(value, list):
        return f"must be a list of node ids, got {_name(value)}"
    for index, item in enumerate(value):
        problem = _node_id(item)
        if problem:
            return f"item {index} {problem}"
    return None


def _role(value: Any) -> str | None:
    return None if value in ROLES else f"must be one of {', '.join(ROLES)}, got {value!r}"


def _name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


@dataclass(frozen=True)
class MessageSpec:
    """Fields of one message type (besides ``type`` and ``from``) and its direction."""

    required: Mapping[str, Check]
    direction: Direction
    optional: Mapping[str, Check] = field(default_factory=dict)


_S: Direction = "to_server"
_C: Direction = "to_client"

#: Message type -> spec. Add a message type by adding one entry here.
SCHEMA: dict[str, MessageSpec] = {
    "join": MessageSpec({"token": _string, "role": _role}, _S),
    "welcome": MessageSpec({"id": _node_id, "params": _object_or_null}, _C),
    "error": MessageSpec({"reason": _string}, "both"),
    # client -> server carries "to"; the server relays it with "from" instead.
    "signal": MessageSpec({"payload": _object}, "both", {"to": _node_id}),
    "params": MessageSpec({"params": _object}, _C, {"trial": _count}),
    "distribute": MessageSpec({"round": _count, "peers": _id_list}, _C),
    "new id": MessageSpec({"id": _node_id, "round": _count}, _C),
    "fail": MessageSpec({"round": _count}, _C),
    "repair": MessageSpec({"round": _count, "newcomer": _node_id, "beta": _count}, _C),
    "expect": MessageSpec({"round": _count, "parents": _id_list, "q": _count}, _C),
    "collect": MessageSpec({"round": _count}, _C),
    "stored": MessageSpec(
        {"round": _count, "count": _count, "rank": _count},
        _S,
        {"received": _count, "links": _object_list},
    ),
    "collected": MessageSpec({"round": _count, "report": _object}, _S),
    "nextRound": MessageSpec({"round": _count}, _S),
    "end": MessageSpec({"round": _count, "reason": _string}, _S),
    "close": MessageSpec({"reason": _string}, _C),
}

#: Types a client may send to the server.
CLIENT_TYPES = frozenset(t for t, s in SCHEMA.items() if s.direction != "to_client")
#: Types the server may send to a client.
SERVER_TYPES = frozenset(t for t, s in SCHEMA.items() if s.direction != "to_server")


def validate_message(msg: Any) -> dict[str, Any]:
    """Check ``msg`` against :data:`SCHEMA` and return it; raise :class:`SchemaError` if not."""
    if not isinstance(msg, dict):
        raise SchemaError(f"message must be a JSON object, got {_name(msg)}", kind="not-object")
    kind = msg.get("type")
    if not isinstance(kind, str):
        raise SchemaError(f"message needs a string 'type', got {_name(kind)}", kind="missing-field")
    spec = SCHEMA.get(kind)
    if spec is None:
        raise SchemaError(f"unknown message type {kind!r}", kind="unknown-type")
    for name in spec.required:
        if name not in msg:
            raise SchemaError(f"{kind!r} message is missing field {name!r}", kind="missing-field")
    for name, value in msg.items():
        if name == "type":
            continue
        check = _node_id if name == "from" else spec.required.get(name) or spec.optional.get(name)
        if check is None:
            raise SchemaError(f"{kind!r} message has unknown field {name!r}", kind="unknown-field")
        problem = check(value)
        if problem:
            raise SchemaError(f"{kind!r} field {name!r} {problem}", kind="bad-field")
    return msg


def _reject_constant(name: str) -> Any:
    raise SchemaError(f"message contains non-standard JSON constant {name}", kind="not-json")


def decode_message(text: str, *, max_bytes: int = MAX_MESSAGE_BYTES) -> dict[str, Any]:
    """Parse one JSON message and validate it; raise :class:`SchemaError` naming the problem."""
    if not isinstance(text, str):
        raise SchemaError(f"message must be text, got {_name(text)}", kind="not-json")
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise SchemaError(
            f"message is {size} bytes, more than the limit of {max_bytes}", kind="oversize"
        )
    try:
        msg = json.loads(text, parse_constant=_reject_constant)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise SchemaError(f"message is not valid JSON: {exc}", kind="not-json") from None
    return validate_message(msg)


def encode_message(msg: Mapping[str, Any], *, max_bytes: int = MAX_MESSAGE_BYTES) -> str:
    """Validate ``msg`` and serialise it to compact JSON; raise :class:`SchemaError` if invalid."""
    msg = validate_message(dict(msg))
    try:
        text = json.dumps(msg, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise SchemaError(f"message is not JSON-serialisable: {exc}", kind="bad-field") from None
    if len(text) > max_bytes:  # ensure_ascii: one byte per character
        raise SchemaError(
            f"encoded message is {len(text)} bytes, more than the limit of {max_bytes}",
            kind="oversize",
        )
    return text
