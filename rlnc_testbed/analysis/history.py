"""JSONL run history: one flushed line per event while running, read back for resume and replay.

Line 1 is ``{"event": "start", "params": ..., "version": 1, "time": ..., "transport": ...,
"provenance": ...}``: the point's parameters, the history format version, the transport the
trials run over and the :func:`~rlnc_testbed.analysis.provenance.provenance` of the run (tool
version, git commit, library versions, command line, start time); histories written before
``transport`` and ``provenance`` existed read back with them None. Each round then writes, in
this order, the events an animated dashboard replays::

    failure   {"trial", "round", "peer"}                     the peer that failed
    fault     {"trial", "round", "spec", "kind", "target",   one per scheduled fault that
               "when", "node" | "links", shape...}           happened (RoundRecord.faults)
    parents   {"trial", "round", "newcomer", "parents"}      the newcomer and its parents
    transfer  {"trial", "round", "link"}                     one per link of RoundRecord.links
    store     {"trial", "round", "newcomer", "rank", "packets", "bytes"}   repair received
    collect   {"trial", "round", "rank", "packets", "bytes", "stored",     collector, digests,
               "refused", "polluted", "polluters",           refused batches, polluters,
               "ranks", "contributions"}                     each peer's rank and share of "rank"
    verdict   {"trial", "round", "verdict", "decoded", "verified", "duration", "error",
               "disputes"}                                   claims the collector contradicts

and :class:`~rlnc_testbed.protocol.records.RoundRecord` is rebuilt from them exactly. A
finished trial writes ``{"event": "trial", ...TrialRecord.to_dict()}`` (with its ``finish``
reason and ``error`` text; a trial that ended before round 1, e.g. by ``setup-timeout``, writes
only this line), a finished point ``{"event": "point", ...PointSummary.to_dict()}``, and a
resumed run ``{"event": "resume", "params", "version", "transport", "provenance"}``. A history
is resumed only for the same parameters (``trials`` aside: a run may be extended) and the same
transport; otherwise :class:`HistoryError` names every field that differs. Lines of older
histories without the trial's ``finish`` / ``error``, the point's ``unjudged``, ``fault``
events or the collect line's ``ranks`` / ``contributions`` read back with those empty.
``ranks`` maps each alive peer's id to the rank of the packets it delivered, ``contributions``
to the rank its clean packets add when the collector takes the senders in ascending id order
(they sum to the collect line's ``rank``); both are ``{}`` where payloads are not simulated
(the sim transport). Resuming skips every trial that has a ``trial`` line,
unjudged ones included (their outcome is recorded; running them again could only contradict
it).
Every line also carries ``t``, seconds since the writer opened the file (ignored on reading).

Each line is flushed as written, so a crash loses at most the line being written: the reader
drops such a truncated last line with a :class:`HistoryWarning`; any other corrupt line is a
:class:`HistoryError` naming its line number.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from rlnc_testbed.analysis.provenance import provenance as _provenance
from rlnc_testbed.analysis.summary import PointSummary, SummaryError, merge_trials
from rlnc_testbed.protocol.params import ParameterError, Params
from rlnc_testbed.protocol.records import RoundRecord, TrialRecord

__all__ = [
    "HISTORY_VERSION",
    "ROUND_EVENTS",
    "HistoryContents",
    "HistoryError",
    "HistoryWarning",
    "HistoryWriter",
    "check_resumable",
    "completed_trials",
    "read_history",
]

HISTORY_VERSION = 1

#: Per-round events in the order written, each mapping its JSON keys to RoundRecord fields.
#: ``transfer`` is special: one line per entry of ``RoundRecord.links``, under key ``link``;
#: so is ``fault``: one line per entry of ``RoundRecord.faults``, its keys inline.
ROUND_EVENTS: tuple[tuple[str, Mapping[str, str]], ...] = (
    ("failure", {"peer": "failed"}),
    ("fault", {}),
    ("parents", {"newcomer": "newcomer", "parents": "parents"}),
    ("transfer", {}),
    (
        "store",
        {
            "newcomer": "newcomer",
            "rank": "newcomer_rank",
            "packets": "repair_packets",
            "bytes": "repair_bytes",
        },
    ),
    (
        "collect",
        {
            "rank": "global_rank",
            "packets": "collect_packets",
            "bytes": "collect_bytes",
            "stored": "stored",
            "refused": "refused",
            "polluted": "polluted",
            "polluters": "polluters",
            "ranks": "ranks",
            "contributions": "contributions",
        },
    ),
    (
        "verdict",
        {
            "verdict": "verdict",
            "decoded": "decoded",
            "verified": "verified",
            "duration": "duration",
            "error": "error",
            "disputes": "disputes",
        },
    ),
)
#: Keys an older history may lack, with (a factory of) the value they then take.
_OPTIONAL_KEYS: Mapping[str, Callable[[], Any]] = {
    "stored": dict,
    "refused": list,
    "polluted": dict,
    "polluters": list,
    "ranks": dict,
    "contributions": dict,
    "disputes": list,
}
_ROUND_NAMES = tuple(name for name, _ in ROUND_EVENTS)
_ROUND_KEYS = dict(ROUND_EVENTS)
#: Which round event may follow which (transfers repeat, zero or more).
_NEXT = {
    "failure": ("fault", "parents"),
    "fault": ("fault", "parents"),
    "parents": ("transfer", "store"),
    "transfer": ("transfer", "store"),
    "store": ("collect",),
    "collect": ("verdict",),
}
_EVENTS = ("start", "resume", "trial", "point", *_ROUND_NAMES)


class HistoryError(ValueError):
    """Raised for an unreadable or mismatched history; the message names file and line."""


class HistoryWarning(UserWarning):
    """Warned when a truncated last line (a crash while writing) is dropped."""


@dataclass
class HistoryContents:
    """Everything read back from a history file."""

    #: Parameters of the latest start or resume line.
    params: Params
    version: int
    #: Every event line in file order, as parsed JSON objects.
    events: list[dict[str, Any]]
    #: Complete rounds in file order as (trial, record); a re-run trial appears again.
    rounds: list[tuple[int, RoundRecord]]
    #: Finished trials by index (duplicates merged as by ``summary.merge_trials``).
    trials: dict[int, TrialRecord]
    points: list[PointSummary]
    #: How many times the run was resumed.
    resumes: int = 0
    #: True if a truncated last line was dropped.
    truncated: bool = False
    #: Rounds whose events stop before their verdict (cut short by a crash).
    incomplete_rounds: int = 0
    #: The transport the start line names (None in histories written before it was recorded).
    transport: str | None = None
    #: The start line's provenance (None in histories written before it was recorded).
    provenance: dict[str, Any] | None = None


class HistoryWriter:
    """Stream one JSONL line per event to ``path``, flushing each line.

    ``resume=True`` appends to an existing history written for the same parameters (``trials``
    may differ) and transport, first cutting off a truncated last line, and writes a ``resume``
    line; without an existing non-empty file it starts a new one. ``transport`` and
    ``command`` go into the start (or resume) line with the rest of the provenance; a history
    without a recorded transport resumes for any. Use as a context manager.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        params: Params,
        resume: bool = False,
        transport: str | None = None,
        command: Sequence[str] | None = None,
    ):
        if not isinstance(params, Params):
            raise TypeError(f"params must be a Params; got {type(params).__name__}")
        self.path = Path(path)
        self.params = params
        self.transport = transport
        self._t0 = time.monotonic()
        header = {
            "params": params.to_dict(),
            "version": HISTORY_VERSION,
            "transport": transport,
            "provenance": _provenance(command=command),
        }
        if resume and self.path.exists() and self.path.stat().st_size > 0:
            contents = read_history(self.path)
            _check_same(self.path, contents, params, transport)
            _repair_tail(self.path)
            self._file = self.path.open("a", encoding="utf-8")
            self._write({"event": "resume", **header})
        else:
            self._file = self.path.open("w", encoding="utf-8")
            self._write({"event": "start", **header, "time": time.time()})

    def __enter__(self) -> HistoryWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._file.closed

    def close(self) -> None:
        self._file.close()

    def round(self, trial: int, record: RoundRecord) -> None:
        """Write the failure, parents, transfer (per link), store, collect and verdict lines."""
        _check_index("trial", trial)
        if not isinstance(record, RoundRecord):
            raise TypeError(f"record must be a RoundRecord; got {type(record).__name__}")
        data = record.to_dict()
        for name, keys in ROUND_EVENTS:
            head = {"event": name, "trial": trial, "round": record.round}
            if name == "transfer":
                for link in record.links:
                    self._write({**head, "link": link})
            elif name == "fault":
                for fault in record.faults:
                    self._write({**fault, **head})
            else:
                self._write({**head, **{key: data[attr] for key, attr in keys.items()}})

    def trial(self, record: TrialRecord) -> None:
        """Write one finished trial."""
        if not isinstance(record, TrialRecord):
            raise TypeError(f"record must be a TrialRecord; got {type(record).__name__}")
        _check_index("trial", record.trial)
        self._write({"event": "trial", **record.to_dict()})

    def point(self, summary: PointSummary) -> None:
        """Write the summary of the finished point."""
        if not isinstance(summary, PointSummary):
            raise TypeError(f"summary must be a PointSummary; got {type(summary).__name__}")
        self._write({"event": "point", **summary.to_dict()})

    def _write(self, event: dict[str, Any]) -> None:
        if self._file.closed:
            raise HistoryError(f"{self.path}: history writer is closed")
        event["t"] = round(time.monotonic() - self._t0, 6)
        try:
            line = json.dumps(event, allow_nan=False, separators=(",", ":"), default=_json_default)
        except (TypeError, ValueError) as exc:
            raise HistoryError(f"cannot write {event['event']!r} event as JSON: {exc}") from None
        self._file.write(line + "\n")
        self._file.flush()


def read_history(path: str | os.PathLike[str]) -> HistoryContents:
    """Read a history file, dropping a truncated last line with a :class:`HistoryWarning`."""
    path = Path(path)
    raw = path.read_bytes()
    pieces = raw.split(b"\n")
    tail = pieces.pop()  # b"" when the file ends with a newline
    parsed: list[tuple[int, dict[str, Any]]] = []
    for number, piece in enumerate(pieces, start=1):
        event = _parse_line(piece)
        if isinstance(event, str):
            raise HistoryError(f"{path}: line {number}: {event}")
        parsed.append((number, event))
    truncated = False
    if tail:
        event = _parse_line(tail)
        if isinstance(event, str):
            truncated = True
            warnings.warn(
                f"{path}: line {len(pieces) + 1}: truncated last line dropped ({event})",
                HistoryWarning,
                stacklevel=2,
            )
        else:
            parsed.append((len(pieces) + 1, event))
    if not parsed:
        raise HistoryError(f"{path}: empty history (no start line)")
    reader = _Reader(path)
    for number, event in parsed:
        try:
            reader.feed(event)
        except (HistoryError, ParameterError, SummaryError, KeyError, TypeError, ValueError) as exc:
            raise HistoryError(f"{path}: line {number}: {_describe(exc)}") from None
    return reader.finish(truncated)


def completed_trials(
    path: str | os.PathLike[str], params: Params, *, transport: str | None = None
) -> dict[int, TrialRecord]:
    """Finished trials in the history at ``path``, for resuming a run of ``params``.

    A missing (or empty) file means nothing was completed. Otherwise see
    :func:`check_resumable`.
    """
    contents = check_resumable(path, params, transport=transport)
    return {} if contents is None else dict(contents.trials)


def check_resumable(
    path: str | os.PathLike[str], params: Params, *, transport: str | None = None
) -> HistoryContents | None:
    """Refuse to resume the history at ``path`` for ``params`` over ``transport``: it must
    have been written for the same parameters except ``trials`` (so a run can be extended) and
    for the same transport (unless either is None: an old history, or any transport);
    :class:`HistoryError` names every field that differs. Returns what the file holds, or None
    for a missing or empty file."""
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return None
    contents = read_history(path)
    _check_same(path, contents, params, transport)
    return contents


class _Reader:
    """Checks the event sequence and rebuilds rounds, trials and points."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.params: Params | None = None
        self.version = 0
        self.events: list[dict[str, Any]] = []
        self.rounds: list[tuple[int, RoundRecord]] = []
        self.trials: dict[int, TrialRecord] = {}
        self.points: list[PointSummary] = []
        self.resumes = 0
        self.incomplete = 0
        self.transport: str | None = None
        self.provenance: dict[str, Any] | None = None
        self.pending: dict[str, Any] | None = None  # the round being rebuilt
        self.last = ""  # last round event of the pending round

    def feed(self, event: dict[str, Any]) -> None:
        name = event.get("event")
        if name not in _EVENTS:
            raise HistoryError(f"unknown event {name!r}")
        if self.params is None and name != "start":
            raise HistoryError(f"the first line must be a 'start' event; got {name!r}")
        if name == "start" and self.params is not None:
            raise HistoryError("a second 'start' event")
        if name in ("start", "resume"):
            self._header(name, event)
        elif self.pending is not None and name not in _NEXT[self.last]:
            raise HistoryError(
                f"{name!r} event inside round {self.pending['round']} of trial "
                f"{self.pending['trial']} (expected {' or '.join(_NEXT[self.last])})"
            )
        elif name in _ROUND_KEYS:
            self._round_event(name, event)
        elif name == "trial":
            self._trial(event)
        else:
            self.points.append(PointSummary.from_dict(_without(event, "event", "t")))
        self.events.append(event)

    def _header(self, name: str, event: dict[str, Any]) -> None:
        version = event.get("version")
        if version != HISTORY_VERSION or isinstance(version, bool):
            raise HistoryError(f"unsupported history version {version!r} (expected 1)")
        params = Params.from_dict(event["params"])
        transport = event.get("transport")
        if transport is not None and not isinstance(transport, str):
            raise HistoryError(f"transport must be a string; got {transport!r}")
        recorded = event.get("provenance")
        if recorded is not None and not isinstance(recorded, dict):
            raise HistoryError(f"provenance must be an object; got {recorded!r}")
        if name == "start":
            self.transport, self.provenance = transport, recorded
        else:
            assert self.params is not None
            _check_same_params(self.path, self.params, params, self.transport, transport)
            self.transport = self.transport or transport
            self.resumes += 1
            if self.pending is not None:  # a round cut short by the crash before this resume
                self.incomplete += 1
                self.pending = None
        self.version = version
        self.params = params

    def _round_event(self, name: str, event: dict[str, Any]) -> None:
        trial, number = event["trial"], event["round"]
        _check_index("trial", trial)
        _check_index("round", number)
        if name == "failure":
            self.pending = {"trial": trial, "round": number, "links": [], "faults": []}
        elif self.pending is None:
            raise HistoryError(f"{name!r} event without a preceding 'failure' event")
        elif (trial, number) != (self.pending["trial"], self.pending["round"]):
            raise HistoryError(
                f"{name!r} event for trial {trial} round {number} inside round "
                f"{self.pending['round']} of trial {self.pending['trial']}"
            )
        pending = self.pending
        assert pending is not None
        if name == "transfer":
            link = event["link"]
            if not isinstance(link, dict):
                raise HistoryError(f"transfer link must be an object; got {link!r}")
            pending["links"].append(link)
        elif name == "fault":
            pending["faults"].append(_without(event, "event", "trial", "round", "t"))
        for key, attr in _ROUND_KEYS[name].items():
            default = _OPTIONAL_KEYS.get(key)
            value = event[key] if key in event or default is None else default()
            if attr in pending and pending[attr] != value:
                raise HistoryError(f"{name!r} says {key} = {value!r}; earlier {pending[attr]!r}")
            pending[attr] = value
        self.last = name
        if name == "verdict":
            record = RoundRecord.from_dict(_without(pending, "trial"))
            self.rounds.append((trial, record))
            self.pending = None
            self.last = ""

    def _trial(self, event: dict[str, Any]) -> None:
        record = TrialRecord.from_dict(event)
        _check_index("trial", record.trial)
        if event.get("success") != record.success:
            raise HistoryError(
                f"trial {record.trial} says success = {event.get('success')!r} but its "
                f"rounds give {record.success}"
            )
        earlier = self.trials.get(record.trial)
        if earlier is not None:
            merge_trials([earlier], [record])  # refuses a conflicting duplicate
        else:
            self.trials[record.trial] = record

    def finish(self, truncated: bool) -> HistoryContents:
        assert self.params is not None
        incomplete = self.incomplete + (self.pending is not None)
        return HistoryContents(
            params=self.params,
            version=self.version,
            events=self.events,
            rounds=self.rounds,
            trials=dict(sorted(self.trials.items())),
            points=self.points,
            resumes=self.resumes,
            truncated=truncated,
            incomplete_rounds=incomplete,
            transport=self.transport,
            provenance=self.provenance,
        )


def _parse_line(piece: bytes) -> dict[str, Any] | str:
    """The JSON object on one line, or a string saying what is wrong with it."""
    try:
        value = json.loads(piece.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return f"not UTF-8 ({exc.reason} at byte {exc.start})"
    except json.JSONDecodeError as exc:
        return f"not valid JSON ({exc.msg} at column {exc.colno})"
    if not isinstance(value, dict):
        return f"expected a JSON object; got {type(value).__name__}"
    return value


def _check_same(
    path: Path, contents: HistoryContents, params: Params, transport: str | None
) -> None:
    _check_same_params(path, contents.params, params, contents.transport, transport)


def _check_same_params(
    path: Path,
    recorded: Params,
    wanted: Params,
    recorded_transport: str | None = None,
    wanted_transport: str | None = None,
) -> None:
    """Name every difference (recorded != wanted) but ``trials``, transport first."""
    old, new = recorded.to_dict(), wanted.to_dict()
    diffs = [
        f"{f.name} {old[f.name]!r} != {new[f.name]!r}"
        for f in fields(Params)
        if f.name != "trials" and old[f.name] != new[f.name]
    ]
    if None not in (recorded_transport, wanted_transport) and (
        recorded_transport != wanted_transport
    ):
        diffs.insert(0, f"transport {recorded_transport!r} != {wanted_transport!r}")
    if diffs:
        raise HistoryError(
            f"{path} was written for other parameters: {', '.join(diffs)} (recorded != wanted)"
        )


def _repair_tail(path: Path) -> None:
    """Make the file end with a newline: cut an unparsable partial last line, or terminate it."""
    raw = path.read_bytes()
    if raw.endswith(b"\n"):
        return
    cut = raw.rfind(b"\n") + 1
    if isinstance(_parse_line(raw[cut:]), str):
        with path.open("r+b") as handle:
            handle.truncate(cut)
    else:
        with path.open("ab") as handle:
            handle.write(b"\n")


def _check_index(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise HistoryError(f"{name} must be an integer >= 0; got {value!r}")


def _without(data: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in keys}


def _describe(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"missing key {exc.args[0]!r}"
    return str(exc)


def _json_default(value: object) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")
