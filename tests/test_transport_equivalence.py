"""The memory and WebRTC channels behave the same on the same message script."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import numpy as np
import pytest

from rlnc_testbed.timeouts import unit
from rlnc_testbed.transport.base import Channel
from rlnc_testbed.transport.memory import memory_pair
from rlnc_testbed.transport.webrtc import webrtc_pair

PairFactory = Callable[[], AbstractAsyncContextManager[tuple[Channel, Channel]]]


async def _outcome(action: Any) -> Any:
    """Run one step; return its result or the name of the exception it raised."""
    try:
        async with asyncio.timeout(10 * unit()):
            result = await action
    except Exception as exc:
        return type(exc).__name__
    return result


async def run_script(pair: PairFactory) -> list[Any]:
    rng = np.random.default_rng(3)
    sizes = [0, 5, 65535, 65536, 70_000, 200_000, *rng.integers(1, 5000, 20).tolist()]
    messages = [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in sizes]
    trace: list[Any] = []
    async with pair() as (ab, ba):
        for message in messages:
            await ab.send(message)
        trace.append([await _outcome(ba.recv()) == m for m in messages])
        await ba.send(b"reply")
        await ba.send(b"")
        trace.append([await _outcome(ab.recv()) for _ in range(2)])
        trace.append(await _outcome(ab.send("text")))  # type: ignore[arg-type]
        for end in (ab, ba):
            stats = end.stats.to_dict()
            stats.pop("info")
            trace.append(stats)
        await ab.send(b"before close")
        await ab.close()
        trace.append(await _outcome(ba.recv()))
        trace.append(await _outcome(ba.recv()))
        trace.append(await _outcome(ba.send(b"after close")))
        trace.append(await _outcome(ab.recv()))
        trace.append(await _outcome(ab.send(b"after close")))
        await ba.close()
        trace.append(await _outcome(ba.recv()))
    return trace


async def test_same_script_same_trace() -> None:
    memory = await run_script(memory_pair)
    webrtc = await run_script(webrtc_pair)
    assert memory == webrtc
    # and the trace says something: every message matched, the close was seen
    assert all(memory[0])
    assert memory[1] == [b"reply", b""]
    assert memory[2] == "TypeError"
    assert memory[-6:] == [
        b"before close",
        "ChannelClosed",
        "ChannelClosed",
        "ChannelClosed",
        "ChannelClosed",
        "ChannelClosed",
    ]


@pytest.mark.parametrize("factory", [memory_pair, webrtc_pair], ids=["memory", "webrtc"])
async def test_pair_factories_tear_down_on_error(factory: PairFactory) -> None:
    holder: list[Channel] = []
    with pytest.raises(RuntimeError, match="boom"):
        async with factory() as (ab, _):
            holder.append(ab)
            raise RuntimeError("boom")
    with pytest.raises(Exception, match="closed"):
        await holder[0].send(b"x")
    await asyncio.sleep(0)
    assert asyncio.all_tasks() == {asyncio.current_task()}
