"""``rlnc-testbed report``: one self-contained HTML file per run (its JSONL history) or sweep
(its JSON), checked by content: the parameters, provenance and summary numbers are there, the
survival curve has a point per round at the summary's values over its Wilson band, the timeline
a cell per round run coloured by verdict, the Lamport diagram a lane per node of the chosen
trial and an arrow per transfer line of the history; a sweep's report embeds its figures. In
Chromium (marker ``browser``) the file opens from disk with no error and no request, and a
click on a timeline row shows that trial's rounds; a screenshot is kept."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from browser_support import require_chromium

from rlnc_testbed.analysis.history import read_history
from rlnc_testbed.analysis.report import ReportError, write_report
from rlnc_testbed.analysis.stats import wilson_interval
from rlnc_testbed.analysis.summary import summarize
from rlnc_testbed.cli.entry import main

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "js" / "model-fixture.jsonl"  # a real memory-transport run


class _Elements(HTMLParser):
    """Every start tag as (tag, attributes), in order; the text of <script> elements."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.scripts: list[tuple[dict[str, str], str]] = []
        self._in_script: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.elements.append((tag, values))
        if tag == "script":
            self._in_script = values
            self.scripts.append((values, ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = None

    def handle_data(self, data: str) -> None:
        if self._in_script is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)

    def find(self, tag: str, cls: str | None = None, **data: str) -> list[dict[str, str]]:
        out = []
        for name, attrs in self.elements:
            if name != tag:
                continue
            if cls is not None and cls not in attrs.get("class", "").split():
                continue
            if all(attrs.get(f"data-{k}") == v for k, v in data.items()):
                out.append(attrs)
        return out


def _parse(path: Path) -> tuple[str, _Elements]:
    text = path.read_text(encoding="utf-8")
    parser = _Elements()
    parser.feed(text)
    return text, parser


def _inside(text: str, svg_class: str) -> _Elements:
    """The elements of the ``<svg class=svg_class>`` figure only."""
    start = text.index(f"<svg class='{svg_class}'")
    end = text.index("</svg>", start)
    parser = _Elements()
    parser.feed(text[start : end + 6])
    return parser


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, _Elements]:
    out = tmp_path_factory.mktemp("report") / "run.html"
    assert main(["report", str(FIXTURE), "--html", str(out)]) == 0
    text, parser = _parse(out)
    return out, text, parser


def test_the_report_is_self_contained(report: tuple[Path, str, _Elements]) -> None:
    _, text, parser = report
    for _tag, attrs in parser.elements:
        for key in ("src", "href"):
            value = attrs.get(key)
            assert value is None or value.startswith(("data:", "#")), (key, value)
    assert not re.search(r"<link\b", text)
    data = [t for a, t in parser.scripts if a.get("id") == "report-data"]
    assert len(data) == 1
    recorded = json.loads(data[0])
    assert recorded["params"] == read_history(FIXTURE).params.to_dict()
    assert any(a.get("type") is None and "trial-detail" in t for a, t in parser.scripts)


def test_parameters_provenance_and_summary_numbers(report: tuple[Path, str, _Elements]) -> None:
    _, text, _ = report
    contents = read_history(FIXTURE)
    assert contents.provenance is not None
    summary = summarize(contents.params, list(contents.trials.values()))
    for key in contents.params.to_dict():
        assert f"<td>{key}</td>" in text
    assert f"<td class='num'>{contents.params.per_peer}</td>" in text
    assert contents.provenance["git"]["commit"] in text
    assert contents.provenance["started"] in text
    assert "memory" in text
    lo, hi = summary.ci95
    assert f"<td class='num'>{summary.trials}</td><td class='num'>{summary.successes}</td>" in text
    assert f"{summary.success_rate:.3f}" in text and f"[{lo:.3f}, {hi:.3f}]" in text
    assert f"{summary.repair_bytes_per_round:.0f}" in text


def test_survival_curve_points_and_band(report: tuple[Path, str, _Elements]) -> None:
    _, text, _ = report
    contents = read_history(FIXTURE)
    summary = summarize(contents.params, list(contents.trials.values()))
    figure = _inside(text, "survival")
    points = figure.find("circle", "point")
    assert [int(p["data-round"]) for p in points] == list(range(1, contents.params.rounds + 1))
    assert [float(p["data-value"]) for p in points] == pytest.approx(list(summary.survival))
    assert len(figure.find("path", "band")) == 1 and len(figure.find("path", "curve")) == 1
    lost_round = next(r for r, s in enumerate(summary.survival, start=1) if s < 1)
    lo, hi = wilson_interval(round(summary.survival[lost_round - 1] * summary.trials),
                             summary.trials)  # fmt: skip
    assert f"[{lo:.3f}, {hi:.3f}]" in text


def test_timeline_has_a_cell_per_round_coloured_by_verdict(
    report: tuple[Path, str, _Elements],
) -> None:
    _, text, _ = report
    contents = read_history(FIXTURE)
    figure = _inside(text, "timeline")
    rows = figure.find("g", "trial-row")
    assert [int(r["data-trial"]) for r in rows] == sorted(contents.trials)
    cells = figure.find("rect", "cell")
    expected = [(t, r.round, r.verdict) for t in sorted(contents.trials)
                for r in contents.trials[t].rounds]  # fmt: skip
    assert [(int(c["data-trial"]), int(c["data-round"]), c["data-verdict"]) for c in cells] == (
        expected
    )
    colours = {c["data-verdict"]: c["fill"] for c in cells}
    assert colours["ok"] != colours["undecodable"]


def _transfers(trial: int) -> list[dict[str, Any]]:
    return [e["link"] for e in read_history(FIXTURE).events
            if e["event"] == "transfer" and e["trial"] == trial]  # fmt: skip


def test_lamport_diagram_of_the_lost_trial_by_default(report: tuple[Path, str, _Elements]) -> None:
    _, text, _ = report
    contents = read_history(FIXTURE)
    lost = min(t for t, r in contents.trials.items() if not r.success)
    figure = _inside(text, "lamport")
    assert f"<svg class='lamport' data-trial='{lost}'" in text
    record = contents.trials[lost]
    nodes = {str(i) for i in range(1, contents.params.peers + 1)}
    nodes |= {str(r.newcomer) for r in record.rounds}
    lanes = [lane["data-node"] for lane in figure.find("g", "lane")]
    assert sorted(lanes) == sorted([*nodes, "collector"]) and len(lanes) == len(set(lanes))
    arrows = figure.find("line", "arrow")
    links = _transfers(lost)
    assert len(arrows) == len(links)
    assert sorted(int(a["data-bytes"]) for a in arrows) == sorted(
        int(link["bytes_received"]) for link in links
    )
    kinds = [a["data-kind"] for a in arrows]
    assert kinds.count("repair") == sum(len(r.parents) for r in record.rounds)
    assert kinds.count("collect") == sum(1 for link in links if link["label"] == "collect")
    assert kinds.count("provenance") == len(record.rounds)
    assert len(figure.find("g", "failure")) == len(record.rounds)
    verdicts = [v["data-verdict"] for v in figure.find("circle", "verdict")]
    assert verdicts == [r.verdict for r in record.rounds]
    for link in links:  # byte counts are printed
        assert f">{link['bytes_received']} B<" in text


def test_trial_option_chooses_the_diagram(tmp_path: Path) -> None:
    out = tmp_path / "t2.html"
    write_report(FIXTURE, out, trial=2)
    text, _ = _parse(out)
    figure = _inside(text, "lamport")
    assert "data-trial='2'" in text
    assert len(figure.find("line", "arrow")) == len(_transfers(2))
    with pytest.raises(ReportError, match="trial 7 is not in the history"):
        write_report(FIXTURE, tmp_path / "t7.html", trial=7)


def test_a_sim_history_gets_planned_uploads(tmp_path: Path) -> None:
    from rlnc_testbed.experiment.runner import run_point
    from rlnc_testbed.protocol.params import Params

    params = Params(peers=6, symbols=8, symbol_size=16, parents=2, rounds=5, trials=4)
    history = tmp_path / "sim.jsonl"
    run_point(params, transport="sim", history=history)
    out = tmp_path / "sim.html"
    assert main(["report", str(history), "--html", str(out), "--trial", "0"]) == 0
    text, _ = _parse(out)
    figure = _inside(text, "lamport")
    rounds = read_history(history).trials[0].rounds
    planned = figure.find("line", "planned")
    assert len(planned) == len(figure.find("line", "arrow")) == params.parents * len(rounds)
    assert len(_inside(text, "timeline").find("rect", "cell")) == sum(
        len(t.rounds) for t in read_history(history).trials.values()
    )


def test_a_sweep_json_gets_its_table_and_figures(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep.json"
    argv = ["sweep", "--scheme", "rlnc", "replication", "--parents", "1", "2", "3",
            "--trials", "5", "--rounds", "4", "--json", str(sweep), "--quiet"]  # fmt: skip
    assert main(argv) == 0
    out = tmp_path / "sweep.html"
    assert main(["report", str(sweep), "--html", str(out)]) == 0
    text, parser = _parse(out)
    images = parser.find("img")
    assert len(images) == 4  # P varies: the storage vs repair bandwidth figure too
    assert "cut-set bound" in images[3]["alt"]
    assert all(i["src"].startswith("data:image/png;base64,") for i in images)
    payload = json.loads(sweep.read_text(encoding="utf-8"))
    summary_table = text[text.index("<table class='summary'>") :]
    summary_table = summary_table[: summary_table.index("</table>")]
    assert summary_table.count("<tr>") == 1 + len(payload["points"])
    for point in payload["points"]:
        lo, hi = point["ci95"]
        assert f"[{lo:.3f}, {hi:.3f}]" in summary_table
    assert payload["provenance"]["command"][0] in text


def test_bad_inputs_are_input_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.json"
    junk.write_text('{"nothing": 1}', encoding="utf-8")
    assert main(["report", str(junk), "--html", str(tmp_path / "o.html")]) == 2
    assert "not a sweep's JSON" in capsys.readouterr().err
    assert main(["report", str(FIXTURE), "--html", str(tmp_path / "o.txt")]) == 2
    assert "--html path must end in .html" in capsys.readouterr().err
    assert main(["report", str(FIXTURE), "--html", str(tmp_path / "o.html"), "--trial", "9"]) == 2
    assert "trial 9 is not in the history" in capsys.readouterr().err


@pytest.mark.browser
async def test_the_report_opens_from_disk_in_chromium(
    report: tuple[Path, str, _Elements], tmp_path: Path, keep_artifact: Any
) -> None:
    from rlnc_testbed.browser import Chromium

    require_chromium()
    path, _, _ = report
    contents = read_history(FIXTURE)
    async with Chromium() as browser:
        requests: list[str] = []
        browser.context.on("request", lambda request: requests.append(request.url))
        opened = await browser.open_page(path.as_uri(), slot="report", role="report")
        page = opened.page
        await page.set_viewport_size({"width": 1200, "height": 900})
        lanes = await page.eval_on_selector_all("svg.lamport g.lane", "n => n.length")
        arrows = await page.eval_on_selector_all("svg.lamport line.arrow", "n => n.length")
        lost = min(t for t, r in contents.trials.items() if not r.success)
        assert lanes == contents.params.peers + len(contents.trials[lost].rounds) + 1
        assert arrows == len(_transfers(lost))
        await page.click("svg.timeline g.trial-row[data-trial='1']")
        detail = await page.inner_text("#trial-detail")
        assert "trial 1: lost" in detail and "undecodable" in detail
        target = tmp_path / "report.png"
        await page.screenshot(path=str(target), full_page=True)
        keep_artifact(target)
        assert requests == [path.as_uri()], requests
        assert not browser.events, [e.describe() for e in browser.events]
