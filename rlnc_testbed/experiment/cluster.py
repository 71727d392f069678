"""A networked loop test: signaling server, engine, collector, N peers and the newcomers.

:class:`Cluster` wires the real parts together for one trial - a signaling server on
127.0.0.1, every role joined over real websockets, data channels from the chosen transport
(``webrtc``: aiortc over loopback ICE/DTLS/SCTP; ``memory``: in-process channels) - and
pumps the server-side :class:`~rlnc_testbed.protocol.rounds.TrialController`. Used by the
runner, the CLI and the pytest plugin's cluster fixture. Teardown closes every connection.

Faults on a schedule (``faults=``, a :class:`~rlnc_testbed.protocol.faults.FaultPlan`): when
round r starts the cluster resolves its faults (:func:`~rlnc_testbed.protocol.faults.round_faults`,
seeded draws) into a :class:`~rlnc_testbed.protocol.faults.FaultSchedule` before any node
hears of the round; node faults are carried out by the fault-injecting roles of
:mod:`rlnc_testbed.roles.faulty` (chosen automatically), link faults by shaping the round's
links (memory: :class:`ReliableShaper`; WebRTC: a :class:`~rlnc_testbed.transport.shaping.Shaper`
on the sender's connector, so SCTP retransmits). Each round's record lists its faults.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from .. import wire
from ..browser.peers import browser_slots, peer_fragment, peer_url, standby_url
from ..protocol.draws import Role, stream_for
from ..protocol.faults import (
    KILL_KINDS,
    NODE_KINDS,
    PROCESS_KINDS,
    SIGNALING_KINDS,
    Fault,
    FaultPlan,
    FaultSchedule,
    link_index,
    round_faults,
    trigger,
)
from ..protocol.messages import COLLECTOR_ID
from ..protocol.params import ParameterError, Params
from ..protocol.records import RoundRecord, TrialRecord
from ..protocol.rounds import (
    Action,
    Finish,
    Phase,
    RoundDone,
    Send,
    SpawnNewcomer,
    TrialController,
)
from ..protocol.rules import newcomer_id
from ..roles import ROLE_CLASSES, Node
from ..roles.faulty import FAULTY_ROLES, FaultyNewcomer, FaultyPeer
from ..signaling.client import RECONNECT_UNITS, SignalingClient, SignalingError
from ..signaling.server import NUMBERED_ROLES, SignalingServer, UnknownClientError
from ..timeouts import unit
from ..transport.base import Connector
from ..transport.shaping import Datagram, Decision, Draws, Fate, LinkShape, Shaper
from .heap import young_generation
from .hosts import EmulatedHosts
from .node_hosts import NodeHosts
from .scenario import NETWORK_TRANSPORTS
from .standalone import attach_webrtc, node_command, spawn_node_process

__all__ = [
    "BROWSER_KINDS",
    "DEFAULT_ROLES",
    "RETRANSMIT_SECONDS",
    "Cluster",
    "ReliableShaper",
    "run_trial",
]

#: Where a cluster's nodes run: this host's loopback, or emulated hosts (network namespaces).
HOSTS = ("loopback", "netns")

#: Fault kinds a run with browser peers carries out: every node fault (a page carries out
#: its own, web/faulty.js) and the signaling interruptions (a page rejoins by itself); not
#: ``link`` (a page's datagrams cannot be shaped).
BROWSER_KINDS = (*NODE_KINDS, *SIGNALING_KINDS)

#: Node class per role unless a Cluster is given others (fault injection).
DEFAULT_ROLES: dict[str, type[Node]] = dict(ROLE_CLASSES)

logger = logging.getLogger(__name__)

#: Peers joining at once while a cluster starts (below the server's ``MAX_UNJOINED``).
START_CONCURRENCY = 16

#: How late a memory link delivers a message its loss draw dropped (an SCTP-like resend).
RETRANSMIT_SECONDS = 0.02


class ReliableShaper(Shaper):
    """A memory link's shaper that keeps the channel contract under loss and reordering.

    The draws are the shaper's own (three per message, ``transport/shaping.py``), but a
    message the loss draw drops is delivered ``delay + retransmit`` seconds after it was sent
    and a held one at its hold limit, both in order, later messages waiting behind them - what
    ordered SCTP makes of lost and reordered datagrams under a WebRTC data channel. So a link
    fault costs time over memory as over WebRTC, never data (``stats.dropped`` / ``held``
    count the decisions).
    """

    def __init__(
        self, shape: LinkShape, *, draws: Draws | None, retransmit: float = RETRANSMIT_SECONDS
    ) -> None:
        super().__init__(shape, draws=draws)
        self.retransmit = retransmit

    def push(self, item: Datagram, size: int, now: float) -> Decision:
        decision = super().push(item, size, now)
        if decision.fate is Fate.DROP:
            self._enqueue(now + self.shape.delay + self.retransmit, item)
        elif decision.fate is Fate.HOLD:
            held = self._held.pop()
            self._enqueue(held.deadline, held.item)
        return decision


class _Coordinator:
    """The signaling server's handler: feeds the controller, carries out its actions."""

    def __init__(self, cluster: Cluster, controller: TrialController) -> None:
        self.cluster = cluster
        self.controller = controller
        self.finished = asyncio.Event()
        self._phase = controller.phase
        self._deadline_changed = asyncio.Event()
        #: Actions held while signaling is interrupted (None: carried out at once).
        self._held: list[Action] | None = None

    async def on_join(self, node_id: str, role: str) -> None:
        await self._feed(self.controller.joined, node_id, role)

    async def on_message(self, node_id: str, msg: dict[str, Any]) -> None:
        await self._feed(self.controller.message, node_id, msg)

    async def on_leave(self, node_id: str) -> None:
        if self.cluster.server.closing:
            await self._feed(self.controller.signaling_lost)
        else:
            await self._feed(self.controller.left, node_id)

    async def _feed(self, event: Callable[..., None], *args: Any) -> None:
        """Give the controller one event and carry out what it decides; a bug in either is the
        trial's ``error`` verdict (with the exception), never a later timeout."""
        try:
            event(*args)
            await self._act()
        except Exception as exc:
            self.cluster.log.exception("round control failed")
            self.controller.internal_error(exc)
            await self._act()

    async def watchdog(self) -> None:
        """End the phase that outlives its deadline (every wait bounded)."""
        while not self.finished.is_set():
            units = self.controller.deadline_units()
            self._deadline_changed.clear()
            try:
                async with asyncio.timeout(units * unit()):
                    await self._deadline_changed.wait()
            except TimeoutError:
                if self._held is not None:
                    continue  # signaling is interrupted on purpose: that wait has its own bound
                await self._feed(self.controller.timed_out)

    async def _act(self) -> None:
        if self.controller.phase is not self._phase:
            self._phase = self.controller.phase
            self._deadline_changed.set()
        actions = self.controller.actions_to_take()
        # A round's faults are resolved before any node hears of the round.
        for action in actions:
            if isinstance(action, SpawnNewcomer):
                self.cluster.start_faults(action.round, self.controller.alive)
        if self._held is not None:  # signaling is being interrupted: later, in order
            self._held.extend(actions)
            return
        await self._carry_out(actions)

    async def _carry_out(self, actions: list[Action]) -> None:
        for position, action in enumerate(actions):
            if isinstance(action, Send):
                # A node that left (the failed peer, a crashed one) is the deadline's business.
                with contextlib.suppress(UnknownClientError, ConnectionError):
                    await self.cluster.server.send(action.to, action.message)
                self.cluster.sent(action.to, action.message)
            elif isinstance(action, SpawnNewcomer):
                self.cluster.spawn(self.cluster.roles["newcomer"], role="newcomer")
            elif isinstance(action, RoundDone):
                number = action.record.round
                faults = self.cluster.schedule.faults(number)
                action.record.faults = [f.to_dict() for f in faults]
                if self.cluster.on_round is not None:
                    self.cluster.on_round(action.record)
                interruptions = [f for f in faults if f.kind in SIGNALING_KINDS]
                if interruptions:
                    # Carried out apart (this may run inside a client's message handler,
                    # whose connection the interruption closes); what follows waits for it.
                    self._held = list(actions[position + 1 :])
                    task = asyncio.ensure_future(self._interrupt(number, interruptions))
                    self.cluster._tasks.add(task)
                    task.add_done_callback(self.cluster._tasks.discard)
                    return
            elif isinstance(action, Finish):
                self.finished.set()

    async def _interrupt(self, number: int, faults: list[Fault]) -> None:
        """Carry out round ``number``'s signaling faults, then what was held meanwhile."""
        try:
            for fault in faults:
                await self.cluster.interrupt_signaling(number, fault)
        except Exception as exc:
            self.cluster.log.exception("carrying out %s failed", fault.kind)
            self.controller.internal_error(exc)
        finally:
            held, self._held = self._held or [], None
            held.extend(self.controller.actions_to_take())
            if self.controller.phase is Phase.DONE:  # lost: the held round never starts
                held = [a for a in held if not _starts_round(a)]
            if self.controller.phase is not self._phase:
                self._phase = self.controller.phase
                self._deadline_changed.set()
            await self._carry_out(held)


def _starts_round(action: Action) -> bool:
    """A newcomer to start, or a message other than ``close``: what a held round would do."""
    if isinstance(action, SpawnNewcomer):
        return True
    return isinstance(action, Send) and action.message.get("type") != "close"


class Cluster:
    """One trial's networked system; ``async with Cluster(params, trial) as c: await c.run()``."""

    def __init__(
        self,
        params: Params,
        trial: int = 0,
        *,
        transport: str = "webrtc",
        data: bytes | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        interfaces: str = "loopback",
        roles: Mapping[str, type[Node]] | None = None,
        on_round: Callable[[RoundRecord], None] | None = None,
        processes: bool = False,
        node_hosts: int = 0,
        log: logging.Logger | None = None,
        faults: FaultPlan | None = None,
        shaping: Mapping[tuple[str, str], LinkShape] | None = None,
        browser_peers: Iterable[int] | int | None = None,
        browser_newcomers: bool = False,
        browser: Any = None,
        hosts: str = "loopback",
        host_rate: str | None = None,
        server: SignalingServer | None = None,
        external: Collection[str] = (),
        on_external: Callable[[str, str], None] | None = None,
    ) -> None:
        if transport not in NETWORK_TRANSPORTS:
            raise ParameterError(
                f"transport must be one of {', '.join(NETWORK_TRANSPORTS)}; got {transport!r}"
            )
        if processes and transport != "webrtc":
            raise ParameterError(
                "processes=True needs the webrtc transport (memory channels are in-process)"
            )
        if hosts not in HOSTS:
            raise ParameterError(f"hosts must be one of {', '.join(HOSTS)}; got {hosts!r}")
        if hosts == "netns" and transport != "webrtc":
            raise ParameterError(
                "hosts='netns' runs every peer and newcomer as its own process in its own "
                f"network namespace, over the webrtc transport; got transport {transport!r}"
            )
        processes = processes or hosts == "netns"  # a namespace holds a process
        if isinstance(node_hosts, bool) or not isinstance(node_hosts, int) or node_hosts < 0:
            raise ParameterError(f"node_hosts must be a count >= 0, got {node_hosts!r}")
        if node_hosts and (transport != "webrtc" or processes):
            raise ParameterError(
                "node_hosts runs peers and newcomers in that many processes over the webrtc "
                "transport; it replaces processes=True (one process per node) and hosts='netns'"
            )
        in_hosts = sorted({s.kind for s in (faults or FaultPlan()).specs} - set(SIGNALING_KINDS))
        if node_hosts and (in_hosts or shaping):
            raise ParameterError(
                f"node_hosts carries out only {', '.join(SIGNALING_KINDS)} faults and no link "
                "shaping (a host holds many nodes: a crash would kill them all, and the fault "
                f"roles and shapers are in-process); got {', '.join(in_hosts) or 'shaping'}"
            )
        #: Run storage peers and newcomers in this many node host processes
        #: (:mod:`rlnc_testbed.experiment.node_hosts`); 0: not.
        self.node_hosts = node_hosts
        self._node_hosts: NodeHosts | None = None
        #: The node hosts' exit codes once the cluster closed (None: killed).
        self.node_host_exits: list[int | None] = []
        #: Where nodes run: ``loopback`` (this host, 127.0.0.1) or ``netns`` (one emulated
        #: host per peer and newcomer, :mod:`rlnc_testbed.experiment.hosts`).
        self.hosts = hosts
        self.host_rate = host_rate
        self._emulated: EmulatedHosts | None = None
        #: Run storage peers and newcomers as separate OS processes (``rlnc-testbed node``).
        self.processes = processes
        self._processes: list[asyncio.subprocess.Process] = []
        self.params = params
        self.trial = trial
        self.transport = transport
        self.data = data
        self.host = host
        self.interfaces = interfaces
        self.log = log or logger
        #: Called with each round's final record as soon as the round ends (streaming).
        self.on_round = on_round
        #: The scheduled faults, and those resolved so far (what the faulty roles consult).
        self.faults = faults if faults is not None else FaultPlan()
        self.schedule = FaultSchedule()
        unkillable = sorted({s.kind for s in self.faults.specs} - set(PROCESS_KINDS))
        if processes and unkillable:
            raise ParameterError(
                f"processes=True carries out only {', '.join(PROCESS_KINDS)} faults (crashes "
                f"as SIGKILL); {', '.join(unkillable)} need in-process nodes (processes=False)"
            )
        #: Process nodes by slot (SIGKILLed by crash faults), and the kills carried out.
        self._process_by_slot: dict[str, asyncio.subprocess.Process] = {}
        self.killed: list[tuple[int, str, int]] = []  # (round, slot, pid)
        #: Signaling faults carried out: round, kind, who rejoined, who did not, how long.
        self.interruptions: list[dict[str, Any]] = []
        #: Links shaped for the whole trial: (sender, receiver) -> shape (LINK draws, round 0).
        self.shaping: dict[tuple[str, str], LinkShape] = dict(shaping or {})
        self._round_links: list[tuple[str, str]] = []  # links a fault shapes this round
        self._pending_shapers: dict[str, dict[str, Shaper]] = {}  # webrtc: not yet started
        self._by_id: dict[str, Node] = {}
        #: Node class per role; replace one to inject faults (silent, polluting, ...). A plan
        #: with node faults runs the fault-injecting peers and newcomers unless told otherwise.
        faulty = FAULTY_ROLES if self.faults.node_faults and not processes else {}
        self.roles: dict[str, type[Node]] = {**DEFAULT_ROLES, **faulty, **(roles or {})}
        self.controller = TrialController(
            params,
            trial,
            packet_bytes=wire.packet_message_size(params.symbols, params.symbol_size),
            process_nodes=processes or bool(external),  # node hosts: W starts, in the base
        )
        self._coordinator = _Coordinator(self, self.controller)
        #: Slots whose nodes join by themselves (``rlnc-testbed serve``'s external nodes):
        #: never started here; ``on_external(role, slot)`` is called when one is due.
        self.external = frozenset(external)
        self.on_external = on_external
        # Every node joins with the credential of its own slot (ids follow slots, not join
        # order); the run token admits nobody. A server given (a serve session's, started,
        # its trial begun) is only lent: this trial's clients are disconnected at the end.
        self._own_server = server is None
        if server is None:
            server = SignalingServer(host=host, port=port, admit_run_token=False)
        server.handler = self._coordinator
        self.server = server
        self._slots_started: collections.Counter[str] = collections.Counter()
        self.nodes: list[Node] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._memory: Any = None
        #: Peer slots run as Chromium pages (``browser_peers``: slots, or a count n meaning
        #: slots 1..n) and whether newcomers are (``browser_newcomers``); the run's one
        #: Chromium starts with the first browser slot (:meth:`_start_browser`).
        self.browser_peers = browser_slots(browser_peers, params.peers)
        self.browser_newcomers = bool(browser_newcomers)
        # A Chromium page rejoins signaling by itself (web/signaling.js) and carries out the
        # node faults of the plan it is given (web/faulty.js, replaying the plan's draws), but
        # its links cannot be shaped: the shaper sits in the sending aiortc connector's
        # datagram path (transport/shaping.py), and a page sends from Chromium's own stack.
        unshapeable = sorted({s.kind for s in self.faults.specs} - set(BROWSER_KINDS))
        if (self.browser_peers or self.browser_newcomers) and (
            transport != "webrtc" or unshapeable or self.shaping
        ):
            got = f"; got {', '.join(unshapeable)}" if unshapeable else ""
            raise ParameterError(
                "browser peers need the webrtc transport, no link shaping and no faults but "
                f"{', '.join(BROWSER_KINDS)} (a Chromium page carries out node faults itself, "
                "but its links cannot be shaped: the shaper sits in an aiortc connector's "
                f"datagram path){got}"
            )
        #: The run's Chromium (:class:`~rlnc_testbed.browser.Chromium`): a started one given
        #: as ``browser`` (shared, e.g. by a test module; left open), else started here.
        self.browser: Any = browser
        self._own_browser = browser is None
        self._browser_lock = asyncio.Lock()
        self._browser_failure: Exception | None = None
        self._browser_slots: list[str] = []
        #: The pages this run opened (:class:`~rlnc_testbed.browser.BrowserPage`: slot,
        #: console lines, the Playwright page).
        self.browser_pages: list[Any] = []
        #: Failures the browser pages reported (PageEvent), in order.
        self.browser_events: list[Any] = []
        #: Browser newcomers' pages opened ahead, one per upcoming round (loaded, not joined:
        #: :class:`~rlnc_testbed.browser.StandbyPages`); None without browser newcomers, and
        #: when the signaling server restarts: it serves the pages' modules, so a page opened
        #: ahead could be loading while it is down, which a page opened when needed is not.
        self.standby: Any = None
        restarts = any(spec.kind == "server-restart" for spec in self.faults.specs)
        if self.browser_newcomers and not restarts:
            from ..browser import StandbyPages

            self.standby = StandbyPages(self._open_standby, log=self.log)

    async def __aenter__(self) -> Cluster:
        if self.hosts == "netns":
            # One host per numbered slot: peers 1..N, then the newcomers N+1..N+R.
            count = self.params.peers + self.params.rounds
            self._emulated = await EmulatedHosts(count, rate=self.host_rate).__aenter__()
            # The server, engine and collector live on the bridge, the gateway of every host.
            self.server.host = self.host = self._emulated.gateway
            self.interfaces = self._emulated.gateway
        try:
            if self._own_server:
                await self.server.start()
        except BaseException:
            await self._close_hosts()
            raise
        if self.transport == "memory":
            from ..transport.memory import MemoryNetwork

            self._memory = MemoryNetwork()
        for (sender, receiver), shape in self.shaping.items():
            self._shape(sender, receiver, self._shaper(sender, receiver, shape, 0))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- running ---------------------------------------------------------------------------

    async def run(self) -> TrialRecord:
        """Start every role, run rounds until 'end' or the max round, and return the record."""
        with young_generation(self.params.peers + 2):
            return await self._run()

    async def _run(self) -> TrialRecord:
        watchdog = asyncio.ensure_future(self._coordinator.watchdog())
        self._tasks.add(watchdog)
        try:
            self._prepare_standby(1)  # round 1's browser newcomer, while the others join
            try:
                await self._start_node(self.roles["collector"], role="collector")
                await self._start_peers()
                await self._start_node(self.roles["engine"], role="engine", data=self.data)
            except* (TimeoutError, ConnectionError, SignalingError) as group:
                # A node that cannot join is the trial's setup failure, recorded with what
                # happened - never an exception that ends the whole run.
                first = group.exceptions[0]
                why = f"a node could not join: {type(first).__name__}: {first}"
                await self._coordinator._feed(self.controller.setup_failed, why)
            # The watchdog ends every phase in time; this outer bound only guards against
            # the watchdog itself failing.
            async with asyncio.timeout(self.controller.max_units() * unit()):
                await self._coordinator.finished.wait()
        finally:
            watchdog.cancel()
            self._note_browsers()
        return self.controller.record

    async def _start_peers(self) -> None:
        """Start the N peers, :data:`START_CONCURRENCY` at a time (slots 1..N in order):
        a thousand sequential joins would cost seconds, a thousand at once would crowd the
        server's unjoined connections (``MAX_UNJOINED``)."""
        slots = [self.next_slot("peer") for _ in range(self.params.peers)]
        gate = asyncio.Semaphore(START_CONCURRENCY)

        async def start(slot: str) -> None:
            async with gate:
                await self._start_node(self.roles["peer"], role="peer", slot=slot)

        async with asyncio.TaskGroup() as group:
            for slot in slots:
                group.create_task(start(slot))

    def spawn(self, cls: type[Node], *, role: str, slot: str | None = None, **kwargs: Any) -> None:
        """Start a node in the background (a newcomer joining mid-trial); ``slot`` defaults
        to the role's next one (see :meth:`next_slot`)."""
        slot = slot or self.next_slot(role)
        task = asyncio.ensure_future(self._start_node(cls, role=role, slot=slot, **kwargs))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def next_slot(self, role: str) -> str:
        """The slot the next node of ``role`` takes: peers ``1..N`` in start order, the
        newcomer of the r-th spawn ``N + r``, the engine and collector their role name."""
        self._slots_started[role] += 1
        if role == "peer":
            return str(self._slots_started[role])
        if role == "newcomer":
            return str(newcomer_id(self.params, self._slots_started[role]))
        return role

    async def _start_node(
        self, cls: type[Node], *, role: str, slot: str | None = None, **kwargs: Any
    ) -> Node | None:
        slot = slot or self.next_slot(role)
        if slot in self.external:
            if self.on_external is not None:
                self.on_external(role, slot)
            return None
        if (role == "newcomer" and self.browser_newcomers) or (
            role == "peer" and int(slot) in self.browser_peers
        ):
            await self._start_browser(role, slot)
            return None
        if self.processes and role in NUMBERED_ROLES:
            await self._start_process(role, slot)
            return None
        if self.node_hosts and role in NUMBERED_ROLES:
            if self._node_hosts is None:
                self._node_hosts = NodeHosts(
                    self.node_hosts,
                    self.server.url,
                    interfaces=self.interfaces,
                    log=self.log,
                    on_lost=self._node_host_lost,
                )
            await self._node_hosts.add(role, slot, self.server.credential(role, slot))
            return None
        client = await SignalingClient.connect(
            self.server.url, token=self.server.credential(role, slot), role=role, slot=slot
        )
        connector = self._connector(client)
        if issubclass(cls, FaultyPeer | FaultyNewcomer):
            kwargs.setdefault("schedule", self.schedule)
        node = cls(signaling=client, connector=connector, **kwargs)
        self.nodes.append(node)
        self._by_id[str(client.id)] = node
        task = asyncio.ensure_future(node.run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return node

    async def _start_browser(self, role: str, slot: str) -> None:
        """Run the JavaScript ``role`` for ``slot`` (``rlnc_testbed/web/peer.js``) in a
        Chromium page: a peer's page is opened now and joins by itself, its credential in the
        URL fragment; a newcomer's was opened ahead (:attr:`standby`: loaded, not joined) and
        is started now with the same arguments, then the next round's is opened.

        The run's Chromium starts with the first browser slot (or round 1's standby page).
        Its failures - and any page's console errors, uncaught errors or crash, a standby
        page's included - end the trial with the ``error`` verdict naming them
        (:meth:`_browser_failed`) when the node is started, never a timeout."""
        from ..browser import BrowserError, PageEvent

        self._browser_slots.append(slot)
        try:
            args: dict[str, Any] = {
                "role": role,
                "slot": slot,
                "token": self.server.credential(role, slot),
                "unit": unit(),
                # the whole plan (a spec's position is its FAULT stream index), if a node
                # carries out any of it: the page replays it and carries out its own faults
                "faults": self.faults.to_list() if self.faults.node_faults else None,
            }
            if role == "newcomer" and self.standby is not None:
                page = await self.standby.take(slot, on_event=self._browser_failed)
                self.browser_pages.append(page)
                await self.browser.start_standby(page, peer_fragment(self.server.url, **args))
                self._prepare_standby(int(slot) - self.params.peers + 1)
            else:
                await self._ensure_browser()
                url = peer_url(self.server.url, **args)
                page = await self.browser.open_page(
                    url, slot=slot, role=role, on_event=self._browser_failed
                )
                self.browser_pages.append(page)
        except BrowserError as exc:
            if not self.browser_events:  # a page that failed to load has said so already
                self.browser_events.append(PageEvent(slot, role, "start", str(exc)))
            await self._coordinator._feed(self.controller.internal_error, exc)

    async def _ensure_browser(self) -> None:
        """Start the run's Chromium unless it is: once; when it cannot, that BrowserError,
        to every page of the run alike (whichever asked first: a peer or a standby page)."""
        from ..browser import BrowserError, Chromium

        async with self._browser_lock:
            if self._browser_failure is not None:
                raise BrowserError(str(self._browser_failure))
            if self.browser is None:
                self.browser = Chromium(log=self.log)
                try:
                    await self.browser.start()
                except BrowserError as exc:
                    self._browser_failure = exc
                    raise

    def _prepare_standby(self, number: int) -> None:
        """Open round ``number``'s browser newcomer page ahead (no-op past the last round,
        without browser newcomers, or for an external newcomer)."""
        if self.standby is None or not 1 <= number <= self.params.rounds:
            return
        slot = str(newcomer_id(self.params, number))
        if slot not in self.external:
            self.standby.prepare(slot)

    async def _open_standby(self, slot: str, on_event: Callable[[Any], None]) -> Any:
        """Open ``slot``'s newcomer page in standby (:attr:`standby`'s opener)."""
        await self._ensure_browser()
        return await self.browser.open_standby(
            standby_url(self.server.url), slot=slot, role="newcomer", on_event=on_event
        )

    def _browser_failed(self, event: Any) -> None:
        """A browser page failed (:class:`~rlnc_testbed.browser.PageEvent`): the node's
        ``error`` (or, before it joined, the round control's) ends the trial."""
        self.browser_events.append(event)
        if self.controller.phase is Phase.DONE:
            return
        if event.slot in self.server.clients:
            message = {"type": "error", "reason": f"in Chromium: {event.kind}: {event.text}"[:4000]}
            coro = self._coordinator._feed(self.controller.message, event.slot, message)
        else:
            from ..browser import BrowserError

            failure = BrowserError(event.describe())
            coro = self._coordinator._feed(self.controller.internal_error, failure)
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _node_host_lost(self, failure: Exception) -> None:
        """A node host exited during the trial: the trial's ``error``, naming it."""
        if self.controller.phase is Phase.DONE:
            return
        coro = self._coordinator._feed(self.controller.internal_error, failure)
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _note_browsers(self) -> None:
        """Say in the trial's record which nodes were browsers, which Chromium ran them and
        what their pages reported."""
        if not self._browser_slots:
            return
        record = self.controller.record
        record.browsers = sorted(self._browser_slots, key=int)
        record.browser_version = "" if self.browser is None else self.browser.version
        record.browser_errors = [event.to_dict() for event in self.browser_events]

    async def _start_process(self, role: str, slot: str) -> None:
        """Start ``rlnc-testbed node`` for ``role`` in ``slot``; it joins by itself.

        Its credential goes down a stdin pipe (``--token-file -``): never on the command line
        (``/proc/PID/cmdline`` is world-readable) nor in its environment.
        """
        argv = node_command(
            *("node", "--server", self.server.url, "--token-file", "-"),
            *("--role", role, "--slot", slot, "--ice-interfaces", self.interfaces),
        )
        if self._emulated is not None:  # in its own namespace, offering its own address
            index = int(slot) - 1
            argv[-1] = self._emulated.address(index)
            argv = self._emulated.command(index, argv)
        process = await spawn_node_process(argv)
        self._processes.append(process)
        self._process_by_slot[slot] = process
        assert process.stdin is not None
        try:
            process.stdin.write(self.server.credential(role, slot).encode() + b"\n")
            async with asyncio.timeout(5 * unit()):
                await process.stdin.drain()
        except (ConnectionError, TimeoutError) as exc:  # it died at once: its stderr says why
            self.log.warning(
                "%s process %d did not take its credential: %r", role, process.pid, exc
            )
        finally:
            process.stdin.close()
        task = asyncio.ensure_future(self._forward_stderr(process, role))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _forward_stderr(self, process: asyncio.subprocess.Process, role: str) -> None:
        assert process.stderr is not None
        async for line in process.stderr:
            self.log.warning("%s process %d: %s", role, process.pid, line.decode().rstrip())

    async def _stop_processes(self) -> None:
        """Give node processes a bounded time to leave after 'close', then kill them."""
        for process in self._processes:
            try:
                async with asyncio.timeout(5 * unit()):
                    await process.wait()
            except TimeoutError:
                self.log.warning("node process %d did not exit; killing it", process.pid)
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        self._processes.clear()

    def _connector(self, client: SignalingClient) -> Connector:
        if self._memory is not None:
            connector: Connector = self._memory.connector(client.id)
            return connector
        shaping = self._pending_shapers.pop(str(client.id), {})
        return attach_webrtc(client, interfaces=self.interfaces, shaping=shaping)

    # -- faults ----------------------------------------------------------------------------

    def start_faults(self, number: int, alive: tuple[int, ...]) -> None:
        """Round ``number`` starts with ``alive``: resolve its faults into the schedule and
        shape its faulty links (the previous round's fault shapes end here)."""
        if not self.faults:
            return
        faults = round_faults(self.faults, self.params, self.trial, number, alive)
        self.schedule.add(number, faults)
        for sender, receiver in self._round_links:
            static = self.shaping.get((sender, receiver))
            shaper = None if static is None else self._shaper(sender, receiver, static, 0)
            self._shape(sender, receiver, shaper)
        self._round_links = []
        for fault in faults:
            if fault.kind != "link":
                continue
            shape = LinkShape(
                loss=fault.loss, delay=fault.delay, jitter=fault.jitter, reorder=fault.reorder
            )
            for sender, receiver in fault.links:
                self._shape(sender, receiver, self._shaper(sender, receiver, shape, number))
                self._round_links.append((sender, receiver))
        if faults:
            self.log.info("trial %d round %d faults: %s", self.trial, number, faults)

    def sent(self, to: str, message: dict[str, Any]) -> None:
        """The server just sent ``message`` to ``to``: a process node whose crash this
        message triggers (:func:`~rlnc_testbed.protocol.faults.trigger`) is SIGKILLed now, as
        an in-process faulty role would close on receiving it."""
        process = self._process_by_slot.get(to)
        number = message.get("round")
        if process is None or not isinstance(number, int) or process.returncode is not None:
            return
        for fault in self.schedule.faults(number):
            if fault.node == to and fault.kind in KILL_KINDS and trigger(fault) == message["type"]:
                self.log.warning(
                    "trial %d round %d: SIGKILL %s process %d (%s %s)",
                    self.trial,
                    number,
                    to,
                    process.pid,
                    fault.kind,
                    fault.when,
                )
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                self.killed.append((number, to, process.pid))
                return

    async def interrupt_signaling(self, number: int, fault: Fault) -> None:
        """Carry out a signaling fault after round ``number``'s verdict: restart the server
        (every connection closed with 1012, ``downtime`` s of nothing listening) or drop the
        collector's connection; then wait (bounded) until every node that was connected has
        rejoined by itself. Nobody is told anything meanwhile (the coordinator holds it)."""
        server = self.server
        before = len(server.rejoined)
        if fault.kind == "server-restart":
            expected = set(await server.restart(fault.downtime))
        else:
            expected = {COLLECTOR_ID} if await server.drop(COLLECTOR_ID, "dropped") else set()
            await asyncio.sleep(fault.downtime)
        started = asyncio.get_running_loop().time()
        try:
            async with asyncio.timeout(2 * RECONNECT_UNITS * unit()):
                while not expected <= set(server.rejoined[before:]):
                    await asyncio.sleep(0.01)
        except TimeoutError:
            missing = sorted(expected - set(server.rejoined[before:]))
            self.log.warning(
                "trial %d round %d: %s: %s did not rejoin", self.trial, number, fault.kind, missing
            )
            # Not a round's timeout: the signaling plane lost them, and the record says so.
            self.controller.signaling_lost(
                f"after the {fault.kind} of round {number}, {', '.join(missing)} did not rejoin "
                f"within {2 * RECONNECT_UNITS * unit():.1f} s"
            )
        self.interruptions.append(
            {
                "round": number,
                "kind": fault.kind,
                "rejoined": sorted(set(server.rejoined[before:]) & expected),
                "missing": sorted(expected - set(server.rejoined[before:])),
                "seconds": round(asyncio.get_running_loop().time() - started, 4),
            }
        )

    def _shaper(self, sender: str, receiver: str, shape: LinkShape, number: int) -> Shaper:
        """A shaper for one directed link, drawing from (seed, trial, round, LINK, index)."""
        draws = stream_for(
            self.params.seed, self.trial, number, Role.LINK, link_index(sender, receiver)
        )
        if self.transport == "memory":
            return ReliableShaper(shape, draws=draws)
        return Shaper(shape, draws=draws)

    def _shape(self, sender: str, receiver: str, shaper: Shaper | None) -> None:
        """Shape what ``sender`` sends to ``receiver`` from now on (None: stop)."""
        if self._memory is not None:
            self._memory.shape_link(sender, receiver, shaper)
            return
        node = self._by_id.get(sender)
        if node is not None:
            node.connector.shape(receiver, shaper)  # type: ignore[attr-defined]
        elif shaper is not None:
            self._pending_shapers.setdefault(sender, {})[receiver] = shaper
        else:
            self._pending_shapers.get(sender, {}).pop(receiver, None)

    async def close(self) -> None:
        """Stop every node and the server; bounded; leaves no task or process behind."""
        for node in list(self.nodes):
            with contextlib.suppress(Exception):
                await node.shutdown()
        await self._stop_processes()
        if self._node_hosts is not None:  # after 'close': their nodes are leaving
            self.node_host_exits = await self._node_hosts.close()
        if self.standby is not None:  # pages opened ahead and never started (bounded)
            await self.standby.close(timeout=5 * unit())
        if self.browser is not None and self._own_browser:
            await self.browser.close()  # bounded; the record keeps its version and events
        elif self.browser_pages:  # a shared Chromium: close this run's pages (bounded)
            await asyncio.gather(*(p.close(timeout=5 * unit()) for p in self.browser_pages))
        self._note_browsers()  # with what the pages reported after the verdict, too
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=10 * unit())
        self._tasks.clear()
        if self._memory is not None:
            with contextlib.suppress(Exception):
                await self._memory.close()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(10 * unit()):
                if self._own_server:
                    await self.server.close()
                else:  # a lent server stays up: only this trial's clients go
                    clients = list(self.server.clients)
                    await asyncio.gather(
                        *(self.server.disconnect(c, "trial over") for c in clients),
                        return_exceptions=True,
                    )
        await self._close_hosts()

    async def _close_hosts(self) -> None:
        if self._emulated is not None:
            await self._emulated.close()  # bounded; logs what it could not remove
            self._emulated = None

    @property
    def emulated_hosts(self) -> EmulatedHosts | None:
        """The run's emulated hosts (``hosts='netns'``, while the cluster is open)."""
        return self._emulated

    @property
    def phase(self) -> Phase:
        return self.controller.phase

    @property
    def memory_network(self) -> Any:
        """The :class:`~rlnc_testbed.transport.memory.MemoryNetwork` of a ``memory`` cluster
        (``drop``/``loss``/``delay`` controls for fault injection); None over WebRTC."""
        return self._memory


async def run_trial(
    params: Params,
    trial: int = 0,
    *,
    transport: str = "webrtc",
    data: bytes | None = None,
    roles: Mapping[str, type[Node]] | None = None,
    configure: Callable[[Cluster], None] | None = None,
    on_round: Callable[[RoundRecord], None] | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    interfaces: str = "loopback",
    processes: bool = False,
    node_hosts: int = 0,
    faults: FaultPlan | None = None,
    shaping: Mapping[tuple[str, str], LinkShape] | None = None,
    browser_peers: Iterable[int] | int | None = None,
    browser_newcomers: bool = False,
    browser: Any = None,
    hosts: str = "loopback",
    host_rate: str | None = None,
) -> TrialRecord:
    """Run one loop test over a fresh networked cluster and return its record.

    ``host``/``port`` bind the signaling server (default: 127.0.0.1, a free port);
    ``interfaces`` selects ICE host candidates (``loopback`` or ``all``/addresses, see
    :mod:`rlnc_testbed.transport.ice`); ``processes`` runs peers and newcomers as separate
    OS processes, ``node_hosts=W`` in W processes that hold many each
    (:mod:`rlnc_testbed.experiment.node_hosts`); ``faults`` schedules faults
    (:mod:`rlnc_testbed.protocol.faults`);
    ``shaping`` shapes chosen links for the whole trial; ``browser_peers`` (peer slots, or a
    count n: slots 1..n) and ``browser_newcomers`` run those nodes as Chromium pages
    (:mod:`rlnc_testbed.browser`), in ``browser`` (a started ``Chromium``) if given;
    ``hosts="netns"`` (which implies ``processes``) gives every peer and newcomer its own emulated
    host, rate limited to ``host_rate`` (e.g. ``"20mbit"``) if given
    (:mod:`rlnc_testbed.experiment.hosts`)."""
    async with Cluster(
        params,
        trial,
        transport=transport,
        data=data,
        roles=roles,
        on_round=on_round,
        host=host,
        port=port,
        interfaces=interfaces,
        processes=processes,
        node_hosts=node_hosts,
        faults=faults,
        shaping=shaping,
        browser_peers=browser_peers,
        browser_newcomers=browser_newcomers,
        browser=browser,
        hosts=hosts,
        host_rate=host_rate,
    ) as cluster:
        if configure is not None:
            configure(cluster)
        return await cluster.run()
