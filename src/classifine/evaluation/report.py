"""Honest evaluation reports: the model beside a TF-IDF baseline, as JSON, Markdown and HTML.

A report always shows the fine-tuned model next to a classic baseline trained on the same
train split and scored on the same texts, so a reader sees what the transformer actually buys.

Example:
    >>> report = evaluate_run("runs/sms-spam-minilm")
    >>> print(headline_table(report))  # doctest: +SKIP
"""

from __future__ import annotations

import html
import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from classifine.artifact import write_json, write_text
from classifine.data.dataset import Dataset, DatasetSplits
from classifine.evaluation.plots import Plot, save_plots

logger = logging.getLogger(__name__)

#: Scores more labellers on the evaluated texts: (eval Dataset, the run's splits or None) -> rows.
ExtraRows = Callable[[Dataset, DatasetSplits | None], Iterable[dict[str, Any]]]

ROW_KEYS = ("name", "kind", "accuracy", "macro_f1", "micro_f1", "abstention_rate", "texts_per_s")
CONFUSION_TABLE_MAX = 10


@dataclass
class EvalReport:
    """One evaluation: the model's metrics, the baseline's, a leaderboard and the plots."""

    model_name: str
    dataset: str
    split: str
    metrics: dict[str, Any]
    baseline: dict[str, Any] | None = None
    leaderboard: list[dict[str, Any]] = field(default_factory=list)
    plots: list[Plot] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    run_dir: Path | None = None

    def add_row(self, row: dict[str, Any]) -> None:
        """Add a leaderboard row (e.g. a zero-shot LLM); missing keys become ``None``."""
        self.leaderboard.append({key: row.get(key) for key in ROW_KEYS} | row)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model_name,
            "dataset": self.dataset,
            "split": self.split,
            "metrics": self.metrics,
            "baseline": self.baseline,
            "leaderboard": self.leaderboard,
            "notes": self.notes,
            "plots": [p.filename for p in self.plots],
        }


def leaderboard_row(
    name: str,
    kind: str,
    metrics: dict[str, Any],
    *,
    abstention_rate: float = 0.0,
    texts_per_s: float | None = None,
) -> dict[str, Any]:
    """A leaderboard row from :func:`compute_metrics` output.

    Example:
        >>> leaderboard_row("tf-idf", "tf-idf", {"accuracy": 0.9, "macro_f1": 0.8, "micro_f1": 0.9})["kind"]
        'tf-idf'
    """
    return {
        "name": name,
        "kind": kind,
        "accuracy": metrics.get("accuracy"),
        "macro_f1": metrics.get("macro_f1"),
        "micro_f1": metrics.get("micro_f1"),
        "abstention_rate": abstention_rate,
        "texts_per_s": texts_per_s,
    }


# --- rendering: one table model, two outputs -------------------------------------------------


@dataclass
class _Table:
    headers: list[str]
    rows: list[list[str]]


def _f(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _diff(a: Any, b: Any) -> str:
    return f"{a - b:+.4f}" if isinstance(a, (int, float)) and isinstance(b, (int, float)) else "-"


def _headline_columns(report: EvalReport) -> list[tuple[str, str]]:
    cols = [("accuracy", "accuracy"), ("macro_f1", "macro-F1")]
    if report.metrics.get("positive_label"):
        cols.append(("positive_f1", f"{report.metrics['positive_label']} F1"))
    elif report.metrics.get("problem_type") == "multi_label":
        cols.append(("micro_f1", "micro-F1"))
    return cols


def _trained(model_name: str) -> str:
    """How the model was trained, in a word: the head method leaves the encoder as it was."""
    return "frozen-encoder" if "(head)" in model_name else "fine-tuned"


def _headline(report: EvalReport) -> _Table:
    cols = _headline_columns(report)
    rows = [
        [f"{_trained(report.model_name)} {report.model_name}", *(_f(report.metrics.get(k)) for k, _ in cols)]
    ]
    if report.baseline is not None:
        rows.append(["TF-IDF + linear SVM", *(_f(report.baseline.get(k)) for k, _ in cols)])
        rows.append(["difference", *(_diff(report.metrics.get(k), report.baseline.get(k)) for k, _ in cols)])
    return _Table(["", *(title for _, title in cols)], rows)


def headline_table(report: EvalReport) -> str:
    """A fixed-width table of the model vs TF-IDF: accuracy, macro-F1 (and positive-class F1 if binary).

    Example:
        >>> print(headline_table(report))  # doctest: +SKIP
                                      accuracy  macro-F1   spam F1
        fine-tuned (minilm-l6)          0.9876    0.9712    0.9500
    """
    lines = _fixed_width(_headline(report))
    lines.append(f"({report.dataset}, {report.split} split, n={report.metrics.get('n')})")
    return "\n".join(lines)


def leaderboard_table(report: EvalReport) -> str:
    """Every labeller scored on the same texts (fine-tuned, TF-IDF, zero/few-shot LLMs), best first.

    Example:
        >>> print(leaderboard_table(report))  # doctest: +SKIP
    """
    return "\n".join(_fixed_width(_leaderboard(report)))


def _fixed_width(table: _Table) -> list[str]:
    widths = [max(len(r[i]) for r in [table.headers, *table.rows]) for i in range(len(table.headers))]
    lines = []
    for row in [table.headers, *table.rows]:
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(max(w, 9)) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def _per_class(report: EvalReport) -> _Table:
    m, b = report.metrics, report.baseline
    headers = ["label", "precision", "recall", "F1", "support"] + (["TF-IDF F1"] if b else [])
    rows = []
    for name in m["labels"]:
        pc = m["per_class"][name]
        row = [name, _f(pc["precision"]), _f(pc["recall"]), _f(pc["f1"]), str(pc["support"])]
        if b:
            row.append(_f(b["per_class"][name]["f1"]))
        rows.append(row)
    return _Table(headers, rows)


def _confusion(report: EvalReport) -> _Table | None:
    m = report.metrics
    if "confusion_matrix" not in m or len(m["labels"]) > CONFUSION_TABLE_MAX:
        return None
    rows = [
        [f"**{name}**", *(str(c) for c in counts)]
        for name, counts in zip(m["labels"], m["confusion_matrix"], strict=True)
    ]
    return _Table(["true \\ predicted", *m["labels"]], rows)


def _leaderboard(report: EvalReport) -> _Table:
    rows = [
        [
            str(r.get("name")),
            str(r.get("kind")),
            _f(r.get("accuracy")),
            _f(r.get("macro_f1")),
            _f(r.get("micro_f1")),
            _f(r.get("abstention_rate"), 3),
            _f(r.get("texts_per_s"), 1),
        ]
        for r in sorted(report.leaderboard, key=lambda r: -(r.get("macro_f1") or 0.0))
    ]
    return _Table(["name", "kind", "accuracy", "macro-F1", "micro-F1", "abstention", "texts/s"], rows)


def _summary_lines(report: EvalReport) -> list[str]:
    m = report.metrics
    lines = [
        f"Dataset **{report.dataset}**, {report.split} split, {m['n']} texts, {len(m['labels'])} labels "
        f"({m['problem_type'].replace('_', '-')})."
    ]
    calib = f"ECE {_f(m.get('ece'))}, Brier {_f(m.get('brier'))}, ROC-AUC {_f(m.get('roc_auc'))}."
    lines.append(f"Calibration and ranking: {calib}")
    if m.get("problem_type") == "multi_label":
        lines.append(f"Hamming loss {_f(m.get('hamming_loss'))}, samples-F1 {_f(m.get('samples_f1'))}.")
    b = report.baseline
    if b is not None:
        gap = (m["macro_f1"] - b["macro_f1"]) * 100
        verdict = "beats" if gap > 0 else "does not beat"
        what = _trained(report.model_name)
        lines.append(f"The {what} model {verdict} the TF-IDF baseline on macro-F1 ({gap:+.1f} points).")
    return lines + [f"Note: {n}" for n in [*report.notes, *m.get("notes", [])]]


def _sections(report: EvalReport) -> list[tuple[str, _Table | None]]:
    out: list[tuple[str, _Table | None]] = [("Model vs TF-IDF baseline", _headline(report))]
    if report.leaderboard:
        out.append(("Leaderboard", _leaderboard(report)))
    out.append(("Per class", _per_class(report)))
    confusion = _confusion(report)
    if confusion is not None:
        out.append(("Confusion matrix (rows: true, columns: predicted)", confusion))
    return out


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: EvalReport) -> str:
    """The report as Markdown (plots linked as PNG files beside it)."""
    parts = [f"# Evaluation: {report.model_name}", "", *_summary_lines(report), ""]
    for title, table in _sections(report):
        if table is None:
            continue
        parts += [
            f"## {title}",
            "",
            "| " + " | ".join(_md_cell(h) for h in table.headers) + " |",
            "|" + "|".join("---" for _ in table.headers) + "|",
        ]
        parts += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows] + [""]
    if report.plots:
        parts += ["## Plots", ""] + [f"![{p.title}]({p.filename})" for p in report.plots] + [""]
    return "\n".join(parts)


_CSS = """body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;color:#1a202c;padding:0 1em}
table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #cbd5e0;padding:.3em .6em;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#edf2f7}img{max-width:100%;margin:.5em 0}
.note{color:#4a5568}"""


def _html_text(text: str) -> str:
    escaped = html.escape(text)
    while "**" in escaped:
        escaped = escaped.replace("**", "<b>", 1).replace("**", "</b>", 1)
    return escaped


def render_html(report: EvalReport) -> str:
    """A self-contained HTML page: inline CSS, plots embedded as base64 PNG, no external requests."""
    body = [f"<h1>Evaluation: {html.escape(report.model_name)}</h1>"]
    body += [f"<p>{_html_text(line)}</p>" for line in _summary_lines(report)]
    for title, table in _sections(report):
        if table is None:
            continue
        head = "".join(f"<th>{html.escape(h)}</th>" for h in table.headers)
        rows = "".join("<tr>" + "".join(f"<td>{_html_text(c)}</td>" for c in r) + "</tr>" for r in table.rows)
        body.append(f"<h2>{html.escape(title)}</h2><table><tr>{head}</tr>{rows}</table>")
    for p in report.plots:
        body.append(
            f'<h2>{html.escape(p.title)}</h2><img alt="{html.escape(p.title)}" '
            f'src="data:image/png;base64,{p.png_base64}">'
        )
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f"<title>classifine report: {html.escape(report.model_name)}</title><style>{_CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )


def _merge_metrics(path: Path, report: EvalReport) -> None:
    data: dict[str, Any] = {}
    if path.is_file():
        try:
            import json

            loaded = json.loads(path.read_text(encoding="utf-8"))
            data = loaded if isinstance(loaded, dict) else {}
        except (ValueError, UnicodeDecodeError):
            logger.warning("%s is not valid JSON; writing a fresh one", path)
    data["evaluation"] = report.to_dict()
    if report.split == "test":
        keys = ("accuracy", "macro_f1", "micro_f1", "weighted_f1", "positive_f1", "roc_auc", "ece", "n")
        data["test"] = {k: report.metrics[k] for k in keys if k in report.metrics}
        if report.baseline is not None:
            data["test"]["tfidf_macro_f1"] = report.baseline.get("macro_f1")
    write_json(path, data)


def write_report(run_dir: str | Path, report: EvalReport) -> Path:
    """Write plots, ``metrics.json`` (merged), ``report.md`` and ``report.html`` into ``run_dir``.

    Example:
        >>> write_report("runs/spam", report) / "report.html"  # doctest: +SKIP
    """
    folder = Path(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    if not report.plots:
        report.plots = save_plots(folder, report.metrics, report.baseline)
    _merge_metrics(folder / "metrics.json", report)
    write_text(folder / "report.md", render_markdown(report))
    write_text(folder / "report.html", render_html(report))
    report.run_dir = folder
    logger.info("report written to %s", folder / "report.html")
    return folder


# --- evaluating a run ----------------------------------------------------------------------
