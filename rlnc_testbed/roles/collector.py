"""The collector: receives the source once, then each round exactly the batches of the peers the
server says are alive; checks every packet against the source, decodes, verifies byte for byte
and by SHA-256, and tells the server 'nextRound' or 'end'.

Membership is the server's: a ``judge {round, alive, newcomer}`` message names who must
deliver in which round. A batch from anyone else (a failed peer that keeps sending, an unknown
id), for another round, a second batch from the same sender, or a batch larger than a peer can
hold (Q) is refused, counted and listed in the round's report - never judged. Everything the
report says (ranks, packet counts, digests) is the collector's own observation.

Every delivered packet is checked against the source; so is the round's newcomer's
``provenance`` batch (what each parent uploaded to it). The report's ``polluters`` names who
polluted: a sender other than the newcomer whose delivered packets are polluted; a parent whose
upload (as the newcomer recorded it) is polluted; and the newcomer itself when its delivered
packets are polluted but its provenance is clean or missing, or they are not exactly what the
rules make of its provenance (docs/protocol.md §5).

Judging scales with the run: each batch's own figures (digest, rank, which packets are
polluted) are computed as it arrives, while other peers are still sending; and above
:data:`DECODE_LIMIT` symbols the round is judged by the rank of the clean packets' coefficients
(blocked elimination on the fast GF(2^8) product, :func:`blocked_rank`) instead of a per-packet
decoder - the same verdict, since every judged packet was checked to be its coefficients applied
to the source: full rank means the unique solution is the source, byte for byte.

Each peer's share of the global rank is in the report too: ``ranks`` (the rank of its own
delivered packets) and ``contributions`` (how much its clean packets raise the rank when the
senders are taken in ascending id order, the order the decoder takes them; they add up to
``global_rank``). Both paths get them for free: the decoder's rank before and after each
sender, or :func:`blocked_pivots` - the rows that are innovative in order - counted per sender.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import wire
from ..coding import GF256_INV, GF256_MUL, CodedPacket, DecodeError, Decoder, matmul, rank
from ..protocol.draws import Role, stream_for
from ..protocol.messages import ENGINE_ID, MAX_MESSAGE_BYTES, MAX_TEXT
from ..protocol.records import stored_digest, verdict_of
from ..protocol.rounds import Phase, phase_deadline_units
from ..protocol.rules import newcomer_keep
from ..timeouts import unit
from .node import Node, _counters, _link
from .streams import MessageReader

__all__ = ["DECODE_LIMIT", "JUDGE_WAIT_UNITS", "Collector", "blocked_pivots", "blocked_rank"]

#: How long a batch for a round not yet announced by ``judge`` waits for the announcement, at
#: least; the wait is the COLLECTING phase's deadline when that is longer (it grows with N).
JUDGE_WAIT_UNITS = 2.0
#: Rounds with at most this many symbols are judged by decoding (:class:`Decoder`, O(k^2) per
#: packet); larger ones by :func:`blocked_rank` of the clean coefficients (the same verdict).
DECODE_LIMIT = 512
#: Column block of :func:`blocked_rank`, and rows reduced at once while finding a block's pivots.
_BLOCK = 64
_CHUNK = 128
#: Rows beyond k in the prefix that :func:`blocked_pivots` tries alone first.
_PREFIX_SLACK = 64


@dataclass(frozen=True)
class _Delivery:
    """One sender's batch as judged on arrival: digest, rank, which packets are polluted."""

    digest: str
    rank: int
    bad: np.ndarray


@dataclass
class _Round:
    """What the collector knows of one round."""

    alive: frozenset[str] = frozenset()
    newcomer: str = ""
    announced: asyncio.Event = field(default_factory=asyncio.Event)
    batches: dict[str, list[CodedPacket]] = field(default_factory=dict)
    #: sender -> its batch's figures, computed on arrival (see :meth:`Collector._delivery`).
    figures: dict[str, _Delivery] = field(default_factory=dict)
    links: list[dict[str, Any]] = field(default_factory=list)
    judged: bool = False
    #: The newcomer's provenance: parent id -> the packets it says that parent uploaded.
    provenance: dict[str, list[CodedPacket]] | None = None


class Collector(Node):
    """Gathers the packets of every alive peer per round and judges retrieval."""

    role = "collector"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.source: bytes | None = None
        self._symbols: np.ndarray | None = None
        self._rounds: dict[int, _Round] = {}
        self._latest = 0  # the latest round announced
        self._lock = asyncio.Lock()

    # -- membership ------------------------------------------------------------------------

    async def on_judge(self, msg: dict[str, Any]) -> None:
        """The server names who is alive in ``round`` (and which one is the newcomer)."""
        number = int(msg["round"])
        if number <= self._latest:
            self.log.warning("collector: judge for round %d after round %d", number, self._latest)
            return
        self._latest = number
        for old in [r for r in self._rounds if r < number]:
            del self._rounds[old]
        state = self._rounds.setdefault(number, _Round())
        state.alive = frozenset(str(x) for x in msg["alive"])
        state.newcomer = str(msg["newcomer"])
        state.announced.set()
        async with self._lock:
            for sender in [s for s in state.batches if s not in state.alive]:
                del state.batches[sender]
                state.figures.pop(sender, None)
                self._refuse(number, sender, f"not alive in round {number}")
            await self._judge_if_complete(number, state)

    def _refuse(self, round: int, sender: str, reason: str) -> None:
        """Count a refused batch and tell the server at once (the round may yet time out)."""
        self.rejected += 1
        self.log.warning("collector: refused a batch of %s for round %d: %s", sender, round, reason)
        report = self.report("refused", round=round, sender=sender, reason=reason[:500])
        self._spawn(self._guarded(report, "report a refusal"))

    # -- batches ---------------------------------------------------------------------------

    async def on_channel(self, hello: wire.Hello, reader: MessageReader) -> int:
        if hello.purpose == "source" and hello.sender == ENGINE_ID:
            return await self._receive_source(reader)
        if hello.purpose == "provenance" and hello.sender.isdigit():
            return await self._receive_provenance(hello, reader)
        if hello.purpose != "collect" or not hello.sender.isdigit():
            return await super().on_channel(hello, reader)
        number, sender = hello.round, hello.sender
        before = _counters(reader.channel)
        try:
            messages = await self.read_packets(reader, limit=self.p.per_peer)
        except wire.WireError as exc:
            self._refuse(number, sender, str(exc))
            raise
        link = _link(reader.channel, before)
        state = await self._announced(number)
        reason = self._refusal(number, sender, state)
        async with self._lock:
            if state is not None and reason is None and sender in state.batches:
                reason = f"a second batch for round {number}"
            if state is None or reason is not None:
                self._refuse(number, sender, reason or f"round {number} is not announced")
                return 0
            batch = [m.packet for m in messages]
            state.batches[sender] = batch
            state.figures[sender] = self._delivery(batch)
            state.links.append(link)
            await self._judge_if_complete(number, state)
        return len(messages)

    async def _receive_provenance(self, hello: wire.Hello, reader: MessageReader) -> int:
        """The newcomer's record of its parents' uploads (each packet's ``generation`` is the
        parent's id): at most P x beta packets, one batch, from the round's newcomer, naming
        only alive peers, before the round is judged. Anything else is refused."""
        number, sender = hello.round, hello.sender
        p = self.p
        before = _counters(reader.channel)
        try:
            messages = await self.read_packets(reader, limit=p.parents * p.upload)
        except wire.WireError as exc:
            self._refuse(number, sender, f"provenance: {exc}")
            raise
        link = _link(reader.channel, before)
        link["label"] = f"provenance-{number}"
        state = await self._announced(number)
        reason = self._refusal(number, sender, state)
        async with self._lock:
            if state is not None and reason is None:
                if sender != state.newcomer:
                    reason = f"provenance from {sender}, not the newcomer of round {number}"
                elif state.provenance is not None:
                    reason = f"a second provenance batch for round {number}"
                else:
                    named = {str(m.generation) for m in messages}
                    strangers = sorted(named - (state.alive - {sender}), key=int)
                    if strangers:
                        reason = f"provenance names {', '.join(strangers)}, not alive parents"
            if state is None or reason is not None:
                self._refuse(number, sender, reason or f"round {number} is not announced")
                return 0
            uploads: dict[str, list[CodedPacket]] = {}
            for m in messages:
                uploads.setdefault(str(m.generation), []).append(m.packet)
            state.provenance = uploads
            state.links.append(link)
        return len(messages)

    async def _announced(self, number: int) -> _Round | None:
        """The round's membership, waiting (bounded) for a ``judge`` not yet arrived."""
        if number < self._latest or number > self._latest + 1:
            return None
        state = self._rounds.setdefault(number, _Round())
        if not state.announced.is_set():
            wait = max(JUDGE_WAIT_UNITS, phase_deadline_units(Phase.COLLECTING, self.p))
            try:
                async with asyncio.timeout(wait * unit()):
                    await state.announced.wait()
            except TimeoutError:
                return None
        return state

    def _refusal(self, number: int, sender: str, state: _Round | None) -> str | None:
        if state is None:
            return f"round {number} is not the current round ({self._latest})"
        if state.judged:
            return f"round {number} was already judged"
        if sender not in state.alive:
            return f"not alive in round {number}"
        return None

    async def _receive_source(self, reader: MessageReader) -> int:
        parts: dict[int, bytes] = {}
        total = digest = None
        while True:
            msg = await reader.next()
            if isinstance(msg, wire.Done):
                break
            if not isinstance(msg, wire.SourceChunk):
                self.rejected += 1
                continue
            total, digest = msg.total, msg.sha256
            parts[msg.offset] = msg.data
        data = b"".join(parts[k] for k in sorted(parts))
        if total is None or len(data) != total or hashlib.sha256(data).digest() != digest:
            raise wire.WireError("sha256", 0, "source does not match its length or SHA-256")
        p = self.p
        if len(data) > p.symbols * p.symbol_size:
            raise wire.WireError("total", 0, f"source of {len(data)} bytes exceeds k * s")
        padded = np.zeros(p.symbols * p.symbol_size, dtype=np.uint8)
        padded[: len(data)] = np.frombuffer(data, dtype=np.uint8)
        self._symbols = padded.reshape(p.symbols, p.symbol_size)
        self.source = data
        await self.report("stored", round=0, count=len(data), rank=0)
        return len(parts)

    # -- judging ---------------------------------------------------------------------------

    async def _judge_if_complete(self, number: int, state: _Round) -> None:
        if state.judged or not state.announced.is_set() or set(state.batches) != state.alive:
            return
        state.judged = True
        await self._judge(number, state)

    def _polluted(self, packets: list[CodedPacket]) -> np.ndarray:
        """Which packets' payloads are not their coefficients applied to the source."""
        assert self._symbols is not None, "collector has no source to verify against"
        if not packets:
            return np.zeros(0, dtype=bool)
        coefficients = np.stack([pk.coefficients for pk in packets])
        payloads = np.stack([pk.payload for pk in packets])
        # GF(2) coefficients are 0/1 elements of GF(2^8): one product serves both fields.
        expected = matmul(coefficients, self._symbols, 256)
        return ~np.all(expected == payloads, axis=1)

    def _delivery(self, batch: list[CodedPacket]) -> _Delivery:
        """A batch's own figures, computed once as it arrives (while others still send)."""
        return _Delivery(stored_digest(batch), _rank(batch, self.p.field), self._polluted(batch))

    async def _judge(self, number: int, state: _Round) -> None:
        p = self.p
        assert self.source is not None, "collector has no source to verify against"
        packets = 0
        stored: dict[str, str] = {}
        polluted: dict[str, int] = {}
        delivered: dict[str, int] = {}
        ranks: dict[str, int] = {}
        # Senders in ascending id order (the decoding order), each with its clean packets.
        senders = sorted(state.batches, key=int)
        clean_of: dict[str, list[CodedPacket]] = {}
        for sender in senders:
            batch = state.batches[sender]
            figures = state.figures.get(sender) or self._delivery(batch)
            stored[sender] = figures.digest
            delivered[sender] = len(batch)
            ranks[sender] = figures.rank
            if figures.bad.any():
                polluted[sender] = int(figures.bad.sum())
            packets += len(batch)
            clean_of[sender] = [
                pk for pk, is_bad in zip(batch, figures.bad, strict=True) if not is_bad
            ]
        clean = [pk for sender in senders for pk in clean_of[sender]]
        # sender -> the rank its clean packets add after every lower id's (sum: global rank).
        contributions: dict[str, int] = {}
        verified = False
        error = ""
        if p.symbols <= DECODE_LIMIT:
            decoder = Decoder(
                symbols=p.symbols,
                symbol_size=p.symbol_size,
                field=p.field,
                data_length=len(self.source),
            )
            for sender in senders:
                before = decoder.rank
                for packet in clean_of[sender]:
                    decoder.consume(packet)
                contributions[sender] = decoder.rank - before
            global_rank, decoded = decoder.rank, decoder.is_complete
            if decoded and not polluted:
                try:
                    data = decoder.recover()
                except DecodeError as exc:  # pragma: no cover - is_complete guards this
                    error = str(exc)
                else:
                    verified = (
                        data == self.source
                        and hashlib.sha256(data).digest() == hashlib.sha256(self.source).digest()
                    )
        else:
            coefficients = (
                np.stack([pk.coefficients for pk in clean])
                if clean
                else np.zeros((0, p.symbols), dtype=np.uint8)
            )
            pivots = blocked_pivots(coefficients)
            sizes = np.array([len(clean_of[x]) for x in senders], dtype=np.intp)
            owner = np.repeat(np.arange(len(senders)), sizes)
            counts = np.bincount(owner[pivots], minlength=len(senders))
            contributions = {x: int(c) for x, c in zip(senders, counts, strict=True)}
            global_rank = len(pivots)
            decoded = global_rank == p.symbols
            # Every clean packet is its coefficients applied to the source: at full rank the
            # only data they decode to is the source itself.
            verified = decoded and not polluted
        verdict = "corrupt" if polluted else verdict_of(decoded, verified)
        polluters, evidence = self._polluters(number, state, polluted)
        if polluted or evidence:
            parts = []
            if polluted:
                parts.append(
                    "packets that do not match their coefficients from "
                    + ", ".join(f"{sender} ({count})" for sender, count in polluted.items())
                )
            error = "; ".join(parts + evidence)
        report = {
            "global_rank": global_rank,
            "decoded": decoded,
            "verified": verified,
            "verdict": verdict,
            "packets": packets,
            "rejected": self.rejected,
            "error": error,
            "links": list(state.links),
            "stored": stored,
            "polluted": polluted,
            "polluters": polluters,
            "delivered": delivered,
            "ranks": ranks,
            "contributions": contributions,
        }
        await self.report("collected", round=number, report=_fit(number, report, self.log))
        if verified:
            await self.report("nextRound", round=number)
        else:
            await self.report("end", round=number, reason=verdict)
        state.batches.clear()
        state.figures.clear()
        state.provenance = None

    def _polluters(
        self, number: int, state: _Round, polluted: dict[str, int]
    ) -> tuple[list[str], list[str]]:
        """Who polluted round ``number``, and the evidence (one sentence each).

        * A sender other than the newcomer is named for its own polluted packets.
        * A parent is named when its upload, as the newcomer's provenance shows it, is
          polluted - even if the newcomer kept nothing of it (the stored data is intact then).
        * The newcomer is named when its delivered packets are polluted and its provenance is
          missing, or is not what the rules (§6.3, NEWCOMER stream) make of it: an honest
          newcomer delivers exactly ``newcomer_keep(provenance)``, so polluted packets that
          equal it are its parents' doing, and any others its own.
        """
        newcomer = state.newcomer
        names = {sender for sender in polluted if sender != newcomer}
        evidence = []
        provenance = state.provenance
        bad: dict[str, tuple[int, int]] = {}  # parent -> (polluted, received)
        for parent, packets in sorted((provenance or {}).items(), key=lambda kv: int(kv[0])):
            count = int(self._polluted(packets).sum())
            if count:
                bad[parent] = (count, len(packets))
        # Only a polluted newcomer needs the recoding check (a recode per round saved).
        recoded = newcomer in polluted and provenance is not None and self._recoded(number, state)
        if bad:
            names |= set(bad)
            uploads = ", ".join(f"{x} ({count} of {total})" for x, (count, total) in bad.items())
            if newcomer not in polluted:
                how = "kept none of them"
            elif recoded:
                how = "recoded them as specified"
            else:
                how = "did not store what its provenance makes"
            evidence.append(
                f"newcomer {newcomer}'s provenance shows polluted uploads from parent "
                f"{uploads}; the newcomer {how}"
            )
        if newcomer in polluted and not (bad and recoded):
            names.add(newcomer)
            if provenance is None:
                evidence.append(f"newcomer {newcomer} delivered polluted packets, no provenance")
            else:
                received = sum(len(b) for b in provenance.values())
                clean = "" if bad else "clean "
                evidence.append(
                    f"newcomer {newcomer} delivered polluted packets that are not what the "
                    f"rules make of its {clean}provenance ({received} packets from "
                    f"{len(provenance)} parents)"
                )
        return sorted(names, key=int), evidence

    def _recoded(self, number: int, state: _Round) -> bool:
        """Whether the newcomer delivered exactly what §6.3 makes of its provenance."""
        p = self.p
        provenance = state.provenance or {}
        received = [provenance[x] for x in sorted(provenance, key=int)]
        stream = stream_for(p.seed, self.trial, number, Role.NEWCOMER)
        try:
            kept = newcomer_keep(
                p.scheme, received, p.per_peer, field=p.field, keep=p.keep, stream=stream
            )
        except ValueError:  # e.g. a malformed packet the coder refuses: not as specified
            return False
        delivered = state.batches.get(state.newcomer, [])
        return stored_digest(kept) == stored_digest(delivered)


def _rank(packets: list[CodedPacket], field: int) -> int:
    """Rank of the packets' coefficient vectors (what a sender's delivery is worth)."""
    return int(rank(np.stack([pk.coefficients for pk in packets]), field)) if packets else 0


#: Bytes left for the rest of a ``collected`` message around its report.
_ENVELOPE = 256
#: The link ``info`` entries a compacted report keeps.
_COMPACT_INFO = ("setup_seconds", "accepted")


def _fit(number: int, report: dict[str, Any], log: Any) -> dict[str, Any]:
    """The report, made to fit one signaling message (``MAX_MESSAGE_BYTES``).

    A round of a thousand peers has a thousand collect link records (~400 bytes each): past
    the limit they first lose their transport ``info`` (but ``setup_seconds`` and
    ``accepted``), then the last ones are left out, and the report's ``error`` says how many
    (the collector's own ``links`` keeps them all). Everything else is kept."""
    budget = MAX_MESSAGE_BYTES - _ENVELOPE

    def size(candidate: dict[str, Any]) -> int:
        return len(json.dumps(candidate, separators=(",", ":")))

    if size(report) <= budget:
        return report
    links = [
        {**link, "info": {k: v for k, v in link["info"].items() if k in _COMPACT_INFO}}
        for link in report["links"]
    ]
    fitted = {**report, "links": links}
    if size(fitted) <= budget:
        return fitted
    each = max(1, size({"links": links}) // max(1, len(links)))
    keep = max(0, len(links) - (size(fitted) - budget) // each - 1)
    while keep and size({**fitted, "links": links[:keep]}) > budget:
        keep = keep * 9 // 10
    dropped = len(links) - keep
    note = f"{dropped} of {len(links)} link records left out of the report (message size)"
    log.warning("collector: round %d: %s", number, note)
    error = "; ".join(part for part in (note, report.get("error", "")) if part)
    return {**fitted, "links": links[:keep], "error": error[:MAX_TEXT]}


def blocked_rank(matrix: np.ndarray) -> int:
    """Rank of a uint8 (m, k) matrix over GF(2^8) (so also of a 0/1 matrix over GF(2): rank
    does not change in an extension field), by block elimination (:func:`blocked_pivots`)."""
    return len(blocked_pivots(matrix))


def blocked_pivots(matrix: np.ndarray) -> np.ndarray:
    """The rows of a uint8 (m, k) matrix over GF(2^8) (or a 0/1 one over GF(2)) that are
    innovative in row order, as ascending indices (see :func:`_blocked_pivots`).

    A shortcut first when m is well above k: the first k + :data:`_PREFIX_SLACK` rows alone.
    Whether a row is innovative depends only on the rows before it, so the prefix's pivots
    are the whole matrix's pivots among those rows; if they number k (full column rank), no
    later row can be innovative, and they are the answer. A round's batches (r k packets, in
    ascending peer order) are mostly so, and the prefix takes ~0.36 s where the 4,000 x 2,000
    whole takes ~0.5 s here. Otherwise the whole matrix is eliminated as before."""
    rows, columns = matrix.shape
    head = columns + _PREFIX_SLACK
    if columns and rows > head:
        first = _blocked_pivots(matrix[:head])
        if len(first) == columns:
            return first
    return _blocked_pivots(matrix)


def _blocked_pivots(matrix: np.ndarray) -> np.ndarray:
    """:func:`blocked_pivots` of the whole matrix: row i is innovative iff it is not in the
    span of rows 0 .. i-1; there are rank(matrix) of them, and the rows of any prefix
    0 .. j-1 among them number rank(matrix[:j]).

    Columns go in blocks of :data:`_BLOCK`: a block's pivot rows are found by a small
    elimination (:func:`_block_pivots`), every other row is cleared on the block with one
    product ``X = rows[:, pivot columns] B^-1`` and the rest of the matrix updated with one
    more, ``rest ^= X pivots`` - the O(m k^2) work runs in the fast GF(2^8) product instead of a
    scalar loop (4,000 x 2,000 in ~0.5 s here, against ~7 s packet by packet).

    Why the pivots are the rows innovative in order: a block's pivots are the rows whose part
    on the block is not spanned by the parts of earlier rows (the small elimination takes rows
    in order); every other row's part is spanned by *earlier* pivots only, so clearing it
    subtracts earlier rows, and the rows left (in order) go on to the next block unchanged in
    what they add to their predecessors' span. Tracking the original index of every row left
    costs nothing measurable."""
    work = np.ascontiguousarray(matrix, dtype=np.uint8)
    index = np.arange(work.shape[0])
    found: list[np.ndarray] = []
    while work.shape[0] and work.shape[1]:
        width = min(_BLOCK, work.shape[1])
        rows, cols = _block_pivots(work[:, :width])
        if not rows:
            work = work[:, width:]
            continue
        found.append(index[rows])
        others = np.ones(work.shape[0], dtype=bool)
        others[rows] = False
        pivots, rest = work[rows], work[others]
        if not rest.shape[0] or work.shape[1] == width:
            break
        index = index[others]
        x = matmul(rest[:, cols], _inverse(pivots[:, cols]), 256)
        work = rest[:, width:] ^ matmul(x, pivots[:, width:], 256)
    return np.sort(np.concatenate(found)) if found else np.zeros(0, dtype=np.intp)


def _eliminate(rows: np.ndarray, column: int, pivot: np.ndarray) -> None:
    """Clear ``column`` in every row of ``rows`` (in place) with the normalized ``pivot``."""
    factors = rows[:, column]
    hit = np.flatnonzero(factors)
    if hit.size:
        rows[hit] ^= GF256_MUL[factors[hit, None], pivot[None, :]]


def _block_pivots(block: np.ndarray) -> tuple[list[int], list[int]]:
    """A maximal set of independent rows of ``block`` (m, b) and one pivot column each, such
    that ``block[rows][:, cols]`` is invertible. Rows are reduced :data:`_CHUNK` at a time
    against the pivots found so far; a dense block stops after about b rows."""
    m, width = block.shape
    rows: list[int] = []
    cols: list[int] = []
    basis = np.zeros((0, width), dtype=np.uint8)
    for start in range(0, m, _CHUNK):
        if len(rows) == width:
            break
        chunk = block[start : start + _CHUNK].copy()
        for i, column in enumerate(cols):
            _eliminate(chunk, column, basis[i])
        for t in np.flatnonzero(chunk.any(axis=1)):
            row = chunk[t]
            nonzero = np.flatnonzero(row)
            if not nonzero.size:
                continue
            lead = int(nonzero[0])
            row = GF256_MUL[GF256_INV[row[lead]], row]
            _eliminate(basis, lead, row)
            _eliminate(chunk[t + 1 :], lead, row)
            basis = np.vstack([basis, row])
            rows.append(start + int(t))
            cols.append(lead)
            if len(rows) == width:
                break
    return rows, cols


def _inverse(square: np.ndarray) -> np.ndarray:
    """Inverse of an invertible uint8 (n, n) matrix over GF(2^8) (Gauss-Jordan)."""
    n = square.shape[0]
    work = np.concatenate([square, np.eye(n, dtype=np.uint8)], axis=1)
    for j in range(n):
        p = j + int(np.flatnonzero(work[j:, j])[0])
        if p != j:
            work[[j, p]] = work[[p, j]]
        work[j] = GF256_MUL[GF256_INV[work[j, j]], work[j]]
        pivot = work[j].copy()
        others = work[:, j].copy()
        others[j] = 0
        hit = np.flatnonzero(others)
        if hit.size:
            work[hit] ^= GF256_MUL[others[hit, None], pivot[None, :]]
    return work[:, n:]
