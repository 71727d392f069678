"""The reference docs stay true to the code: message tables, type codes, hex, vectors, modules.

``docs/protocol.md`` must list every signaling message type of ``protocol.messages.SCHEMA``
(with its direction and fields), every wire message class with its type code, the phase
deadlines of ``protocol.rounds``; its hex examples must equal the golden files (the draw
vectors are checked by ``tests/test_protocol_draws.py``). ``docs/architecture.md`` must name
every module under ``rlnc_testbed/``.
"""

from __future__ import annotations

import asyncio
import re
import typing
from pathlib import Path

import pytest

from rlnc_testbed import wire
from rlnc_testbed.protocol.messages import ROLES, SCHEMA
from rlnc_testbed.protocol.rounds import PHASE_UNITS
from rlnc_testbed.roles.engine import SOURCE_CHUNK
from rlnc_testbed.roles.node import IDLE_UNITS
from rlnc_testbed.signaling.server import UNIQUE_ROLES

ROOT = Path(__file__).resolve().parents[1]
PROTOCOL = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
ARCHITECTURE = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
GOLDEN = ROOT / "tests" / "golden"
PACKAGE = ROOT / "rlnc_testbed"

DIRECTIONS = {"to_server": "C→S", "to_client": "S→C", "both": "both"}


def table_rows(text: str) -> dict[str, list[str]]:
    """Markdown table rows keyed by their first cell (backticks stripped)."""
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            rows.setdefault(cells[0].strip("`"), cells)
    return rows


def fenced(text: str, tag: str) -> list[tuple[str, str]]:
    """(info after the tag, body) of every ```tag block."""
    pattern = rf"^```{tag}(?P<info>[^\n]*)\n(?P<body>.*?)^```"
    return [
        (m["info"].strip(), m["body"]) for m in re.finditer(pattern, text, re.MULTILINE | re.DOTALL)
    ]


# -- signaling -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(SCHEMA))
def test_every_signaling_type_has_a_row_with_its_direction_and_fields(kind: str) -> None:
    rows = table_rows(PROTOCOL)
    assert kind in rows, f"signaling type {kind!r} missing from the table in docs/protocol.md"
    _, direction, required, optional, *_ = rows[kind]
    spec = SCHEMA[kind]
    assert direction == DIRECTIONS[spec.direction], f"{kind!r}: direction {direction!r}"
    for name in spec.required:
        assert f"`{name}`" in required, f"{kind!r}: required field {name!r} not documented"
    for name in spec.optional:
        assert f"`{name}`" in optional, f"{kind!r}: optional field {name!r} not documented"
    documented = set(re.findall(r"^`([^`]+)`", required)) | set(re.findall(r"`(\w+)`", optional))
    assert documented <= set(spec.required) | set(spec.optional), f"{kind!r}: stale fields"


def test_documented_join_roles_match_the_schema() -> None:
    roles = re.search(r"Roles: ((?:`\w+`(?:, )?)+)", PROTOCOL)
    assert roles is not None, "docs/protocol.md needs the 'Roles: ...' list of the join"
    assert re.findall(r"`(\w+)`", roles[1]) == list(ROLES)
    unique = " or ".join(UNIQUE_ROLES)
    assert f"second {unique} [`duplicate-role`]" in PROTOCOL


def test_table_documents_no_signaling_type_the_schema_lacks() -> None:
    section = PROTOCOL.split("### Message types", 1)[1].split("###", 1)[0]
    documented = {k for k, cells in table_rows(section).items() if len(cells) == 5}
    documented -= {"type"}  # the header row
    assert documented == set(SCHEMA)


# -- wire ----------------------------------------------------------------------------------


def golden_messages() -> dict[type, bytes]:
    out: dict[type, bytes] = {}
    for path in sorted(GOLDEN.glob("wire_*.bin")):
        data = path.read_bytes()
        out.setdefault(type(wire.parse(data)), data)
    return out


def test_every_wire_class_has_a_row_with_its_type_code() -> None:
    classes = set(typing.get_args(wire.Message))
    samples = golden_messages()
    assert set(samples) == classes, "every wire message class needs a golden file"
    rows = table_rows(PROTOCOL)
    for cls in classes:
        code = samples[cls][3]
        assert wire.serialize(wire.parse(samples[cls]))[3] == code
        assert cls.__name__ in rows, f"wire class {cls.__name__} missing from docs/protocol.md"
        assert rows[cls.__name__][1] == str(code), f"{cls.__name__}: type code is {code}"
    section = PROTOCOL.split("## 4. Binary wire format", 1)[1].split("\n## ", 1)[0]
    documented = {name for name, cells in table_rows(section).items() if cells[1].isdigit()}
    assert documented == {cls.__name__ for cls in classes}, "stale wire rows in the table"
    codes = sorted(samples[cls][3] for cls in classes)
    assert codes == list(range(1, len(codes) + 1))
    assert f"| type 1..{len(codes)} | `type` | 3 |" in PROTOCOL
    with pytest.raises(wire.WireError, match=f"unknown message type {len(codes) + 1}"):
        wire.parse(b"RL\x01" + bytes([len(codes) + 1]) + bytes(8))


def test_documented_sizes_and_limits_match_the_code() -> None:
    packet_overhead = wire.packet_message_size(1, 1) - 2
    hello = wire.Hello("12", "newcomer", "repair", 3)
    hello_overhead = len(wire.serialize(hello)) - len("12newcomerrepair")
    expected = [
        f"| {packet_overhead} + k + s |",
        f"| {hello_overhead} + the three string lengths |",
        f"| {len(wire.serialize(wire.Done(0, 0)))} |",
        f"k = 20, s = 220 is {wire.packet_message_size(20, 220)} bytes",
        f"k ≤ {wire.DEFAULT_LIMITS.max_symbols} (`max_symbols`)",
        f"symbol_size ≤ {wire.DEFAULT_LIMITS.max_symbol_size >> 20} MiB (`max_symbol_size`)",
        f"a message ≤ {wire.DEFAULT_LIMITS.max_message >> 20} MiB (`max_message`)",
        f"data ≤ {wire.DEFAULT_LIMITS.max_chunk >> 20} MiB (`max_chunk`)",
        f"1..{wire.MAX_NAME} UTF-8 bytes",
        f"version u8 = {wire.VERSION}",
        f"SourceChunk`s of {SOURCE_CHUNK >> 10} KiB",
        f"{IDLE_UNITS:g} units (`IDLE_UNITS`)",
        *(f"`{role}`" for role in (*wire.ROLES, *wire.PURPOSES)),
    ]
    missing = [text for text in expected if text not in PROTOCOL]
    assert not missing, f"docs/protocol.md disagrees with the code: {missing}"


async def test_documented_webrtc_framing_is_what_a_receiver_accepts() -> None:
    """Hand-framed data-channel messages, as a JS peer would send them per protocol.md §3."""
    from rlnc_testbed.timeouts import unit
    from rlnc_testbed.transport.webrtc import (
        DEFAULT_MAX_MESSAGE_SIZE,
        MAX_REASSEMBLED,
        webrtc_pair,
    )

    assert f"{DEFAULT_MAX_MESSAGE_SIZE} bytes (`DEFAULT_MAX_MESSAGE_SIZE`)" in PROTOCOL
    assert f"at most {DEFAULT_MAX_MESSAGE_SIZE - 1} bytes of one application message" in PROTOCOL
    assert f"more than {MAX_REASSEMBLED >> 20} MiB (`MAX_REASSEMBLED`)" in PROTOCOL
    rows = table_rows(PROTOCOL)
    assert "more fragments" in rows["0x01"][1] and "last" in rows["0x00"][1]
    hello = (GOLDEN / "wire_hello.bin").read_bytes()
    async with webrtc_pair() as (ab, ba):
        raw = ab._dc  # the aiortc data channel underneath: bypass our own framing
        raw.send(b"\x01" + hello[:10])
        raw.send(b"\x01" + hello[10:20])
        raw.send(b"\x00" + hello[20:])
        raw.send(b"\x00")
        async with asyncio.timeout(10 * unit()):
            assert wire.parse(await ba.recv()) == wire.parse(hello)
            assert await ba.recv() == b""


def test_hex_examples_equal_the_golden_files() -> None:
    blocks = fenced(PROTOCOL, "hex")
    names = [name for name, _ in blocks]
    assert "wire_hello.bin" in names, "docs/protocol.md needs the Hello hex example"
    for name, body in blocks:
        doc_bytes = bytes.fromhex("".join(body.split()))
        assert doc_bytes == (GOLDEN / name).read_bytes(), f"hex example {name} is stale"


def test_hello_crc_in_the_byte_table() -> None:
    data = (GOLDEN / "wire_hello.bin").read_bytes()
    crc = int.from_bytes(data[-4:], "big")
    assert f"CRC32 of bytes 0..{len(data) - 5} = 0x{crc:08X}" in PROTOCOL


# -- round control and draws ---------------------------------------------------------------


def test_phase_deadlines_match_the_controller() -> None:
    rows = table_rows(PROTOCOL)
    for phase, units in PHASE_UNITS.items():
        name = phase.name
        assert name in rows, f"phase {name} missing from the deadline table"
        assert float(rows[name][1]) == units, f"phase {name}: deadline is {units} units"


# -- architecture --------------------------------------------------------------------------


def test_every_module_is_named_in_the_architecture_doc() -> None:
    modules = sorted(
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if "__pycache__" not in path.parts
    )
    assert len(modules) > 40
    missing = [m for m in modules if f"`{m}`" not in ARCHITECTURE]
    assert not missing, f"docs/architecture.md does not name: {missing}"


def test_architecture_names_no_module_that_does_not_exist() -> None:
    rows = table_rows(ARCHITECTURE.split("## Module map", 1)[1].split("\n## ", 1)[0])
    named = {name for name in rows if name.endswith(".py")}
    assert named, "the module map table is empty"
    stale = sorted(name for name in named if not (PACKAGE / name).is_file())
    assert not stale, f"docs/architecture.md names modules that do not exist: {stale}"
