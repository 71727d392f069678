"""``rlnc-testbed serve``: the README's "Two terminals" walkthrough, run the way a user runs it.

``serve`` is one OS process; every ``rlnc-testbed node ...`` line it prints is started as it
stands as a further OS process (only the program name is this interpreter's
``-m rlnc_testbed``): nothing is shared but the printed text and the token files it names.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import shlex
import stat
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path
from typing import IO

import aiohttp
import pytest

import rlnc_testbed
from rlnc_testbed.analysis.history import read_history
from rlnc_testbed.protocol.params import Params
from rlnc_testbed.protocol.records import TrialRecord
from rlnc_testbed.signaling.client import SignalingClient, SignalingError
from rlnc_testbed.signaling.server import SignalingServer, trial_credential
from rlnc_testbed.simulation import simulate_trial

SCENARIO = """\
name = "served"
transport = "webrtc"

[params]
peers = 3
symbols = 6
symbol_size = 64
redundancy = 2.0
parents = 2
rounds = 2
trials = 2
"""

PROGRAM = [sys.executable, "-m", "rlnc_testbed"]
_SCENARIO_PARAMS = tomllib.loads(SCENARIO)["params"]


def _outcomes(record: TrialRecord) -> list[tuple[object, ...]]:
    return [rnd.outcome() for rnd in record.rounds]


def _env() -> dict[str, str]:
    """This environment without a token, importing the rlnc_testbed under test."""
    env = {k: v for k, v in os.environ.items() if k != "RLNC_TOKEN"}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(rlnc_testbed.__file__).parents[1]), env.get("PYTHONPATH", "")]
    )
    return env


def _lines(stream: IO[str]) -> queue.Queue[str | None]:
    """The lines of ``stream`` as they come (None at its end), read by a thread."""
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        for line in stream:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def _argv(line: str) -> list[str]:
    words = shlex.split(line)
    assert words[:2] == ["rlnc-testbed", "node"], line
    return PROGRAM + words[1:]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _serve(tmp_path: Path, *options: str) -> subprocess.Popen[str]:
    scenario = tmp_path / "served.toml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    env = _env()
    with (tmp_path / "serve.err").open("w") as err:  # stdout: read as it comes
        return subprocess.Popen(
            [*PROGRAM, "serve", str(scenario), *options],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=env,
            cwd=tmp_path,
        )


def _finish(
    process: subprocess.Popen[str], timeout: float, err: Path | None = None
) -> tuple[int, str]:
    """Wait (bounded) for ``process``; its exit code and stderr (from ``err`` if given)."""
    try:
        if err is None:
            _, text = process.communicate(timeout=timeout)
        else:
            process.wait(timeout=timeout)
            text = err.read_text()
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(f"process {process.args!r} did not finish in {timeout} s")
    return process.returncode, text


def _reap(*processes: subprocess.Popen[str]) -> None:
    """Kill what still runs and close every pipe (nothing left behind by a failed test)."""
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()


def test_two_terminals_serve_and_the_printed_node_lines(tmp_path: Path) -> None:
    """Two external peers and the newcomer pool, two trials of two rounds: every printed
    line run as its own process; exit codes 0, the result table, no token in any cmdline."""
    serve = _serve(
        tmp_path, "--external-peers", "2", "--external-newcomers", "--wait", "30",
        "--json", "served.json", "--history", "served.jsonl",
    )  # fmt: skip
    assert serve.stdout is not None
    out = _lines(serve.stdout)
    printed: list[str] = []
    deadline = time.monotonic() + 30
    while sum(line.startswith("rlnc-testbed node ") for line in printed) < 4:
        try:
            line = out.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            serve.kill()
            pytest.fail(f"serve printed no node lines: {printed}")
        assert line is not None, (
            f"serve ended early: {printed} {(tmp_path / 'serve.err').read_text()}"
        )
        printed.append(line)
    assert printed[0].startswith("signaling server: ws://127.0.0.1:")
    commands = [line for line in printed if line.startswith("rlnc-testbed node ")]
    assert sum("--pool" in c for c in commands) == 2  # one pool node per round
    token_files = {Path(shlex.split(c)[-1]) for c in commands}
    secrets = set()
    for path in token_files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        secrets.add(path.read_text(encoding="utf-8").strip())
    env = _env()
    nodes = [
        subprocess.Popen(
            _argv(c), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        for c in commands
    ]
    try:
        for process in (serve, *nodes):
            cmdline = _cmdline(process.pid)
            assert not any(secret in cmdline for secret in secrets), cmdline
        code, err = _finish(serve, 60, tmp_path / "serve.err")
        rest = list(iter(out.get, None))
        assert code == 0, err
        for process in nodes:
            node_code, node_err = _finish(process, 20)
            assert node_code == 0, node_err
    finally:
        _reap(serve, *nodes)
    table = "\n".join(rest)
    assert "served (webrtc, served)" in table, table
    assert "trials" in table and "success" in table, table
    assert "external peers joined" in err
    assert not any(path.exists() for path in token_files), "serve leaves no token file behind"
    # the outputs: the JSON and the history hold the served trials, as the simulator has them
    params = Params.from_dict({**_SCENARIO_PARAMS, "trials": 2})
    expected = [_outcomes(simulate_trial(params, trial)) for trial in range(2)]
    written = json.loads((tmp_path / "served.json").read_text())
    assert [_outcomes(TrialRecord.from_dict(t)) for t in written["trials"]] == expected
    assert written["provenance"]["command"][:2] == ["rlnc-testbed", "serve"]
    history = read_history(tmp_path / "served.jsonl")
    assert [_outcomes(history.trials[t]) for t in sorted(history.trials)] == expected


def test_one_node_host_line_takes_every_external_peer_slot(tmp_path: Path) -> None:
    """The printed ``node-host --session-slots`` line, run as it stands as one OS process,
    serves all three peer slots and the newcomer pool in both trials: the outcomes are the
    simulator's."""
    serve = _serve(
        tmp_path, "--external-peers", "all", "--external-newcomers", "--wait", "30",
        "--json", "out.json",
    )  # fmt: skip
    assert serve.stdout is not None
    out = _lines(serve.stdout)
    printed: list[str] = []
    deadline = time.monotonic() + 30
    while not any("rlnc-testbed node-host " in line for line in printed):
        line = out.get(timeout=max(0.1, deadline - time.monotonic()))
        assert line is not None, f"serve ended early: {printed}"
        printed.append(line)
    hosted = next(line for line in printed if "rlnc-testbed node-host " in line)
    words = shlex.split(hosted.split(": ", 1)[1])
    assert words[:2] == ["rlnc-testbed", "node-host"] and "--session-slots" in words
    assert words[words.index("--session-slots") + 1] == "1-3"
    assert words[words.index("--session-pool") + 1] == "2"  # one pool newcomer per round
    host = subprocess.Popen(
        PROGRAM + words[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env()
    )
    try:
        code, err = _finish(serve, 60, tmp_path / "serve.err")
        host_code, host_err = _finish(host, 30)
    finally:
        _reap(serve, host)
    assert code == 0, err
    assert host_code == 0, host_err
    # 3 peers x 2 trials, and 2 newcomers x 2 trials: every part to the end
    assert "3 peer slots and 2 pool newcomers; 5 of 5 took part to the end, in 10 trial slots" in (
        host_err
    ), host_err
    params = Params.from_dict({**_SCENARIO_PARAMS, "trials": 2})
    written = json.loads((tmp_path / "out.json").read_text())
    assert [_outcomes(TrialRecord.from_dict(t)) for t in written["trials"]] == [
        _outcomes(simulate_trial(params, trial)) for trial in range(2)
    ]


def test_node_host_session_options_are_checked(tmp_path: Path) -> None:
    from rlnc_testbed.cli.entry import main

    base = ["node-host", "--server", "ws://127.0.0.1:1/ws"]
    assert main([*base, "--session-slots", "1-3"]) == 2  # no --token-dir
    assert main([*base, "--token-dir", str(tmp_path)]) == 2  # no --session-slots
    assert main([*base, "--session-slots", "3-1", "--token-dir", str(tmp_path)]) == 2
    assert main([*base, "--session-slots", "1-2", "--token-dir", str(tmp_path)]) == 2  # no file
    assert main([*base, "--session-pool", "2"]) == 2  # a pool needs the session options


def test_a_missing_external_peer_is_an_error_naming_its_slot(tmp_path: Path) -> None:
    serve = _serve(tmp_path, "--external-peers", "1", "--wait", "1")
    assert serve.stdout is not None
    printed = _lines(serve.stdout)
    code, err = _finish(serve, 30, tmp_path / "serve.err")
    assert any("--slot 1 --trials all" in line for line in iter(printed.get, None))
    serve.stdout.close()
    assert code == 1, err
    assert "peer slot 1 did not join within 1 s" in err, err


def test_a_short_newcomer_pool_is_an_error_before_any_round(tmp_path: Path) -> None:
    """External newcomers and no pool node: the session says so while it waits for them,
    before the trial's first round (not as that round's timeout)."""
    serve = _serve(tmp_path, "--external-peers", "0", "--external-newcomers", "--wait", "1")
    assert serve.stdout is not None
    printed = _lines(serve.stdout)
    code, err = _finish(serve, 30, tmp_path / "serve.err")
    assert sum("--pool" in line for line in iter(printed.get, None)) == 2
    serve.stdout.close()
    assert code == 1, err
    assert "0 of 2 pool newcomers waiting" in err, err
    assert "0 of the 2 pool newcomers a trial needs (one per round) waited within 1 s" in err
    assert "no pool newcomer took" not in err, err


async def test_pool_newcomers_are_counted_only_with_the_pool_token(monkeypatch) -> None:
    """``/health`` counts a pool waiter whose proof holds, each waiter once, for
    POOL_FRESH_SECONDS after its last poll; a wrong proof is refused and not counted, and
    outside a session the header is ignored."""
    from rlnc_testbed.signaling import server as server_module
    from rlnc_testbed.signaling.server import POOL_WAITER_HEADER, pool_waiter_proof

    async def ask(server: SignalingServer, header: str) -> dict[str, object]:
        async with (
            aiohttp.ClientSession() as http,
            http.get(
                f"http://127.0.0.1:{server.port}/health", headers={POOL_WAITER_HEADER: header}
            ) as response,
        ):
            return await response.json()

    async with SignalingServer(admit_run_token=False) as server:
        pool = server.pool_credential()
        good = f"a1:{pool_waiter_proof(pool, 'a1')}"
        assert "pool" not in await ask(server, good)  # no session: not a pool to wait in
        assert server.pool_waiting() == 0
        server.session = {"trial": -1, "trials": 1, "newcomer": None, "done": False}
        assert (await ask(server, good))["pool"] == "waiting"
        assert (await ask(server, good))["pool"] == "waiting"
        assert server.pool_waiting() == 1  # the same waiter twice
        other = server.session_credential("peer", "1")  # a peer's token is not the pool's
        for bad in (
            f"b2:{pool_waiter_proof(other, 'b2')}",
            f"b2:{pool_waiter_proof(pool, 'a1')}",
            "b2",
            f"b-2:{pool_waiter_proof(pool, 'b-2')}",
            f"{'c' * 65}:{pool_waiter_proof(pool, 'c' * 65)}",
        ):
            assert (await ask(server, bad))["pool"] == "refused", bad
        assert server.pool_waiting() == 1
        assert (await ask(server, f"b2:{pool_waiter_proof(pool, 'b2')}"))["pool"] == "waiting"
        assert server.pool_waiting() == 2
        monkeypatch.setattr(server_module, "POOL_FRESH_SECONDS", 0.05)
        await asyncio.sleep(0.1)
        assert server.pool_waiting() == 0  # silent waiters no longer count


async def test_a_pool_node_with_a_wrong_token_is_told_so() -> None:
    from rlnc_testbed.experiment.standalone import serve_trials

    async with SignalingServer(admit_run_token=False) as server:
        server.session = {"trial": -1, "trials": 1, "newcomer": None, "done": False}
        with pytest.raises(SignalingError, match="refused this pool token"):
            await serve_trials(
                server.url, token=server.session_credential("peer", "1"), role="newcomer",
                pool=True,
            )  # fmt: skip
        assert server.pool_waiting() == 0


def test_node_session_options_are_checked(tmp_path: Path) -> None:
    from rlnc_testbed.cli.entry import main

    base = ["node", "--server", "ws://127.0.0.1:1/ws"]
    assert main([*base, "--role", "peer", "--pool"]) == 2
    assert main([*base, "--role", "newcomer", "--trials", "all"]) == 2


async def test_session_credentials_are_per_trial_and_derivable() -> None:
    """A slot's session credential derives every trial's; slots are free again per trial;
    ``/health`` shows the session."""
    async with SignalingServer(admit_run_token=False) as server:
        base = server.session_credential("peer", "1")
        pool = server.pool_credential()
        server.session = {"trial": 0, "trials": 2, "newcomer": None, "done": False}
        for trial in (0, 1):
            server.begin_trial(trial)
            assert server.credential("peer", "1") == trial_credential(base, trial, "1")
            assert server.credential("newcomer", "4") == trial_credential(pool, trial, "4")
            with pytest.raises(SignalingError, match="wrong credential"):
                await SignalingClient.connect(
                    server.url, token=trial_credential(base, 1 - trial, "1"), role="peer", slot="1"
                )
            client = await SignalingClient.connect(
                server.url, token=trial_credential(base, trial, "1"), role="peer", slot="1"
            )
            with pytest.raises(RuntimeError, match="still connected"):
                server.begin_trial(trial + 1)
            await server.disconnect("1", "trial over")
            await client.close()
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{server.port}/health") as response,
        ):
            assert (await response.json())["session"]["trials"] == 2


def test_missing_slots_are_said_as_ranges() -> None:
    from rlnc_testbed.experiment.serve import slot_ranges

    assert slot_ranges(["9", "1", "2", "3", "5", "7", "8", "134"]) == "1-3, 5, 7-9, 134"
    assert slot_ranges(["4"]) == "4" and slot_ranges([]) == ""


def test_serve_session_refuses_bad_external_counts() -> None:
    from rlnc_testbed.experiment.serve import external_slots
    from rlnc_testbed.protocol.params import ParameterError

    params = Params(peers=3, symbols=6, parents=2)
    assert external_slots(params, "all") == ["1", "2", "3"]
    assert external_slots(params, 0) == []
    with pytest.raises(ParameterError, match=r"0\.\.3"):
        external_slots(params, 4)


def test_serve_outputs_are_checked_before_anything_runs(tmp_path: Path, capsys) -> None:
    from rlnc_testbed.cli.entry import main

    scenario = tmp_path / "served.toml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    assert main(["serve", str(scenario), "--json", "-"]) == 2
    assert "stdout" in capsys.readouterr().err
    held = tmp_path / "held.jsonl"
    held.write_text('{"event": "start"}\n', encoding="utf-8")
    assert main(["serve", str(scenario), "--history", str(held)]) == 2
    err = capsys.readouterr().err
    assert "already holds a history" in err and "--overwrite" in err and "--resume" not in err
    assert main(["serve", str(scenario), "--overwrite"]) == 2
    assert "--overwrite needs --history PATH" in capsys.readouterr().err
