"""A monitoring report as text (terminal) or as one self-contained HTML page (plots inline).

Example:
    >>> write_html(monitor("runs/sms-spam-minilm"), "monitor.html")
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from classifine.artifact import write_text
from classifine.server.monitor import MonitorReport

_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0}"
    "td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}"
    "th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}img{max-width:100%}.note{color:#666}"
)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _drift_line(drift: dict[str, Any] | None) -> str:
    if drift is None:
        return "drift: no training distribution (pass a run folder, or --run RUN)"
    if drift.get("psi") is None:
        return f"drift: {drift['note']}"
    return f"drift: PSI {drift['psi']:.4f} ({drift['reading']}) against the training split"


def summary_lines(report: MonitorReport) -> list[str]:
    """The report as lines for a terminal."""
    lines = [f"store: {report.source}"]
    if not report.models:
        return [*lines, "no predictions recorded yet"]
    for m in report.models:
        c, fb = m["confidence"], m["feedback"]
        lines += [
            "",
            f"model {m['model']}: {m['predictions']} predictions, {m['first']} .. {m['last']}, "
            f"{len(m['versions'])} version(s)",
            f"confidence: mean {c['mean']:.3f}, median {c['p50']:.3f}; "
            f"{_pct(c['low_share'])} below {report.low_confidence:g}",
            "labels served: " + ", ".join(f"{k} {_pct(v)}" for k, v in m["label_shares"].items()),
            _drift_line(m["drift"]),
            f"feedback: {fb['rows']} rows; accuracy on judged predictions {_pct(fb['accuracy'])} "
            f"({fb['confirmed']} confirmed, {fb['corrected']} corrected)",
        ]
    return lines


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _table(head: list[str], rows: list[list[Any]]) -> str:
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{cells}</tr>{body}</table>"


def _section(m: dict[str, Any], low: float) -> str:
    from classifine.server import monitor_plots as plots

    fb, c = m["feedback"], m["confidence"]
    versions = _table(
        ["version", "predictions", "first", "last"],
        [[v["version"], v["count"], v["first"], v["last"]] for v in m["versions"]],
    )
    facts = _table(
        ["predictions", "mean confidence", f"below {low:g}", "feedback rows", "accuracy on feedback"],
        [[m["predictions"], f"{c['mean']:.3f}", _pct(c["low_share"]), fb["rows"], _pct(fb["accuracy"])]],
    )
    parts = [
        f"<h2>{html.escape(m['model'])}</h2>",
        facts,
        f"<p>{html.escape(_drift_line(m['drift']))}</p>",
        f"<p class='note'>{html.escape((m['drift'] or {}).get('note', ''))}</p>",
        _img(plots.volume_png(m), "volume over time"),
        _img(plots.confidence_over_time_png(m, low), "confidence over time"),
        _img(plots.confidence_histogram_png(m, low), "confidence histogram"),
        _img(plots.label_shares_png(m), "label shares"),
        "<h3>Versions</h3>",
        versions,
    ]
    return "\n".join(parts)


def render_html(report: MonitorReport) -> str:
    """One HTML page, no external requests: inline CSS, plots as base64 PNG."""
    body = [
        f"<h1>classifine monitor</h1><p class='note'>{html.escape(report.source)} · {report.generated_at}</p>"
    ]
    if not report.models:
        body.append("<p>No predictions recorded yet.</p>")
    body += [_section(m, report.low_confidence) for m in report.models]
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>classifine monitor</title>"
        f"<style>{_CSS}</style></head><body>{''.join(body)}</body></html>"
    )


def write_html(report: MonitorReport, path: str | Path) -> Path:
    """Write :func:`render_html` atomically; the path."""
    return write_text(path, render_html(report))
