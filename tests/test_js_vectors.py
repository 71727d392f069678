"""The JavaScript peer's modules (``rlnc_testbed/web/*.js``) pass their Node tests, and the
vector files those tests read are exactly what the Python implementation makes today.

``tests/js/*.test.mjs`` check the JS draws, field arithmetic, wire format and peer rules
against ``tests/vectors/draws.json`` (``make_vectors.py``) and ``field.json`` / ``wire.json``
(``make_js_vectors.py``), so the two implementations cannot drift. Node is required: CI
installs it; a missing ``node`` is a failure, not a skip.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
JS_TESTS = TESTS / "js"
#: Generous for ~300 tests that take well under a second; bounds a hung node.
NODE_TIMEOUT_SECONDS = 120


def _generator() -> ModuleType:
    path = TESTS / "vectors" / "make_js_vectors.py"
    spec = importlib.util.spec_from_file_location("make_js_vectors", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    texts: dict[str, str] = _generator().rendered()
    return texts


@pytest.mark.parametrize("name", ["field.json", "wire.json"])
def test_vector_file_is_up_to_date(name: str, rendered: dict[str, str]) -> None:
    committed = (TESTS / "vectors" / name).read_text(encoding="utf-8")
    assert committed == rendered[name], (
        f"tests/vectors/{name} differs from what the Python implementation makes; if the "
        "change is intended, run: python tests/vectors/make_js_vectors.py"
    )


def test_node_tests_pass() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            "node is not installed: the JS peer's tests (tests/js) need Node.js >= 18 "
            "(Debian: apt-get install nodejs)"
        )
    # Explicit files rather than the directory: newer Node versions take globs, not folders.
    files = sorted(str(p.relative_to(ROOT)) for p in JS_TESTS.glob("*.test.mjs"))
    assert files, f"no *.test.mjs files in {JS_TESTS}"
    command = [node, "--test", "--test-reporter=tap", *files]
    try:
        result = subprocess.run(
            command,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=NODE_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(
            f"{' '.join(command)} did not finish in {NODE_TIMEOUT_SECONDS} s:\n{exc.stdout}"
        )
    output = result.stdout + result.stderr
    counts = {
        key: int(value) for key, value in re.findall(r"^# (tests|pass|fail) (\d+)$", output, re.M)
    }
    if result.returncode != 0 or counts.get("fail", 1) != 0:
        failures = "\n".join(
            line for line in output.splitlines() if line.lstrip().startswith("not ok")
        )
        pytest.fail(
            f"node --test failed (exit {result.returncode}, {counts}); failing tests:\n"
            f"{failures}\n\nfull output:\n{output[-20000:]}"
        )
    assert counts.get("tests", 0) >= 100 and counts.get("pass") == counts["tests"], output[-5000:]
