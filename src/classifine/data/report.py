"""The data report's types: findings and the :class:`DataReport` with its terminal rendering.

Example:
    >>> report.render(rich.console.Console())
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SEVERITIES = ("error", "warning", "info")
_BAR_WIDTH = 30


@dataclass(frozen=True)
class Finding:
    """One line of the report's findings."""

    severity: str
    code: str
    message: str


@dataclass
class DataReport:
    """Facts about one dataset (and optionally its overlap with a test set)."""

    name: str
    rows: int
    multi_label: bool
    classes: dict[str, int]
    imbalance_ratio: float | None
    empty_texts: int
    whitespace_texts: int
    missing_labels: int
    missing_texts: int
    missing_rows: str
    duplicate_rows: int
    duplicate_texts: int
    conflicting_texts: int
    conflict_examples: list[dict[str, Any]]
    chars: dict[str, float]
    tokens: dict[str, float] | None = None
    overlap: dict[str, float] | None = None
    splits: dict[str, int] | None = None
    notes: list[str] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.warnings if f.severity == "error"]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``warnings`` as a list of {severity, code, message})."""
        return asdict(self)

    def render(self, console: Any) -> None:
        """Print the report on a ``rich.console.Console``: summary, class bars, lengths, warnings."""
        kind = "multi-label" if self.multi_label else "single-label"
        console.print(
            f"[bold]{self.name or 'data'}[/bold]: {self.rows:,} rows, {len(self.classes)} classes ({kind})"
        )
        if self.splits:
            console.print("splits: " + ", ".join(f"{k} {v:,}" for k, v in self.splits.items()))
        for note in self.notes:
            console.print(note)
        console.print(_class_table(self.classes, self.rows))
        if self.imbalance_ratio is not None:
            console.print(f"imbalance (largest / smallest class): {self.imbalance_ratio:g}")
        console.print("text length, chars: " + _lengths(self.chars))
        if self.tokens:
            console.print("text length, tokens: " + _lengths(self.tokens))
        console.print(
            f"empty texts {self.empty_texts}, duplicate rows {self.duplicate_rows}, "
            f"conflicting texts {self.conflicting_texts}, missing labels {self.missing_labels}"
        )
        if self.overlap is not None:
            o = self.overlap
            console.print(f"overlap with test: {int(o['test_rows'])} test rows ({o['fraction']:.1%})")
        styles = {"error": "bold red", "warning": "yellow", "info": "cyan"}
        for w in self.warnings:
            console.print(f"[{styles[w.severity]}]{w.severity}[/] {w.code}: {w.message}", highlight=False)


def _lengths(stats: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:,.0f}" for k, v in stats.items() if k in ("p5", "p50", "p95", "max"))


def _class_table(classes: dict[str, int], rows: int) -> Any:
    from rich.table import Table

    table = Table(box=None, pad_edge=False, show_header=True)
    table.add_column("class")
    table.add_column("rows", justify="right")
    table.add_column("share", justify="right")
    table.add_column("")
    top = max(classes.values(), default=0) or 1
    for label, count in classes.items():
        bar = "█" * max(1 if count else 0, round(_BAR_WIDTH * count / top))
        table.add_row(label, f"{count:,}", f"{count / rows:.1%}" if rows else "-", bar)
    return table
