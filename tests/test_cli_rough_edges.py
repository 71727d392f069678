"""CLI rough edges, one test each: --processes and the network options name the transport
the same way for sim and memory; --workers is refused (not ignored) where it cannot apply;
round times exclude the one-off warm-up; "newcomer rank" is defined where a user looks."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from rlnc_testbed.cli.entry import EXIT_USAGE, build_parser, main
from rlnc_testbed.protocol.params import Params
from rlnc_testbed.protocol.records import TrialRecord

TINY = """\
name = "tiny"
transport = "sim"
[params]
peers = 4
symbols = 6
parents = 2
rounds = 2
trials = 2
seed = 7
"""
#: What the runner calls per networked trial (patched by name: imported only when used).
RUN_TRIAL = "rlnc_testbed.experiment.cluster.run_trial"


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY, encoding="utf-8")
    return path


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("error:") == 1, err
    return err


@pytest.mark.parametrize("transport", ["sim", "memory"])
def test_processes_needs_webrtc_and_says_so_the_same_way(
    tiny: Path, transport: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(tiny), "--transport", transport, "--processes"]) == EXIT_USAGE
    err = _error(capsys)
    assert "--processes runs every storage peer and newcomer as its own" in err
    assert f"it needs the webrtc transport, and this run's transport is '{transport}'" in err


def test_network_options_on_sim_name_the_options_and_the_transport(
    tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(tiny), "--port", "9", "--host", "127.0.0.1"]) == EXIT_USAGE
    err = _error(capsys)
    assert "--host, --port: only for the memory and webrtc transports" in err
    assert "this run's transport is 'sim'" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["sweep", "--transport", "memory", "--workers", "2", "--trials", "1"],
        [
            "design",
            "--target",
            "0.5",
            "--vary",
            "parents",
            "--transport",
            "webrtc",
            "--workers",
            "2",
        ],
    ],
)
def test_workers_is_refused_over_networked_transports(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == EXIT_USAGE
    err = _error(capsys)
    transport = argv[argv.index("--transport") + 1]
    assert f"--workers 2: worker processes run the sim transport only; over {transport}" in err


def test_workers_help_says_it_is_refused_there() -> None:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    for name in ("sweep", "design"):
        (workers,) = [a for a in sub.choices[name]._actions if a.dest == "workers"]
        assert "refused, not ignored, for memory and webrtc" in " ".join(workers.help.split())


def test_workers_over_sim_still_run(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["sweep", "--peers", "4", "--symbols", "6", "--parents", "1", "2", "--rounds", "2",
            "--trials", "4", "--workers", "2", "--quiet"]  # fmt: skip
    assert main(argv) == 0


def test_newcomer_rank_is_defined_in_help_and_under_the_rounds_table(
    tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in ("run", "show"):
        assert main([command, "--help"]) == 0
        text = " ".join(capsys.readouterr().out.split())
        assert (
            "newcomer rank is the rank of the coefficient rows the newcomer received from its "
            "parents" in text
        ), command
        assert "Round times exclude the one-off warm-up" in text
    assert main(["run", str(tiny)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "newcomer rank: the rank of the coefficient rows the newcomer received from its" in out


def test_the_warm_up_runs_untimed_before_the_first_trial(
    tiny: Path, monkeypatch: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from rlnc_testbed.simulation.reference import simulate_trial

    calls: list[tuple[Params, int, bool]] = []

    async def run_trial(params: Params, trial: int, **kwargs: Any) -> TrialRecord:
        timed = kwargs.get("on_round") is not None
        calls.append((params, trial, timed))
        record = simulate_trial(params, trial)
        for rnd in record.rounds:
            if timed:
                kwargs["on_round"](rnd)
        return replace(record, finish="max-round" if record.success else "end")

    monkeypatch.setattr(RUN_TRIAL, run_trial)
    assert main(["run", str(tiny), "--transport", "memory", "--quiet"]) == 0
    (warm, _, timed), *trials = calls
    assert not timed and (warm.peers, warm.rounds, warm.scheme, warm.field) == (3, 1, "rlnc", 256)
    assert [(t, timed) for _, t, timed in trials] == [(0, True), (1, True)]
    # over sim without data nothing is timed, so nothing is warmed up
    calls.clear()
    assert main(["run", str(tiny), "--quiet"]) == 0
    assert calls == []


def test_a_failed_warm_up_does_not_stop_the_run(
    tiny: Path, monkeypatch: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from rlnc_testbed.simulation.reference import simulate_trial

    async def run_trial(params: Params, trial: int, **kwargs: Any) -> TrialRecord:
        if kwargs.get("on_round") is None:
            raise ConnectionError("warm-up trial refused")
        record = simulate_trial(params, trial)
        for rnd in record.rounds:
            kwargs["on_round"](rnd)
        return replace(record, finish="max-round" if record.success else "end")

    monkeypatch.setattr(RUN_TRIAL, run_trial)
    assert main(["run", str(tiny), "--transport", "memory", "--quiet"]) == 0
