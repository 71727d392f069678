"""Many peers and newcomers in a few OS processes: ``Cluster(node_hosts=W)``.

One process per node (``processes=True``) pays an interpreter and the imports of numpy,
numba and aiortc for every node (about a second of CPU and tens of MB each): 1,000 peers do
not fit on one machine that way. ``node_hosts=W`` runs W *node host* processes
(``rlnc-testbed node-host``) instead, slot s in host (s - 1) mod W. Every node in a host is
still its own signaling client and its own WebRTC stack, so nothing changes on the wire, and
the trial's work is spread over the machine's cores.

The cluster (:class:`NodeHosts`) hands a host its nodes on stdin, one JSON line each:
``{"role": "peer", "slot": "3", "credential": "..."}`` (a credential is never on a command
line nor in an environment). The host (:func:`host_nodes`) starts each node as its line
arrives and reports every node that fails, on stderr, as it happens. A malformed line is
reported by its number and skipped; the host and its other nodes go on. Once stdin closes
(the cluster is done) the host waits at most :data:`HOST_STOP_UNITS` units for its nodes to
stop, cancels the rest, and exits: 0 when every node stopped as told, 1 otherwise.

A host can also take part in a serve session (:func:`host_session`, ``rlnc-testbed node-host
--session-slots 1-500 --token-dir DIR``): every listed peer slot, in every trial, as that
many ``rlnc-testbed node --slot S --trials all`` processes would, from one process - how a
machine brings hundreds of external peers to a session.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

from ..protocol.messages import MAX_TOKEN
from ..signaling.server import NUMBERED_ROLES
from ..timeouts import unit
from .heap import young_generation
from .standalone import node_command, read_token, run_node, serve_trials, spawn_node_process

__all__ = [
    "HOST_JOIN_CONCURRENCY",
    "HOST_STOP_UNITS",
    "MAX_LINE_BYTES",
    "NodeHostError",
    "NodeHosts",
    "host_nodes",
    "host_session",
    "parse_slots",
    "parse_node_line",
]

logger = logging.getLogger(__name__)

#: Joins in flight per host, at most (the server admits ``MAX_UNJOINED`` unjoined connections
#: in all; a cluster joins ``START_CONCURRENCY`` of its own nodes at once).
HOST_JOIN_CONCURRENCY = 8
#: After its stdin closes, a host waits at most this many units for its nodes to stop.
HOST_STOP_UNITS = 10.0
#: A stdin line longer than this is malformed (a line holds a role, a slot and a credential).
MAX_LINE_BYTES = 4 * MAX_TOKEN


def parse_node_line(line: bytes) -> tuple[str, str, str]:
    """``(role, slot, credential)`` of one stdin line; ValueError naming what is wrong."""
    if len(line) > MAX_LINE_BYTES:
        raise ValueError(f"longer than {MAX_LINE_BYTES} bytes")
    try:
        entry = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(entry, dict) or set(entry) != {"role", "slot", "credential"}:
        raise ValueError('not an object with exactly "role", "slot" and "credential"')
    role, slot, credential = entry["role"], entry["slot"], entry["credential"]
    if role not in NUMBERED_ROLES:
        raise ValueError(f"role must be one of {', '.join(NUMBERED_ROLES)}, got {role!r}")
    if not isinstance(slot, str) or not slot.isascii() or not slot.isdigit() or slot[0] == "0":
        raise ValueError(f"slot must be a positive integer in a string, got {slot!r}")
    if not isinstance(credential, str) or not 0 < len(credential) <= MAX_TOKEN:
        raise ValueError(f"credential must be a string of 1-{MAX_TOKEN} characters")
    return role, slot, credential


async def host_nodes(
    url: str,
    lines: AsyncIterator[bytes],
    *,
    interfaces: str = "loopback",
    log: logging.Logger | None = None,
    report: Any = None,
) -> int:
    """Run a node for every line of ``lines`` (see the module docstring), joined to ``url``;
    return 0 once ``lines`` ended and every node stopped as told, 1 otherwise. ``report``
    (default: stderr) gets one line per malformed input line and per failed node."""
    log = log or logger
    out = report if report is not None else sys.stderr
    failures = 0
    nodes: dict[asyncio.Task[Any], str] = {}
    joining = asyncio.Semaphore(HOST_JOIN_CONCURRENCY)

    def say(text: str) -> None:
        print(f"rlnc-testbed node-host: {text}", file=out, flush=True)

    def stopped(task: asyncio.Task[Any]) -> None:
        nonlocal failures
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            failures += 1
            say(f"{nodes[task]} failed: {type(exc).__name__}: {exc or 'no detail given'}")

    with young_generation(0) as grow:
        number = 0
        async for line in lines:
            number += 1
            if not line.strip():
                continue
            try:
                role, slot, credential = parse_node_line(line)
            except ValueError as exc:
                failures += 1
                say(f"stdin line {number} ignored: {exc}")
                continue
            task = asyncio.ensure_future(
                run_node(
                    url,
                    token=credential,
                    role=role,
                    slot=slot,
                    interfaces=interfaces,
                    log=log,
                    joining=joining,
                )
            )
            nodes[task] = f"{role} {slot}"
            task.add_done_callback(stopped)
            grow(len(nodes))  # the young generation scales with the nodes held
        pending = [task for task in nodes if not task.done()]
        if pending:
            _, late = await asyncio.wait(pending, timeout=HOST_STOP_UNITS * unit())
            for task in late:
                failures += 1
                say(f"{nodes[task]} did not stop within {HOST_STOP_UNITS * unit():g} s")
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=5 * unit())
    return 1 if failures else 0


def parse_slots(text: str) -> list[str]:
    """``"1-6"``, ``"2,5,9"`` or a mix (``"1-3,7"``) as ascending distinct peer slots;
    ValueError naming the problem."""
    slots: set[int] = set()
    for part in text.split(","):
        first, dash, last = part.strip().partition("-")
        if not first.isdigit() or (dash and not last.isdigit()):
            raise ValueError(f"slots must be like 1-6 or 2,5,9; got {text!r}")
        low, high = int(first), int(last) if dash else int(first)
        if not 1 <= low <= high:
            raise ValueError(f"slot range {part.strip()!r} must go up from 1")
        if high - low >= 100_000:
            raise ValueError(f"slot range {part.strip()!r} is too long")
        slots.update(range(low, high + 1))
    return [str(slot) for slot in sorted(slots)]


async def host_session(
    url: str,
    slots: list[str],
    token_dir: str,
    *,
    pool: int = 0,
    interfaces: str = "loopback",
    log: logging.Logger | None = None,
    report: Any = None,
) -> int:
    """Serve the peer ``slots`` of the serve session at ``url`` in every trial, and wait with
    ``pool`` newcomers in its pool, their tokens read from ``token_dir`` (``peer-<slot>.token``,
    ``newcomer-pool.token``, as serve writes them; checked as ``--token-file`` is) before
    anything joins; 0 once every part of the session is over, 1 if one failed (each failure
    on ``report``, default stderr, as it happens)."""
    import os

    log = log or logger
    out = report if report is not None else sys.stderr
    tokens = {slot: read_token(os.path.join(token_dir, f"peer-{slot}.token")) for slot in slots}
    pool_token = read_token(os.path.join(token_dir, "newcomer-pool.token")) if pool else ""
    joining = asyncio.Semaphore(HOST_JOIN_CONCURRENCY)
    parts = [("peer", slot) for slot in slots] + [("newcomer", "pool")] * pool
    served: list[int] = []

    async def one(role: str, slot: str) -> None:
        in_pool = slot == "pool"
        nodes = await serve_trials(
            url,
            token=pool_token if in_pool else tokens[slot],
            role=role,
            slot=None if in_pool else slot,
            pool=in_pool,
            interfaces=interfaces,
            log=log,
            joining=joining,
        )
        served.append(len(nodes))

    with young_generation(len(parts)):
        results = await asyncio.gather(*(one(*part) for part in parts), return_exceptions=True)
    failures = [(part, r) for part, r in zip(parts, results, strict=True) if r is not None]
    for (role, slot), exc in failures:
        detail = f"{type(exc).__name__}: {exc or 'no detail given'}"
        print(f"rlnc-testbed node-host: {role} {slot} failed: {detail}", file=out, flush=True)
    print(
        f"rlnc-testbed node-host: {len(slots)} peer slots and {pool} pool newcomers; "
        f"{len(served)} of {len(parts)} took part to the end, in {sum(served)} trial slots",
        file=out,
        flush=True,
    )
    return 1 if failures else 0


async def stdin_lines() -> AsyncIterator[bytes]:
    """This process's stdin, line by line, without blocking the event loop."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=MAX_LINE_BYTES + 2)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        try:
            line = await reader.readline()
        except ValueError:  # over the limit: its bytes are dropped up to the next newline
            yield b"x" * (MAX_LINE_BYTES + 1)
            continue
        if not line:
            return
        yield line


class NodeHostError(ConnectionError):
    """A node host process is gone while its cluster runs (the message names it, its exit
    status and the nodes it held)."""


class NodeHosts:
    """The cluster's side: ``count`` ``rlnc-testbed node-host`` processes, started with the
    first node, each handed its nodes on stdin; :meth:`close` ends them (bounded). A host
    that exits before :meth:`close` began is ``on_lost(NodeHostError)``: its nodes are gone
    all at once, which no round rule accounts for (the cluster ends the trial with ``error``
    naming it, never a timeout)."""

    def __init__(
        self,
        count: int,
        url: str,
        *,
        interfaces: str = "loopback",
        log: logging.Logger | None = None,
        on_lost: Callable[[NodeHostError], None] | None = None,
    ) -> None:
        if count < 1:
            raise ValueError(f"node hosts must be >= 1, got {count!r}")
        self.count = count
        self.url = url
        self.interfaces = interfaces
        self.log = log or logger
        self.processes: list[asyncio.subprocess.Process] = []
        self._readers: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()
        #: Where each slot runs: slot -> host index.
        self.placed: dict[str, int] = {}
        self.on_lost = on_lost
        self._closing = False

    def host_of(self, slot: str) -> int:
        return (int(slot) - 1) % self.count

    async def add(self, role: str, slot: str, credential: str) -> None:
        """Run ``role`` in ``slot`` in its host; it joins by itself."""
        async with self._lock:
            if not self.processes:
                await self._start()
        index = self.host_of(slot)
        process = self.processes[index]
        if process.returncode is not None or process.stdin is None:
            raise NodeHostError(
                f"node host {index} (pid {process.pid}) is gone (exit {process.returncode}): "
                f"{role} {slot} cannot start"
            )
        entry = {"role": role, "slot": slot, "credential": credential}
        process.stdin.write(json.dumps(entry).encode() + b"\n")
        async with asyncio.timeout(5 * unit()):
            await process.stdin.drain()
        self.placed[slot] = index

    async def _start(self) -> None:
        argv = node_command("node-host", "--server", self.url, "--ice-interfaces", self.interfaces)
        for index in range(self.count):
            process = await spawn_node_process(argv)
            self.processes.append(process)
            self._readers.append(asyncio.ensure_future(self._forward_stderr(index, process)))

    async def _forward_stderr(self, index: int, process: asyncio.subprocess.Process) -> None:
        """Forward the host's stderr; once it ends, say so if the host was not told to stop."""
        assert process.stderr is not None
        async for line in process.stderr:
            self.log.warning(
                "node host %d (pid %d): %s", index, process.pid, line.decode().rstrip()
            )
        code = await process.wait()
        if not self._closing and self.on_lost is not None:
            held = sorted((s for s, i in self.placed.items() if i == index), key=int)
            self.on_lost(
                NodeHostError(
                    f"node host {index} (pid {process.pid}) exited with status {code} during "
                    f"the trial; the nodes it held are gone: {', '.join(held) or 'none'}"
                )
            )

    async def close(self) -> list[int | None]:
        """Close every host's stdin, wait (bounded) for it to exit, kill it otherwise;
        return the exit codes (None: killed)."""
        self._closing = True
        codes: list[int | None] = []
        for process in self.processes:
            if process.stdin is not None:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    process.stdin.close()
        for index, process in enumerate(self.processes):
            try:
                async with asyncio.timeout((HOST_STOP_UNITS + 5) * unit()):
                    codes.append(await process.wait())
            except TimeoutError:
                self.log.warning(
                    "node host %d (pid %d) did not exit; killing it", index, process.pid
                )
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
                codes.append(None)
        if self._readers:
            await asyncio.wait(self._readers, timeout=5 * unit())
        for reader in self._readers:
            reader.cancel()
        self.processes.clear()
        self._readers.clear()
        return codes
