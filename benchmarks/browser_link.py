"""One WebRTC link with a Chromium page at one end: setup time and bulk throughput, both ways.

Measured in one run, interleaved (run r does every link once, in an order rotated by r, so
load drifts hit all alike), for three links over loopback:

* ``aiortc -> aiortc``: two :class:`~rlnc_testbed.transport.webrtc.WebRTCConnector` in this
  process (the baseline every ratio divides by);
* ``Chromium -> aiortc``: the page's ``Connector`` (``rlnc_testbed/web/channels.js``) offers
  and sends, this process's ``WebRTCConnector`` answers and receives;
* ``aiortc -> Chromium``: this process offers and sends, the page answers and receives.

Both ends run the project's real code: the page imports ``/web/channels.js`` (SDP loopback
filtering, framing, pacing) from a small aiohttp server on 127.0.0.1 (port 0) that serves the
package's ``web/`` folder as the signaling server does (``signaling/web.py``) plus a benchmark
page generated in memory. Offers and answers cross between the two connectors directly
(Playwright ``page.evaluate`` one way, an exposed function the other) instead of through the
signaling server's websocket; each side's SDP handling is its connector's own.

* setup: from the offerer's ``open()`` call (offer made, gathering, SDPs exchanged, ICE, DTLS,
  SCTP, DCEP) to the data channel's ``open`` at the offerer and at the answerer, and to
  ``open()`` returning (it also reads the selected ICE pair). Page and Python clocks are put
  on one scale by a calibration before each run (the page's ``performance.timeOrigin +
  performance.now()`` read between two ``time.time()``; the tightest of 8 round trips, so
  within ~0.5 ms). Medians over ``--setups`` connections per link per run, plus the bulk ones;
* bulk: ``--mib`` MiB as messages of ``--message-size`` bytes (default 65535: with the 1-byte
  framing flag each is one 65536-byte data-channel message, the most either connector sends,
  ``MAX_MESSAGE_SIZE`` / ``DEFAULT_MAX_MESSAGE_SIZE``; larger messages are fragmented), sent
  through ``Channel.send`` (paced at 1 MiB buffered / 256 KiB low-water), from the sender's
  first send to the receiver's last message. The receiver checks the count, the bytes and a
  checksum over every byte, folded in message order (8 distinct random payloads sent in
  rotation, so a lost, doubled or reordered message shows); it costs ~20 us (numpy) / ~50 us
  (JS) per 64 KiB, a few % of the time a message takes. Rates in MiB/s (2^20 bytes/s),
  medians over ``--runs``, each with its ratio to aiortc -> aiortc; next to them the CPU each
  side used over the transfer, as a share of one core (this process: both ends of aiortc ->
  aiortc, one end otherwise; Chromium: its processes plus Playwright's driver, from /proc),
  which tells a CPU-bound end from a waiting one; the share of the transfer this process's
  event loop was runnable yet waited for a CPU (``/proc/self/schedstat``: the machine's other
  load, which 2 shared cores have plenty of); and the UDP datagrams the kernel
  dropped for a full socket receive buffer meanwhile (``/proc/net/snmp``, the namespace's;
  SCTP retransmits them, and cuts its congestion window);
* the page's ICE gathering (medians): when its 127.0.0.1 UDP candidate came and when
  gathering completed (``channels.js`` sends its SDP once the 127.0.0.1 UDP candidate is in
  it, or gathering completed; no trickle ICE).

One warm-up connection and transfer per link (``--warmup-mib``) come first, not counted
(Chromium's first peer connection, the JIT). Chromium may pick a non-loopback ICE pair from
the host's other interfaces, so the benchmark re-runs itself in a network namespace with
nothing but loopback (``experiment.hosts.loopback_only``; needs root) unless ``--here``; every
selected pair is checked to be 127.0.0.1 at both ends either way.

    python benchmarks/browser_link.py [--mib 16] [--runs 3] [--setups 6] [--here]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import secrets
import statistics
import sys
import time
from typing import Any

import numpy as np
from aiohttp import web
from loopback import inside, rerun_unless_inside

from rlnc_testbed.browser import Chromium, unavailable
from rlnc_testbed.signaling.web import add_web_routes
from rlnc_testbed.timeouts import unit
from rlnc_testbed.transport.webrtc import WebRTCChannel, WebRTCConnector

LINKS = ("aiortc -> aiortc", "Chromium -> aiortc", "aiortc -> Chromium")
BASE = LINKS[0]
#: Distinct payloads sent in rotation (so a lost, doubled or reordered message shows).
VARIANTS = 8
MASK = 0xFFFFFFFF
#: Bounds, in timeout units: one connection's setup; one message's wait at a receiver.
SETUP_UNITS = 30.0
MESSAGE_UNITS = 30.0
#: Bound on the whole benchmark when it re-runs itself in a namespace (seconds).
WHOLE_BOUND = 1800

# -- the page: the project's channels.js, driven from Python ---------------------------------

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rlnc browser_link benchmark</title>
<link rel="icon" href="data:,"><script type="module" src="/bench/link.js"></script>
</head><body><pre id="status">loading</pre></body></html>
"""

SCRIPT = r"""
import { Connector } from '/web/channels.js';

const clock = () => performance.timeOrigin + performance.now();  // ms since the epoch
const log = {
  debug: () => undefined,
  info: (text) => console.info(text),
  warn: (text) => console.warn(text),
  error: (text) => console.error(text),
};

/** Sum of the little-endian 32-bit words, then of the tail bytes, mod 2^32 (as Python's). */
function digest(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const words = bytes.length >>> 2;
  let sum = 0;
  for (let i = 0; i < words; i++) sum = (sum + view.getUint32(4 * i, true)) >>> 0;
  for (let i = 4 * words; i < bytes.length; i++) sum = (sum + bytes[i]) >>> 0;
  return sum;
}
const fold = (total, d) => (Math.imul(total, 31) + d) >>> 0;

/** The benchmark's instruments: when each data channel opens (by label), and when its
 * peer connection gathered its 127.0.0.1 UDP candidate and completed gathering. */
class TimedConnector extends Connector {
  constructor(...args) {
    super(...args);
    this.opened = new Map();
    this.gathering = new WeakMap();
  }

  _newPc() {
    const pc = super._newPc();
    const marks = { created: clock(), udp: null, complete: null };
    pc.addEventListener('icecandidate', (event) => {
      const parts = event.candidate ? event.candidate.candidate.split(' ') : [];
      if (marks.udp === null && parts[2] === 'udp' && parts[4] === '127.0.0.1') {
        marks.udp = clock() - marks.created;
      }
    });
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') marks.complete = clock() - marks.created;
    });
    this.gathering.set(pc, marks);
    return pc;
  }

  /** When this channel's peer connection got its 127.0.0.1 UDP candidate and completed
   * gathering (ms after it was made). */
  gathered(channel) {
    const marks = this.gathering.get(channel.pc) || {};
    this.gathering.delete(channel.pc);
    return { udp: marks.udp, complete: marks.complete };
  }

  _wrap(pc, dc, remote) {
    const channel = super._wrap(pc, dc, remote);
    const mark = () => {
      if (!this.opened.has(dc.label)) this.opened.set(dc.label, clock());
    };
    if (dc.readyState === 'open') mark();
    else dc.addEventListener('open', mark);
    return channel;
  }
}

let connector = null;
let unitMs = 1000;
const channels = new Map();
let ids = 0;

function keep(channel) {
  const id = ids++;
  channels.set(id, channel);
  return id;
}

window.bench = {
  clock,

  async init(unit) {
    unitMs = unit;
    // Chromium gathers a 127.0.0.1 candidate only with media permission (as peer.js asks).
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      for (const track of stream.getTracks()) track.stop();
    } catch (exc) {
      if (!(exc instanceof DOMException) || exc.name !== 'NotFoundError') throw exc;
    }
    connector = new TimedConnector('page', {
      sendSignal: (to, payload) => window.pySignal(to, payload),
      unitMs,
      log,
    });
    document.getElementById('status').textContent = 'ready';
    return navigator.userAgent;
  },

  signal(from, payload) {
    return connector.handleSignal(from, payload);
  },

  async open(label) {
    const start = clock();
    const channel = await connector.open('py', label);
    const returned = clock();
    return { id: keep(channel), start, returned, opened: connector.opened.get(label),
             info: channel.stats.info, gathering: connector.gathered(channel) };
  },

  async accept(label) {
    const channel = await connector.accept(SETUP_MS());
    await channel.waitOpen();
    if (channel.dc.label !== label) throw new Error(`accepted ${channel.dc.label}, not ${label}`);
    return { id: keep(channel), opened: connector.opened.get(label), info: channel.stats.info,
             gathering: connector.gathered(channel) };
  },

  async send(id, count, size, variants) {
    const channel = channels.get(id);
    const payloads = [];
    for (let v = 0; v < variants; v++) {
      const bytes = new Uint8Array(size);
      for (let at = 0; at < size; at += 65536) {
        crypto.getRandomValues(bytes.subarray(at, Math.min(at + 65536, size)));
      }
      payloads.push(bytes);
    }
    const digests = payloads.map(digest);
    let expected = 0;
    for (let i = 0; i < count; i++) expected = fold(expected, digests[i % variants]);
    const start = clock();
    for (let i = 0; i < count; i++) await channel.send(payloads[i % variants]);
    return { start, end: clock(), checksum: expected, bytes: count * size };
  },

  async receive(id, count) {
    const channel = channels.get(id);
    let checksum = 0;
    let bytes = 0;
    for (let i = 0; i < count; i++) {
      const message = await channel.recv(MESSAGE_MS());
      bytes += message.length;
      checksum = fold(checksum, digest(message));
    }
    return { end: clock(), checksum, bytes, messages: channel.stats.messages_received };
  },

  async close(id) {
    const channel = channels.get(id);
    channels.delete(id);
    if (channel) await channel.close();
  },
};
const SETUP_MS = () => SETUP_UNITS * unitMs;
const MESSAGE_MS = () => MESSAGE_UNITS * unitMs;
window.benchReady = true;
""".replace("SETUP_UNITS", repr(SETUP_UNITS)).replace("MESSAGE_UNITS", repr(MESSAGE_UNITS))


async def page_server() -> web.AppRunner:
    """127.0.0.1:0 serving the package's ``/web/`` and the benchmark's page and module."""
    app = web.Application()
    add_web_routes(app)

    async def serve_page(_request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    async def serve_script(_request: web.Request) -> web.Response:
        return web.Response(text=SCRIPT, content_type="text/javascript")

    app.router.add_get("/bench/link.html", serve_page)
    app.router.add_get("/bench/link.js", serve_script)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


# -- the Python ends ---------------------------------------------------------------------------


class TimedConnector(WebRTCConnector):
    """A WebRTCConnector that notes when each of its data channels opens (``time.time()``,
    by label; hooked on its ``_wrap``): the benchmark's instrument, the behaviour unchanged."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.opened: dict[str, float] = {}

    def _wrap(self, pc: Any, dc: Any, remote: str) -> WebRTCChannel:
        channel = super()._wrap(pc, dc, remote)

        def mark() -> None:
            self.opened.setdefault(dc.label, time.time())

        if dc.readyState == "open":
            mark()
        else:
            dc.on("open", mark)
        return channel


def digest(message: bytes) -> int:
    """As the page's: little-endian 32-bit words summed, then the tail bytes, mod 2^32."""
    words = len(message) // 4
    total = int(np.frombuffer(message, dtype="<u4", count=words).sum(dtype=np.uint64))
    return (total + sum(message[4 * words :])) & MASK


def fold(total: int, value: int) -> int:
    return (total * 31 + value) & MASK


def payloads(size: int) -> tuple[list[bytes], list[int]]:
    rng = np.random.default_rng(secrets.randbits(64))
    made = [rng.bytes(size) for _ in range(VARIANTS)]
    return made, [digest(p) for p in made]


def expected_checksum(digests: list[int], count: int) -> int:
    total = 0
    for i in range(count):
        total = fold(total, digests[i % len(digests)])
    return total


async def send_all(channel: WebRTCChannel, count: int, size: int) -> tuple[float, int]:
    """Send ``count`` messages; (start time, expected checksum)."""
    made, digests = payloads(size)
    start = time.time()
    for i in range(count):
        await channel.send(made[i % VARIANTS])
    return start, expected_checksum(digests, count)


async def receive_all(channel: WebRTCChannel, count: int) -> dict[str, Any]:
    checksum = received = 0
    for _ in range(count):
        async with asyncio.timeout(MESSAGE_UNITS * unit()):
            message = await channel.recv()
        received += len(message)
        checksum = fold(checksum, digest(message))
    return {"end": time.time(), "checksum": checksum, "bytes": received,
            "messages": channel.stats.messages_received}  # fmt: skip


def udp_counters() -> tuple[int, int]:
    """(datagrams received, datagrams dropped for a full receive buffer) by UDP in this
    network namespace (``/proc/net/snmp``): on the loopback-only namespace, ours alone."""
    with open("/proc/net/snmp") as file:
        rows = [line.split() for line in file if line.startswith("Udp:")]
    counters = dict(zip(rows[0][1:], map(int, rows[1][1:]), strict=True))
    return counters["InDatagrams"], counters["RcvbufErrors"]


def run_delay() -> float:
    """Seconds this process's main thread (the event loop: aiortc, our channels) has spent
    runnable but waiting for a CPU (``/proc/self/schedstat``): the machine's other load."""
    with open("/proc/self/schedstat") as file:
        return int(file.read().split()[1]) / 1e9


def descendants_cpu() -> float:
    """CPU seconds (user + system) used so far by this process's live descendants: the
    Playwright driver and Chromium's processes (browser, renderer, network service, ...)."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as file:
                fields = file.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])  # fields[0] is the state, [1] the parent pid
        ticks[int(entry)] = int(fields[11]) + int(fields[12])  # utime, stime
    ours, todo = set(), [os.getpid()]
    while todo:
        pid = todo.pop()
        for child, parent in parents.items():
            if parent == pid and child not in ours:
                ours.add(child)
                todo.append(child)
    return sum(ticks[pid] for pid in ours) / os.sysconf("SC_CLK_TCK")


def loopback_pair(info: dict[str, Any]) -> bool:
    return info.get("local_address") == "127.0.0.1" and info.get("remote_address") == "127.0.0.1"


class Bench:
    """The three links' ends: two aiortc connectors, one page connector and its aiortc peer."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.offset = 0.0  # page clock (s) - time.time()
        self.labels = itertools.count()
        self.a = TimedConnector("a", send_signal=self._to_b)
        self.b = TimedConnector("b", send_signal=self._to_a)
        self.py = TimedConnector("py", send_signal=self._to_page)
        self.pairs: dict[str, list[bool]] = {link: [] for link in LINKS}
        #: Per link, the page's ICE gathering of each connection: ms from its peer connection
        #: to the 127.0.0.1 UDP candidate (``udp``) and to gathering complete (``complete``).
        self.gathering: dict[str, list[dict[str, float | None]]] = {link: [] for link in LINKS}

    async def _to_a(self, _remote: str, payload: dict[str, Any]) -> None:
        await self.a.handle_signal("b", payload)

    async def _to_b(self, _remote: str, payload: dict[str, Any]) -> None:
        await self.b.handle_signal("a", payload)

    async def _to_page(self, _remote: str, payload: dict[str, Any]) -> None:
        async with asyncio.timeout(SETUP_UNITS * unit()):
            await self.page.evaluate("([p]) => window.bench.signal('py', p)", [payload])

    async def from_page(self, _remote: str, payload: dict[str, Any]) -> None:
        """The page's ``sendSignal`` (exposed as ``window.pySignal``)."""
        await self.py.handle_signal("page", payload)

    async def close(self) -> None:
        await asyncio.gather(self.a.close(), self.b.close(), self.py.close())

    async def calibrate(self) -> None:
        """Estimate the page clock's offset from ``time.time()`` (tightest of 8 round trips)."""
        best = None
        for _ in range(8):
            async with asyncio.timeout(10 * unit()):
                before = time.time()
                page_ms = await self.page.evaluate("window.bench.clock()")
                after = time.time()
            if best is None or after - before < best[0]:
                best = (after - before, page_ms / 1000 - (before + after) / 2)
        assert best is not None
        self.offset = best[1]

    def from_page_clock(self, ms: float) -> float:
        return ms / 1000 - self.offset

    # -- one connection: (offerer end, answerer end, setup figures) --------------------------

    async def connect(self, link: str) -> tuple[Any, Any, dict[str, float]]:
        label = f"l{next(self.labels)}"
        gathering: dict[str, float | None] = {}
        async with asyncio.timeout(SETUP_UNITS * unit()):
            if link == "aiortc -> aiortc":
                accepting = asyncio.ensure_future(self.b.accept())
                start = time.time()
                try:
                    near = await self.a.open("b", label=label)
                    returned = time.time()
                    far = await accepting
                finally:
                    accepting.cancel()
                setup = {
                    "offerer": self.a.opened[label] - start,
                    "answerer": self.b.opened[label] - start,
                    "open()": returned - start,
                }
                infos = [near.stats.info, far.stats.info]
            elif link == "Chromium -> aiortc":
                accepting = asyncio.ensure_future(self.py.accept())
                try:
                    got = await self.page.evaluate("(l) => window.bench.open(l)", label)
                    far = await accepting
                finally:
                    accepting.cancel()
                await far.wait_open()
                start = self.from_page_clock(got["start"])
                near = got["id"]
                setup = {
                    "offerer": self.from_page_clock(got["opened"]) - start,
                    "answerer": self.py.opened[label] - start,
                    "open()": self.from_page_clock(got["returned"]) - start,
                }
                infos = [got["info"], far.stats.info]
                gathering = got["gathering"]
            else:
                accepting = asyncio.ensure_future(
                    self.page.evaluate("(l) => window.bench.accept(l)", label)
                )
                start = time.time()
                try:
                    near = await self.py.open("page", label=label)
                    returned = time.time()
                    got = await accepting
                finally:
                    accepting.cancel()
                far = got["id"]
                setup = {
                    "offerer": self.py.opened[label] - start,
                    "answerer": self.from_page_clock(got["opened"]) - start,
                    "open()": returned - start,
                }
                infos = [near.stats.info, got["info"]]
                gathering = got["gathering"]
        self.pairs[link].append(all(loopback_pair(info) for info in infos))
        self.gathering[link].append(gathering)
        return near, far, setup

    async def disconnect(self, link: str, near: Any, far: Any) -> None:
        async with asyncio.timeout(SETUP_UNITS * unit()):
            ends = [near, far]
            closing = []
            for end in ends:
                if isinstance(end, int):
                    closing.append(self.page.evaluate("(i) => window.bench.close(i)", end))
                else:
                    closing.append(end.close())
            await asyncio.gather(*closing)

    # -- one bulk transfer: (seconds, setup figures) -----------------------------------------

    async def transfer(
        self, link: str, total: int, size: int
    ) -> tuple[float, dict[str, float], dict[str, float]]:
        """One connection and one bulk transfer on it: (seconds, setup figures, CPU use)."""
        count = total // size
        bound = max(60.0, total / 2**20) * unit()  # >= 1 MiB/s or a minute
        near, far, setup = await self.connect(link)
        try:
            async with asyncio.timeout(bound):
                began = (time.monotonic(), time.process_time(), descendants_cpu())
                udp_began, delay_began = udp_counters(), run_delay()
                if link == "aiortc -> aiortc":
                    receiving = asyncio.ensure_future(receive_all(far, count))
                    start, expected = await send_all(near, count, size)
                    got = await receiving
                    end = got["end"]
                elif link == "Chromium -> aiortc":
                    receiving = asyncio.ensure_future(receive_all(far, count))
                    sent = await self.page.evaluate(
                        "([i, n, s, v]) => window.bench.send(i, n, s, v)",
                        [near, count, size, VARIANTS],
                    )
                    got = await receiving
                    start, expected = self.from_page_clock(sent["start"]), sent["checksum"]
                    end = got["end"]
                else:
                    receiving = asyncio.ensure_future(
                        self.page.evaluate("([i, n]) => window.bench.receive(i, n)", [far, count])
                    )
                    start, expected = await send_all(near, count, size)
                    got = await receiving
                    end = self.from_page_clock(got["end"])
                wall, ours, theirs = (time.monotonic(), time.process_time(), descendants_cpu())
                udp, delay = udp_counters(), run_delay()
        finally:
            await self.disconnect(link, near, far)
        if got["bytes"] != count * size or got["messages"] != count:
            raise AssertionError(f"{link}: {got['messages']} messages / {got['bytes']} bytes "
                                 f"arrived, not {count} / {count * size}")  # fmt: skip
        if got["checksum"] != expected:
            raise AssertionError(f"{link}: checksum {got['checksum']:08x} != {expected:08x}")
        window = wall - began[0]
        cpu = {
            "python": (ours - began[1]) / window,
            "waiting": (delay - delay_began) / window,
            "browser": (theirs - began[2]) / window,
            "datagrams": udp[0] - udp_began[0],
            "drops": udp[1] - udp_began[1],
        }
        return end - start, setup, cpu


# -- the run -----------------------------------------------------------------------------------


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    total = args.mib << 20
    size = args.message_size
    total -= total % size
    warm = max(size, (args.warmup_mib << 20) - (args.warmup_mib << 20) % size)
    runner = await page_server()
    port = runner.addresses[0][1]
    try:
        async with Chromium() as browser:
            entry = await browser.open_page(
                f"http://127.0.0.1:{port}/bench/link.html", slot="bench", role="page"
            )
            page = entry.page
            bench = Bench(page)
            try:
                await page.expose_function("pySignal", bench.from_page)
                async with asyncio.timeout(10 * unit()):
                    await page.wait_for_function("window.benchReady === true")
                    await page.evaluate("(u) => window.bench.init(u)", 1000 * unit())
                await bench.calibrate()
                for link in LINKS:  # warm-up, not counted
                    await bench.transfer(link, warm, size)
                print("  warm-up done", file=sys.stderr)
                rates: dict[str, list[float]] = {link: [] for link in LINKS}
                setups: dict[str, list[dict[str, float]]] = {link: [] for link in LINKS}
                cpus: dict[str, list[dict[str, float]]] = {link: [] for link in LINKS}
                for run in range(args.runs):
                    order = LINKS[run % 3 :] + LINKS[: run % 3]
                    await bench.calibrate()
                    for link in order:
                        seconds, setup, cpu = await bench.transfer(link, total, size)
                        rates[link].append(total / seconds / 2**20)
                        setups[link].append(setup)
                        cpus[link].append(cpu)
                    for _ in range(args.setups):
                        for link in order:
                            near, far, setup = await bench.connect(link)
                            setups[link].append(setup)
                            await bench.disconnect(link, near, far)
                    print(f"  run {run + 1}: " + "   ".join(
                        f"{link} {rates[link][-1]:6.2f} MiB/s" for link in LINKS
                    ), file=sys.stderr)  # fmt: skip
            finally:
                await bench.close()
            events = [e.describe() for e in browser.events]
            version = browser.version
    finally:
        await runner.cleanup()
    return {"rates": rates, "setups": setups, "cpus": cpus, "pairs": bench.pairs,
            "events": events,
            "gathering": bench.gathering,
            "version": version, "total": total, "size": size}  # fmt: skip


def report(data: dict[str, Any], args: argparse.Namespace) -> None:
    rates, setups = data["rates"], data["setups"]
    where = "loopback-only network namespace" if inside() else "host"
    total, size = data["total"], data["size"]
    print(
        f"\n{data['version']} vs aiortc, {where}; bulk {total / 2**20:.1f} MiB in "
        f"{total // size} messages of {size} B, {args.runs} interleaved runs; setup medians "
        f"over {len(setups[BASE])} connections per link"
    )
    cpus = data["cpus"]
    scope = "this namespace: ours only" if inside() else "host-wide"
    base_rate = statistics.median(rates[BASE])
    print(
        f"{'bulk':<22} {'MiB/s':>6} {'min-max':>10} {'x base':>6}"
        f" {'paired':>6} | {'py CPU':>6} {'ms/MiB':>6} {'runq':>4} | {'Chromium':>8}"
        f" {'ms/MiB':>6} | {'UDP drops':>12}"
    )
    for link in LINKS:
        rate = statistics.median(rates[link])
        paired = statistics.median(r / b for r, b in zip(rates[link], rates[BASE], strict=True))
        runs = list(zip(cpus[link], rates[link], strict=True))
        python = statistics.median(c["python"] for c in cpus[link])
        python_mib = statistics.median(c["python"] / r for c, r in runs) * 1e3
        waiting = statistics.median(c["waiting"] for c in cpus[link])
        browser = statistics.median(c["browser"] for c in cpus[link])
        browser_mib = statistics.median(c["browser"] / r for c, r in runs) * 1e3
        drops = statistics.median(c["drops"] for c in cpus[link])
        share = statistics.median(c["drops"] / max(1, c["datagrams"] + c["drops"])
                                  for c in cpus[link])  # fmt: skip
        spread = f"{min(rates[link]):.2f}-{max(rates[link]):.2f}"
        print(
            f"{link:<22} {rate:6.2f} {spread:>10} {rate / base_rate:5.2f}x {paired:5.2f}x | "
            f"{python:6.0%} {python_mib:6.0f} {waiting:4.0%} | {browser:8.0%} "
            f"{browser_mib:6.0f} | {drops:5.0f} ({share:4.1%})"
        )
    keys = ("offerer", "answerer", "open()")
    base = {key: statistics.median(s[key] for s in setups[BASE]) for key in keys}
    print(
        f"\n{'setup, ms':<22} {'offerer open':>12} {'answerer open':>13}"
        f" {'open() returns':>14} {'x base':>7}"
    )
    for link in LINKS:
        med = {key: statistics.median(s[key] for s in setups[link]) for key in keys}
        print(
            f"{link:<22} {med['offerer'] * 1e3:12.1f} {med['answerer'] * 1e3:13.1f} "
            f"{med['open()'] * 1e3:14.1f} {med['answerer'] / base['answerer']:6.2f}x"
        )
    notes = (
        "links: offerer (the sender) -> answerer (the receiver)",
        "x base: over aiortc -> aiortc's median (throughput; setup: to the answerer's open);",
        "  paired: the median over runs of the rate over the same run's aiortc -> aiortc rate",
        "py CPU / Chromium: share of one core used over each transfer (median); py = this",
        "  process (both ends of aiortc -> aiortc), Chromium = its processes plus Playwright's",
        "  driver; ms/MiB: the same as CPU ms per MiB moved; runq: share of each transfer this",
        "  process's event loop was runnable but waited for a CPU (the machine's other load)",
        "UDP drops: datagrams the kernel dropped for a full socket receive buffer during a",
        f"  transfer, and their share of those received (median; {scope})",
        "ICE gathering: from the page's peer connection made; channels.js sends its SDP once",
        "  the 127.0.0.1 UDP candidate is in it, or gathering completed (no trickle ICE)",
    )
    print("\n".join(f"  {line}" for line in notes))
    print("  every transfer: message count, bytes and checksum verified at the receiver")
    for link, marks in data["gathering"].items():
        udp = [m["udp"] for m in marks if m.get("udp") is not None]
        complete = [m["complete"] for m in marks if m.get("complete") is not None]
        if udp and complete:
            print(f"  {link}: the page's ICE gathering (median): 127.0.0.1 UDP candidate "
                  f"{statistics.median(udp):.1f} ms, complete {statistics.median(complete):.1f} "
                  "ms")  # fmt: skip
    for link, pairs in data["pairs"].items():
        ok = sum(pairs)
        print(f"  {link}: selected ICE pair 127.0.0.1 <-> 127.0.0.1 on {ok}/{len(pairs)} links")
    for event in data["events"]:
        print(f"  browser event: {event[:300]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=16, help="MiB per transfer (default 16)")
    parser.add_argument("--message-size", type=int, default=65535,
                        help="bytes per application message (default 65535)")  # fmt: skip
    parser.add_argument("--runs", type=int, default=3, help="transfers per link (default 3)")
    parser.add_argument("--setups", type=int, default=6,
                        help="setup-only connections per link per run (default 6)")  # fmt: skip
    parser.add_argument("--warmup-mib", type=int, default=4, help="warm-up transfer (MiB)")
    parser.add_argument("--here", action="store_true",
                        help="run on this host's network, not in a namespace")  # fmt: skip
    args = parser.parse_args()
    if not 1 <= args.message_size <= 32 << 20:
        parser.error("--message-size must be in 1..33554432")
    problem = unavailable()
    if problem:
        sys.exit(f"error: {problem}")
    rerun_unless_inside(__file__, here=args.here, bound=WHOLE_BOUND)
    data = asyncio.run(measure(args))
    report(data, args)


if __name__ == "__main__":
    main()
