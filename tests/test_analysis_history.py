"""JSONL run history: round events rebuild records, crashes lose nothing, resume appends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pytest

from rlnc_testbed.analysis.history import (
    ROUND_EVENTS,
    HistoryError,
    HistoryWarning,
    HistoryWriter,
    completed_trials,
    read_history,
)
from rlnc_testbed.analysis.summary import summarize
from rlnc_testbed.protocol.params import Params
from rlnc_testbed.protocol.records import RoundRecord, TrialRecord

PARAMS = Params(peers=4, symbols=8, redundancy=2.0, parents=2, rounds=2, trials=3)
ROOT = Path(__file__).resolve().parents[1]


def make_round(r: int, *, ok: bool = True, links: int = 2) -> RoundRecord:
    return RoundRecord(
        round=r,
        failed=r,
        newcomer=4 + r,
        parents=(2, 3) if r == 1 else (1, 5),
        newcomer_rank=4,
        global_rank=8 if ok else 7,
        decoded=ok,
        verified=ok,
        verdict="ok" if ok else "undecodable",
        repair_packets=4,
        repair_bytes=4 * 64,
        collect_packets=16,
        collect_bytes=16 * 64,
        duration=0.25 * r,
        error="" if ok else "rank 7 < 8",
        links=[{"src": p, "dst": 4 + r, "bytes": 128, "packets": 2} for p in (2, 3)][:links],
    )


def make_trial(trial: int, *, ok: bool = True) -> TrialRecord:
    return TrialRecord(trial=trial, seed=0, rounds=[make_round(1), make_round(2, ok=ok)])


def write_run(path: Path, trials: range, params: Params = PARAMS) -> list[TrialRecord]:
    records = [make_trial(t, ok=t != 1) for t in trials]
    with HistoryWriter(path, params=params) as writer:
        for record in records:
            for rnd in record.rounds:
                writer.round(record.trial, rnd)
            writer.trial(record)
        writer.point(summarize(params, records))
    return records


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_round_events_cover_every_round_record_field() -> None:
    covered = {attr for _, keys in ROUND_EVENTS for attr in keys.values()}
    covered |= {"round", "links", "faults"}  # the head of every event; one line each
    assert covered == {f.name for f in fields(RoundRecord)}


def test_event_lines_in_dashboard_order(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    write_run(path, range(1))
    events = lines(path)
    names = [e["event"] for e in events]
    round_events = ["failure", "parents", "transfer", "transfer", "store", "collect", "verdict"]
    assert names == ["start", *round_events, *round_events, "trial", "point"]
    assert events[0]["version"] == 1 and events[0]["params"] == PARAMS.to_dict()
    assert events[1] == {"event": "failure", "trial": 0, "round": 1, "peer": 1, "t": events[1]["t"]}
    assert events[2]["parents"] == [2, 3] and events[2]["newcomer"] == 5
    assert events[3]["link"] == {"src": 2, "dst": 5, "bytes": 128, "packets": 2}
    assert path.read_text().endswith("}\n")


def test_read_back_rebuilds_rounds_trials_and_points(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    records = write_run(path, range(3))
    contents = read_history(path)
    assert contents.params == PARAMS and contents.version == 1
    assert contents.rounds == [(t.trial, r) for t in records for r in t.rounds]
    assert contents.trials == {t.trial: t for t in records}
    assert contents.points == [summarize(PARAMS, records)]
    assert (contents.resumes, contents.truncated, contents.incomplete_rounds) == (0, False, 0)


def test_each_line_is_on_disk_before_close(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    with HistoryWriter(path, params=PARAMS) as writer:
        assert [e["event"] for e in lines(path)] == ["start"]
        writer.round(0, make_round(1, links=0))
        names = [e["event"] for e in lines(path)]
        assert names == ["start", "failure", "parents", "store", "collect", "verdict"]
    assert writer.closed


def test_a_killed_process_loses_no_line(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    script = f"""
import os
from rlnc_testbed.analysis.history import HistoryWriter
from rlnc_testbed.protocol.params import Params
from rlnc_testbed.protocol.records import RoundRecord, TrialRecord
params = Params.from_dict({PARAMS.to_dict()!r})
writer = HistoryWriter({str(path)!r}, params=params)
r = RoundRecord(round=1, failed=1, newcomer=5, parents=(2, 3), newcomer_rank=4,
                global_rank=8, decoded=True, verified=True)
writer.round(0, r)
writer.trial(TrialRecord(trial=0, seed=0, rounds=[r]))
os._exit(3)  # no close, no flush at exit
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], env=env, timeout=60, check=False)
    assert done.returncode == 3
    contents = read_history(path)
    assert len(contents.rounds) == 1 and list(contents.trials) == [0]


def test_truncated_last_line_is_dropped_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    write_run(path, range(2))
    with path.open("a") as handle:
        handle.write('{"event":"failure","trial":2,"ro')
    with pytest.warns(HistoryWarning, match=r"line 33: truncated last line dropped"):
        contents = read_history(path)
    assert contents.truncated and sorted(contents.trials) == [0, 1]


def test_round_cut_short_by_a_crash_is_counted_not_kept(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    write_run(path, range(1))
    with HistoryWriter(path, params=PARAMS, resume=True) as writer:
        writer.round(1, make_round(1))
    text = path.read_text().splitlines(keepends=True)
    path.write_text("".join(text[:-3]))  # keep failure, parents, transfers, store
    contents = read_history(path)
    assert contents.incomplete_rounds == 1 and len(contents.rounds) == 2


def insert(i: int, line: str) -> Callable[[list[str]], list[str]]:
    return lambda ls: [*ls[:i], line, *ls[i:]]


def sub(i: int, old: str, new: str) -> Callable[[list[str]], list[str]]:
    return lambda ls: [*ls[:i], ls[i].replace(old, new, 1), *ls[i + 1 :]]


def drop(i: int, j: int) -> Callable[[list[str]], list[str]]:
    return lambda ls: ls[:i] + ls[j:]


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (insert(2, "{not json\n"), r"line 3: not valid JSON"),
        (insert(2, "[1, 2]\n"), r"line 3: expected a JSON object; got list"),
        (insert(2, "\n"), r"line 3: not valid JSON"),
        (insert(1, '{"event":"party"}\n'), r"line 2: unknown event 'party'"),
        (drop(0, 1), r"line 1: the first line must be a 'start' event; got 'failure'"),
        (lambda ls: ls + ls[:1], r"line 17: a second 'start' event"),
        (drop(1, 2), r"line 2: 'parents' event without a preceding 'failure'"),
        (drop(2, 5), r"line 3: 'store' event inside round 1 of trial 0 \(expected"),
        (sub(0, '"version":1', '"version":2'), r"line 1: unsupported history version 2"),
        (sub(0, '"peers":4', '"peers":1'), r"line 1: peers must be in"),
        (sub(1, '"peer":1,', ""), r"line 2: missing key 'peer'"),
        (sub(4, '"trial":0', '"trial":1'), r"line 5: 'transfer' event for trial 1 round 1"),
        (sub(5, '"newcomer":5', '"newcomer":6'), r"line 6: 'store' says newcomer = 6; earlier 5"),
        (sub(15, '"success":true', '"success":false'), r"line 16: trial 0 says success = False"),
    ],
)
def test_corrupt_lines_are_errors_naming_the_line(
    tmp_path: Path, edit: Callable[[list[str]], list[str]], match: str
) -> None:
    path = tmp_path / "h.jsonl"
    write_run(path, range(1))
    original = path.read_text().splitlines(keepends=True)
    assert len(original) == 17
    path.write_text("".join(edit(original[:16])))  # without the point line
    with pytest.raises(HistoryError, match=match):
        read_history(path)


def test_bytes_that_are_not_utf8_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    write_run(path, range(1))
    with path.open("ab") as handle:
        handle.write(b'{"event":"\xff"}\n')
    with pytest.raises(HistoryError, match=r"line 18: not UTF-8"):
        read_history(path)


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text("")
    with pytest.raises(HistoryError, match="empty history"):
        read_history(path)


def test_conflicting_trial_lines_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    with HistoryWriter(path, params=PARAMS) as writer:
        writer.trial(make_trial(0))
        writer.trial(make_trial(0, ok=False))
    with pytest.raises(HistoryError, match="line 3: conflicting duplicates of trial 0"):
        read_history(path)


def test_completed_trials_for_resume(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    records = write_run(path, range(3))
    assert completed_trials(path, PARAMS) == {t.trial: t for t in records}
    assert completed_trials(path, PARAMS.with_(trials=50)) == {t.trial: t for t in records}
    assert completed_trials(tmp_path / "missing.jsonl", PARAMS) == {}
    with pytest.raises(HistoryError, match=r"other parameters: parents 2 != 3, seed 0 != 9"):
        completed_trials(path, PARAMS.with_(parents=3, seed=9))


def test_resume_after_a_crash_appends_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    with HistoryWriter(path, params=PARAMS) as writer:
        writer.round(0, make_round(1))
        writer.round(0, make_round(2))
        writer.trial(make_trial(0))
        writer.round(1, make_round(1))
    with path.open("a") as handle:
        handle.write('{"event":"failure","tri')  # the crash: a cut line
    more = PARAMS.with_(trials=5)
    with pytest.warns(HistoryWarning), HistoryWriter(path, params=more, resume=True) as writer:
        for t in (1, 2):
            for rnd in make_trial(t).rounds:
                writer.round(t, rnd)
            writer.trial(make_trial(t))
    contents = read_history(path)  # no warning: the cut line is gone
    assert contents.params == more and contents.resumes == 1 and not contents.truncated
    assert contents.incomplete_rounds == 0  # trial 1 round 1 was complete before the crash
    assert sorted(contents.trials) == [0, 1, 2]
    assert [e["event"] for e in contents.events].count("resume") == 1
    rounds = [(0, 1), (0, 2), (1, 1), (1, 1), (1, 2), (2, 1), (2, 2)]  # trial 1 round 1 re-ran
    assert [(t, r.round) for t, r in contents.rounds] == rounds


def test_resume_keeps_a_complete_last_line_without_newline(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    with HistoryWriter(path, params=PARAMS) as writer:
        writer.trial(make_trial(0))
    path.write_text(path.read_text().rstrip("\n"))
    with HistoryWriter(path, params=PARAMS, resume=True) as writer:
        writer.trial(make_trial(1))
    assert sorted(read_history(path).trials) == [0, 1]


def test_resume_with_other_params_refuses_and_leaves_the_file(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    write_run(path, range(1))
    before = path.read_bytes()
    with pytest.raises(HistoryError, match="scheme 'rlnc' != 'replication'"):
        HistoryWriter(path, params=PARAMS.with_(scheme="replication"), resume=True)
    assert path.read_bytes() == before


def test_resume_without_a_file_starts_one(tmp_path: Path) -> None:
    path = tmp_path / "new.jsonl"
    with HistoryWriter(path, params=PARAMS, resume=True) as writer:
        writer.trial(make_trial(0))
    assert [e["event"] for e in lines(path)] == ["start", "trial"]


def test_writer_errors_are_clear(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    writer = HistoryWriter(path, params=PARAMS)
    with pytest.raises(HistoryError, match="trial must be an integer >= 0; got -1"):
        writer.round(-1, make_round(1))
    with pytest.raises(HistoryError, match="cannot write 'verdict' event as JSON"):
        writer.round(0, replace(make_round(1), duration=float("nan")))
    with pytest.raises(HistoryError, match="cannot write 'transfer' event as JSON: object is not"):
        writer.round(0, replace(make_round(1), links=[{"pc": object()}]))
    with pytest.raises(TypeError, match="record must be a TrialRecord"):
        writer.trial(make_round(1))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="params must be a Params"):
        HistoryWriter(path, params=PARAMS.to_dict())  # type: ignore[arg-type]
    writer.close()
    with pytest.raises(HistoryError, match="history writer is closed"):
        writer.trial(make_trial(0))


def test_numpy_counters_in_links_are_written_as_numbers(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    link = {"src": np.int64(2), "bytes": np.uint32(128), "rtt": np.float32(0.5)}
    with HistoryWriter(path, params=PARAMS) as writer:
        writer.round(0, replace(make_round(1), links=[link]))
    (rnd,) = read_history(path).rounds
    assert rnd[1].links == [{"src": 2, "bytes": 128, "rtt": 0.5}]


# -- trials that stopped without judging a round ----------------------------------------------


def unjudged_run(path: Path) -> list[TrialRecord]:
    """A judged trial, a setup-timeout before round 1, an error after round 1, a judged one."""
    records = [
        replace(make_trial(0), finish="max-round"),
        TrialRecord(trial=1, seed=0, finish="setup-timeout", error="deadline passed in joining"),
        TrialRecord(
            trial=2, seed=0, rounds=[make_round(1)], finish="error", error="ValueError: boom"
        ),
        replace(make_trial(3, ok=False), finish="end"),
    ]
    with HistoryWriter(path, params=PARAMS.with_(trials=4)) as writer:
        for record in records:
            for rnd in record.rounds:
                writer.round(record.trial, rnd)
            writer.trial(record)
        writer.point(summarize(PARAMS, records))
    return records


def test_unjudged_trials_round_trip_through_the_history(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    records = unjudged_run(path)
    events = lines(path)
    trial_lines = [e for e in events if e["event"] == "trial"]
    assert [(e["finish"], e["error"], e["success"]) for e in trial_lines] == [
        ("max-round", "", True),
        ("setup-timeout", "deadline passed in joining", False),
        ("error", "ValueError: boom", False),
        ("end", "", False),
    ]
    assert not [e for e in events if e.get("trial") == 1 and e["event"] != "trial"]  # no rounds
    contents = read_history(path)
    assert contents.trials == {t.trial: t for t in records}
    (point,) = contents.points
    assert point == summarize(PARAMS, records)
    assert dict(point.unjudged) == {"error": 1, "setup-timeout": 1}
    # Resume skips them too: their outcome is recorded.
    assert completed_trials(path, PARAMS.with_(trials=6)) == {t.trial: t for t in records}


def test_an_older_history_with_a_roundless_trial_reads_back(tmp_path: Path) -> None:
    # What the runner wrote before trials said why they ended: no finish/error keys on the
    # trial line, no unjudged in the point (there was none: summarize refused the trial).
    path = tmp_path / "old.jsonl"
    with HistoryWriter(path, params=PARAMS) as writer:
        for rnd in make_trial(0).rounds:
            writer.round(0, rnd)
        writer.trial(make_trial(0))
        writer.trial(TrialRecord(trial=1, seed=0))
        writer.point(summarize(PARAMS, [make_trial(0)]))
    old = []
    for event in lines(path):
        if event["event"] == "trial":
            del event["finish"], event["error"]
        if event["event"] == "point":
            del event["unjudged"]
        if event["event"] == "collect":
            del event["refused"], event["polluted"]
        old.append(json.dumps(event) + "\n")
    path.write_text("".join(old))
    contents = read_history(path)
    assert contents.trials[1] == TrialRecord(trial=1, seed=0)
    assert contents.trials[1].unjudged == "unknown" and not contents.trials[1].success
    assert contents.points[0].unjudged == ()
    summary = summarize(PARAMS, list(contents.trials.values()))
    assert (summary.trials, summary.successes, dict(summary.unjudged)) == (2, 1, {"unknown": 1})


def test_a_trial_line_with_a_bad_finish_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    with HistoryWriter(path, params=PARAMS) as writer:
        writer.trial(TrialRecord(trial=0, seed=0, finish="setup-timeout"))
    path.write_text(path.read_text().replace('"finish":"setup-timeout"', '"finish":7'))
    with pytest.raises(HistoryError, match="line 2: trial finish must be a string; got 7"):
        read_history(path)


def test_each_peers_rank_and_contribution_go_in_the_collect_line_and_come_back(
    tmp_path: Path,
) -> None:
    path = tmp_path / "h.jsonl"
    record = replace(
        make_round(1),
        ranks={"2": 4, "3": 4, "4": 3, "5": 4},
        contributions={"2": 4, "3": 3, "4": 1, "5": 0},
    )
    with HistoryWriter(path, params=PARAMS) as writer:
        writer.round(0, record)
        writer.trial(TrialRecord(trial=0, seed=0, rounds=[record]))
    collect = next(e for e in lines(path) if e["event"] == "collect")
    assert collect["ranks"] == {"2": 4, "3": 4, "4": 3, "5": 4}
    assert collect["contributions"] == {"2": 4, "3": 3, "4": 1, "5": 0}
    assert sum(collect["contributions"].values()) == collect["rank"]
    contents = read_history(path)
    assert contents.rounds == [(0, record)]
    assert contents.trials[0].rounds == [record]
    assert record.outcome() == make_round(1).outcome()  # measured, not part of the outcome


def test_a_history_from_before_per_peer_ranks_reads_back_with_them_empty(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.jsonl"
    record = replace(make_round(1), ranks={"2": 4}, contributions={"2": 4})
    with HistoryWriter(path, params=PARAMS) as writer:
        writer.round(0, record)
        writer.trial(TrialRecord(trial=0, seed=0, rounds=[record]))
    old = []
    for event in lines(path):
        if event["event"] == "collect":
            del event["ranks"], event["contributions"]
        if event["event"] == "trial":
            for rnd in event["rounds"]:
                del rnd["ranks"], rnd["contributions"]
        old.append(json.dumps(event) + "\n")
    path.write_text("".join(old))
    contents = read_history(path)
    [(_, back)] = contents.rounds
    assert back.ranks == {} and back.contributions == {}
    assert back == replace(record, ranks={}, contributions={})
    assert contents.trials[0].rounds == [back]
