"""README stays true: its example test file passes, its commands parse, its files exist."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from rlnc_testbed.cli.entry import build_parser

README = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
ROOT = Path(__file__).parents[1]


def _python_blocks() -> list[str]:
    return ["\n".join(lines) for language, lines in _fenced_blocks() if language == "python"]


def test_the_example_test_file_passes(pytester: pytest.Pytester) -> None:
    """The "Your own tests" file, its Hypothesis property at 300 examples included."""
    example, _ = _python_blocks()
    assert "max_examples=300" in example and "params_and_data(" in example
    pytester.makepyfile(test_user=example)
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    result = pytester.runpytest_subprocess("-p", "no:benchmark", "--rlnc-timeout-factor", "0.2")
    result.assert_outcomes(passed=3)


def test_the_scenario_module_example_is_the_projects_and_runs(pytester: pytest.Pytester) -> None:
    """The marker example is scenarios/test_scenarios.py's test, and runs a TOML file beside
    it (and ``--rlnc-scenarios`` runs the same file with no Python at all)."""
    _, module = _python_blocks()
    project = (ROOT / "scenarios" / "test_scenarios.py").read_text(encoding="utf-8")
    for line in ('@pytest.mark.rlnc_scenarios(".")', "    rlnc_check_scenario(scenario)"):
        assert line in module.splitlines() and line in project.splitlines()
    pytester.makepyfile(test_mine=module)
    pytester.makefile(
        ".toml",
        mine='name = "mine"\n[params]\npeers = 3\nsymbols = 6\nparents = 2\nrounds = 1\n'
        "failures = [2]\n[expect]\nsuccess = true\n",
    )
    pytester.runpytest_subprocess("-p", "no:benchmark").assert_outcomes(passed=1)
    pytester.path.joinpath("test_mine.py").unlink()
    result = pytester.runpytest_subprocess("-p", "no:benchmark", "--rlnc-scenarios", ".")
    result.assert_outcomes(passed=1)


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


def _section(title: str) -> str:
    """The README text under ``## title``, up to the next ``## `` heading."""
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end >= 0 else None]


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def _options(parser: argparse.ArgumentParser) -> set[str]:
    """The long options a parser documents (not -h/--help, not suppressed ones)."""
    return {
        option
        for action in parser._actions
        if action.help != argparse.SUPPRESS and not isinstance(action, argparse._HelpAction)
        for option in action.option_strings
        if option.startswith("--")
    }


def _synopsis() -> dict[str, str]:
    """The CLI section's first block: command (or '' for the top level) -> its synopsis."""
    (block, *_) = [lines for language, lines in _fenced_blocks_of(_section("CLI")) if not language]
    entries: dict[str, str] = {}
    current = None
    for line in block:
        if line.startswith(" ") and current is not None:
            entries[current] += " " + line.strip()
            continue
        words = line.split()
        at = next(i for i, word in enumerate(words) if word == "rlnc-testbed")
        following = words[at + 1] if len(words) > at + 1 else ""
        current = following if re.fullmatch(r"[a-z][a-z-]*", following) else ""
        entries[current] = line
    return entries


def _fenced_blocks_of(text: str) -> list[tuple[str, list[str]]]:
    blocks: list[tuple[str, list[str]]] = []
    current: tuple[str, list[str]] | None = None
    for line in text.splitlines():
        if line.startswith("```"):
            if current is None:
                current = (line[3:].strip(), [])
            else:
                blocks.append(current)
                current = None
        elif current is not None:
            current[1].append(line)
    return blocks


_OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def test_readme_cli_synopsis_names_exactly_the_options_of_each_command() -> None:
    parser = build_parser()
    commands = _subcommands(parser)
    synopsis = _synopsis()
    assert set(synopsis) == {"", *commands}, "every subcommand has a synopsis line"
    assert "{" + ",".join(commands) + "}" in synopsis[""]
    for name, text in synopsis.items():
        wanted = _options(commands[name] if name else parser)
        assert set(_OPTION.findall(text)) == wanted, name


def test_readme_cli_section_names_only_real_options_and_every_one() -> None:
    parser = build_parser()
    real = _options(parser).union(*(_options(p) for p in _subcommands(parser).values()))
    real.add("--help")
    named = set(_OPTION.findall(_section("CLI")))
    assert named - real == set(), "the README names options that do not exist"
    assert real - named == set(), "options the README's CLI section does not name"


def test_readme_cli_section_documents_the_outputs() -> None:
    from rlnc_testbed.analysis.export import POINT_COLUMNS, TRIAL_COLUMNS

    section = _section("CLI")
    for column in (*POINT_COLUMNS, *TRIAL_COLUMNS):
        assert f"`{column}`" in section, column
    for key in ("provenance", "scenario", "summary", "trials", "params", "axes", "collapsed",
                "recorded", "tool", "git", "python", "numpy", "aiortc", "command", "started",
                "ended"):  # fmt: skip
        assert f"`{key}`" in section, key
