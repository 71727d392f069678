"""Link shaping in user space: loss, delay, jitter, reordering and a rate, from seeded draws.

This kernel has no ``netem``, so link faults are applied by the *sender* of each link, on the
datagrams of a real WebRTC connection (:func:`rlnc_testbed.transport.ice.shape_datagrams`, so
SCTP really retransmits) or on the messages of a memory link
(:class:`~rlnc_testbed.transport.memory.MemoryNetwork`, where a lost message stays lost).

A :class:`LinkShape` says what a link does; a :class:`Shaper` applies one to a stream of
datagrams, sans-I/O: :meth:`Shaper.push` decides the fate of one datagram at a given time and
queues it, :meth:`Shaper.pop_due` hands out what may leave by then, :meth:`Shaper.next_due`
says when to look again. :class:`ShapedLink` is the asyncio pump around it (one timer).

Every random decision comes from the ``draws`` collaborator (:class:`Draws`: anything with
``below(n)``; ``rlnc_testbed.protocol.draws.DrawStream`` is one), never from time or arrival
order. Datagram ``i`` (counted from 0 per shaper) makes exactly three draws, always, in this
order, whatever the shape:

1. loss: dropped iff ``below(1_000_000) < round(loss * 1_000_000)``;
2. jitter: ``below(round(jitter * 1_000_000) + 1)`` extra microseconds of delay;
3. reorder: held back iff ``below(1_000_000) < round(reorder * 1_000_000)`` (and not dropped).

So for a given stream the same datagram indices are dropped, delayed and held, and changing one
knob does not shift the others' draws. Shapes that need no randomness (probabilities 0 or 1, no
jitter) may go without ``draws``. Only ``OVERFLOW`` (the bounded queue is full) depends on
timing.

Timing: a datagram leaves at ``max(now, link free) + size / rate`` (when ``rate`` is set), plus
``delay`` and its jitter, but never before the datagram pushed before it: delay and jitter keep
the order; only the reorder draw reorders. A held datagram goes out right after the next
``reorder_gap`` datagrams that are not held, or ``hold_limit`` seconds after its own time,
whichever is first.
"""

from __future__ import annotations

import asyncio
import enum
import math
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "PPM",
    "Datagram",
    "Decision",
    "Draws",
    "Fate",
    "LinkShape",
    "ShapedLink",
    "Shaper",
    "ShapingStats",
    "Sink",
]

#: Probabilities are drawn as integers out of this many (parts per million).
PPM = 1_000_000

#: Where a datagram goes once it may leave.
Sink = Callable[[bytes], None]
#: What a shaper queues: the bytes and their sink.
Datagram = tuple[Sink, bytes]


@runtime_checkable
class Draws(Protocol):
    """A seeded source of bounded integers (``protocol.draws.DrawStream`` is one)."""

    def below(self, n: int) -> int:
        """A uniform integer in ``[0, n)``."""
        ...


def _probability(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return float(value)


def _seconds(name: str, value: object, *, positive: bool = False) -> float:
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (value > 0.0 if positive else value >= 0.0)
    ):
        return float(value)
    bound = "> 0" if positive else ">= 0"
    raise ValueError(f"{name} must be a number of seconds {bound}, got {value!r}")


def _count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return value


@dataclass(frozen=True)
class LinkShape:
    """What one direction of a link does to the datagrams (or messages) sent over it."""

    #: Probability that a datagram is dropped.
    loss: float = 0.0
    #: Constant one-way delay, seconds.
    delay: float = 0.0
    #: Extra delay drawn uniformly from ``[0, jitter]`` seconds (microsecond steps); keeps order.
    jitter: float = 0.0
    #: Probability that a datagram is held back and overtaken by later ones.
    reorder: float = 0.0
    #: How many later datagrams overtake a held one.
    reorder_gap: int = 1
    #: A held datagram leaves at most this many seconds after its own time.
    hold_limit: float = 0.05
    #: Bytes per second the link carries (None: no limit).
    rate: float | None = None
    #: Most datagrams waiting in the shaper (delayed or held); more are dropped as OVERFLOW.
    queue: int = 65_536

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "loss", _probability("loss", self.loss))
        set_(self, "delay", _seconds("delay", self.delay))
        set_(self, "jitter", _seconds("jitter", self.jitter))
        set_(self, "reorder", _probability("reorder", self.reorder))
        set_(self, "reorder_gap", _count("reorder_gap", self.reorder_gap))
        set_(self, "hold_limit", _seconds("hold_limit", self.hold_limit, positive=True))
        if self.rate is not None:
            rate = self.rate
            if (
                isinstance(rate, bool)
                or not isinstance(rate, int | float)
                or not math.isfinite(rate)
                or rate <= 0
            ):
                raise ValueError(f"rate must be bytes per second > 0 or None, got {rate!r}")
            set_(self, "rate", float(rate))
        set_(self, "queue", _count("queue", self.queue))

    @property
    def loss_ppm(self) -> int:
        return round(self.loss * PPM)

    @property
    def reorder_ppm(self) -> int:
        return round(self.reorder * PPM)

    @property
    def jitter_us(self) -> int:
        return round(self.jitter * PPM)

    @property
    def random(self) -> bool:
        """True if the shape needs draws (a probability strictly between 0 and 1, or jitter)."""
        return 0 < self.loss_ppm < PPM or 0 < self.reorder_ppm < PPM or self.jitter_us > 0

    @property
    def identity(self) -> bool:
        """True if the shape changes nothing (the default ``LinkShape()``)."""
        return (
            self.loss_ppm == 0
            and self.reorder_ppm == 0
            and self.jitter_us == 0
            and self.delay == 0.0
            and self.rate is None
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Fate(enum.Enum):
    """What a shaper did with one datagram."""

    SEND = "send"  # queued in order (possibly delayed)
    DROP = "drop"  # lost by the loss draw
    HOLD = "hold"  # held back, later datagrams overtake it
    OVERFLOW = "overflow"  # the shaper's queue was full


@dataclass(frozen=True, slots=True)
class Decision:
    """The fate of datagram ``index`` (pushed at time ``at``, ``size`` bytes)."""

    index: int
    size: int
    at: float
    fate: Fate
    #: When it is due to leave (for HOLD: its time before holding; None if dropped).
    due: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "size": self.size,
            "at": self.at,
            "fate": self.fate.value,
            "due": self.due,
        }


@dataclass
class ShapingStats:
    """Counters of one shaper."""

    datagrams: int = 0
    bytes: int = 0
    dropped: int = 0
    overflowed: int = 0
    held: int = 0
    #: Datagrams that left later than pushed (delay, jitter, rate or holding).
    delayed: int = 0
    #: Datagrams handed out by :meth:`Shaper.pop_due`.
    released: int = 0
    #: Control items (e.g. a memory channel's close) passed through in order.
    controls: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass
class _Held:
    remaining: int
    deadline: float
    item: Datagram


class Shaper:
    """Applies a :class:`LinkShape` to a stream of datagrams, sans-I/O (times passed in)."""

    def __init__(
        self,
        shape: LinkShape,
        *,
        draws: Draws | None = None,
        on_decision: Callable[[Decision], None] | None = None,
    ) -> None:
        if draws is not None and not callable(getattr(draws, "below", None)):
            raise TypeError(f"draws must have a below(n) method, got {type(draws).__name__}")
        self._draws = draws
        self.shape = shape
        self.on_decision = on_decision
        self.stats = ShapingStats()
        self._index = 0
        self._queue: deque[tuple[float, Datagram, bool]] = deque()  # (due, item, control)
        self._held: list[_Held] = []
        self._last_due = -math.inf
        self._free_at = -math.inf

    @property
    def shape(self) -> LinkShape:
        return self._shape

    @shape.setter
    def shape(self, shape: LinkShape) -> None:
        """Change the shape; applies to datagrams pushed from now on."""
        if not isinstance(shape, LinkShape):
            raise TypeError(f"shape must be a LinkShape, got {type(shape).__name__}")
        if shape.random and self._draws is None:
            raise ValueError(
                f"shape {shape} makes random decisions: pass draws= (e.g. a DrawStream)"
            )
        self._shape = shape

    @property
    def pending(self) -> int:
        """Datagrams waiting in the shaper (queued or held)."""
        return len(self._queue) + len(self._held)

    def _below(self, n: int) -> int:
        return 0 if self._draws is None else int(self._draws.below(n))

    def push(self, item: Datagram, size: int, now: float) -> Decision:
        """Decide the fate of the next datagram (pushed at ``now``) and queue it."""
        shape = self._shape
        self._expire(now)
        index = self._index
        self._index += 1
        # The three draws, always, in the specified order.
        lost = self._below(PPM) < shape.loss_ppm
        extra = self._below(shape.jitter_us + 1) / PPM
        held = self._below(PPM) < shape.reorder_ppm
        self.stats.datagrams += 1
        self.stats.bytes += size
        due: float | None = None
        if lost:
            fate = Fate.DROP
            self.stats.dropped += 1
        elif self.pending >= shape.queue:
            fate = Fate.OVERFLOW
            self.stats.overflowed += 1
        else:
            start = now
            if shape.rate is not None:
                self._free_at = max(now, self._free_at) + size / shape.rate
                start = self._free_at
            due = max(start + shape.delay + extra, self._last_due)
            if due > now or held:
                self.stats.delayed += 1
            if held:
                fate = Fate.HOLD
                self.stats.held += 1
                self._held.append(_Held(shape.reorder_gap, due + shape.hold_limit, item))
            else:
                fate = Fate.SEND
                self._enqueue(due, item)
                self._overtaken(due)
        decision = Decision(index, size, now, fate, due)
        if self.on_decision is not None:
            self.on_decision(decision)
        return decision

    def push_control(self, item: Datagram, now: float) -> None:
        """Queue a control item behind everything pushed so far: no draws, never lost.

        Held datagrams go out before it (e.g. a channel's close never overtakes its data).
        """
        self._expire(now)
        due = now + self._shape.delay
        for held in self._held:
            self._enqueue(due, held.item)
        self._held.clear()
        self._enqueue(due, item, control=True)
        self.stats.controls += 1

    def _enqueue(self, due: float, item: Datagram, *, control: bool = False) -> None:
        due = max(due, self._last_due)
        self._last_due = due
        self._queue.append((due, item, control))

    def _overtaken(self, due: float) -> None:
        """A datagram was queued: held ones it completes the gap of go right after it."""
        if not self._held:
            return
        still = []
        for held in self._held:
            held.remaining -= 1
            if held.remaining <= 0:
                self._enqueue(due, held.item)
            else:
                still.append(held)
        self._held = still

    def _expire(self, now: float) -> None:
        """Held datagrams past their hold limit go out (in the order they were held)."""
        if self._held and any(h.deadline <= now for h in self._held):
            still = []
            for held in self._held:
                if held.deadline <= now:
                    self._enqueue(held.deadline, held.item)
                else:
                    still.append(held)
            self._held = still

    def next_due(self) -> float | None:
        """When something may next leave (None: nothing waits)."""
        times = [h.deadline for h in self._held]
        if self._queue:
            times.append(self._queue[0][0])
        return min(times) if times else None

    def horizon(self) -> float | None:
        """When everything waiting now will have left (None: nothing waits)."""
        times = [h.deadline for h in self._held]
        if self._queue:
            times.append(self._queue[-1][0])
        return max(times) if times else None

    def pop_due(self, now: float) -> list[Datagram]:
        """The datagrams that may leave by ``now``, in order."""
        self._expire(now)
        out = []
        while self._queue and self._queue[0][0] <= now:
            _, item, control = self._queue.popleft()
            out.append(item)
            self.stats.released += not control
        return out

    def clear(self) -> None:
        """Forget everything waiting (the link is gone)."""
        self._queue.clear()
        self._held.clear()


@dataclass
class ShapedLink:
    """The asyncio pump of one :class:`Shaper`: delivers on time with one loop timer."""

    shaper: Shaper
    _timer: asyncio.TimerHandle | None = field(default=None, init=False, repr=False)
    _closed: bool = field(default=False, init=False, repr=False)

    def send(self, sink: Sink, data: bytes) -> Decision:
        """Push one datagram; whatever is due now is delivered before this returns."""
        loop = asyncio.get_running_loop()
        decision = self.shaper.push((sink, data), len(data), loop.time())
        if self._closed:
            self.shaper.clear()  # the link is gone: nothing leaves any more
        else:
            self._release(loop, loop.time())
        return decision

    def send_control(self, sink: Sink, data: bytes = b"") -> None:
        """Push a control item (in order, never lost)."""
        loop = asyncio.get_running_loop()
        self.shaper.push_control((sink, data), loop.time())
        self._release(loop, loop.time())

    def _release(self, loop: asyncio.AbstractEventLoop, now: float) -> None:
        if self._closed:
            return
        for sink, data in self.shaper.pop_due(now):
            sink(data)
        due = self.shaper.next_due()
        if due is None:
            return
        timer = self._timer
        if timer is not None and not timer.cancelled() and timer.when() <= due:
            return
        if timer is not None:
            timer.cancel()
        self._timer = loop.call_at(due, self._on_timer, loop, due)

    def _on_timer(self, loop: asyncio.AbstractEventLoop, due: float) -> None:
        self._timer = None
        self._release(loop, max(loop.time(), due))

    async def drain(self) -> None:
        """Wait until what waits now has left, e.g. before closing a socket (caller bounds it).

        Later datagrams are not waited for, so steady traffic cannot hold this up.
        """
        loop = asyncio.get_running_loop()
        horizon = self.shaper.horizon()
        while not self._closed and horizon is not None and loop.time() < horizon:
            await asyncio.sleep(horizon - loop.time())
        await asyncio.sleep(0)  # let a timer due at the horizon run

    @property
    def idle(self) -> bool:
        """True when nothing waits to be delivered."""
        return self.shaper.pending == 0

    def close(self) -> None:
        """Stop: cancel the timer and forget what waits (idempotent)."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.shaper.clear()
