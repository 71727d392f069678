"""A serve session: one signaling server, the trials of a scenario, nodes that join from outside.

``rlnc-testbed serve SCENARIO.toml`` runs a :class:`ServeSession`: it starts one
:class:`~rlnc_testbed.signaling.server.SignalingServer` for the whole session (per-slot
credentials only), writes one 0600 token file per external slot into a 0700 directory and
names, per slot, the one-line ``rlnc-testbed node ...`` command that joins it
(:meth:`ServeSession.commands`; the secret stays in the file, never on a command line). Then,
trial after trial:

1. :meth:`~rlnc_testbed.signaling.server.SignalingServer.begin_trial` opens the trial (every
   slot free again; credentials are that trial's, derived from the session's - so one token
   file per slot serves every trial) and a :class:`~rlnc_testbed.experiment.cluster.Cluster`
   borrows the server, its external slots left to the nodes outside;
2. ``/health`` announces the open trial (``session``: ``trial``, ``trials``, ``newcomer``,
   ``done``); the external nodes (``rlnc-testbed node --trials all``) see it and join their
   slots; the session waits for them (and, with external newcomers, for one waiting pool
   newcomer per round, counted from their ``/health`` polls), bounded by ``wait`` seconds,
   with a progress line, and a slot nobody joined or a pool short of newcomers is a
   :class:`ServeError` naming it (never a hang);
3. the cluster runs the trial: the engine, the collector and the slots that are not external
   run in this process; at the end every node is told ``close`` and disconnected; a node that
   (re)joins between trials is used for the next.

External newcomers (``external_newcomers``) come from a waiting pool (``rlnc-testbed node
--role newcomer --pool``, each process holding the pool's token file): when round r needs its
newcomer the session announces slot N + r on ``/health`` and the first pool node to join it
takes it (the others go back to waiting); it stays a storage peer for the rest of the trial
and returns to the pool after it. A newcomer slot no pool node took is the round's timeout, and
then a :class:`ServeError` naming the slot. The protocol is ``docs/protocol.md`` §1 ("Serve
sessions").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from ..protocol.params import ParameterError, Params
from ..protocol.records import RoundRecord, TrialRecord
from ..protocol.rules import newcomer_id
from ..signaling.server import SignalingServer

__all__ = ["PROGRESS_SECONDS", "ExternalSlot", "ServeError", "ServeSession", "external_slots"]

logger = logging.getLogger(__name__)

#: A waiting session prints its progress line at least this often (seconds).
PROGRESS_SECONDS = 5.0


def slot_ranges(slots: list[str]) -> str:
    """Ascending numeric slots as short text: ``1-71, 134, 266-297``."""
    runs: list[list[int]] = []
    for number in sorted(int(slot) for slot in slots):
        if runs and number == runs[-1][1] + 1:
            runs[-1][1] = number
        else:
            runs.append([number, number])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


class ServeError(ConnectionError):
    """An external node did not join in time (the message names its slot)."""


@dataclass(frozen=True)
class ExternalSlot:
    """One slot the session leaves to a node outside: ``role`` (``peer`` or ``newcomer``),
    ``slot`` (``"3"``; ``"pool"`` for the newcomer pool) and its token file."""

    role: str
    slot: str
    token_file: Path


def external_slots(params: Params, peers: int | str) -> list[str]:
    """The peer slots ``--external-peers`` leaves outside: ``"all"`` or a count n (slots
    1..n); a bad value is a ParameterError."""
    if peers == "all":
        return [str(i) for i in range(1, params.peers + 1)]
    if not isinstance(peers, int) or isinstance(peers, bool) or not 0 <= peers <= params.peers:
        raise ParameterError(
            f"--external-peers must be 'all' or a count 0..{params.peers} (N = {params.peers}), "
            f"got {peers!r}"
        )
    return [str(i) for i in range(1, peers + 1)]


class ServeSession:
    """``async with ServeSession(params, ...) as s: print(s.commands()); await s.run()``."""

    def __init__(
        self,
        params: Params,
        *,
        external_peers: Iterable[str] = (),
        external_newcomers: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        interfaces: str = "loopback",
        token_dir: str | os.PathLike[str] | None = None,
        wait: float = 300.0,
        data: bytes | None = None,
        faults: Any = None,
        progress: TextIO | None = None,
        command: str = "rlnc-testbed",
        log: logging.Logger | None = None,
    ) -> None:
        if not wait > 0:
            raise ParameterError(f"wait must be > 0 seconds, got {wait!r}")
        self.params = params
        self.peers = sorted(set(external_peers), key=int)
        self.external_newcomers = external_newcomers
        self.interfaces = interfaces
        self.wait = float(wait)
        self.data = data
        self.faults = faults
        self.progress = progress
        self.command = command
        self.log = log or logger
        self.server = SignalingServer(host=host, port=port, admit_run_token=False)
        self._token_dir_given = token_dir is not None
        self.token_dir = Path(token_dir) if token_dir is not None else None
        self.slots: list[ExternalSlot] = []
        #: The newcomer slots announced (trial, slot), and the ids that joined this trial.
        self._announced: list[tuple[int, str]] = []
        self._joined: set[str] = set()

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> ServeSession:
        self._write_tokens()
        try:
            await self.server.start()
        except BaseException:
            self._remove_tokens()
            raise
        self.server.session = {
            "trial": -1,
            "trials": self.params.trials,
            "newcomer": None,
            "done": False,
        }
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            if self.server.session is not None:
                self.server.session["done"] = True
            with contextlib.suppress(Exception):
                async with asyncio.timeout(10):
                    await self.server.close("session over")
        finally:
            self._remove_tokens()

    def _write_tokens(self) -> None:
        """One 0600 file per external slot (and one for the newcomer pool), in a 0700
        directory: a fresh temporary one unless ``token_dir`` was given."""
        if self.token_dir is None:
            self.token_dir = Path(tempfile.mkdtemp(prefix="rlnc-serve-"))
        else:
            self.token_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        wanted = [("peer", slot) for slot in self.peers]
        if self.external_newcomers:
            wanted.append(("newcomer", "pool"))
        for role, slot in wanted:
            path = self.token_dir / f"{role}-{slot}.token"
            secret = (
                self.server.pool_credential()
                if slot == "pool"
                else self.server.session_credential(role, slot)
            )
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(secret + "\n")
            self.slots.append(ExternalSlot(role, slot, path.resolve()))

    def _remove_tokens(self) -> None:
        """The token files are useless once the server's key is gone: remove them."""
        for entry in self.slots:
            with contextlib.suppress(OSError):
                entry.token_file.unlink()
        if not self._token_dir_given and self.token_dir is not None:
            shutil.rmtree(self.token_dir, ignore_errors=True)

    # -- what the user runs ----------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def browser_url(self) -> str:
        """The page a browser opens to take an external slot (``web/session.html``: it asks
        for the slot and its token file's text)."""
        return "http" + self.server.url.removesuffix("/ws")[2:] + "/web/session.html"

    def host_command(self) -> str | None:
        """One ``rlnc-testbed node-host ... --session-slots`` line that takes every external
        peer slot (and, with external newcomers, one pool newcomer per round) from one
        process (None with fewer than two nodes to run); no secret in it."""
        pool = self.params.rounds if self.external_newcomers else 0
        if len(self.peers) + pool < 2 or not self.peers or self.token_dir is None:
            return None
        slots = f"{self.peers[0]}-{self.peers[-1]}"  # external slots are 1..n
        argv = [self.command, "node-host", "--server", self.url, "--session-slots", slots]
        if pool:
            argv += ["--session-pool", str(pool)]
        argv += ["--token-dir", str(self.token_dir.resolve())]
        if self.interfaces != "loopback":
            argv += ["--ice-interfaces", "all"]
        return shlex.join(argv)

    def commands(self) -> list[str]:
        """One ``rlnc-testbed node ...`` line per external slot (the newcomer pool's once per
        round: one pool node per newcomer a trial needs); no secret in any of them."""
        lines = []
        for entry in self.slots:
            argv = [self.command, "node", "--server", self.url, "--role", entry.role]
            argv += (
                ["--pool"] if entry.slot == "pool" else ["--slot", entry.slot, "--trials", "all"]
            )
            argv += ["--token-file", str(entry.token_file)]
            if self.interfaces != "loopback":
                argv += ["--ice-interfaces", "all"]
            line = shlex.join(argv)
            lines += [line] * (self.params.rounds if entry.slot == "pool" else 1)
        return lines

    # -- running ---------------------------------------------------------------------------

    async def run(
        self,
        *,
        on_trial: Callable[[TrialRecord], None] | None = None,
        on_round: Callable[[int, RoundRecord], None] | None = None,
    ) -> list[TrialRecord]:
        """Run every trial of the scenario; raises :class:`ServeError` when an external node
        does not join in time."""
        from .cluster import Cluster

        records = []
        newcomers = (
            {str(newcomer_id(self.params, r)) for r in range(1, self.params.rounds + 1)}
            if self.external_newcomers
            else set()
        )
        assert self.server.session is not None
        for trial in range(self.params.trials):
            self.server.begin_trial(trial)
            self._announced = []

            def round_done(record: RoundRecord, trial: int = trial) -> None:
                if on_round is not None:
                    on_round(trial, record)

            async with Cluster(
                self.params,
                trial,
                transport="webrtc",
                data=self.data,
                interfaces=self.interfaces,
                faults=self.faults,
                server=self.server,
                external=set(self.peers) | newcomers,
                on_external=self._announce,
                on_round=round_done,
                log=self.log,
            ) as cluster:
                self._joined = set()
                self.server.handler = _Watched(cluster.server.handler, self._joined)
                self.server.session.update(trial=trial, newcomer=None)
                await self._wait_for_nodes(trial)
                record = await cluster.run()
                self.server.session["newcomer"] = None
            missing = [slot for t, slot in self._announced if t == trial and not self._took(slot)]
            if missing:
                raise ServeError(
                    f"trial {trial}: no pool newcomer took newcomer slot {missing[0]} "
                    f"({self._verdict_of(record, missing[0])}): run the printed "
                    "'rlnc-testbed node --role newcomer --pool' line once per round"
                )
            records.append(record)
            if on_trial is not None:
                on_trial(record)
        return records

    def _announce(self, role: str, slot: str) -> None:
        """The cluster wants an external node in ``slot`` now: a newcomer from the pool."""
        assert self.server.session is not None
        if role == "newcomer":
            self.server.session["newcomer"] = slot
            self._announced.append((int(self.server.session["trial"]), slot))

    def _took(self, slot: str) -> bool:
        return slot in self._joined

    @staticmethod
    def _verdict_of(record: TrialRecord, slot: str) -> str:
        for rnd in record.rounds:
            if str(rnd.newcomer) == slot:
                return f"round {rnd.round} ended {rnd.verdict}"
        return f"the trial ended {record.finish}"

    async def _wait_for_nodes(self, trial: int) -> None:
        """Wait (at most ``wait`` s) until every external peer slot has joined trial
        ``trial`` and, with external newcomers, one pool newcomer per round waits, printing
        a progress line when a count changes and every few seconds."""
        wanted = self.peers
        pool_wanted = self.params.rounds if self.external_newcomers else 0
        if not wanted and not pool_wanted:
            return
        start = time.monotonic()
        shown: tuple[int, int, float] | None = None
        while True:
            joined = [slot for slot in wanted if slot in self.server.clients]
            missing = [slot for slot in wanted if slot not in joined]
            pool = min(self.server.pool_waiting(), pool_wanted)
            waited = time.monotonic() - start
            if (
                shown is None
                or shown[:2] != (len(joined), pool)
                or waited - shown[2] >= PROGRESS_SECONDS
            ):
                counts = []
                if wanted:
                    counts.append(f"{len(joined)} of {len(wanted)} external peers joined")
                if pool_wanted:
                    counts.append(f"{pool} of {pool_wanted} pool newcomers waiting")
                self._say(
                    f"trial {trial + 1} of {self.params.trials}: {', '.join(counts)}"
                    + (f"; waiting for peer slot {slot_ranges(missing)}" if missing else "")
                    + f" ({waited:.0f} s of {self.wait:.0f} s)"
                )
                shown = (len(joined), pool, waited)
            if not missing and pool >= pool_wanted:
                return
            if waited >= self.wait:
                if missing:
                    which = "slots" if len(missing) > 1 else "slot"
                    raise ServeError(
                        f"trial {trial}: peer {which} {slot_ranges(missing)} did not join within "
                        f"{self.wait:g} s (run the 'rlnc-testbed node ... --slot {missing[0]}' "
                        "line printed for it)"
                    )
                raise ServeError(
                    f"trial {trial}: {pool} of the {pool_wanted} pool newcomers a trial needs "
                    f"(one per round) waited within {self.wait:g} s (run the printed "
                    "'rlnc-testbed node --role newcomer --pool' line once per round)"
                )
            await asyncio.sleep(0.05)

    def _say(self, text: str) -> None:
        if self.progress is not None:
            print(f"rlnc-testbed serve: {text}", file=self.progress, flush=True)


class _Watched:
    """A server handler that notes who joined, then passes every event on unchanged."""

    def __init__(self, handler: Any, joined: set[str]) -> None:
        self.handler = handler
        self.joined = joined

    async def on_join(self, id: str, role: str) -> None:
        self.joined.add(id)
        await self.handler.on_join(id, role)

    async def on_message(self, id: str, msg: dict[str, Any]) -> None:
        await self.handler.on_message(id, msg)

    async def on_leave(self, id: str) -> None:
        await self.handler.on_leave(id)
