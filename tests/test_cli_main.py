"""The ``rlnc-testbed`` command line: run, sweep, outputs, one-line errors with status 2 for bad
input and 1 for failures while running, and runs with trials that judged no round."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from rlnc_testbed.analysis.history import HistoryError
from rlnc_testbed.cli.entry import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    build_parser,
    main,
)
from rlnc_testbed.experiment.runner import run_point
from rlnc_testbed.experiment.scenario import RUN_TRANSPORTS
from rlnc_testbed.protocol.params import SCHEMES, ParameterError, Params
from rlnc_testbed.protocol.records import TrialRecord

ROOT = Path(__file__).resolve().parents[1]

TINY = """\
name = "tiny"
transport = "sim"
markers = ["loop"]

[params]
peers = 4
symbols = 6
symbol_size = 16
redundancy = 2.0
parents = 2
rounds = 3
trials = 4
seed = 7
"""
TINY_PARAMS = Params(
    peers=4, symbols=6, symbol_size=16, redundancy=2.0, parents=2, rounds=3, trials=4, seed=7
)


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY, encoding="utf-8")
    return path


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main([*argv, "--json", "-"]) == 0
    out = capsys.readouterr().out
    return json.loads(out)  # the whole of stdout is one JSON document


def test_run_prints_round_and_summary_tables(tiny: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["run", str(tiny)]) == 0
    out = capsys.readouterr().out
    expected = run_point(TINY_PARAMS, transport="sim")
    assert "verdict" in out and "newcomer rank" in out  # the per-round table (4 trials)
    rows = [line for line in out.splitlines() if line.startswith("│")]
    assert len(rows) == sum(len(t.rounds) for t in expected.trials) + 1  # + summary row
    s = expected.summary
    assert f"{s.successes}/{s.trials}" in out
    assert f"[{s.ci95[0]:.3f}, {s.ci95[1]:.3f}]" in out


def test_run_json_matches_runner_and_has_the_documented_shape(
    tiny: Path, capsys: pytest.CaptureFixture[str]
):
    doc = run_json(capsys, "run", str(tiny))
    assert set(doc) == {"provenance", "scenario", "summary", "trials"}
    assert doc["scenario"]["name"] == "tiny" and doc["scenario"]["transport"] == "sim"
    expected = run_point(TINY_PARAMS, transport="sim", name="tiny").to_dict()
    assert doc["summary"] == expected["summary"]
    assert [t["trial"] for t in doc["trials"]] == [0, 1, 2, 3]
    assert set(doc["trials"][0]) == {"trial", "seed", "success", "finish", "error", "rounds"}
    assert doc["summary"]["unjudged"] == {}
    strip = [
        [{k: v for k, v in r.items() if k != "duration"} for r in t["rounds"]]
        for t in doc["trials"]
    ]
    want = [
        [{k: v for k, v in r.items() if k != "duration"} for r in t["rounds"]]
        for t in expected["trials"]
    ]
    assert strip == want


def test_run_overrides_reach_the_params(tiny: Path, capsys: pytest.CaptureFixture[str]):
    doc = run_json(capsys, "run", str(tiny), "--trials", "3", "--seed", "11", "--rounds", "2")
    assert (doc["scenario"]["trials"], doc["scenario"]["seed"], doc["scenario"]["rounds"]) == (
        3,
        11,
        2,
    )
    assert len(doc["trials"]) == 3 and len(doc["summary"]["survival"]) == 2
    assert all(len(t["rounds"]) <= 2 for t in doc["trials"])


def test_run_with_data_uses_the_full_payload_path(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    data = tmp_path / "data.bin"
    data.write_bytes(bytes(range(90)))
    doc = run_json(capsys, "run", str(tiny), "--data", str(data), "--trials", "2")
    assert [t["trial"] for t in doc["trials"]] == [0, 1]
    # the decided outcome does not depend on the payload bytes
    fast = run_json(capsys, "run", str(tiny), "--trials", "2")
    assert [t["success"] for t in doc["trials"]] == [t["success"] for t in fast["trials"]]


def test_run_writes_json_file_plot_and_history_and_resumes(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    out, png, hist = tmp_path / "r.json", tmp_path / "s.png", tmp_path / "h.jsonl"
    argv = [
        "run",
        str(tiny),
        "--json",
        str(out),
        "--plot",
        str(png),
        "--history",
        str(hist),
        "--quiet",
    ]
    assert main([*argv, "--trials", "2"]) == 0
    assert capsys.readouterr().out == ""  # --quiet: no tables
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(json.loads(out.read_text())["trials"]) == 2
    calls: list[int] = []

    def counting_run_point(*args: Any, **kwargs: Any) -> Any:
        user = kwargs["on_trial"]
        kwargs["on_trial"] = lambda record: (calls.append(record.trial), user(record))
        return run_point(*args, **kwargs)

    assert main([*argv, "--trials", "4", "--resume"], run_point=counting_run_point) == 0
    assert sorted(calls) == [0, 1, 2, 3]  # resumed trials are reported too
    events = [json.loads(line)["event"] for line in hist.read_text().splitlines()]
    assert events.count("resume") == 1 and events.count("trial") == 4
    assert len(json.loads(out.read_text())["trials"]) == 4


def test_sweep_json_and_plots(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    png = tmp_path / "sweep.png"
    doc = run_json(
        capsys,
        "sweep",
        "--peers",
        "5",
        "--symbols",
        "6",
        "--symbol-size",
        "8",
        "--scheme",
        "rlnc",
        "replication",
        "--parents",
        "1",
        "2",
        "--redundancy",
        "2",
        "--rounds",
        "3",
        "--trials",
        "5",
        "--plot",
        str(png),
    )
    points = doc["points"]
    assert len(points) == 4
    assert {(p["scheme"], p["parents"]) for p in points} == {
        (s, p) for s in ("rlnc", "replication") for p in (1, 2)
    }
    assert all(p["trials"] == 5 and p["peers"] == 5 and len(p["survival"]) == 3 for p in points)
    for name in ("sweep.png", "sweep-survival.png", "sweep-traffic.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


def test_sweep_table_names_every_point(capsys: pytest.CaptureFixture[str]):
    assert (
        main(
            [
                "sweep",
                "--peers",
                "5",
                "--symbols",
                "6",
                "--symbol-size",
                "8",
                "--parents",
                "1",
                "2",
                "3",
                "--trials",
                "3",
                "--rounds",
                "2",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("│")]
    assert len(rows) == 3 and all("rlnc" in r for r in rows)


def test_sweep_takes_base_params_from_a_scenario(tiny: Path, capsys: pytest.CaptureFixture[str]):
    doc = run_json(capsys, "sweep", "--scenario", str(tiny), "--parents", "1", "3")
    assert [(p["peers"], p["parents"], p["trials"]) for p in doc["points"]] == [
        (4, 1, 4),
        (4, 3, 4),
    ]


BAD_TOML = "name = \n"
UNKNOWN_SCHEME = TINY.replace("parents = 2", 'parents = 2\nscheme = "fountain"')


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["run", "{tmp}/missing.toml"], "cannot read"),
        (["run", "{bad}"], "not valid TOML"),
        (["run", "{unknown}"], "scheme must be one of"),
        (["run", "{tiny}", "--trials", "0"], "--trials"),
        (["run", "{tiny}", "--transport", "carrier-pigeon"], "--transport"),
        (["run", "{tiny}", "--resume"], "--resume needs --history"),
        (["run", "{tiny}", "--plot", "{tmp}/x.jpg"], "must end in .png"),
        (["run", "{tiny}", "--json", "{tmp}/no/such/dir/x.json"], "directory does not exist"),
        (["run", "{tiny}", "--data", "{tmp}/nothing.bin"], "nothing.bin"),
        (["run", "{tiny}", "--transport", "sim", "--port", "8000"], "only for the memory"),
        (["run", "{tiny}", "--transport", "memory", "--processes"], "needs the webrtc"),
        (["run", "{tiny}", "--transport", "sim", "--node-hosts", "2"], "transport is 'sim'"),
        (["run", "{tiny}", "--transport", "webrtc", "--node-hosts", "2", "--processes"], "one of"),
        (["run", "{tiny}", "--node-hosts", "0"], "--node-hosts"),
        (["run", "{tiny}", "--ice-interfaces", "bogus"], "not an IP address"),
        (["node", "--server", "ws://x/ws", "--role", "king"], "--role"),
        (["sweep", "--parents", "10"], "P must be <= N - 1"),
        (["sweep", "--redundancy", "0.1"], "Q = floor"),
        (["sweep", "--scheme", "fountain"], "invalid choice: 'fountain'"),
        (["sweep", "--beta", "9"], "beta must be <= Q"),
        (["sweep", "--field", "3"], "--field"),
        (["sweep", "--parents"], "expected at least one argument"),
        (["explode"], "invalid choice: 'explode'"),
    ],
)
def test_invalid_input_is_one_line_and_status_2(
    argv: list[str],
    needle: str,
    tmp_path: Path,
    tiny: Path,
    capsys: pytest.CaptureFixture[str],
):
    bad, unknown = tmp_path / "bad.toml", tmp_path / "unknown.toml"
    bad.write_text(BAD_TOML)
    unknown.write_text(UNKNOWN_SCHEME)
    argv = [a.format(tmp=tmp_path, bad=bad, unknown=unknown, tiny=tiny) for a in argv]
    assert main(argv) == EXIT_USAGE
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("rlnc-testbed") and "error:" in lines[0]
    assert needle in lines[0]
    assert "Traceback" not in captured.err


def test_data_larger_than_the_point_holds_is_refused(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    data = tmp_path / "big.bin"
    data.write_bytes(bytes(97))
    assert main(["run", str(tiny), "--data", str(data)]) == EXIT_USAGE
    assert "97 bytes; at most symbols * symbol_size = 96" in capsys.readouterr().err


def test_interrupt_exits_130_with_a_hint(tiny: Path, capsys: pytest.CaptureFixture[str]):
    def interrupted(*_args: Any, **_kwargs: Any) -> Any:
        raise KeyboardInterrupt

    assert main(["run", str(tiny)], run_point=interrupted) == EXIT_INTERRUPTED
    assert "--resume" in capsys.readouterr().err


# -- failures while running: status 1, and a message that says what and why -------------------


def raising(exc: BaseException, *, finish_first: int = 0) -> Any:
    """A run_point / run_sweep that reports ``finish_first`` trials, then raises ``exc``."""

    def run(*_args: Any, **kwargs: Any) -> Any:
        for trial in range(finish_first):
            kwargs["on_trial"](TrialRecord(trial=trial, seed=0))
        raise exc

    return run


def one_error_line(capsys: pytest.CaptureFixture[str], prefix: str) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"{prefix}: error: "), lines[0]
    assert lines[0].strip() != f"{prefix}: error:" and "Traceback" not in captured.err
    return lines[0]


@pytest.mark.parametrize(
    ("exc", "named"),
    [
        (TimeoutError(), "TimeoutError (no message)"),
        (ConnectionError("the signaling server closed"), "ConnectionError: the signaling server"),
        (ConnectionResetError(), "ConnectionResetError (no message)"),
        (Exception(), "Exception (no message)"),
        (RuntimeError(""), "RuntimeError (no message)"),
        (ValueError("bad report"), "ValueError: bad report"),
        (OSError(), "OSError (no message)"),
        (FileNotFoundError(2, "No such file or directory", "rlnc-node"), "rlnc-node"),
    ],
)
def test_a_failure_while_running_is_status_1_and_says_what_and_why(
    exc: BaseException, named: str, tiny: Path, capsys: pytest.CaptureFixture[str]
):
    assert main(["run", str(tiny)], run_point=raising(exc)) == EXIT_FAILURE
    line = one_error_line(capsys, "rlnc-testbed run")
    assert "running 4 trials of 'tiny' over sim: " in line
    assert named in line
    assert "0 of 4 trials had finished" in line


def test_a_failure_after_some_trials_says_how_far_it_got_and_how_to_resume(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    history = tmp_path / "h.jsonl"
    run = raising(TimeoutError(), finish_first=2)
    argv = ["run", str(tiny), "--transport", "memory", "--history", str(history)]
    assert main(argv, run_point=run) == EXIT_FAILURE
    line = one_error_line(capsys, "rlnc-testbed run")
    assert "running 4 trials of 'tiny' over memory: TimeoutError (no message)" in line
    assert f"2 of 4 trials had finished; {str(history)!r} keeps them" in line
    assert "rerun with --resume" in line and "--log-level debug" not in line


def test_an_unexpected_exception_points_to_the_traceback(
    tiny: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
):
    caplog.set_level("DEBUG", logger="rlnc_testbed.cli.entry")
    assert main(["run", str(tiny)], run_point=raising(KeyError("links"))) == EXIT_FAILURE
    line = one_error_line(capsys, "rlnc-testbed run")
    assert "KeyError: 'links'" in line and "--log-level debug shows the traceback" in line
    (logged,) = [r for r in caplog.records if r.exc_info]
    assert logged.exc_info is not None and logged.exc_info[0] is KeyError


@pytest.mark.parametrize(
    ("exc", "named"),
    [
        (TimeoutError(), "TimeoutError (no message)"),
        (ConnectionRefusedError(111, "Connection refused"), "Connection refused"),
        (Exception(), "Exception (no message)"),
    ],
)
def test_a_sweep_failure_is_status_1_and_says_what_and_why(
    exc: BaseException, named: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    argv = ["sweep", "--parents", "1", "2", "--trials", "3", "--history-dir", str(tmp_path)]
    assert main(argv, run_sweep=raising(exc, finish_first=4)) == EXIT_FAILURE
    line = one_error_line(capsys, "rlnc-testbed sweep")
    assert "running 2 points over sim: " in line and named in line
    assert "4 of 6 trials had finished" in line and "rerun with --resume" in line


@pytest.mark.parametrize(
    ("exc", "named"),
    [
        (ParameterError("--ice-interfaces: no such address"), "no such address"),
        (HistoryError(""), "HistoryError (no message)"),
    ],
)
def test_input_errors_found_while_running_stay_status_2(
    exc: BaseException, named: str, tiny: Path, capsys: pytest.CaptureFixture[str]
):
    assert main(["run", str(tiny)], run_point=raising(exc)) == EXIT_USAGE
    assert named in one_error_line(capsys, "rlnc-testbed run")


@pytest.mark.parametrize("make", [lambda p: p / "missing.jsonl", lambda p: p])
def test_show_of_an_unreadable_file_names_it(
    make: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    target = make(tmp_path)
    assert main(["show", str(target)]) == EXIT_USAGE
    line = one_error_line(capsys, "rlnc-testbed show")
    assert str(target) in line


def test_history_paths_are_checked_before_running(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    assert main(["run", str(tiny), "--history", str(tmp_path)]) == EXIT_USAGE
    assert "--history is a directory" in one_error_line(capsys, "rlnc-testbed run")
    afile = tmp_path / "f"
    afile.write_text("")
    assert main(["sweep", "--history-dir", str(afile)]) == EXIT_USAGE
    assert "--history-dir is not a directory" in one_error_line(capsys, "rlnc-testbed sweep")


def test_help_states_every_exit_status(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "0 when the command completes" in text
    assert f"{EXIT_FAILURE} when it fails while running (a timeout, a lost connection" in text
    assert f"{EXIT_USAGE} for invalid options" in text and f"{EXIT_INTERRUPTED} when" in text


# -- runs with trials that judged no round ---------------------------------------------------


#: What the runner calls per networked trial (patched by name: imported only when used).
RUN_TRIAL = "rlnc_testbed.experiment.cluster.run_trial"


def fake_run_trial(unjudged: dict[int, tuple[str, str]], ran: list[int]) -> Any:
    """Stands in for ``cluster.run_trial``: trials in ``unjudged`` end before round 1 with
    (finish, error) as the round controller records them; the others are the simulator's."""
    from rlnc_testbed.simulation.reference import simulate_trial

    async def run_trial(params: Params, trial: int, **kwargs: Any) -> TrialRecord:
        if kwargs.get("on_round") is None:  # the CLI's untimed warm-up trial, not one of ours
            return simulate_trial(params, trial)
        ran.append(trial)
        if trial in unjudged:
            finish, error = unjudged[trial]
            return TrialRecord(trial=trial, seed=params.seed, finish=finish, error=error)
        record = simulate_trial(params, trial)
        for rnd in record.rounds:
            kwargs["on_round"](rnd)
        return replace(record, finish="max-round" if record.success else "end")

    return run_trial


def test_a_run_with_unjudged_trials_gives_json_tables_show_and_resume(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
):
    ran: list[int] = []
    unjudged = {1: ("setup-timeout", "deadline passed in joining"), 3: ("error", "boom")}
    monkeypatch.setattr(RUN_TRIAL, fake_run_trial(unjudged, ran))
    history, out = tmp_path / "h.jsonl", tmp_path / "r.json"
    argv = ["run", str(tiny), "--transport", "memory", "--history", str(history)]
    assert main([*argv, "--json", str(out), "--trials", "3"]) == 0
    text = capsys.readouterr().out
    assert "setup-timeout (unjudged)" in text  # its own row in the rounds table
    assert "unjudged trials (1: counted as failures" in text and "deadline passed" in text
    assert "setup-timeout 1" in text  # the summary table's unjudged column
    doc = json.loads(out.read_text())
    assert doc["summary"]["unjudged"] == {"setup-timeout": 1} and doc["summary"]["trials"] == 3
    assert doc["trials"][1] == {
        "trial": 1,
        "seed": 7,
        "success": False,
        "finish": "setup-timeout",
        "error": "deadline passed in joining",
        "rounds": [],
    }
    # show replays it, JSON for JSON
    assert main(["show", str(history), "--json", "-"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["summary"] == doc["summary"] and shown["trials"] == doc["trials"]
    # and --resume continues it, without running the recorded unjudged trial again
    assert main([*argv, "--json", "-", "--resume"]) == 0
    resumed = json.loads(capsys.readouterr().out)
    assert ran == [0, 1, 2, 3]
    assert resumed["summary"]["unjudged"] == {"error": 1, "setup-timeout": 1}
    assert resumed["summary"]["successes"] == sum(t["success"] for t in resumed["trials"])
    assert [t["finish"] for t in resumed["trials"]][1::2] == ["setup-timeout", "error"]


def test_help_is_true_to_the_code(capsys: pytest.CaptureFixture[str]):
    parser = build_parser()
    texts = {}
    for command in ("run", "sweep"):
        with pytest.raises(SystemExit) as exc:
            parser.parse_args([command, "--help"])
        assert exc.value.code == 0
        texts[command] = capsys.readouterr().out
    for transport in RUN_TRANSPORTS:
        assert transport in texts["run"] and transport in texts["sweep"]
    for scheme in SCHEMES:
        assert scheme in texts["sweep"]
    for option in (
        "--trials",
        "--seed",
        "--rounds",
        "--data",
        "--json",
        "--plot",
        "--history",
        "--resume",
        "--overwrite",
        "--csv",
        "--csv-trials",
    ):
        assert option in texts["run"]
    for option in (
        "--scheme",
        "--field",
        "--redundancy",
        "--parents",
        "--keep",
        "--beta",
        "--peers",
        "--symbols",
        "--symbol-size",
        "--history-dir",
        "--workers",
        "--overwrite",
        "--csv",
        "--csv-trials",
        "--q",
        "--seed",
        "--trials",
        "--rounds",
    ):
        assert option in texts["sweep"]


def test_top_level_usage_lists_every_subcommand(capsys: pytest.CaptureFixture[str]):
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["--help"])
    usage = capsys.readouterr().out.split("\n\n")[0]
    for command in ("run", "sweep", "show", "node"):
        assert command in usage, usage
    assert main([]) == EXIT_USAGE
    assert "{run,show,node,node-host,serve,sweep,replay,report,design}" in capsys.readouterr().err


def test_fewer_packets_than_symbols_warns_but_runs(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    argv = ["sweep", "--peers", "3", "--parents", "2", "--symbols", "6", "--rounds", "2"]
    assert main([*argv, "--redundancy", "0.5", "2", "--json", "-"]) == 0
    captured = capsys.readouterr()
    assert len(json.loads(captured.out)["points"]) == 2
    (line,) = captured.err.strip().splitlines()
    assert line.startswith("rlnc-testbed sweep: warning: 1 of 2 points store fewer packets")
    assert "no round can decode: e.g. redundancy=0.5 gives N * Q = 3 * 1 = 3 stored" in line
    assert "(K = 3 made) for k = 6 symbols" in line
    assert main([*argv, "--redundancy", "2", "--quiet"]) == 0
    assert capsys.readouterr().err == ""  # enough packets: no warning
    few = tmp_path / "few.toml"
    few.write_text(TINY.replace("redundancy = 2.0", "redundancy = 0.7"))  # K = 5 < k = 6
    assert main(["run", str(few), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "run: warning: the point stores fewer packets than symbols" in err
    assert "redundancy=0.7 gives N * Q = 4 * 1 = 4 stored packets (K = 5 made)" in err


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def test_module_entry_point_help_in_a_subprocess():
    proc = subprocess.run(
        [sys.executable, "-m", "rlnc_testbed", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    assert "usage: rlnc-testbed" in proc.stdout and "run" in proc.stdout and "sweep" in proc.stdout


def test_module_entry_point_run_json_in_a_subprocess(tiny: Path):
    proc = subprocess.run(
        [sys.executable, "-m", "rlnc_testbed", "run", str(tiny), "--json", "-"],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(),
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["summary"]["trials"] == 4 and len(doc["trials"]) == 4
    assert proc.stderr == ""  # not a TTY: no progress bar


def test_module_entry_point_error_in_a_subprocess(tmp_path: Path):
    proc = subprocess.run(
        [sys.executable, "-m", "rlnc_testbed", "sweep", "--parents", "10"],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
        cwd=ROOT,
    )
    assert proc.returncode == 2
    assert proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1
