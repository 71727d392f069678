"""Signaling message schema: JSON text <-> validated message dicts, with no I/O.

Every message is a JSON object with a ``"type"``; :data:`SCHEMA` lists, per type, its
required and optional fields, the kind of each field and which way the message travels.
Adding a message type is one entry in :data:`SCHEMA`. Any message may carry ``"from"`` (a
node id): the server stamps it on what it relays, and clients that set it must set their own.

Nothing past the schema reaches the round control, the history or the relay: decoding refuses
``NaN``/``Infinity``, numbers that are not finite (``1e400``) or not safe integers (more than
:data:`MAX_INTEGER`), strings, lists and objects over their limits and nesting deeper than
:data:`MAX_DEPTH`; the nested objects that reach the round control (``stored.links``,
``collected.report``) have declared fields of their own (:data:`LINK_FIELDS`,
:data:`REPORT_FIELDS`).
"""

from __future__ import annotations

import json
import math
import re
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
    "LINK_FIELDS",
    "MAX_DEPTH",
    "MAX_ID_LENGTH",
    "MAX_INTEGER",
    "MAX_ITEMS",
    "MAX_MESSAGE_BYTES",
    "MAX_STRING",
    "MAX_TEXT",
    "REPORT_FIELDS",
    "REPORT_KEYS",
    "ROLES",
    "SCHEMA",
    "SCHEMA_ERROR_KINDS",
    "SERVER_TYPES",
    "MessageSpec",
    "SchemaError",
    "decode_message",
    "encode_message",
    "validate_message",
]

# -- limits: one home for every bound a message must keep -----------------------------------

#: Largest encoded message accepted, in bytes of UTF-8 (SDPs are ~1-4 KiB).
MAX_MESSAGE_BYTES = 256 * 1024
#: Longest node id accepted ("engine", "collector", "17", ...).
MAX_ID_LENGTH = 64
#: Deepest nesting of objects and lists; the message object itself is depth 1
#: (``collected`` > ``report`` > ``links`` > a link record > ``info`` is depth 5).
MAX_DEPTH = 6
#: Most items in one list or keys in one object (``Params`` allows up to 10,000 peers).
MAX_ITEMS = 10_000
#: Longest string anywhere in a message, in characters (an SDP is ~1-4 KiB).
MAX_STRING = 64 * 1024
#: Largest integer magnitude: 2**63 - 1, as ``Params.seed`` (a JavaScript peer must parse
#: integers beyond 2**53 - 1 exactly, e.g. with BigInt, to reproduce the draws).
MAX_INTEGER = 2**63 - 1
#: Longest human-readable text field (``reason``, a report's ``error``).
MAX_TEXT = 4096
#: Longest join token or credential.
MAX_TOKEN = 256
#: Longest link ``label`` and ``info`` key; most ``info`` entries; longest ``info`` string.
MAX_LABEL = 64
MAX_INFO_KEYS = 32
MAX_INFO_TEXT = 256
#: Most entries in a ``signal`` payload (an offer/answer has three: conn, type, sdp).
MAX_PAYLOAD_KEYS = 16

_MAX_INT_DIGITS = len(str(MAX_INTEGER))

Direction = Literal["to_server", "to_client", "both"]

#: Every :attr:`SchemaError.kind`.
SCHEMA_ERROR_KINDS = frozenset(
    {
        "oversize",
        "not-json",
        "not-object",
        "unknown-type",
        "missing-field",
        "unknown-field",
        "bad-field",
        "bad-number",
        "too-deep",
        "too-large",
    }
)


class SchemaError(ValueError):
    """A message is not valid JSON or does not match :data:`SCHEMA`.

    ``kind`` is a short machine-readable reason (one of :data:`SCHEMA_ERROR_KINDS`:
    ``"oversize"``, ``"not-json"``, ``"not-object"``, ``"unknown-type"``,
    ``"missing-field"``, ``"unknown-field"``, ``"bad-field"``, ``"bad-number"`` (not finite,
    or an integer beyond :data:`MAX_INTEGER`), ``"too-deep"``, ``"too-large"`` (a string,
    list or object over its limit)) used by the server to count rejections; the message names
    the problem.
    """

    def __init__(self, message: str, *, kind: str) -> None:
        assert kind in SCHEMA_ERROR_KINDS, kind
        super().__init__(message)
        self.kind = kind


# Field kinds: each returns an error description, or None when the value is fine.
Check = Callable[[Any], str | None]


def _text(limit: int) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, str):
            return f"must be a string, got {_name(value)}"
        if len(value) > limit:
            return f"must be at most {limit} characters, got {len(value)}"
        return None

    return check


_string = _text(MAX_TEXT)


def _node_id(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"must be a node id string, got {_name(value)}"
    if not 0 < len(value) <= MAX_ID_LENGTH:
        return f"must be a node id of 1..{MAX_ID_LENGTH} characters, got {len(value)}"
    return None


def _count(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return f"must be an integer, got {_name(value)}"
    if value < 0:
        return f"must be >= 0, got {value}"
    return None if value <= MAX_INTEGER else f"must be <= {MAX_INTEGER}, got {value}"


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else f"must be true or false, got {_name(value)}"


def _object(value: Any) -> str | None:
    return None if isinstance(value, dict) else f"must be an object, got {_name(value)}"


def _object_or_null(value: Any) -> str | None:
    return None if value is None else _object(value)


def _list_of(item: Check, what: str) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, list):
            return f"must be a list of {what}, got {_name(value)}"
        for index, element in enumerate(value):
            problem = item(element)
            if problem:
                return f"item {index} {problem}"
        return None

    return check


_id_list = _list_of(_node_id, "node ids")


def _role(value: Any) -> str | None:
    return None if value in ROLES else f"must be one of {', '.join(ROLES)}, got {_show(value)}"


def _matching(pattern: str, what: str) -> Check:
    compiled = re.compile(pattern)

    def check(value: Any) -> str | None:
        if isinstance(value, str) and compiled.fullmatch(value):
            return None
        return f"must be {what}, got {_show(value)}"

    return check


def _record(what: str, required: Mapping[str, Check], optional: Mapping[str, Check]) -> Check:
    """An object with known keys only, each checked (a declared nested schema)."""

    def check(value: Any) -> str | None:
        if not isinstance(value, dict):
            return f"must be {what} object, got {_name(value)}"
        for name in required:
            if name not in value:
                return f"is missing {what} field {name!r}"
        for name, item in value.items():
            item_check = required.get(name) or optional.get(name)
            if item_check is None:
                return f"has unknown {what} field {_show(name)}"
            problem = item_check(item)
            if problem:
                return f"{what} field {name!r} {problem}"
        return None

    return check


def _scalar_map(what: str, *, max_keys: int, max_key: int, max_text: int) -> Check:
    """An object of at most ``max_keys`` scalar values (string, number, boolean, null)."""

    def check(value: Any) -> str | None:
        if not isinstance(value, dict):
            return f"must be {what} object, got {_name(value)}"
        if len(value) > max_keys:
            return f"must have at most {max_keys} entries, got {len(value)}"
        for key, item in value.items():
            if len(key) > max_key:
                return f"key {_show(key)} is longer than {max_key} characters"
            if isinstance(item, str):
                if len(item) > max_text:
                    return f"entry {key!r} is longer than {max_text} characters"
            elif not (item is None or isinstance(item, bool | int | float)):
                return f"entry {key!r} must be a string, number, boolean or null, got {_name(item)}"
        return None

    return check


def _name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _show(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters (error messages stay short)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


#: A link record (``LinkStats.to_dict()``): the fields ``stored.links`` and
#: ``collected.report.links`` items must have, and nothing else.
LINK_FIELDS: dict[str, Check] = {
    "local": _node_id,
    "remote": _node_id,
    "label": _text(MAX_LABEL),
    "messages_sent": _count,
    "bytes_sent": _count,
    "messages_received": _count,
    "bytes_received": _count,
    "info": _scalar_map(
        "an info", max_keys=MAX_INFO_KEYS, max_key=MAX_LABEL, max_text=MAX_INFO_TEXT
    ),
}
_link = _record("a link", LINK_FIELDS, {})
_links = _list_of(_link, "link records")
_sha256_hex = _matching(r"[0-9a-f]{64}", "a lowercase SHA-256 hex digest")

#: The collector's ``collected.report``: every field optional, no other field allowed. A new
#: report field is one entry here (and one line in docs/protocol.md).
REPORT_FIELDS: dict[str, Check] = {
    "global_rank": _count,
    "decoded": _boolean,
    "verified": _boolean,
    "verdict": _matching(r"[a-z][a-z0-9-]{0,31}", "a verdict name such as 'ok'"),
    "packets": _count,
    "rejected": _count,
    "error": _string,
    "links": _links,
}


def _digests(value: Any) -> str | None:
    if not isinstance(value, dict):
        return f"must be an object of node id -> SHA-256 hex, got {_name(value)}"
    for key, digest in value.items():
        problem = _node_id(key) or _sha256_hex(digest)
        if problem:
            return f"entry {_show(key)} {problem}"
    return None


def _counts(value: Any) -> str | None:
    if not isinstance(value, dict):
        return f"must be an object of node id -> count, got {_name(value)}"
    for key, count in value.items():
        problem = _node_id(key) or _count(count)
        if problem:
            return f"entry {_show(key)} {problem}"
    return None


_refusal = _record(
    "a refusal",
    {"sender": _text(MAX_INFO_TEXT), "round": _count, "reason": _string},
    {},
)
REPORT_FIELDS.update(
    stored=_digests,
    refused=_list_of(_refusal, "refusals"),
    polluted=_counts,
    polluters=_id_list,
    delivered=_counts,
    ranks=_counts,
    contributions=_counts,
)
#: Keys of the collector's ``collected.report`` object, as roles/collector.py writes them:
#: ``global_rank``, ``packets``, ``rejected`` ints >= 0; ``decoded``, ``verified`` bools;
#: ``verdict``, ``error`` strings; ``links`` a list of link records; ``stored`` peer id ->
#: SHA-256 hex; ``refused`` a list of ``{"sender": id, "round": int, "reason": str}``;
#: ``polluted`` peer id -> count of its packets whose payload does not match its coefficients;
#: ``polluters`` the ids the collector names as polluters (a parent found through the
#: newcomer's provenance included); ``delivered`` peer id -> packets it delivered; ``ranks``
#: peer id -> rank of those packets; ``contributions`` peer id -> the rank its clean packets add
#: after every lower id's (they sum to ``global_rank``).
#: (The declared checks are :data:`REPORT_FIELDS`; a new key is one entry there.)
REPORT_KEYS = tuple(REPORT_FIELDS)
_report = _record("a report", {}, REPORT_FIELDS)
_payload = _scalar_map(
    "a payload", max_keys=MAX_PAYLOAD_KEYS, max_key=MAX_LABEL, max_text=MAX_STRING
)


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
    # "slot": the id a per-slot credential was minted for (the server then checks it).
    "join": MessageSpec({"token": _text(MAX_TOKEN), "role": _role}, _S, {"slot": _node_id}),
    "welcome": MessageSpec({"id": _node_id, "params": _object_or_null}, _C),
    "error": MessageSpec({"reason": _string}, "both"),
    # client -> server carries "to"; the server relays it with "from" instead.
    "signal": MessageSpec({"payload": _payload}, "both", {"to": _node_id}),
    "params": MessageSpec({"params": _object}, _C, {"trial": _count}),
    "distribute": MessageSpec({"round": _count, "peers": _id_list}, _C),
    "new id": MessageSpec({"id": _node_id, "round": _count}, _C),
    "fail": MessageSpec({"round": _count}, _C),
    "repair": MessageSpec({"round": _count, "newcomer": _node_id, "beta": _count}, _C),
    "expect": MessageSpec({"round": _count, "parents": _id_list, "q": _count}, _C),
    "collect": MessageSpec({"round": _count}, _C),
    "judge": MessageSpec({"round": _count, "alive": _id_list, "newcomer": _node_id}, _C),
    "refused": MessageSpec({"round": _count, "sender": _node_id, "reason": _string}, _S),
    "stored": MessageSpec(
        {"round": _count, "count": _count, "rank": _count},
        _S,
        {"received": _count, "links": _links},
    ),
    "collected": MessageSpec({"round": _count, "report": _report}, _S),
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
    _check_structure(msg)
    kind = msg.get("type")
    if not isinstance(kind, str):
        raise SchemaError(f"message needs a string 'type', got {_name(kind)}", kind="missing-field")
    spec = SCHEMA.get(kind)
    if spec is None:
        raise SchemaError(f"unknown message type {_show(kind)}", kind="unknown-type")
    for name in spec.required:
        if name not in msg:
            raise SchemaError(f"{kind!r} message is missing field {name!r}", kind="missing-field")
    for name, value in msg.items():
        if name == "type":
            continue
        check = _node_id if name == "from" else spec.required.get(name) or spec.optional.get(name)
        if check is None:
            raise SchemaError(
                f"{kind!r} message has unknown field {_show(name)}", kind="unknown-field"
            )
        problem = check(value)
        if problem:
            raise SchemaError(f"{kind!r} field {name!r} {problem}", kind="bad-field")
    return msg


#: Where a value sits, as :func:`_check_structure` walks: ``"message"``, a dict key
#: ``("key", name)``, an item ``("item", parent)`` or a key itself ``("key of", parent)``.
#: Rendered (:func:`_place`) only when a message is refused, so that walking a valid
#: message formats nothing.
_Where = str | tuple[str, Any]


def _place(where: _Where) -> str:
    """``where`` in words, for an error message."""
    if isinstance(where, str):
        return where
    kind, ref = where
    if kind == "key":
        return _show(ref, 40)
    return f"{'an item' if kind == 'item' else 'a key'} of {_place(ref)}"


def _check_structure(msg: dict[str, Any]) -> None:
    """Every value is JSON with finite numbers, safe integers, and sizes and depth in bounds.

    Iterative (no recursion), so it costs O(size) whatever the shape.
    """
    stack: list[tuple[Any, int, _Where]] = [(msg, 1, "message")]
    while stack:
        value, depth, where = stack.pop()
        if isinstance(value, str):
            _check_string(value, where)
        elif value is None or isinstance(value, bool):
            continue
        elif isinstance(value, int):
            if not -MAX_INTEGER <= value <= MAX_INTEGER:
                raise SchemaError(
                    f"{_place(where)} is an integer beyond +-{MAX_INTEGER} (2**63 - 1)",
                    kind="bad-number",
                )
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise SchemaError(
                    f"{_place(where)} is not a finite number: {value}", kind="bad-number"
                )
        elif isinstance(value, dict | list | tuple):
            if depth > MAX_DEPTH:
                raise SchemaError(
                    f"{_place(where)} is nested deeper than {MAX_DEPTH} levels", kind="too-deep"
                )
            if len(value) > MAX_ITEMS:
                raise SchemaError(
                    f"{_place(where)} has {len(value)} entries, more than the limit of {MAX_ITEMS}",
                    kind="too-large",
                )
            if isinstance(value, dict):
                for key, item in value.items():
                    if not isinstance(key, str):
                        raise SchemaError(f"{_place(where)} has a non-string key", kind="bad-field")
                    _check_string(key, ("key of", where))
                    stack.append((item, depth + 1, ("key", key)))
            else:
                item_of = ("item", where)
                stack.extend((item, depth + 1, item_of) for item in value)
        else:
            raise SchemaError(
                f"{_place(where)} is not a JSON value: {_name(value)}", kind="bad-field"
            )


def _check_string(value: str, where: _Where) -> None:
    if len(value) > MAX_STRING:
        raise SchemaError(
            f"{_place(where)} is a string of {len(value)} characters, more than the limit of "
            f"{MAX_STRING}",
            kind="too-large",
        )
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise SchemaError(
                f"{_place(where)} contains a lone surrogate (not valid Unicode)",
                kind="bad-field",
            ) from None


def _reject_constant(name: str) -> Any:
    raise SchemaError(f"message contains non-standard JSON constant {name}", kind="not-json")


def _parse_int(text: str) -> int:
    # Checked before int(): a 5,000-digit literal would otherwise hit Python's int-string
    # limit (an uncaught ValueError) or cost quadratic time.
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        raise SchemaError(
            f"integer {_show(text, 30)} has more than {_MAX_INT_DIGITS} digits", kind="bad-number"
        )
    value = int(text)
    if not -MAX_INTEGER <= value <= MAX_INTEGER:
        raise SchemaError(f"integer {text} is beyond +-{MAX_INTEGER}", kind="bad-number")
    return value


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise SchemaError(f"number {_show(text, 30)} is not finite", kind="bad-number")
    return value


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
        msg = json.loads(
            text,
            parse_constant=_reject_constant,
            parse_int=_parse_int,
            parse_float=_parse_float,
        )
    except SchemaError:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
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
