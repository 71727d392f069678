"""Sans-I/O tests of the signaling message schema (no event loop, no sockets)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rlnc_testbed.protocol.messages import (
    CLIENT_TYPES,
    MAX_MESSAGE_BYTES,
    SCHEMA,
    SERVER_TYPES,
    SchemaError,
    decode_message,
    encode_message,
)

VALID: list[dict[str, Any]] = [
    {"type": "join", "token": "t", "role": "peer"},
    {"type": "welcome", "id": "3", "params": None},
    {"type": "welcome", "id": "engine", "params": {"peers": 3}},
    {"type": "error", "reason": "bad"},
    {"type": "signal", "to": "2", "payload": {"sdp": "v=0"}},
    {"type": "signal", "from": "1", "payload": {}},
    {"type": "params", "params": {"k": 1}},
    {"type": "new id", "id": "4", "round": 1},
    {"type": "fail", "round": 0},
    {"type": "repair", "round": 2, "newcomer": "5", "beta": 3},
    {"type": "expect", "round": 2, "parents": ["1", "3"], "q": 4},
    {"type": "collect", "round": 1},
    {"type": "judge", "round": 1, "alive": ["1", "3", "4"], "newcomer": "4"},
    {"type": "refused", "round": 1, "sender": "2", "reason": "not alive in round 1"},
    {"type": "distribute", "round": 0, "peers": ["1", "2", "3"]},
    {"type": "stored", "round": 1, "count": 4, "rank": 4, "from": "2"},
    {"type": "collected", "round": 1, "report": {"verdict": "ok", "verified": True}},
    {"type": "nextRound", "round": 2},
    {"type": "end", "round": 9, "reason": "done"},
    {"type": "close", "reason": "test over"},
]


def test_every_type_has_a_valid_example() -> None:
    assert {m["type"] for m in VALID} == set(SCHEMA)


@pytest.mark.parametrize("msg", VALID, ids=lambda m: m["type"])
def test_valid_messages_round_trip(msg: dict[str, Any]) -> None:
    text = encode_message(msg)
    assert json.loads(text) == msg
    assert decode_message(text) == msg


def test_directions() -> None:
    assert "join" in CLIENT_TYPES and "join" not in SERVER_TYPES
    assert "fail" in SERVER_TYPES and "fail" not in CLIENT_TYPES
    assert "signal" in CLIENT_TYPES and "signal" in SERVER_TYPES
    assert {"stored", "collected", "nextRound", "end"} <= CLIENT_TYPES


BAD: list[tuple[str, str, str]] = [
    ("{not json", "not-json", "not valid JSON"),
    ('{"type": "fail", "round": NaN}', "not-json", "NaN"),
    ("[1, 2]", "not-object", "JSON object"),
    ('{"round": 1}', "missing-field", "'type'"),
    ('{"type": 7}', "missing-field", "'type'"),
    ('{"type": "hello"}', "unknown-type", "'hello'"),
    ('{"type": "new_id", "id": "4", "round": 1}', "unknown-type", "'new_id'"),
    ('{"type": "fail"}', "missing-field", "'round'"),
    ('{"type": "fail", "round": "1"}', "bad-field", "'round'"),
    ('{"type": "fail", "round": 1.0}', "bad-field", "integer"),
    ('{"type": "fail", "round": true}', "bad-field", "integer"),
    ('{"type": "fail", "round": -1}', "bad-field", ">= 0"),
    ('{"type": "fail", "round": 1, "extra": 0}', "unknown-field", "'extra'"),
    ('{"type": "join", "token": "t", "role": "king"}', "bad-field", "'role'"),
    ('{"type": "join", "token": "t", "role": "controller"}', "bad-field", "'role'"),
    ('{"type": "join", "token": 5, "role": "peer"}', "bad-field", "'token'"),
    ('{"type": "welcome", "id": "", "params": null}', "bad-field", "'id'"),
    ('{"type": "welcome", "id": "1", "params": []}', "bad-field", "'params'"),
    ('{"type": "welcome", "id": "1", "params": null, "token": "x"}', "unknown-field", "'token'"),
    ('{"type": "expect", "round": 1, "parents": [1], "q": 2}', "bad-field", "item 0"),
    ('{"type": "signal", "to": "2", "payload": "sdp"}', "bad-field", "'payload'"),
    ('{"type": "error", "reason": "x", "from": 3}', "bad-field", "'from'"),
    ('{"type": "error", "reason": "x", "from": "' + "9" * 65 + '"}', "bad-field", "'from'"),
]


@pytest.mark.parametrize(("text", "kind", "needle"), BAD)
def test_bad_messages_raise_schema_error_naming_the_problem(
    text: str, kind: str, needle: str
) -> None:
    with pytest.raises(SchemaError, match=needle) as info:
        decode_message(text)
    assert info.value.kind == kind
    assert isinstance(info.value, ValueError)


def test_oversize_is_rejected_both_ways() -> None:
    strings = {str(i): "x" * (MAX_MESSAGE_BYTES // 4) for i in range(5)}
    big = {"type": "signal", "to": "1", "payload": strings}
    with pytest.raises(SchemaError, match="limit") as info:
        encode_message(big)
    assert info.value.kind == "oversize"
    with pytest.raises(SchemaError, match="limit") as info:
        decode_message(json.dumps(big))
    assert info.value.kind == "oversize"
    assert decode_message('{"type":"fail","round":1}', max_bytes=30)["round"] == 1
    with pytest.raises(SchemaError, match="limit of 10"):
        decode_message('{"type":"fail","round":1}', max_bytes=10)


def test_encode_rejects_invalid_and_unserialisable() -> None:
    with pytest.raises(SchemaError, match="missing field 'reason'"):
        encode_message({"type": "close"})
    with pytest.raises(SchemaError, match="not a finite number") as info:
        encode_message({"type": "params", "params": {"x": float("nan")}})
    assert info.value.kind == "bad-number"
    with pytest.raises(SchemaError, match="not a JSON value") as info:
        encode_message({"type": "params", "params": {"x": object()}})
    assert info.value.kind == "bad-field"
    with pytest.raises(SchemaError, match="non-string key"):
        encode_message({"type": "params", "params": {1: 2}})


def test_a_refusal_names_where_the_bad_value_sits() -> None:
    """The location is put into words only for a refused message, from the path walked."""
    cases = [
        ({"x": [1, float("inf")]}, "an item of 'x' is not a finite number"),
        ({"x": {"y": 2**63}}, "'y' is an integer beyond"),
        ({"x": [{"\ud800": 1}]}, "a key of an item of 'x' contains a lone surrogate"),
        ({"x": ["a" * 100_000]}, "an item of 'x' is a string of 100000 characters"),
        ({"x": [[1]]}, None),
    ]
    for params, words in cases:
        message = {"type": "params", "params": params}
        if words is None:
            encode_message(message)
            continue
        with pytest.raises(SchemaError) as info:
            encode_message(message)
        assert words in str(info.value), str(info.value)


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63) + 1, 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)


@given(st.text(max_size=200))
def test_random_text_never_raises_anything_but_schema_error(text: str) -> None:
    try:
        msg = decode_message(text)
    except SchemaError:
        return
    assert msg["type"] in SCHEMA


@given(st.dictionaries(st.sampled_from(["type", "round", "to", "from", "id"]), json_values))
def test_random_objects_validate_or_raise_schema_error(obj: dict[str, Any]) -> None:
    try:
        msg = decode_message(json.dumps(obj))
    except SchemaError:
        return
    assert encode_message(msg) == json.dumps(msg, separators=(",", ":"))


@given(
    st.sampled_from(["1", "2", "engine", "collector"]),
    st.dictionaries(st.text(max_size=8), json_scalars, max_size=5),
)
def test_signal_round_trip(peer: str, payload: dict[str, Any]) -> None:
    msg = {"type": "signal", "to": peer, "payload": payload}
    assert decode_message(encode_message(msg)) == msg
