"""Bulk throughput of one WebRTC link: our framed, paced Channel vs a raw aiortc data channel.

Both run in this process, in the same run, over loopback, with the same message size and the
same pacing rule (wait for ``bufferedamountlow`` above a high-water mark). The default message
size is 65535 bytes, not 65536: our channel adds a 1-byte framing flag and keeps every
data-channel message within the 64 KiB interop limit, so 65535-byte payloads map 1:1 onto
data-channel messages. A third measurement moves the same payload as wire PacketMessages of
64 KiB symbols (k=32) - serialize, frame, pace, reassemble, parse with CRC - the peers' real
data path. Prints medians over ``--runs`` interleaved runs, the ratios (target >= 0.8x raw)
and the median connection setup time of our connector.

    python benchmarks/webrtc_link.py [--mib 64] [--message-size 65535] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import numpy as np
from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection

from rlnc_testbed import wire
from rlnc_testbed.coding import CodedPacket
from rlnc_testbed.roles.streams import MessageReader, send_messages
from rlnc_testbed.transport.ice import host_interfaces
from rlnc_testbed.transport.webrtc import webrtc_connectors, webrtc_pair

HIGH, LOW = 1 << 20, 256 << 10
TIMEOUT = 300.0


async def raw_run(total: int, size: int) -> float:
    """Seconds to push ``total`` bytes through a bare aiortc data channel pair."""
    a = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    b = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        dc = a.createDataChannel("raw", ordered=True)
        opened, done, drained = asyncio.Event(), asyncio.Event(), asyncio.Event()
        received = 0

        def on_datachannel(channel: RTCDataChannel) -> None:
            @channel.on("message")
            def on_message(message: bytes) -> None:
                nonlocal received
                received += len(message)
                if received >= total:
                    done.set()

        b.on("datachannel", on_datachannel)
        dc.on("open", opened.set)
        dc.bufferedAmountLowThreshold = LOW
        dc.on("bufferedamountlow", drained.set)
        async with asyncio.timeout(TIMEOUT):
            with host_interfaces("loopback"):
                await a.setLocalDescription(await a.createOffer())
                await b.setRemoteDescription(a.localDescription)
                await b.setLocalDescription(await b.createAnswer())
            await a.setRemoteDescription(b.localDescription)
            await opened.wait()
            payload = bytes(size)
            started = time.perf_counter()
            for _ in range(total // size):
                while dc.bufferedAmount > HIGH:
                    drained.clear()
                    await drained.wait()
                dc.send(payload)
            await done.wait()
            return time.perf_counter() - started
    finally:
        await asyncio.wait_for(a.close(), 10)
        await asyncio.wait_for(b.close(), 10)


async def ours_run(total: int, size: int) -> float:
    """Seconds to push ``total`` bytes through our WebRTCChannel pair."""
    count = total // size
    async with webrtc_pair() as (ab, ba):
        payload = bytes(size)

        async def sender() -> None:
            for _ in range(count):
                await ab.send(payload)

        async with asyncio.timeout(TIMEOUT):
            started = time.perf_counter()
            task = asyncio.create_task(sender())
            for _ in range(count):
                await ba.recv()
            await task
            elapsed = time.perf_counter() - started
        assert ba.stats.bytes_received == count * size
        return elapsed


async def packets_run(total: int, symbol_size: int, symbols: int = 32) -> float:
    """Seconds to move ``total`` payload bytes as wire PacketMessages of ``symbol_size``-byte
    symbols (the peers' real data path: serialize, frame, pace, reassemble, parse+CRC)."""
    count = total // symbol_size
    coefficients = np.arange(symbols, dtype=np.uint8)
    message = wire.PacketMessage(
        generation=0,
        field=256,
        packet=CodedPacket(coefficients, np.zeros(symbol_size, dtype=np.uint8)),
    )
    async with webrtc_pair() as (ab, ba):
        reader = MessageReader(ba, timeout_units=TIMEOUT)

        async def sender() -> None:
            await send_messages(ab, (message for _ in range(count)))

        async with asyncio.timeout(TIMEOUT):
            started = time.perf_counter()
            task = asyncio.create_task(sender())
            for _ in range(count):
                got = await reader.next()
                assert isinstance(got, wire.PacketMessage)
            await task
            return time.perf_counter() - started


async def setup_times(n: int) -> list[float]:
    times = []
    async with webrtc_connectors("a", "b") as nodes:
        for i in range(n):
            async with asyncio.timeout(30):
                started = time.perf_counter()
                channel = await nodes["a"].open("b", label=f"setup{i}")
                far = await nodes["b"].accept()
                times.append(time.perf_counter() - started)
            await channel.close()
            await far.close()
    return times


async def main(args: argparse.Namespace) -> None:
    total = args.mib << 20
    size = args.message_size
    total -= total % size
    raw, ours, packets = [], [], []
    for run in range(args.runs):
        raw.append(await raw_run(total, size))
        ours.append(await ours_run(total, size))
        packets.append(await packets_run(args.mib << 20, args.symbol_size))
        print(
            f"run {run + 1}: raw {total / raw[-1] / 1e6:6.2f} MB/s   "
            f"ours {total / ours[-1] / 1e6:6.2f} MB/s   "
            f"packets {(args.mib << 20) / packets[-1] / 1e6:6.2f} MB/s"
        )
    raw_rate = total / statistics.median(raw) / 1e6
    ours_rate = total / statistics.median(ours) / 1e6
    packet_rate = (args.mib << 20) / statistics.median(packets) / 1e6
    setups = await setup_times(args.setups)
    print(f"payload {total / 2**20:.1f} MiB in {total // size} messages of {size} bytes")
    print(f"median raw aiortc data channel: {raw_rate:6.2f} MB/s")
    print(f"median rlnc WebRTCChannel:      {ours_rate:6.2f} MB/s")
    print(f"ratio ours/raw: {ours_rate / raw_rate:.2f}x (target >= 0.8x)")
    print(
        f"median {args.symbol_size}-byte-symbol PacketMessages (wire + channel): "
        f"{packet_rate:6.2f} MB/s of payload, {packet_rate / raw_rate:.2f}x raw"
    )
    print(
        f"median connection setup (open+accept, {args.setups} runs): "
        f"{statistics.median(setups) * 1e3:.1f} ms"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=64, help="MiB per run (default 64)")
    parser.add_argument("--message-size", type=int, default=65535, help="bytes per message")
    parser.add_argument("--runs", type=int, default=3, help="runs of each (default 3)")
    parser.add_argument(
        "--symbol-size", type=int, default=65536, help="payload bytes per PacketMessage"
    )
    parser.add_argument("--setups", type=int, default=20, help="setups to time (default 20)")
    asyncio.run(main(parser.parse_args()))
