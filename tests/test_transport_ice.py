"""ICE host-candidate restriction: parsing, the contained aioice hook, SDP candidate parsing."""

from __future__ import annotations

import asyncio

import aioice.ice
import pytest

from rlnc_testbed.transport.ice import (
    LOOPBACK,
    host_interfaces,
    install,
    parse_interfaces,
    sdp_candidate_addresses,
    selected_candidate_pair,
)


def test_parse_interfaces() -> None:
    assert parse_interfaces("loopback") == (LOOPBACK,)
    assert parse_interfaces("all") is None
    assert parse_interfaces("127.0.0.2, ::1") == ("127.0.0.2", "::1")


@pytest.mark.parametrize("bad", ["", "lo", "127.0.0.1,eth0", " , "])
def test_parse_interfaces_rejects_non_addresses(bad: str) -> None:
    with pytest.raises(ValueError, match="interfaces"):
        parse_interfaces(bad)


def test_parse_interfaces_rejects_non_str() -> None:
    with pytest.raises(TypeError, match="interfaces must be a str"):
        parse_interfaces(["127.0.0.1"])  # type: ignore[arg-type]


def test_hook_only_acts_inside_the_context() -> None:
    install()
    outside = aioice.ice.get_host_addresses(True, True)
    assert LOOPBACK not in outside  # aioice's own behaviour is untouched
    with host_interfaces("loopback"):
        assert aioice.ice.get_host_addresses(True, True) == [LOOPBACK]
        assert aioice.ice.get_host_addresses(False, True) == []
    with host_interfaces("127.0.0.3,::1"):
        assert aioice.ice.get_host_addresses(True, False) == ["127.0.0.3"]
        assert aioice.ice.get_host_addresses(True, True) == ["127.0.0.3", "::1"]
    with host_interfaces("all"):
        assert aioice.ice.get_host_addresses(True, True) == outside
    assert aioice.ice.get_host_addresses(True, True) == outside


async def test_tasks_created_inside_the_context_inherit_it() -> None:
    async def lookup() -> list[str]:
        await asyncio.sleep(0)
        return aioice.ice.get_host_addresses(True, True)

    with host_interfaces("loopback"):
        inner = asyncio.create_task(lookup())
    outer = asyncio.create_task(lookup())
    assert await inner == [LOOPBACK]
    assert LOOPBACK not in await outer


def test_sdp_candidate_addresses() -> None:
    sdp = (
        "v=0\r\n"
        "a=candidate:1 1 udp 2130706431 127.0.0.1 4000 typ host\r\n"
        "a=mid:0\r\n"
        "a=candidate:2 1 udp 1694498815 10.1.2.3 4001 typ srflx raddr 127.0.0.1 rport 4000\r\n"
    )
    assert sdp_candidate_addresses(sdp) == ["127.0.0.1", "10.1.2.3"]
    with pytest.raises(ValueError, match="malformed candidate"):
        sdp_candidate_addresses("a=candidate:1 1 udp\r\n")


def test_selected_pair_of_an_unconnected_object_is_empty() -> None:
    assert selected_candidate_pair(object()) == {}
