"""README stays true: its example test file passes, its commands parse, its files exist."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from rlnc_testbed.cli.entry import build_parser

README = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
ROOT = Path(__file__).parents[1]


def test_the_example_test_file_passes(pytester: pytest.Pytester) -> None:
    (example,) = ["\n".join(lines) for language, lines in _fenced_blocks() if language == "python"]
    pytester.makepyfile(test_user=example)
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    result = pytester.runpytest_subprocess("-p", "no:benchmark", "--rlnc-timeout-factor", "0.2")
    result.assert_outcomes(passed=3)


def _fenced_blocks() -> list[tuple[str, list[str]]]:
    """(language, lines) of every fenced code block, in order."""
    blocks: list[tuple[str, list[str]]] = []
    current: tuple[str, list[str]] | None = None
    for line in README.splitlines():
        if line.startswith("```"):
            if current is None:
                current = (line[3:].strip(), [])
            else:
                blocks.append(current)
                current = None
        elif current is not None:
            current[1].append(line)
    return blocks


def _commands() -> list[list[str]]:
    lines = []
    for language, block in _fenced_blocks():
        if language:
            continue
        for line in block:
            for part in line.split("&&"):
                part = part.strip()
                if part.startswith("rlnc-testbed ") and "[" not in part and "|" not in part:
                    lines.append(shlex.split(part)[1:])
    return lines


def test_readme_commands_parse_and_name_existing_files() -> None:
    commands = _commands()
    assert any(c[0] == "run" for c in commands) and any(c[0] == "sweep" for c in commands)
    parser = build_parser()
    for argv in commands:
        args = parser.parse_args(argv)
        if args.command == "run":
            assert (ROOT / args.scenario).is_file(), args.scenario


def test_two_commands_are_what_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    test_command = 'python -m pip install -e ".[test]" && python -m pytest -n auto'
    assert test_command in README
    assert test_command in ci
