"""Mutation test: seeded changes to the rules of the networked path make the equivalence tests fail.

Each mutation edits one rule in a copy of the package (the roles, the server's round control
and the reference simulator all call :mod:`rlnc_testbed.protocol.rules`; the newcomer's
parent order lives in the roles), then runs ``tests/test_cluster_equivalence.py`` against the
copy in a subprocess (memory transport only: the WebRTC variants add time, not coverage of
the rules). The oracle - the compiled simulator - is the unmutated original (loaded
from its own path, so its numba cache is reused). A mutation that leaves the equivalence tests
green is a hole in them.

``python tests/test_mutations.py`` prints, per mutation, whether it was caught and by which test.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "rlnc_testbed"


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str  # relative to the package
    old: str
    new: str


MUTATIONS = (
    Mutation(
        "parents are always the lowest ids",
        "protocol/rules.py",
        "    return tuple(sorted(ordered[i] for i in server.sample(len(ordered), count)))",
        "    return tuple(ordered[:count])",
    ),
    Mutation(
        "the failed peer is off by one",
        "protocol/rules.py",
        "    return ordered[server.below(len(ordered))]",
        "    return ordered[(server.below(len(ordered)) + 1) % len(ordered)]",
    ),
    Mutation(
        "the newcomer keeps Q + 1",
        "protocol/rules.py",
        "        return Recoder(flat, field=field, rng=stream).recode(q)",
        "        return Recoder(flat, field=field, rng=stream).recode(q + 1)",
    ),
    Mutation(
        "a parent uploads beta - 1",
        "protocol/rules.py",
        "    if beta >= len(stored):\n        return list(stored)",
        "    beta -= 1\n    if beta >= len(stored):\n        return list(stored)",
    ),
    Mutation(
        "the newcomer orders its parents as strings",
        "roles/storage.py",
        "        received = [self._uploads[x][1] for x in sorted(parents, key=int)]",
        "        received = [self._uploads[x][1] for x in sorted(parents)]",
    ),
)

_SHIM = '''"""Mutation runs only: the original compiled simulator (the oracle), loaded from its own
path so that its numba cache is reused."""

import importlib.util
import sys

_spec = importlib.util.spec_from_file_location(__name__, {original!r})
_module = importlib.util.module_from_spec(_spec)
sys.modules[__name__] = _module
_spec.loader.exec_module(_module)
'''


def make_tree(directory: Path) -> Path:
    """A copy of the package and the equivalence tests whose oracle is the original."""
    shutil.copytree(
        PACKAGE, directory / "rlnc_testbed", ignore=shutil.ignore_patterns("__pycache__")
    )
    compiled = directory / "rlnc_testbed" / "simulation" / "compiled.py"
    compiled.write_text(_SHIM.format(original=str(PACKAGE / "simulation" / "compiled.py")))
    (directory / "tests").mkdir()
    shutil.copy(ROOT / "tests" / "test_cluster_equivalence.py", directory / "tests")
    shutil.copy(ROOT / "conftest.py", directory)
    shutil.copy(ROOT / "pyproject.toml", directory)
    return directory


def run_mutated(tree: Path, mutation: Mutation) -> tuple[int, str]:
    """Apply ``mutation`` in ``tree``, run the equivalence tests, restore; (exit code, output)."""
    target = tree / "rlnc_testbed" / mutation.path
    original = target.read_text(encoding="utf-8")
    assert original.count(mutation.old) == 1, f"mutation {mutation.name!r} no longer applies"
    target.write_text(original.replace(mutation.old, mutation.new), encoding="utf-8")
    try:
        env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
        env.pop("PYTEST_XDIST_WORKER", None)
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:xdist", "-p", "no:cacheprovider",
             "-m", "not webrtc", "tests/test_cluster_equivalence.py"],
            cwd=tree, env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    finally:
        target.write_text(original, encoding="utf-8")
    return done.returncode, done.stdout + done.stderr


def _first_failure(output: str) -> str:
    match = re.search(r"^FAILED (\S+)", output, re.MULTILINE)
    return match.group(1) if match else "?"


def test_the_unmutated_copy_passes_and_every_mutation_is_caught(tmp_path: Path) -> None:
    tree = make_tree(tmp_path)
    identity = Mutation("none", "protocol/rules.py", "def newcomer_id(", "def newcomer_id(")
    code, output = run_mutated(tree, identity)
    assert code == 0, f"the unmutated copy must pass:\n{output[-3000:]}"
    survivors = []
    for mutation in MUTATIONS:
        code, output = run_mutated(tree, mutation)
        assert code in (0, 1), f"{mutation.name}: pytest could not run ({code}):\n{output[-3000:]}"
        if code == 0:
            survivors.append(mutation.name)
    assert not survivors, f"mutations the equivalence tests did not catch: {survivors}"


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.name)
def test_each_mutation_still_applies(mutation: Mutation) -> None:
    assert (PACKAGE / mutation.path).read_text(encoding="utf-8").count(mutation.old) == 1


def main() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        tree = make_tree(Path(directory))
        for mutation in MUTATIONS:
            code, output = run_mutated(tree, mutation)
            verdict = f"caught by {_first_failure(output)}" if code == 1 else f"NOT caught ({code})"
            print(f"{mutation.name:<45} {verdict}")


if __name__ == "__main__":
    main()
