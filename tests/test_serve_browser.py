"""A browser takes external slots of a serve session (``web/session.html``), as the README's
"Two terminals" walkthrough says: ``rlnc-testbed serve`` is its own OS process; real Chromium
opens the page that serve printed and is given only a slot and its token file's text. A peer
slot's page serves it in every trial, pool pages take the announced newcomer slots, and the
trials decide what the simulator decides."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
from browser_support import require_chromium
from test_serve import _SCENARIO_PARAMS, SCENARIO, _env

from rlnc_testbed.browser import Chromium
from rlnc_testbed.protocol.params import Params
from rlnc_testbed.protocol.records import TrialRecord
from rlnc_testbed.simulation import simulate_trial
from rlnc_testbed.timeouts import unit

pytestmark = [pytest.mark.browser, pytest.mark.webrtc]


async def _serve(tmp_path: Path, *options: str) -> asyncio.subprocess.Process:
    """``rlnc-testbed serve`` of test_serve's scenario as its own process (tokens in
    ``tmp_path/tokens``)."""
    scenario = tmp_path / "served.toml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    return await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "rlnc_testbed", "serve", str(scenario)),
        *("--token-dir", str(tmp_path / "tokens"), *options),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_env(),
        cwd=tmp_path,
    )


async def _printed(stream: asyncio.StreamReader, count: int) -> list[str]:
    """serve's stdout up to its browser line (``count`` node lines before it)."""
    lines: list[str] = []
    async with asyncio.timeout(30 * unit()):
        while not any(line.startswith("or take a slot in a browser") for line in lines):
            raw = await stream.readline()
            assert raw, f"serve ended early, having printed {lines}"
            lines.append(raw.decode().rstrip("\n"))
    assert sum(line.startswith("rlnc-testbed node ") for line in lines) == count, lines
    return lines


async def test_browser_pages_take_a_peer_slot_and_the_newcomer_pool(tmp_path: Path) -> None:
    require_chromium()
    out = tmp_path / "served.json"
    serve = await _serve(
        tmp_path,
        "--external-peers",
        "1",
        "--external-newcomers",
        "--wait",
        "60",
        "--json",
        str(out),
    )
    assert serve.stdout is not None and serve.stderr is not None
    try:
        lines = await _printed(serve.stdout, count=1 + 2)  # peer 1, one pool line per round
        page = next(w for line in lines for w in line.split() if w.endswith("/session.html"))
        assert page.startswith("http://127.0.0.1:")
        peer_token = (tmp_path / "tokens" / "peer-1.token").read_text().strip()
        pool_token = (tmp_path / "tokens" / "newcomer-pool.token").read_text().strip()
        async with Chromium() as browser:
            pages = [
                await browser.open_page(f"{page}#slot=1&token={peer_token}", slot="1", role="peer"),
                *[
                    await browser.open_page(
                        f"{page}#slot=pool&token={pool_token}", slot="pool", role="newcomer"
                    )
                    for _ in range(2)
                ],
            ]
            async with asyncio.timeout(90 * unit()):
                err = (await serve.stderr.read()).decode()
                code = await serve.wait()
                while not all(entry.done for entry in pages):
                    await asyncio.sleep(0.05)
            events = list(browser.events)
    finally:
        if serve.returncode is None:
            serve.kill()
            await serve.wait()
    assert code == 0, err
    assert events == [], events  # no console.error, no page error, no page closed early
    consoles = ["\n".join(entry.console) for entry in pages]
    assert "peer 1 over (close: max-round)" in consoles[0] and "trial 1: peer 1" in consoles[0]
    assert "[rlnc] done session over: 2 trials" in consoles[0], consoles[0]
    assert sum("[rlnc] done session over" in c for c in consoles[1:]) == 2, consoles
    served = [line for c in consoles[1:] for line in c.splitlines() if "[rlnc] trial " in line]
    assert len(served) == 4, served  # two newcomers per trial (one may fail in round 2)
    assert sorted(line.split("[rlnc] trial ")[1].split(" over")[0] for line in served) == [
        "0: newcomer 4", "0: newcomer 5", "1: newcomer 4", "1: newcomer 5"
    ]  # fmt: skip
    assert "pool newcomers waiting" in err, err
    params = Params.from_dict({**_SCENARIO_PARAMS, "trials": 2})
    written = json.loads(out.read_text())
    assert [[r.outcome() for r in TrialRecord.from_dict(t).rounds] for t in written["trials"]] == [
        [r.outcome() for r in simulate_trial(params, t).rounds] for t in range(2)
    ]


async def test_a_session_page_refuses_a_wrong_pool_token_and_says_so(tmp_path: Path) -> None:
    require_chromium()
    serve = await _serve(tmp_path, "--external-peers", "0", "--external-newcomers", "--wait", "3")
    assert serve.stdout is not None and serve.stderr is not None
    try:
        lines = await _printed(serve.stdout, count=2)
        page = next(w for line in lines for w in line.split() if w.endswith("/session.html"))
        async with Chromium() as browser:
            entry = await browser.open_page(f"{page}#slot=pool&token={'0' * 64}", slot="pool",
                                            role="newcomer")  # fmt: skip
            async with asyncio.timeout(30 * unit()):
                while not entry.done:
                    await asyncio.sleep(0.05)
            events = list(browser.events)
        async with asyncio.timeout(30 * unit()):
            err = (await serve.stderr.read()).decode()
            code = await serve.wait()
    finally:
        if serve.returncode is None:
            serve.kill()
            await serve.wait()
    assert [e.kind for e in events] == ["console"], events
    assert "refused this pool token" in events[0].text, events
    assert code == 1 and "0 of the 2 pool newcomers" in err, err
