"""One self-contained HTML report per run (its JSONL history) or per sweep (its ``--json``).

Everything is inlined, so the file opens from disk with no server: the styles, the figures
(SVG drawn here; a sweep's figures are :mod:`rlnc_testbed.analysis.plots` PNGs as data URIs),
the data (``<script type="application/json" id="report-data">``) and one small script that
shows a trial's rounds when its timeline row is clicked.

A run's report holds the parameters and the provenance of its history's start line, the summary
table (:func:`~rlnc_testbed.analysis.summary.summarize` of the recorded trials), the survival
curve with a 95% Wilson band per round, a timeline of every trial (one cell per round, coloured
by verdict) and a Lamport-style diagram of one trial: one lane per node that took part (peers,
newcomers, the collector), time downwards, one arrow per ``transfer`` line of the history
(repair uploads, deliveries to the collector, the newcomer's provenance record) labelled with
its bytes; a history without links (the sim transport) gets dashed arrows for the planned
uploads instead. Drawn elements carry classes and ``data-`` attributes that the tests count.
"""

from __future__ import annotations

import base64
import html
import json
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from .history import HistoryContents, read_history
from .stats import wilson_interval
from .summary import PointSummary, SummaryError, summarize

__all__ = [
    "LAMPORT_MAX_ROUNDS",
    "VERDICT_COLOURS",
    "ReportError",
    "history_report",
    "lamport_svg",
    "survival_svg",
    "sweep_report",
    "timeline_svg",
    "write_report",
]

#: Verdict colours (the system model page uses the same, rlnc_testbed/web/model-view.js).
VERDICT_COLOURS: Mapping[str, str] = {
    "ok": "#2a9d4a",
    "undecodable": "#e08a1e",
    "corrupt": "#c0392b",
    "setup-timeout": "#7d5ba6",
    "repair-timeout": "#7d5ba6",
    "collect-timeout": "#7d5ba6",
    "signaling-lost": "#555555",
    "error": "#8b0000",
}
#: The Lamport diagram draws at most this many rounds of its trial (a note says so).
LAMPORT_MAX_ROUNDS = 40
#: The timeline draws at most this many trials (a note says so).
TIMELINE_MAX_TRIALS = 500

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 auto; max-width: 1200px; padding: 12px 20px;
       color: #222; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0; }
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.note { color: #666; font-size: 12px; } figure { margin: 8px 0; } img { max-width: 100%; }
svg text { font-family: system-ui, sans-serif; }
.legend span { display: inline-block; margin-right: 12px; font-size: 12px; }
.legend i { display: inline-block; width: 12px; height: 12px; margin-right: 4px;
            vertical-align: -2px; border-radius: 2px; }
.trial-row { cursor: pointer; } .trial-row:hover rect { stroke: #000; }
#trial-detail { font-size: 12px; }
code { font-size: 12px; }
"""

_SCRIPT = """
(() => {
  const data = JSON.parse(document.getElementById('report-data').textContent);
  const box = document.getElementById('trial-detail');
  if (!box || !data.trials) return;
  const esc = (v) => String(v).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const show = (trial) => {
    const t = data.trials.find((x) => x.trial === trial);
    if (!t) return;
    const rows = t.rounds.map((r) => `<tr><td class="num">${esc(r.round)}</td>` +
      `<td class="num">${esc(r.failed)}</td><td class="num">${esc(r.newcomer)}</td>` +
      `<td>${esc(r.parents.join(', '))}</td><td class="num">${esc(r.newcomer_rank)}</td>` +
      `<td class="num">${esc(r.global_rank)}</td><td>${esc(r.verdict)}</td></tr>`).join('');
    box.innerHTML = `<p>trial ${esc(t.trial)}: ${t.success ? 'survived' : 'lost'}` +
      `${t.finish ? ` (${esc(t.finish)})` : ''}</p><table><tr><th>round</th><th>failed</th>` +
      `<th>newcomer</th><th>parents</th><th>newcomer rank</th><th>global rank</th>` +
      `<th>verdict</th></tr>${rows}</table>`;
  };
  document.querySelectorAll('.trial-row').forEach((row) => {
    row.addEventListener('click', () => show(Number(row.dataset.trial)));
  });
})();
"""


class ReportError(ValueError):
    """The input cannot be reported on (not a history or a sweep's JSON, no such trial)."""


# -- entry point --------------------------------------------------------------------------


def write_report(
    source: str | os.PathLike[str], out: str | os.PathLike[str], *, trial: int | None = None
) -> Path:
    """Write the report of ``source`` (a JSONL history, or a sweep's JSON) to ``out``."""
    source, target = Path(source), Path(out)
    kind = _kind(source)
    if kind == "history":
        text = history_report(read_history(source), name=source.name, trial=trial)
    else:
        if trial is not None:
            raise ReportError("--trial is for a run's history, not a sweep's JSON")
        try:
            payload = json.loads(source.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ReportError(f"{source}: not a sweep's JSON: {exc}") from None
        text = sweep_report(payload, name=source.name)
    target.write_text(text, encoding="utf-8")
    return target


def _kind(source: Path) -> str:
    """``history`` when the first line is a history start line, else ``sweep``."""
    with source.open("rb") as handle:
        first = handle.readline(1 << 20)
    try:
        value = json.loads(first)
    except (UnicodeDecodeError, json.JSONDecodeError):
        value = None
    if isinstance(value, dict) and value.get("event") == "start":
        return "history"
    if source.suffix == ".jsonl":
        raise ReportError(f"{source}: the first line is not a history 'start' line")
    return "sweep"


# -- a run --------------------------------------------------------------------------------


def history_report(contents: HistoryContents, *, name: str, trial: int | None = None) -> str:
    """The HTML of one run's report."""
    params = contents.params
    trials = [contents.trials[t] for t in sorted(contents.trials)]
    parts = [f"<h1>rlnc-testbed run report: {_e(name)}</h1>"]
    parts.append(
        f"<p>{_e(params.scheme)} over {_e(contents.transport or 'an unrecorded transport')}: "
        f"{len(trials)} of {params.trials} trials recorded"
        + (f", resumed {contents.resumes}x" if contents.resumes else "")
        + (", the last line truncated (a crash)" if contents.truncated else "")
        + (
            f", {contents.incomplete_rounds} round(s) cut short"
            if contents.incomplete_rounds
            else ""
        )
        + "</p>"
    )
    parts.append("<h2>Parameters</h2>")
    parts.append(_table(["parameter", "value"], [[k, v] for k, v in params.to_dict().items()],
                        cls="params"))  # fmt: skip
    parts.append(_derived(contents))
    parts.append("<h2>Provenance</h2>")
    parts.append(_provenance(contents.provenance, contents.transport))
    parts.append("<h2>Summary</h2>")
    summary = None
    if trials:
        try:
            summary = summarize(params, trials)
        except SummaryError as exc:
            parts.append(f"<p class='note'>no summary: {_e(str(exc))}</p>")
    if summary is not None:
        parts.append(_summary_table([summary]))
        parts.append("<h2>Survival</h2>")
        parts.append(
            "<p class='note'>Fraction of trials still retrievable after each round, with the "
            "95% Wilson interval of each round's count as a band.</p>"
        )
        parts.append(f"<figure>{survival_svg(summary)}</figure>")
        parts.append(_survival_table(summary))
    else:
        parts.append("<p class='note'>no finished trial recorded yet</p>")
    rounds_of = _rounds_by_trial(contents)
    parts.append("<h2>Timeline</h2>")
    parts.append(
        "<p class='note'>One row per trial, one cell per round, coloured by verdict; click a "
        "row for its rounds.</p>"
    )
    parts.append(_legend())
    parts.append(f"<figure>{timeline_svg(trials, params.rounds)}</figure>")
    parts.append("<div id='trial-detail'></div>")
    chosen = _chosen_trial(contents, trial)
    parts.append(f"<h2>Lamport diagram of trial {chosen}</h2>")
    parts.append(
        "<p class='note'>One lane per node of the trial (peers, newcomers as they join, the "
        "collector), time downwards; one arrow per transfer the history records, labelled with "
        "its bytes: repair uploads (blue), deliveries to the collector (grey), the newcomer's "
        "provenance record (green). A failed peer's lane ends with a cross.</p>"
    )
    parts.append(f"<figure>{lamport_svg(contents, chosen, rounds_of.get(chosen, []))}</figure>")
    data: dict[str, Any] = {
        "params": params.to_dict(),
        "transport": contents.transport,
        "provenance": contents.provenance,
        "summary": summary.to_dict() if summary is not None else None,
        "trials": [t.to_dict() for t in trials],
        "lamport_trial": chosen,
    }
    for record in data["trials"]:
        for r in record["rounds"]:
            r.pop("stored", None)  # digests: long and not shown
    return _page(f"run report: {name}", "\n".join(parts), data)


def _derived(contents: HistoryContents) -> str:
    p = contents.params
    rows = [
        ["K (packets made)", p.total_packets_made],
        ["Q (packets per peer)", p.per_peer],
        ["beta (upload per parent)", p.upload],
    ]
    return _table(["derived", "value"], rows, cls="derived")


def _provenance(provenance: Mapping[str, Any] | None, transport: str | None) -> str:
    if not provenance:
        return "<p class='note'>the history's start line records no provenance (older)</p>"
    rows: list[list[Any]] = [["transport", transport]]
    for key, value in provenance.items():
        if isinstance(value, Mapping):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        elif isinstance(value, list):
            value = " ".join(str(v) for v in value)
        rows.append([key, value])
    return _table(["", "value"], rows, cls="provenance")


def _summary_table(summaries: Sequence[PointSummary], *, varying: Sequence[str] = ()) -> str:
    head = [*varying, "trials", "successes", "success rate", "95% CI", "unjudged",
            "repair B/round", "collect B/round"]  # fmt: skip
    rows = []
    for s in summaries:
        lo, hi = s.ci95
        rows.append(
            [*(getattr(s, v) for v in varying), s.trials, s.successes, f"{s.success_rate:.3f}",
             f"[{lo:.3f}, {hi:.3f}]",
             ", ".join(f"{k} {n}" for k, n in s.unjudged) or "0",
             f"{s.repair_bytes_per_round:.0f}", f"{s.mean_collect_bytes_per_round:.0f}"]
        )  # fmt: skip
    return _table(head, rows, cls="summary")


def _survival_bands(summary: PointSummary) -> list[tuple[int, float, float, float]]:
    """(round, survival, lo, hi) per round: the 95% Wilson interval of the survivors' count."""
    n = summary.trials
    out = []
    for r, value in enumerate(summary.survival, start=1):
        count = round(value * n)
        lo, hi = wilson_interval(count, n)
        out.append((r, value, lo, hi))
    return out


def _survival_table(summary: PointSummary) -> str:
    rows = [[r, f"{v:.3f}", f"[{lo:.3f}, {hi:.3f}]"] for r, v, lo, hi in _survival_bands(summary)]
    if len(rows) > 30:
        rows = [*rows[:15], ["…", "", ""], *rows[-15:]]
    return (
        "<details><summary>survival per round</summary>"
        + _table(["round", "surviving", "95% CI"], rows, cls="survival")
        + "</details>"
    )


def survival_svg(summary: PointSummary, *, width: int = 720, height: int = 300) -> str:
    """The survival curve (``path.curve``, a ``circle.point`` per round) over its 95% Wilson
    band (``path.band``)."""
    bands = _survival_bands(summary)
    m = {"l": 56, "r": 16, "t": 14, "b": 40}
    rounds = max(1, summary.rounds)

    def x(r: float) -> float:
        return m["l"] + (r - 1) / max(1, rounds - 1) * (width - m["l"] - m["r"])

    def y(v: float) -> float:
        return m["t"] + (1 - v) * (height - m["t"] - m["b"])

    out = [f"<svg class='survival' xmlns='http://www.w3.org/2000/svg' width='{width}' "
           f"height='{height}' viewBox='0 0 {width} {height}'>"]  # fmt: skip
    for v in (0, 0.25, 0.5, 0.75, 1):
        out.append(f"<line x1='{m['l']}' x2='{width - m['r']}' y1='{y(v):.1f}' y2='{y(v):.1f}' "
                   "stroke='#e5e5e5'/>")  # fmt: skip
        out.append(f"<text x='{m['l'] - 6}' y='{y(v) + 4:.1f}' font-size='11' "
                   f"text-anchor='end'>{v:.2f}</text>")  # fmt: skip
    step = max(1, -(-rounds // 12))
    for r in range(1, rounds + 1, step):
        out.append(f"<text x='{x(r):.1f}' y='{height - m['b'] + 16}' font-size='11' "
                   f"text-anchor='middle'>{r}</text>")  # fmt: skip
    out.append(f"<text x='{(width + m['l']) / 2:.0f}' y='{height - 6}' font-size='12' "
               "text-anchor='middle'>round</text>")  # fmt: skip
    out.append(
        f"<text x='14' y='{height / 2:.0f}' font-size='12' text-anchor='middle' "
        f"transform='rotate(-90 14 {height / 2:.0f})'>fraction retrievable</text>"
    )
    if bands:
        upper = " ".join(f"{x(r):.1f},{y(hi):.1f}" for r, _, _, hi in bands)
        lower = " ".join(f"{x(r):.1f},{y(lo):.1f}" for r, _, lo, _ in reversed(bands))
        out.append(f"<path class='band' d='M{upper} L{lower} Z' fill='#1f6fb2' "
                   "fill-opacity='0.18' stroke='none'/>")  # fmt: skip
        curve = " L".join(f"{x(r):.1f},{y(v):.1f}" for r, v, _, _ in bands)
        out.append(f"<path class='curve' d='M{curve}' fill='none' stroke='#1f6fb2' "
                   "stroke-width='2'/>")  # fmt: skip
        if rounds <= 60:
            for r, v, lo, hi in bands:
                out.append(
                    f"<circle class='point' data-round='{r}' data-value='{v:.6g}' "
                    f"cx='{x(r):.1f}' cy='{y(v):.1f}' r='3' fill='#1f6fb2'><title>round {r}: "
                    f"{v:.3f} [{lo:.3f}, {hi:.3f}]</title></circle>"
                )
    out.append("</svg>")
    return "".join(out)


def _legend() -> str:
    items = "".join(
        f"<span><i style='background:{colour}'></i>{_e(verdict)}</span>"
        for verdict, colour in VERDICT_COLOURS.items()
    )
    return f"<div class='legend'>{items}</div>"


def timeline_svg(trials: Sequence[Any], rounds: int) -> str:
    """One ``g.trial-row`` per trial, one ``rect.cell`` (``data-verdict``) per round run."""
    shown = list(trials)[:TIMELINE_MAX_TRIALS]
    most = max([rounds, 1, *(len(t.rounds) for t in shown)])
    cell = max(1.0, min(16.0, 900 / max(1, most)))
    row = 14 if len(shown) <= 60 else 6
    left = 64
    width = int(left + cell * most + 10)
    height = int(20 + row * len(shown) + 6)
    out = [f"<svg class='timeline' xmlns='http://www.w3.org/2000/svg' width='{width}' "
           f"height='{height}' viewBox='0 0 {width} {height}'>"]  # fmt: skip
    for r in range(1, most + 1, max(1, -(-most // 20))):
        out.append(f"<text x='{left + (r - 0.5) * cell:.1f}' y='12' font-size='10' "
                   f"text-anchor='middle'>{r}</text>")  # fmt: skip
    for i, record in enumerate(shown):
        top = 18 + i * row
        status = "survived" if record.success else "lost"
        out.append(f"<g class='trial-row' data-trial='{record.trial}' data-status='{status}'>")
        if row >= 10:
            out.append(f"<text x='{left - 6}' y='{top + row - 3}' font-size='10' "
                       f"text-anchor='end'>#{record.trial}</text>")  # fmt: skip
        for rnd in record.rounds:
            colour = VERDICT_COLOURS.get(rnd.verdict, "#999")
            out.append(
                f"<rect class='cell' data-trial='{record.trial}' data-round='{rnd.round}' "
                f"data-verdict='{_e(rnd.verdict)}' x='{left + (rnd.round - 1) * cell:.1f}' "
                f"y='{top}' width='{max(0.8, cell - 1):.1f}' height='{row - 2}' fill='{colour}'>"
                f"<title>trial {record.trial} round {rnd.round}: {_e(rnd.verdict)}</title></rect>"
            )
        if record.unjudged:
            x = left + len(record.rounds) * cell
            out.append(f"<text class='unjudged' x='{x + 3:.1f}' y='{top + row - 3}' "
                       f"font-size='9' fill='#7d5ba6'>{_e(record.unjudged)}</text>")  # fmt: skip
        out.append("</g>")
    out.append("</svg>")
    note = ""
    if len(trials) > len(shown):
        note = f"<p class='note'>the first {len(shown)} of {len(trials)} trials are drawn</p>"
    return "".join(out) + note


def _rounds_by_trial(contents: HistoryContents) -> dict[int, list[list[dict[str, Any]]]]:
    """Each trial's rounds as the lists of their events, in file order (a re-run trial: its
    last run)."""
    out: dict[int, list[list[dict[str, Any]]]] = {}
    for event in contents.events:
        name = event.get("event")
        if name == "failure":
            rounds = out.setdefault(event["trial"], [])
            if rounds and event["round"] <= rounds[-1][0]["round"]:
                rounds.clear()  # the trial ran again (a resumed run)
            rounds.append([event])
        elif "round" in event and event.get("trial") in out and out[event["trial"]]:
            current = out[event["trial"]][-1]
            if current[0]["round"] == event["round"]:
                current.append(event)
    return out


def _chosen_trial(contents: HistoryContents, trial: int | None) -> int:
    recorded = sorted({t for t in contents.trials} | {t for t, _ in contents.rounds})
    if trial is not None:
        if trial not in recorded:
            listing = ", ".join(map(str, recorded[:20])) + (" ..." if len(recorded) > 20 else "")
            raise ReportError(f"trial {trial} is not in the history (it has: {listing or 'none'})")
        return trial
    for t in sorted(contents.trials):
        if not contents.trials[t].success:
            return t
    return recorded[0] if recorded else 0


def lamport_svg(
    contents: HistoryContents, trial: int, rounds: Sequence[Sequence[Mapping[str, Any]]]
) -> str:
    """Lanes (``g.lane``, ``data-node``) per node, one ``line.arrow`` per transfer line of the
    trial (``data-kind`` repair, collect or provenance; ``data-bytes``), or dashed
    ``line.arrow.planned`` uploads where the history has no links."""
    p = contents.params
    rounds = list(rounds)[:LAMPORT_MAX_ROUNDS]
    nodes: list[str] = [str(i) for i in range(1, p.peers + 1)]
    for events in rounds:
        for event in events:
            if event.get("event") == "parents" and str(event["newcomer"]) not in nodes:
                nodes.append(str(event["newcomer"]))
    nodes.append("collector")
    lane = 64 if len(nodes) <= 24 else 40
    left = 70
    x = {node: left + i * lane for i, node in enumerate(nodes)}
    step = 30
    y = 40.0
    born = {node: y for node in nodes if node != "collector" and int(node) <= p.peers}
    born["collector"] = y
    died: dict[str, float] = {}
    body: list[str] = []
    for events in rounds:
        number = events[0]["round"]
        top = y
        y += 10
        verdict = ""
        links = [e["link"] for e in events if e.get("event") == "transfer"]
        for event in events:
            name = event.get("event")
            if name == "failure":
                node = str(event["peer"])
                y += step / 2
                died[node] = y
                body.append(_cross(x.get(node, left), y, f"round {number}: peer {node} fails"))
            elif name == "parents":
                node = str(event["newcomer"])
                y += step / 2
                born.setdefault(node, y)
                body.append(
                    f"<circle class='join' cx='{x[node]}' cy='{y:.1f}' r='5' "
                    f"fill='#2a9d4a'><title>newcomer {node} joins</title></circle>"
                )
                if not links:  # no measured links: the planned uploads
                    for parent in event["parents"]:
                        body.append(
                            _arrow(
                                x[str(parent)],
                                y + 2,
                                x[node],
                                y + step - 6,
                                "repair",
                                None,
                                f"{p.upload} pkts",
                                planned=True,
                            )
                        )
                    y += step
            elif name == "transfer":
                pass
            elif name == "verdict":
                verdict = event["verdict"]
        for kind in ("repair", "collect", "provenance"):
            mine = [link for link in links if _link_kind(link) == kind]
            if not mine:
                continue
            y += 4
            for link in mine:
                source, target = str(link.get("remote")), str(link.get("local"))
                if source not in x or target not in x:
                    continue
                nbytes = int(link.get("bytes_received") or link.get("bytes_sent") or 0)
                body.append(_arrow(x[source], y, x[target], y + step - 6, kind, nbytes,
                                   _bytes(nbytes)))  # fmt: skip
            y += step
        y += 8
        colour = VERDICT_COLOURS.get(verdict, "#999")
        body.append(
            f"<circle class='verdict' data-round='{number}' data-verdict='{_e(verdict)}' "
            f"cx='{x['collector']}' cy='{y:.1f}' r='7' fill='{colour}'><title>round {number}: "
            f"{_e(verdict)}</title></circle>"
        )
        body.append(f"<text x='{x['collector'] + 12}' y='{y + 4:.1f}' font-size='11' "
                    f"fill='{colour}'>{_e(verdict)}</text>")  # fmt: skip
        y += 14
        body.insert(0, f"<rect class='round-band' x='0' y='{top:.1f}' width='100%' "
                       f"height='{y - top:.1f}' fill='{'#f7f7f7' if number % 2 else '#fff'}'/>"
                       f"<text x='6' y='{top + 14:.1f}' font-size='11' fill='#555'>round "
                       f"{number}</text>")  # fmt: skip
    height = int(y + 20)
    width = int(left + lane * len(nodes) + 60)
    lanes = []
    for node in nodes:
        start, end = born.get(node, 40.0), died.get(node, y)
        label = "coll." if node == "collector" and lane < 64 else node
        lanes.append(
            f"<g class='lane' data-node='{node}'><text x='{x[node]}' y='22' font-size='12' "
            f"font-weight='600' text-anchor='middle'>{label}</text><line x1='{x[node]}' "
            f"x2='{x[node]}' y1='{start:.1f}' y2='{end:.1f}' stroke='#888' "
            f"stroke-width='1.5'/></g>"
        )
    defs = (
        "<defs>"
        + "".join(
            f"<marker id='lh-{k}' viewBox='0 0 10 10' refX='9' refY='5' markerWidth='6' "
            f"markerHeight='6' orient='auto'><path d='M0,0 L10,5 L0,10 z' fill='{c}'/></marker>"
            for k, c in _ARROW_COLOURS.items()
        )
        + "</defs>"
    )
    note = ""
    if not rounds:
        note = "<p class='note'>this trial ran no round</p>"
    total = sum(1 for _ in _transfers(contents, trial))
    if len(rounds) == LAMPORT_MAX_ROUNDS and total:
        note = f"<p class='note'>the first {LAMPORT_MAX_ROUNDS} rounds are drawn</p>"
    return (
        f"<svg class='lamport' data-trial='{trial}' xmlns='http://www.w3.org/2000/svg' "
        f"width='{width}' height='{height}' viewBox='0 0 {width} {height}'>{defs}"
        + "".join(body[: sum(1 for b in body if b.startswith("<rect class='round-band'"))])
        + "".join(lanes)
        + "".join(b for b in body if not b.startswith("<rect class='round-band'"))
        + "</svg>"
        + note
    )


_ARROW_COLOURS = {"repair": "#1f6fb2", "collect": "#777777", "provenance": "#2a9d4a"}


def _link_kind(link: Mapping[str, Any]) -> str:
    label = str(link.get("label", ""))
    for kind in ("repair", "collect", "provenance"):
        if label.startswith(kind):
            return kind
    return "other"


def _transfers(contents: HistoryContents, trial: int) -> Iterable[Mapping[str, Any]]:
    return (e for e in contents.events if e.get("event") == "transfer" and e["trial"] == trial)


def _arrow(
    x1: float, y1: float, x2: float, y2: float, kind: str, nbytes: int | None, label: str,
    *, planned: bool = False,
) -> str:  # fmt: skip
    colour = _ARROW_COLOURS.get(kind, "#999")
    dash = " stroke-dasharray='5 3'" if planned else ""
    cls = "arrow planned" if planned else "arrow"
    lx = x1 + (x2 - x1) * 0.25
    ly = y1 + (y2 - y1) * 0.25 - 3
    counted = "" if nbytes is None else nbytes
    return (
        f"<g><line class='{cls}' data-kind='{kind}' data-bytes='{counted}' "
        f"x1='{x1:.1f}' y1='{y1:.1f}' x2='{x2:.1f}' y2='{y2:.1f}' stroke='{colour}' "
        f"stroke-width='1.4'{dash} marker-end='url(#lh-{kind})'/>"
        f"<text class='arrow-label' x='{lx:.1f}' y='{ly:.1f}' font-size='9' fill='{colour}' "
        f"text-anchor='middle'>{_e(label)}</text></g>"
    )


def _cross(x: float, y: float, title: str) -> str:
    return (
        f"<g class='failure'><path d='M{x - 6},{y - 6} L{x + 6},{y + 6} M{x + 6},{y - 6} "
        f"L{x - 6},{y + 6}' stroke='#c0392b' stroke-width='3'/><title>{_e(title)}</title></g>"
    )


# -- a sweep ------------------------------------------------------------------------------


def sweep_report(payload: Mapping[str, Any], *, name: str) -> str:
    """The HTML of a sweep's report: its axes, provenance, summary table and figures."""
    if not isinstance(payload, Mapping) or not isinstance(payload.get("points"), list):
        raise ReportError(f"{name}: not a sweep's JSON (no 'points' list)")
    known = {f.name for f in fields(PointSummary)}
    summaries = []
    for i, point in enumerate(payload["points"]):
        if not isinstance(point, Mapping):
            raise ReportError(f"{name}: point {i} is not an object")
        try:
            summaries.append(PointSummary.from_dict({k: v for k, v in point.items() if k in known}))
        except SummaryError as exc:
            raise ReportError(f"{name}: point {i}: {exc}") from None
    if not summaries:
        raise ReportError(f"{name}: the sweep has no points")
    axes = payload.get("axes") or {}
    varying = [a for a, values in axes.items() if isinstance(values, list) and len(values) > 1
               and a in known]  # fmt: skip
    parts = [f"<h1>rlnc-testbed sweep report: {_e(name)}</h1>"]
    parts.append(f"<p>{len(summaries)} points over {_e(str(payload.get('transport')))}</p>")
    parts.append("<h2>Axes</h2>")
    parts.append(
        _table(
            ["axis", "values"],
            [[k, ", ".join(map(str, v)) if isinstance(v, list) else v] for k, v in axes.items()],
            cls="axes",
        )
    )
    if payload.get("collapsed"):
        parts.append(f"<p class='note'>{_e(str(payload['collapsed']))}</p>")
    parts.append("<h2>Provenance</h2>")
    parts.append(_provenance(payload.get("provenance"), payload.get("transport")))
    parts.append("<h2>Summary</h2>")
    parts.append(_summary_table(summaries, varying=varying or ["scheme", "redundancy", "parents"]))
    parts.append("<h2>Figures</h2>")
    for title, uri in _sweep_figures(summaries):
        parts.append(f"<figure class='figure'><img alt='{_e(title)}' src='{uri}'>"
                     f"<figcaption>{_e(title)}</figcaption></figure>")  # fmt: skip
    data = {"axes": axes, "transport": payload.get("transport"),
            "points": [s.to_dict() for s in summaries]}  # fmt: skip
    return _page(f"sweep report: {name}", "\n".join(parts), data)


def _sweep_figures(summaries: Sequence[PointSummary]) -> list[tuple[str, str]]:
    """The sweep's figures (the ``sweep --plot`` ones) as PNG data URIs."""
    from . import plots

    makers = [
        ("success rate vs parents", plots.plot_success_vs_parents),
        ("survival per round", plots.plot_survival),
        ("success rate vs repair traffic", plots.plot_traffic_vs_success),
    ]
    if plots.draws_tradeoff(summaries):
        makers.append(("storage vs repair bandwidth, with the cut-set bound", plots.plot_tradeoff))
    out = []
    with tempfile.TemporaryDirectory(prefix="rlnc-report-") as folder:
        for number, (title, make) in enumerate(makers):
            path = Path(folder) / f"figure-{number}.png"
            try:
                make(list(summaries), path)
            except plots.PlotError as exc:
                out.append((f"{title}: not drawn ({exc})", "data:,"))
                continue
            encoded = base64.b64encode(path.read_bytes()).decode("ascii")
            out.append((title, f"data:image/png;base64,{encoded}"))
    return out


# -- html ---------------------------------------------------------------------------------


def _page(title: str, body: str, data: Mapping[str, Any]) -> str:
    blob = json.dumps(data, separators=(",", ":"), default=str).replace("</", "<\\/")
    return (
        "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>\n{body}\n"
        f"<script type='application/json' id='report-data'>{blob}</script>\n"
        f"<script>{_SCRIPT}</script>\n</body></html>\n"
    )


def _table(head: Sequence[str], rows: Iterable[Sequence[Any]], *, cls: str) -> str:
    out = [f"<table class='{cls}'><tr>", *(f"<th>{_e(str(h))}</th>" for h in head), "</tr>"]
    for row in rows:
        out.append("<tr>")
        for cell in row:
            num = isinstance(cell, int | float) and not isinstance(cell, bool)
            text = "" if cell is None else str(cell)
            out.append(f"<td class='num'>{_e(text)}</td>" if num else f"<td>{_e(text)}</td>")
        out.append("</tr>")
    out.append("</table>")
    return "".join(out)


def _bytes(n: int) -> str:
    if n >= 1 << 20:
        return f"{n / (1 << 20):.1f} MiB"
    if n >= 10_000:
        return f"{n / 1024:.1f} KiB"
    return f"{n} B"


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)
