"""A comparison as text (the CLI leaderboard) and as a self-contained HTML page.

How to read the significance columns: ``McNemar p`` tests whether a row's accuracy differs from
the best row's by more than chance, from the texts exactly one of the two got right; ``dF1 [95% CI]``
is the row's macro-F1 minus the best's, with a paired bootstrap interval. An interval that
excludes 0 (marked ``*``) and a small p (below 0.05) say the gap is unlikely to be luck on these
texts; an interval that includes 0 says these texts cannot tell the two apart.

Example:
    >>> print(leaderboard_text(compare_runs(["runs/a", "runs/b"])))  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from classifine.artifact import write_text
from classifine.experiments.comparison import Comparison, Entry

HOW_TO_READ = (
    "Every row labelled the same texts. 'McNemar p' tests the row's accuracy against the best row "
    "(exact binomial test when fewer than 25 texts are right for only one of the two, else chi-squared "
    "with continuity correction). 'dF1 [95% CI]' is the row's macro-F1 minus the best row's, with a "
    "paired bootstrap interval; '*' marks an interval that excludes 0. p < 0.05 and an interval that "
    "excludes 0 mean the gap is unlikely to be chance on these texts; otherwise these texts cannot "
    "tell the two apart."
)


def _num(value: Any, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _sig(e: Entry) -> tuple[str, str]:
    if e.mcnemar is None or e.bootstrap is None:
        return "best", "best"
    b = e.bootstrap
    star = "*" if b.significant else ""
    return f"{e.mcnemar.p_value:.3g}", f"{b.diff:+.4f} [{b.low:+.4f}, {b.high:+.4f}]{star}"


def leaderboard_rows(cmp: Comparison) -> tuple[list[str], list[list[str]]]:
    """Headers and cells of the leaderboard, best row first."""
    headers = [
        "name",
        "kind",
        "accuracy",
        "macro-F1",
        "micro-F1",
        "ms/text",
        "size MB",
        "train s",
        "McNemar p",
        "dF1 [95% CI]",
    ]
    rows = []
    for e in cmp.entries:
        m = e.metrics
        p, ci = _sig(e)
        rows.append([
            e.name, e.kind, f"{m['accuracy']:.4f}", f"{m['macro_f1']:.4f}", f"{m['micro_f1']:.4f}",
            _num(e.ms_per_text, ".2f"), _num(e.size_mb, ".1f"), _num(e.train_seconds, ".0f"), p, ci,
        ])  # fmt: skip
    return headers, rows


def per_class_rows(cmp: Comparison) -> tuple[list[str], list[list[str]]]:
    """F1 per label (rows) and labeller (columns)."""
    headers = ["label", *(e.name for e in cmp.entries)]
    rows = [
        [label, *(f"{e.metrics['per_class'][label]['f1']:.3f}" for e in cmp.entries)] for label in cmp.labels
    ]
    return headers, rows


def _fixed(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    lines = []
    for row in [headers, *rows]:
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])] + [
            c.rjust(w) for c, w in zip(row[2:], widths[2:], strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def leaderboard_text(cmp: Comparison) -> str:
    """The leaderboard and per-class F1 as fixed-width text, with how to read the significance."""
    head, rows = leaderboard_rows(cmp)
    pc_head, pc_rows = per_class_rows(cmp)
    pc = _fixed([pc_head[0], "", *pc_head[1:]], [[r[0], "", *r[1:]] for r in pc_rows])
    lines = [
        f"{cmp.dataset}: {cmp.n} texts, {len(cmp.labels)} labels; significance against '{cmp.best.name}' "
        f"(paired bootstrap: {cmp.resamples} resamples, seed {cmp.seed})",
        "",
        _fixed(head, rows),
        "",
        "per-class F1",
        pc,
        "",
        *[f"note: {n}" for n in cmp.notes],
    ]
    return "\n".join(lines)


_CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;color:#1a202c;padding:0 1em}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.9em}
th,td{border:1px solid #cbd5e0;padding:.25em .5em;text-align:right}th{background:#edf2f7}
td:first-child,th:first-child,td:nth-child(2){text-align:left}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:1em}
.grid figure{margin:0}.grid img{width:100%}
figcaption{font-weight:600;text-align:center}.note{color:#4a5568}"""


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _matrices(cmp: Comparison) -> str:
    from classifine.evaluation.plots import confusion_matrix_png

    figures = []
    for e in cmp.entries:
        cm = e.metrics.get("confusion_matrix")
        if cm is None:
            continue
        png = base64.b64encode(confusion_matrix_png(cm, cmp.labels, normalize=True)).decode("ascii")
        figures.append(
            f"<figure><figcaption>{html.escape(e.name)}</figcaption>"
            f'<img alt="confusion matrix of {html.escape(e.name)}" '
            f'src="data:image/png;base64,{png}"></figure>'
        )
    if not figures:
        return ""
    return "<h2>Confusion matrices (row-normalised; rows: true, columns: predicted)</h2>" + (
        f'<div class="grid">{"".join(figures)}</div>'
    )


def render_html(cmp: Comparison) -> str:
    """A self-contained page: leaderboard, per-class F1, side-by-side confusion matrices, how to read it."""
    title = f"Comparison on {cmp.dataset}"
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{cmp.n} texts, {len(cmp.labels)} labels. Best row: <b>{html.escape(cmp.best.name)}</b>.</p>",
        "<h2>Leaderboard</h2>",
        _table(*leaderboard_rows(cmp)),
        f'<p class="note">{html.escape(HOW_TO_READ)}</p>',
        "<h2>Per-class F1</h2>",
        _table(*per_class_rows(cmp)),
        _matrices(cmp),
        *[f'<p class="note">Note: {html.escape(n)}</p>' for n in cmp.notes],
    ]
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_CSS}</style></head><body>{''.join(parts)}</body></html>\n"
    )


def write_html(cmp: Comparison, path: str | Path) -> Path:
    """Write the HTML page atomically; return its path."""
    return write_text(path, render_html(cmp))
