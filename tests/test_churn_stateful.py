"""Churn as a Hypothesis state machine: fail a peer, choose parents, lose or delay, join, collect.

The storage system under test is built from the project's own parts: the engine's packets and
the round rules of :mod:`rlnc_testbed.protocol.rules` on the specified streams, with real
payloads through ``Encoder`` / ``Recoder`` / ``Decoder``. The machine chooses the churn: which
alive peer fails, whether the server's parent draw or a subset of its own choosing repairs,
which upload or packet is lost on the way and which upload arrives late. After every step the
invariants are checked with this file's own GF(2^8) (0x11d) arithmetic: ranks, payloads,
retrievability, what a newcomer may store, and that nothing ever enlarges the span of what is
stored. While the schedule is one the specification itself could have produced (failures on a
schedule, the server's own parent draw, no lost packets; late uploads allowed, since the
newcomer orders them by numeric parent id), every round must equal the compiled simulator's
for ``Params(failures=<the machine's failures>)``, packet rows included; a failing schedule
therefore replays from (Params, trial), which the failure note prints.
"""

from __future__ import annotations

import enum
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pytest
from hypothesis import Phase, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from spec_model import EXP, LOG

from rlnc_testbed.coding import CodedPacket, DecodeError, Decoder, rank
from rlnc_testbed.protocol.draws import Role, stream_for
from rlnc_testbed.protocol.params import FIELDS, KEEP_RULES, SCHEMES, Params
from rlnc_testbed.protocol.rules import (
    choose_parents,
    engine_packets,
    newcomer_id,
    newcomer_keep,
    parent_upload,
    source_bytes,
)
from rlnc_testbed.simulation import simulate_trial
from rlnc_testbed.simulation.compiled import simulate_columns, simulate_trials_fast, trace_trial

#: The loaded Hypothesis profile (root conftest.py: dev, or ci) scales the examples per machine.
PROFILE = settings()
CHURN_SETTINGS = settings(
    max_examples=max(4, PROFILE.max_examples // 2),
    stateful_step_count=40,
    deadline=None,
)

# -- GF(2^8) with the 0x11d polynomial: the tests' own arithmetic --------------------------------


def _tables() -> tuple[np.ndarray, np.ndarray]:
    """Numpy multiply and inverse tables from the test model's GF(2^8) (tests/spec_model.py)."""
    exp, log = np.array(EXP, dtype=np.int64), np.array(LOG, dtype=np.int64)
    mul = np.zeros((256, 256), dtype=np.uint8)
    mul[1:, 1:] = exp[log[1:, None] + log[None, 1:]]
    inv = np.zeros(256, dtype=np.uint8)
    inv[1:] = exp[255 - log[1:]]
    return mul, inv


#: ``MUL[a, b] = a * b`` and ``INV[a] = 1 / a`` in GF(2^8); on {0, 1} they are GF(2).
MUL, INV = _tables()


class Span:
    """A subspace of GF(2^8)^k as a row-echelon basis ({pivot: row with 1 at its pivot}).

    GF(2) rows are 0/1 rows of GF(2^8)^k: rank does not change under a field extension, so
    one elimination serves both fields.
    """

    def __init__(self, rows: Sequence[np.ndarray] = ()) -> None:
        self.rows: dict[int, np.ndarray] = {}
        for row in rows:
            self.add(row)

    def reduce(self, row: np.ndarray) -> np.ndarray:
        r = np.array(row, dtype=np.uint8)
        for pivot in sorted(self.rows):  # basis rows vanish left of their pivot
            if r[pivot]:
                r ^= MUL[r[pivot], self.rows[pivot]]
        return r

    def add(self, row: np.ndarray) -> bool:
        r = self.reduce(row)
        nonzero = np.flatnonzero(r)
        if not nonzero.size:
            return False
        pivot = int(nonzero[0])
        self.rows[pivot] = MUL[INV[r[pivot]], r]
        return True

    def __contains__(self, row: np.ndarray) -> bool:
        return not self.reduce(row).any()

    def __len__(self) -> int:
        return len(self.rows)


def own_rank(packets: Sequence[CodedPacket]) -> int:
    return len(Span([pk.coefficients for pk in packets]))


def combine(coefficients: np.ndarray, source: np.ndarray) -> np.ndarray:
    """``sum_i coefficients[i] * source[i]`` over GF(2^8) (source: k symbols of s bytes)."""
    out = np.zeros(source.shape[1], dtype=np.uint8)
    for c, symbol in zip(coefficients.tolist(), source, strict=True):
        if c:
            out ^= MUL[c, symbol]
    return out


def test_own_field_is_gf256_with_0x11d() -> None:
    powers = [1]
    for _ in range(254):
        powers.append(int(MUL[powers[-1], 2]))
    assert len(set(powers)) == 255  # 2 generates the multiplicative group
    assert MUL[0x80, 2] == 0x1D  # x^8 = x^4 + x^3 + x^2 + 1
    assert all(MUL[a, INV[a]] == 1 for a in range(1, 256))
    assert (MUL[:2, :2] == [[0, 0], [0, 1]]).all()  # GF(2) inside
    assert len(Span([np.array([1, 2]), np.array([2, 4]), np.array([0, 0])])) == 1


# -- the experiment point a machine plays --------------------------------------------------------


@st.composite
def churn_params(
    draw: st.DrawFn,
    *,
    schemes: Sequence[str] = SCHEMES,
    fields: Sequence[int] = FIELDS,
    min_parents: int = 1,
) -> Params:
    """Small points: 2-9 peers (newcomer ids reach 10 and more), k <= min(6, N * Q), Q <= 3,
    every keep rule, beta <= Q (often < Q), systematic or not, and K = N * Q + spare (spare
    packets are stored nowhere). Shrinks towards 2 peers, Q = 1, 1 symbol, the first scheme
    and field."""
    peers = draw(st.integers(min_parents + 1, 9))
    q = draw(st.integers(1, 3))
    symbols = draw(st.integers(1, min(6, peers * q)))  # decodable at the start, mostly
    spare = draw(st.integers(0, peers - 1))
    sizing: dict[str, object] = (
        {"redundancy": (peers * q + spare) / symbols} if spare else {"q": q, "redundancy": None}
    )
    p = Params(
        peers=peers,
        symbols=symbols,
        symbol_size=draw(st.integers(1, 8)),
        parents=draw(st.integers(min_parents, peers - 1)),
        scheme=draw(st.sampled_from(schemes)),
        field=draw(st.sampled_from(fields)),
        keep=draw(st.sampled_from(KEEP_RULES)),
        beta=draw(st.sampled_from([None, *range(1, q + 1)])),
        rounds=1,  # the machine plays as many as its steps allow
        seed=draw(st.integers(0, 2**63 - 1)),
        systematic=draw(st.booleans()),
        **sizing,  # type: ignore[arg-type]
    )
    assert (p.per_peer, p.total_packets_made) == (q, peers * q + spare)
    return p


class Step(enum.Enum):
    """Where the current round is (the collector may collect in any)."""

    IDLE = "idle"  # between rounds: a peer may fail
    FAILED = "failed"  # a peer failed: parents are chosen (or the newcomer joins at once)
    UPLOADING = "uploading"  # uploads in flight: lose or delay some, or the newcomer joins


@dataclass
class RoundLog:
    """What the machine did in one round, and what came of it."""

    round: int
    failed: int
    newcomer: int
    parents: tuple[int, ...] = ()
    spec_parents: bool = False
    lost: list[str] = field(default_factory=list)
    delayed: list[int] = field(default_factory=list)
    flat: list[CodedPacket] = field(default_factory=list)
    kept: list[CodedPacket] = field(default_factory=list)
    newcomer_rank: int = -1
    global_rank: int = -1
    verdict: str = ""

    def describe(self) -> str:
        how = "server's draw" if self.spec_parents else "machine's choice"
        extra = "".join(f", lost {x}" for x in self.lost)
        extra += "".join(f", {x}'s upload delayed" for x in self.delayed)
        return (
            f"round {self.round}: {self.failed} fails, parents {list(self.parents)} ({how})"
            f"{extra}, newcomer {self.newcomer} rank {self.newcomer_rank}, "
            f"global rank {self.global_rank} {self.verdict}"
        )


# -- the machine -----------------------------------------------------------------------------


class ChurnMachine(RuleBasedStateMachine):
    """One trial of a storage system under churn the machine chooses (see the module doc).

    ``arrange`` (how the newcomer orders what arrived) and ``keep`` (what it stores) are the
    newcomer's model; the tests below break them on purpose."""

    #: The rule steps and the replay point of the latest run (the final run of a failing
    #: test replays the shrunk example).
    last_steps: ClassVar[list[str]] = []
    last_replay: ClassVar[tuple[Params, int] | None] = None

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[str] = []
        type(self).last_steps = self.steps
        self.step = Step.IDLE
        self.failures: list[int] = []
        self.log: list[RoundLog] = []
        self.in_flight: list[tuple[int, list[CodedPacket]]] = []
        #: Every round so far is one the simulator plays itself (delays allowed).
        self.exact = True
        #: Rounds already compared with the simulator (-1: not even the placement).
        self.compared = -1
        self.simulator_stopped = False

    # -- set-up -----------------------------------------------------------------------------

    @initialize(p=churn_params(), trial=st.integers(0, 2**20), cut=st.integers(0, 7))
    def start(self, p: Params, trial: int, cut: int) -> None:
        self.setup(p, trial, cut)

    def setup(self, p: Params, trial: int, cut: int = 0) -> None:
        """Trial ``trial`` of ``p``; the source is the specified one less its last ``cut``
        bytes (the engine zero-pads it, the collector must return exactly the rest)."""
        self.p, self.trial = p, trial
        k, s = p.symbols, p.symbol_size
        full = source_bytes(p.seed, trial, k * s)
        self.data = full[: max(0, len(full) - cut)]
        padded = np.zeros(k * s, dtype=np.uint8)
        padded[: len(self.data)] = np.frombuffer(self.data, dtype=np.uint8)
        self.source = padded.reshape(k, s)
        placed = engine_packets(p, trial, self.data)
        self.stored: dict[int, list[CodedPacket]] = dict(enumerate(placed, start=1))
        assert [len(v) for v in placed] == [p.per_peer] * p.peers
        self.span = self._current_span()

    @property
    def round(self) -> int:
        return len(self.log)

    @property
    def joined(self) -> int:
        """Rounds whose newcomer has stored."""
        return self.round - (self.step is not Step.IDLE)

    # -- rules ------------------------------------------------------------------------------
    # Every rule first advances the round as far as it needs - a peer the machine draws fails,
    # the server's parents upload - so each is valid in (almost) every step: swarm testing
    # disables random rules, and a strict phase order would strand many runs.

    def _fail(self, data: st.DataObject) -> None:
        """Any alive peer fails (as ``Params.failures`` may name any)."""
        failed = data.draw(st.sampled_from(sorted(self.stored)), label="failed")
        self.failures.append(failed)
        del self.stored[failed]
        self.log.append(RoundLog(self.round + 1, failed, newcomer_id(self.p, self.round + 1)))
        self.step = Step.FAILED

    def _to_uploading(self, data: st.DataObject) -> None:
        if self.step is Step.IDLE:
            self._fail(data)
        if self.step is Step.FAILED:
            self._upload(self._spec_parents())

    @rule(data=st.data())
    def fail_peer(self, data: st.DataObject) -> None:
        """A peer fails; mid-round, the newcomer first joins with what has arrived."""
        self.steps.append("fail_peer")
        if self.step is not Step.IDLE:
            self._join()
        self._fail(data)

    @precondition(lambda self: self.step is not Step.UPLOADING)
    @rule(data=st.data())
    def server_parents(self, data: st.DataObject) -> None:
        """The specified parent draw (a scheduled failure draws nothing before it)."""
        self.steps.append("server_parents")
        if self.step is Step.IDLE:
            self._fail(data)
        self._upload(self._spec_parents())

    @precondition(lambda self: self.step is not Step.UPLOADING)
    @rule(data=st.data())
    def own_parents(self, data: st.DataObject) -> None:
        """Any non-empty subset of the survivors repairs (exact if it is the server's draw)."""
        self.steps.append("own_parents")
        if self.step is Step.IDLE:
            self._fail(data)
        survivors = sorted(self.stored)
        chosen = data.draw(
            st.lists(st.sampled_from(survivors), min_size=1, max_size=len(survivors), unique=True),
            label="parents",
        )
        self._upload(tuple(sorted(chosen)))

    @precondition(lambda self: self.step is not Step.UPLOADING or self._senders())
    @rule(data=st.data())
    def lose_upload(self, data: st.DataObject) -> None:
        """One parent's whole upload is lost: its block reaches the newcomer empty."""
        self.steps.append("lose_upload")
        self._to_uploading(data)
        if not self._senders():
            return
        sender = data.draw(st.sampled_from(self._senders()), label="sender")
        self.in_flight = [(q, [] if q == sender else u) for q, u in self.in_flight]
        self.log[-1].lost.append(f"{sender}'s upload")
        self.exact = False

    @precondition(lambda self: self.step is not Step.UPLOADING or self._senders())
    @rule(data=st.data())
    def lose_packet(self, data: st.DataObject) -> None:
        """One packet of one upload is lost (the rest of that upload keeps its order)."""
        self.steps.append("lose_packet")
        self._to_uploading(data)
        if not self._senders():
            return
        sender = data.draw(st.sampled_from(self._senders()), label="sender")
        upload = dict(self.in_flight)[sender]
        index = data.draw(st.integers(0, len(upload) - 1), label="packet")
        shorter = upload[:index] + upload[index + 1 :]
        self.in_flight = [(q, shorter if q == sender else u) for q, u in self.in_flight]
        self.log[-1].lost.append(f"packet {index} of {sender}'s upload")
        self.exact = False

    @precondition(lambda self: self.step is not Step.UPLOADING or len(self.in_flight) >= 2)
    @rule(data=st.data())
    def delay_upload(self, data: st.DataObject) -> None:
        """One upload arrives after all the others (delays reorder; they must change nothing)."""
        self.steps.append("delay_upload")
        self._to_uploading(data)
        if len(self.in_flight) < 2:
            return
        index = data.draw(st.integers(0, len(self.in_flight) - 2), label="delayed")
        moved = self.in_flight.pop(index)
        self.in_flight.append(moved)
        self.log[-1].delayed.append(moved[0])

    @rule(data=st.data())
    def join_newcomer(self, data: st.DataObject) -> None:
        """The newcomer takes what arrived and stores what it keeps; the round is judged."""
        self.steps.append("join_newcomer")
        self._to_uploading(data)
        self._join()

    def _join(self) -> None:
        if self.step is Step.FAILED:
            self._upload(self._spec_parents())
        now = self.log[-1]
        blocks = self.arrange(self.in_flight)
        now.flat = [pk for block in blocks for pk in block]
        now.newcomer_rank = (
            int(rank(np.stack([pk.coefficients for pk in now.flat]), self.p.field))
            if now.flat
            else 0
        )
        now.kept = list(self.keep(blocks))
        self.stored[now.newcomer] = now.kept
        self.in_flight = []
        now.global_rank, now.verdict = self._judge()
        self.step = Step.IDLE

    @rule()
    def collect(self) -> None:
        """The collector decodes what every alive peer stores now (also mid-round)."""
        self.steps.append("collect")
        global_rank, verdict = self._judge()
        assert (verdict == "ok") == (global_rank == self.p.symbols), self.replay()

    # -- the newcomer's model (broken on purpose below) -------------------------------------

    def arrange(
        self, in_flight: Sequence[tuple[int, list[CodedPacket]]]
    ) -> list[list[CodedPacket]]:
        """One block per parent, in ascending numeric parent id order, whatever the arrival."""
        return [list(upload) for _, upload in sorted(in_flight, key=lambda item: item[0])]

    def keep(self, blocks: list[list[CodedPacket]]) -> list[CodedPacket]:
        p = self.p
        stream = stream_for(p.seed, self.trial, self.round, Role.NEWCOMER)
        return newcomer_keep(
            p.scheme, blocks, p.per_peer, field=p.field, keep=p.keep, stream=stream
        )

    # -- helpers ----------------------------------------------------------------------------

    def _spec_parents(self) -> tuple[int, ...]:
        server = stream_for(self.p.seed, self.trial, self.round, Role.SERVER)
        return choose_parents(server, sorted(self.stored), self.p.parents)

    def _upload(self, parents: tuple[int, ...]) -> None:
        p, now = self.p, self.log[-1]
        now.parents = parents
        now.spec_parents = parents == self._spec_parents()
        self.exact &= now.spec_parents
        self.in_flight = []
        for q in parents:
            stream = stream_for(p.seed, self.trial, self.round, Role.PARENT, q)
            upload = parent_upload(p.scheme, self.stored[q], p.upload, field=p.field, stream=stream)
            assert len(upload) == min(p.upload, len(self.stored[q])), self.replay()
            self.in_flight.append((q, upload))
        self.step = Step.UPLOADING

    def _senders(self) -> list[int]:
        """Parents whose upload still has packets in flight."""
        return [q for q, upload in self.in_flight if upload]

    def _packets(self) -> list[CodedPacket]:
        """Every alive peer's packets, in ascending id order."""
        return [pk for q in sorted(self.stored) for pk in self.stored[q]]

    def _decoder(self) -> Decoder:
        p = self.p
        decoder = Decoder(
            symbols=p.symbols, symbol_size=p.symbol_size, field=p.field, data_length=len(self.data)
        )
        for pk in self._packets():
            decoder.consume(pk)
        return decoder

    def _judge(self) -> tuple[int, str]:
        """The collector's global rank and verdict over what the alive peers store."""
        decoder = self._decoder()
        decoded = decoder.is_complete
        verified = decoded and decoder.recover() == self.data
        verdict = "ok" if verified else "corrupt" if decoded else "undecodable"
        assert verdict != "corrupt", self.replay()
        return decoder.rank, verdict

    def _current_span(self) -> Span:
        in_flight = [pk for _, upload in self.in_flight for pk in upload]
        return Span([pk.coefficients for pk in [*self._packets(), *in_flight]])

    def replay_params(self, rounds: int | None = None) -> Params:
        """The point whose simulation plays the machine's failures (first ``rounds`` of them)."""
        chosen = tuple(self.failures if rounds is None else self.failures[:rounds])
        return self.p.with_(rounds=max(1, len(chosen)), failures=chosen)

    def replay(self) -> str:
        text = f"replay: trace_trial({self.replay_params()!r}, {self.trial})"
        if len(self.data) < self.p.symbols * self.p.symbol_size:
            text += f" (data: the trial's source bytes up to {len(self.data)})"
        if self.exact:
            return text + " plays this very schedule"
        rounds = "\n  ".join(r.describe() for r in self.log)
        return f"{text} with, beyond the specified draws:\n  {rounds}"

    def teardown(self) -> None:
        if hasattr(self, "p"):
            type(self).last_replay = (self.replay_params(), self.trial)
            note(self.replay())

    # -- invariants (alphabetical order is the order Hypothesis checks them in) -------------

    @invariant()
    def at_most_q_per_peer(self) -> None:
        q = self.p.per_peer
        for peer, packets in self.stored.items():
            assert len(packets) <= q, (
                f"peer {peer} stores {len(packets)} > Q = {q}; {self.replay()}"
            )
            if peer <= self.p.peers:
                assert len(packets) == q, f"peer {peer} lost packets; {self.replay()}"

    @invariant()
    def global_rank_is_own_rank(self) -> None:
        packets = self._packets()
        want = own_rank(packets)
        assert self._decoder().rank == want, self.replay()
        if packets:
            rows = np.stack([pk.coefficients for pk in packets])
            assert rank(rows, self.p.field) == want, self.replay()
        if self.step is Step.IDLE and self.log:
            assert self.log[-1].global_rank == want, self.replay()

    @invariant()
    def newcomer_within_what_it_received(self) -> None:
        if self.step is not Step.IDLE or not self.log:
            return
        now, k = self.log[-1], self.p.symbols
        received = Span([pk.coefficients for pk in now.flat])
        assert now.newcomer_rank == len(received), self.replay()
        assert len(received) <= min(len(now.flat), k), self.replay()
        assert own_rank(now.kept) <= len(received), self.replay()
        assert all(pk.coefficients in received for pk in now.kept), self.replay()
        if self.p.scheme != "rlnc":  # copies of received packets, each at most once
            kept = Counter(id(pk) for pk in now.kept)
            assert kept <= Counter(id(pk) for pk in now.flat), f"not copies; {self.replay()}"

    @invariant()
    def payloads_are_their_coefficients(self) -> None:
        p = self.p
        in_flight = [pk for _, upload in self.in_flight for pk in upload]
        for pk in [*self._packets(), *in_flight]:
            c = pk.coefficients
            assert c.dtype == np.uint8 and c.shape == (p.symbols,), self.replay()
            assert pk.payload.shape == (p.symbol_size,), self.replay()
            assert int(c.max(initial=0)) < p.field, self.replay()
            assert np.array_equal(pk.payload, combine(c, self.source)), self.replay()

    @invariant()
    def retrievable_iff_rank_k(self) -> None:
        decoder = self._decoder()
        if own_rank(self._packets()) == self.p.symbols:
            assert decoder.recover() == self.data, self.replay()
        else:
            with pytest.raises(DecodeError):
                decoder.recover()

    @invariant()
    def same_as_simulator(self) -> None:
        if not self.exact or self.simulator_stopped or self.compared == self.joined:
            return
        rounds = self.joined
        p = self.replay_params(rounds)
        trace = trace_trial(p, self.trial)
        columns = simulate_columns(p, [self.trial])
        played = int(columns.rounds_played[0])
        where = f"round {rounds}; {self.replay()}"
        assert int(trace.columns.rounds_played[0]) == played, where
        k = self.p.symbols
        losses = [r.round for r in self.log[:rounds] if r.global_rank < k]
        assert played == (min([rounds, *losses]) if rounds else 1), where
        for r in self.log[:played] if rounds else ():
            i = r.round - 1
            for cols in (columns, trace.columns):
                got = (
                    int(cols.failed[0, i]),
                    tuple(int(x) for x in cols.parents[0, i]),
                    int(cols.newcomer[0, i]),
                    int(cols.newcomer_rank[0, i]),
                    int(cols.global_rank[0, i]),
                    int(cols.repair_packets[0, i]),
                )
                want = (r.failed, r.parents, r.newcomer, r.newcomer_rank, r.global_rank)
                assert got == (*want, len(r.flat)), f"{got} != {want}, {where}"
        if played == max(rounds, 1) or rounds == 0:
            simulated = trace.stored(min(rounds, played))
            if self.step is not Step.IDLE:  # the next round's failure already happened
                del simulated[self.log[-1].failed]
            assert sorted(simulated) == sorted(self.stored), where
            for peer, rows in simulated.items():
                mine = [pk.coefficients for pk in self.stored[peer]]
                mine_rows = np.stack(mine) if mine else np.zeros((0, k), np.uint8)
                assert np.array_equal(rows, mine_rows), f"peer {peer} stores other rows; {where}"
        self.simulator_stopped = played < rounds or bool(losses)
        self.compared = rounds

    @invariant()
    def span_never_grows(self) -> None:
        now = self._current_span()
        assert all(row in self.span for row in now.rows.values()), self.replay()
        self.span = now


# -- one machine per scheme and field (keep rule, beta, sizes drawn at @initialize) -------------


def _churn_case(scheme: str, field_order: int) -> type:
    class Machine(ChurnMachine):
        @initialize(
            p=churn_params(schemes=(scheme,), fields=(field_order,)),
            trial=st.integers(0, 2**20),
            cut=st.integers(0, 7),
        )
        def start(self, p: Params, trial: int, cut: int) -> None:
            self.setup(p, trial, cut)

    Machine.__name__ = Machine.__qualname__ = f"Churn_{scheme.replace('-', '_')}_gf{field_order}"
    case = Machine.TestCase
    case.settings = CHURN_SETTINGS
    return case


TestChurnReplicationGF2 = _churn_case("replication", 2)
TestChurnReplicationGF256 = _churn_case("replication", 256)
TestChurnCodedCopyGF2 = _churn_case("coded-copy", 2)
TestChurnCodedCopyGF256 = _churn_case("coded-copy", 256)
TestChurnRlncGF2 = _churn_case("rlnc", 2)
TestChurnRlncGF256 = _churn_case("rlnc", 256)


class ExactChurn(ChurnMachine):
    """Only schedules the simulator plays itself: the machine's failures, the server's parents
    (or a choice that happens to equal them) and late uploads, never a lost packet; so every
    round until the data is lost is compared with the compiled simulator."""

    def lose_upload(self, data: st.DataObject) -> None:  # not a rule here
        raise AssertionError("no losses in ExactChurn")

    def lose_packet(self, data: st.DataObject) -> None:  # not a rule here
        raise AssertionError("no losses in ExactChurn")


TestExactChurn = ExactChurn.TestCase
TestExactChurn.settings = CHURN_SETTINGS


# -- a broken newcomer is caught, and its failure shrinks ---------------------------------------

BROKEN_SETTINGS = settings(
    max_examples=200,
    stateful_step_count=12,
    deadline=None,
    database=None,
    report_multiple_bugs=False,
    phases=[Phase.generate, Phase.shrink],
)


class GreedyNewcomer(ChurnMachine):
    """Keeps one received packet more than Q."""

    def keep(self, blocks: list[list[CodedPacket]]) -> list[CodedPacket]:
        flat = [pk for block in blocks for pk in block]
        return [*super().keep(blocks), *flat[:1]]


class ArrivalOrderNewcomer(ExactChurn):
    """Takes the uploads in arrival order instead of ascending parent id (at least two
    parents, no losses: schedules the simulator replays, where a delay shows)."""

    @initialize(p=churn_params(min_parents=2), trial=st.integers(0, 2**20), cut=st.integers(0, 7))
    def start(self, p: Params, trial: int, cut: int) -> None:
        self.setup(p, trial, cut)

    def arrange(
        self, in_flight: Sequence[tuple[int, list[CodedPacket]]]
    ) -> list[list[CodedPacket]]:
        return [list(upload) for _, upload in in_flight]


def _shrunk_failure(machine: type[ChurnMachine], match: str) -> tuple[list[str], str]:
    with pytest.raises(AssertionError, match=match) as caught:
        run_state_machine_as_test(machine, settings=BROKEN_SETTINGS)
    notes = "\n".join(getattr(caught.value, "__notes__", []))
    return machine.last_steps, notes


def test_a_newcomer_keeping_too_much_is_caught_and_shrinks() -> None:
    steps, notes = _shrunk_failure(GreedyNewcomer, r"> Q = ")
    assert len(steps) <= 3 and steps[-1] in ("join_newcomer", "fail_peer"), steps
    assert re.search(r"^state\.(join_newcomer|fail_peer)\(", notes, re.M), notes
    assert "replay: trace_trial(Params(" in notes, notes


def test_a_newcomer_trusting_arrival_order_is_caught_by_the_simulator() -> None:
    steps, notes = _shrunk_failure(ArrivalOrderNewcomer, r"stores other rows|!=")
    assert len(steps) <= 3 and "delay_upload" in steps, steps
    assert "plays this very schedule" in notes, notes
    # The note is a complete replay: the reference simulator plays it like the compiled one.
    assert ArrivalOrderNewcomer.last_replay is not None
    p, trial = ArrivalOrderNewcomer.last_replay
    assert f"trace_trial({p!r}, {trial})" in notes
    (fast,) = simulate_trials_fast(p, [trial])
    assert [r.outcome() for r in simulate_trial(p, trial).rounds] == [
        r.outcome() for r in fast.rounds
    ]
