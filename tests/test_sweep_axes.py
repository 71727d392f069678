"""Sweeps over any axis: every value shows, histories are named by parameters, Q and r are not
swept together, and points that are the same experiment run once."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from rlnc_testbed.analysis.history import read_history
from rlnc_testbed.analysis.points import IGNORED_BY_SCHEME, collapse, point_name
from rlnc_testbed.cli.entry import EXIT_USAGE, main
from rlnc_testbed.experiment.runner import expand_grid, run_point
from rlnc_testbed.protocol.params import SCHEMES, ParameterError, Params

BASE = ["sweep", "--peers", "4", "--symbols", "6", "--symbol-size", "8", "--rounds", "2",
        "--trials", "3"]  # fmt: skip


def sweep(capsys: pytest.CaptureFixture[str], *argv: str, tmp_path: Path) -> tuple[dict, str]:
    """Run a sweep with plots and JSON; return the JSON and the printed table."""
    out = tmp_path / "s.json"
    argv_ = [*BASE, *argv, "--json", str(out), "--plot", str(tmp_path / "s.png")]
    assert main(argv_) == 0, capsys.readouterr().err
    text = capsys.readouterr().out
    for name in ("s.png", "s-survival.png", "s-traffic.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    return json.loads(out.read_text()), text


def table_rows(text: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.strip("│").split("│")]
        for line in text.splitlines()
        if line.startswith("│")
    ]


@pytest.mark.parametrize(
    ("axis", "values", "column"),
    [
        ("--seed", ("1", "2"), "seed"),
        ("--symbol-size", ("8", "24"), "size"),
    ],
)
def test_a_sweep_over_seed_or_symbol_size_shows_its_values(
    axis: str, values: tuple[str, ...], column: str, tmp_path: Path, capsys: Any
):
    doc, text = sweep(capsys, axis, *values, tmp_path=tmp_path)
    name = axis[2:].replace("-", "_")
    assert [str(p["params"][name]) for p in doc["points"]] == list(values)
    assert [str(p[name]) for p in doc["points"]] == list(values)
    header = next(line for line in text.splitlines() if "scheme" in line)
    assert column in [cell.strip() for cell in header.split("┃")]
    rows = table_rows(text)
    assert len(rows) == 2
    assert {v for row in rows for v in row} >= set(values)


def test_a_sweep_over_trials_shows_them_and_shares_one_history(tmp_path: Path, capsys: Any):
    hist = tmp_path / "hist"
    doc, text = sweep(capsys, "--trials", "2", "5", "--history-dir", str(hist), tmp_path=tmp_path)
    assert [p["trials"] for p in doc["points"]] == [2, 5]
    rows = table_rows(text)
    assert any("/2" in cell for cell in rows[0]) and any("/5" in cell for cell in rows[1])
    (path,) = hist.iterdir()  # the first 2 trials of T=5 are the trials of T=2
    contents = read_history(path)
    assert sorted(contents.trials) == [0, 1, 2, 3, 4] and contents.resumes == 1
    alone = run_point(Params.from_dict(doc["points"][1]["params"]))
    assert doc["points"][1]["successes"] == alone.summary.successes


def test_a_sweep_over_seed_and_parents_plots_a_line_per_seed(tmp_path: Path, capsys: Any):
    doc, _ = sweep(capsys, "--seed", "1", "2", "--parents", "1", "2", tmp_path=tmp_path)
    assert [(p["parents"], p["seed"]) for p in doc["points"]] == [(1, 1), (1, 2), (2, 1), (2, 2)]


def test_history_names_tell_every_parameter_but_trials_apart():
    base = Params(peers=6, symbols=8, parents=2, rounds=3, trials=4)
    changes = {
        "peers": 7, "symbols": 9, "symbol_size": 100, "redundancy": 3.0, "q": 2,
        "parents": 3, "scheme": "coded-copy", "field": 2, "keep": "block", "beta": 1,
        "rounds": 4, "seed": 1, "systematic": True, "failures": (3,),
    }  # fmt: skip
    assert set(changes) == {f.name for f in fields(Params)} - {"trials"}
    names = {point_name(base)}
    for name, value in changes.items():
        names.add(point_name(base.with_(**{name: value})))
    assert len(names) == 1 + len(changes)
    assert point_name(base.with_(trials=99)) == point_name(base)
    assert point_name(base.with_(redundancy=None, q=2)) != point_name(base.with_(q=2))
    assert all("/" not in n and " " not in n for n in names)


# -- Q fixed with r varying --------------------------------------------------------------------


def test_q_and_redundancy_together_are_refused(capsys: Any):
    assert main([*BASE, "--q", "3", "--redundancy", "2", "3"]) == EXIT_USAGE
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "q and redundancy both set K" in err and "effective" in err
    with pytest.raises(ParameterError, match="sweep one of them"):
        expand_grid(Params(), {"q": [3], "redundancy": [2.0, 3.0]})


def test_a_redundancy_axis_replaces_a_base_q_and_a_q_axis_a_base_redundancy():
    base = Params(peers=4, symbols=6, redundancy=None, q=3)
    points = expand_grid(base, {"redundancy": [2.0, 3.0]})
    assert [(p.q, p.total_packets_made) for p in points] == [(None, 12), (None, 18)]
    points = expand_grid(Params(peers=4, symbols=6), {"q": [2, 3]})
    assert [(p.redundancy, p.per_peer) for p in points] == [(None, 2), (None, 3)]


# -- the same experiment runs once --------------------------------------------------------------


def outcomes(params: Params) -> list[Any]:
    result = run_point(params)
    return [
        [(r.outcome(), r.verdict, r.repair_bytes, r.collect_bytes) for r in t.rounds]
        for t in result.trials
    ]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_what_a_scheme_ignores_changes_no_outcome(scheme: str):
    base = Params(peers=6, symbols=8, symbol_size=8, parents=3, rounds=6, trials=30, seed=3)
    point = base.with_(scheme=scheme)
    other = {"field": 2, "systematic": True, "keep": "block"}
    for name, value in other.items():
        same = outcomes(point.with_(**{name: value})) == outcomes(point)
        assert same == (name in IGNORED_BY_SCHEME[scheme]), (scheme, name)


def test_duplicate_points_are_collapsed_with_a_note(tmp_path: Path, capsys: Any):
    argv = [*BASE, "--scheme", "replication", "rlnc", "--field", "2", "256", "--keep",
            "shuffle", "block", "--json", "-"]  # fmt: skip
    ran: list[Params] = []

    def run_sweep(points: list[Params], **kwargs: Any) -> Any:
        from rlnc_testbed.experiment.runner import run_sweep as real

        ran.extend(points)
        return real(points, **kwargs)

    assert main(argv, run_sweep=run_sweep) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    # replication: field means nothing (2 of 4 kept: keep matters); rlnc: keep means nothing
    assert [(p.scheme, p.field, p.keep) for p in ran] == [
        ("replication", 2, "shuffle"),
        ("replication", 2, "block"),
        ("rlnc", 2, "shuffle"),
        ("rlnc", 256, "shuffle"),
    ]
    assert len(doc["points"]) == 4
    (note,) = captured.err.strip().splitlines()
    assert note.startswith("rlnc-testbed sweep: note: 4 points not run")
    assert "field means nothing for replication (2)" in note
    assert "keep means nothing for rlnc (2)" in note
    assert doc["collapsed"] == note.split("sweep: note: ", 1)[1]


def test_repeated_values_collapse_too():
    points = expand_grid(Params(peers=4, symbols=6), {"parents": [1, 2, 1]})
    collapsed = collapse(points)
    assert [p.parents for p in collapsed.points] == [1, 2]
    assert collapsed.note().endswith("repeated values (1)")
    assert collapse(collapsed.points).note() == ""
