"""The data report: what a dataset holds and what will bite during training, before any weights load.

:func:`inspect_dataset` counts classes, imbalance, empty texts, duplicates and conflicting labels,
text lengths (characters, and tokens for a given tokenizer) and train/test overlap, and lists
findings sorted by severity. :func:`validate_config_data` does the same for the data a config names.

Example:
    >>> splits = load_splits(DataConfig(source="sms-spam"))
    >>> report = inspect_dataset(splits.train, test=splits.test)
    >>> report.rows, report.imbalance_ratio, report.overlap["test_rows"]
    (3158, 7.1, 0)
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from classifine.data.dataset import Dataset, DatasetSplits
from classifine.data.split import text_key
from classifine.errors import ClassifineError, DataError

logger = logging.getLogger(__name__)

SEVERITIES = ("error", "warning", "info")
IMBALANCE_WARNING = 5.0
IMBALANCE_INFO = 3.0
SMALL_CLASS = 3
_EXAMPLE_CHARS = 60
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
    return ", ".join(f"{k} {v:,.0f}" for k, v in stats.items() if k != "mean")


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


def _percentiles(values: list[int]) -> dict[str, float]:
    if not values:
        return {"p5": 0.0, "p50": 0.0, "p95": 0.0, "max": 0.0, "mean": 0.0}
    arr = np.asarray(values, dtype=np.float64)
    p5, p50, p95 = np.percentile(arr, [5, 50, 95])
    return {
        "p5": float(p5),
        "p50": float(p50),
        "p95": float(p95),
        "max": float(arr.max()),
        "mean": float(arr.mean()),
    }


def _short(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _EXAMPLE_CHARS else flat[: _EXAMPLE_CHARS - 1] + "…"


def duplicate_stats(ds: Dataset) -> tuple[int, int, int, list[dict[str, Any]]]:
    """Exact-text duplicates: ``(duplicate_rows, duplicate_texts, conflicting_texts, conflict_examples)``.

    ``duplicate_rows`` counts rows repeating an earlier row's text (what deduplication removes);
    ``duplicate_texts`` counts distinct texts seen more than once; a text is conflicting when its
    copies carry different labels (up to 3 examples are returned).

    Example:
        >>> duplicate_stats(Dataset(["a", "a", "b"], [("x",), ("y",), ("x",)], ls))[:3]
        (1, 1, 1)
    """
    rows: dict[str, list[int]] = defaultdict(list)
    for i, text in enumerate(ds.texts):
        rows[text].append(i)
    repeated = {t: idx for t, idx in rows.items() if len(idx) > 1}
    duplicate_rows = sum(len(idx) - 1 for idx in repeated.values())
    examples: list[dict[str, Any]] = []
    conflicting = 0
    for text, idx in repeated.items():
        label_sets = sorted({ds.labels[i] for i in idx})
        if len(label_sets) > 1:
            conflicting += 1
            if len(examples) < 3:
                examples.append(
                    {"text": _short(text), "labels": [list(r) for r in label_sets], "rows": len(idx)}
                )
    return duplicate_rows, len(repeated), conflicting, examples


def overlap_stats(train: Dataset, test: Dataset) -> dict[str, float]:
    """Test rows whose text (case-folded, whitespace-collapsed) also occurs in ``train``.

    Example:
        >>> overlap_stats(train, test)["test_rows"]
        0
    """
    seen = {text_key(t) for t in train.texts}
    keys = [text_key(t) for t in test.texts]
    shared_rows = sum(k in seen for k in keys)
    return {
        "shared_texts": len(seen & set(keys)),
        "test_rows": shared_rows,
        "fraction": shared_rows / len(keys) if keys else 0.0,
    }


def _tokenizer_folder(name: str) -> Path:
    """A local tokenizer folder, or a packaged preset's folder (fetched on first use)."""
    folder = Path(name).expanduser()
    if folder.is_dir():
        return folder
    try:
        from classifine.models import zoo

        return Path(zoo.resolve(name).source)
    except ClassifineError as exc:
        raise DataError(
            f"tokenizer not found: {exc.message}", where=f"--tokenizer {name}", hint=exc.hint
        ) from None


def _token_lengths(texts: list[str], tokenizer_path: str) -> list[int]:
    folder = _tokenizer_folder(tokenizer_path)
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise DataError(
            f"cannot load a tokenizer: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
            where=str(folder),
            hint="pass a folder written by save_pretrained (tokenizer files included)",
        ) from None
    tokenizer.model_max_length = 10**9  # measuring, not encoding for a model: no "too long" warnings
    lengths: list[int] = []
    for start in range(0, len(texts), 1000):
        encoded = tokenizer(texts[start : start + 1000], add_special_tokens=True, truncation=False)
        lengths.extend(len(ids) for ids in encoded["input_ids"])
    return lengths


def _class_findings(report: DataReport) -> list[Finding]:
    out: list[Finding] = []
    present = {k: v for k, v in report.classes.items() if v > 0}
    if len(present) < 2:
        out.append(
            Finding("error", "too_few_classes", f"{len(present)} class(es) present; at least 2 are needed")
        )
    absent = [k for k, v in report.classes.items() if v == 0]
    if absent:
        out.append(Finding("warning", "absent_classes", f"no rows for: {', '.join(absent[:10])}"))
    small = [f"{k} ({v})" for k, v in present.items() if v < SMALL_CLASS]
    if small:
        out.append(
            Finding(
                "warning",
                "small_classes",
                f"classes with fewer than {SMALL_CLASS} rows (too few to split, learn or score reliably): "
                + ", ".join(small[:10]),
            )
        )
    ratio = report.imbalance_ratio
    if ratio is not None and ratio >= IMBALANCE_INFO:
        severity = "warning" if ratio >= IMBALANCE_WARNING else "info"
        rare = min(present, key=lambda k: present[k])
        out.append(
            Finding(
                severity,
                "imbalance",
                f"largest class is {ratio:.1f}x the smallest ('{rare}', {present[rare]:,} rows); "
                "consider train.class_weights=auto or data.balance",
            )
        )
    return out


def _text_findings(r: DataReport) -> list[Finding]:
    out: list[Finding] = []
    if r.missing_texts or r.missing_labels:
        out.append(
            Finding(
                "error",
                "missing_values",
                f"{r.missing_labels} row(s) without a label and {r.missing_texts} without a text "
                f"(rows {r.missing_rows}); training refuses the data until they are filled in or removed",
            )
        )
    if r.empty_texts:
        out.append(
            Finding(
                "warning",
                "empty_texts",
                f"{r.empty_texts} empty text(s) ({r.whitespace_texts} whitespace only); training drops them",
            )
        )
    if r.conflicting_texts:
        shown = "; ".join(
            f"'{e['text']}' ({' vs '.join('|'.join(x) for x in e['labels'])})" for e in r.conflict_examples
        )
        out.append(
            Finding(
                "warning",
                "conflicting_duplicates",
                f"{r.conflicting_texts} text(s) appear with different labels, e.g. {shown}",
            )
        )
    if r.duplicate_rows:
        out.append(
            Finding(
                "info",
                "duplicates",
                f"{r.duplicate_rows} row(s) repeat an earlier text ({r.duplicate_texts} distinct texts); "
                "splits keep copies together",
            )
        )
    if r.overlap and r.overlap["test_rows"]:
        out.append(
            Finding(
                "warning",
                "train_test_overlap",
                f"{int(r.overlap['test_rows'])} test row(s) ({r.overlap['fraction']:.1%}) also occur in "
                "train; test scores will be optimistic",
            )
        )
    if r.tokens and r.tokens["p95"] > 512:
        out.append(Finding("info", "long_texts", "5% of texts exceed 512 tokens and will be truncated"))
    return out


def inspect_dataset(
    data: Dataset | DatasetSplits,
    *,
    tokenizer_path: str | None = None,
    test: Dataset | None = None,
    name: str | None = None,
) -> DataReport:
    """Build the :class:`DataReport` of a dataset (for splits: of train, with overlap against test).

    ``ds.meta["missing_labels"]`` / ``["missing_texts"]`` (set by ``to_dataset(missing="drop")``) are
    reported as missing values.

    Example:
        >>> inspect_dataset(Dataset(["a", "a", "b"], [("x",), ("x",), ("y",)], ls)).duplicate_rows
        1
    """
    sizes = None
    if isinstance(data, DatasetSplits):
        sizes = {split: len(part) for split, part in data.items()}
        test = test if test is not None else data.test
        data = data.train
    ds = data
    counts = ds.class_counts()
    present = [v for v in counts.values() if v > 0]
    duplicate_rows, duplicate_texts, conflicting, examples = duplicate_stats(ds)
    report = DataReport(
        name=name or ds.name,
        rows=len(ds),
        multi_label=ds.multi_label,
        classes=counts,
        imbalance_ratio=round(max(present) / min(present), 2) if present else None,
        empty_texts=sum(not t.strip() for t in ds.texts),
        whitespace_texts=sum(bool(t) and not t.strip() for t in ds.texts),
        missing_labels=int(ds.meta.get("missing_labels", 0)),
        missing_texts=int(ds.meta.get("missing_texts", 0)),
        missing_rows=ds.meta.get("missing_rows", ""),
        duplicate_rows=duplicate_rows,
        duplicate_texts=duplicate_texts,
        conflicting_texts=conflicting,
        conflict_examples=examples,
        chars=_percentiles([len(t) for t in ds.texts]),
        splits=sizes,
    )
    if tokenizer_path:
        report.tokens = _percentiles(_token_lengths(ds.texts, tokenizer_path))
    if test is not None:
        report.overlap = overlap_stats(ds, test)
    if ds.multi_label:
        per_row = [len(r) for r in ds.labels]
        report.notes.append(f"labels per row: mean {np.mean(per_row):.2f}, max {max(per_row, default=0)}")
    findings = _class_findings(report) + _text_findings(report)
    report.warnings = sorted(findings, key=lambda f: SEVERITIES.index(f.severity))
    return report


@dataclass
class ConfigCheck:
    """What ``classifine validate`` found: the data a config names (as trained on) and its model."""

    source: str
    splits: dict[str, int]
    labels: list[str]
    multi_label: bool
    model: dict[str, str]
    report: DataReport

    @property
    def warnings(self) -> list[Finding]:
        return self.report.warnings

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    def render(self, console: Any) -> None:
        """Print a short summary on a ``rich.console.Console``."""
        kind = "multi-label" if self.multi_label else "single-label"
        console.print(f"[bold]data[/bold]: {self.source}", highlight=False)
        console.print("rows: " + ", ".join(f"{k} {v:,}" for k, v in self.splits.items()))
        shown = ", ".join(self.labels[:20]) + (", ..." if len(self.labels) > 20 else "")
        console.print(f"classes: {len(self.labels)} ({kind}): {shown}", highlight=False)
        console.print(f"[bold]model[/bold]: {self.model['name']} ({self.model['status']})", highlight=False)
        styles = {"error": "bold red", "warning": "yellow", "info": "cyan"}
        for w in self.warnings:
            console.print(f"[{styles[w.severity]}]{w.severity}[/] {w.code}: {w.message}", highlight=False)
        if not self.report.errors:
            console.print("[green]config and data OK[/green]")


def _check_model(name: str) -> dict[str, str]:
    """Resolve ``model.name`` without loading or fetching weights."""
    from classifine.models import zoo

    spec = zoo.resolve(name, fetch=False)
    if spec.packaged:
        from classifine import assets

        fetched = assets.is_fetched(name)
        status = f"packaged preset, {'in the cache' if fetched else 'fetched on first use'}"
    elif Path(spec.source).is_dir():
        status = "local folder"
    else:
        status = "hub id, downloaded on first use (needs network)"
    return {"name": name, "family": spec.family, "source": spec.source, "status": status}


def validate_config_data(cfg: Any) -> ConfigCheck:
    """Load and split the data a :class:`~classifine.config.Config` names and resolve its model (no weights).

    Data problems raise DataError/ConfigError as training would; softer issues are listed as warnings.

    Example:
        >>> validate_config_data(load_config("examples/sms-spam.yaml")).splits["train"]
        3158
    """
    from classifine.data.loading import load_splits

    splits = load_splits(cfg.data)
    model = _check_model(cfg.model.name)
    report = inspect_dataset(splits, name=str(cfg.data.source or cfg.data.train))
    return ConfigCheck(
        source=str(cfg.data.source or cfg.data.train),
        splits={name: len(ds) for name, ds in splits.items()},
        labels=list(splits.label_set.names),
        multi_label=splits.label_set.multi_label,
        model=model,
        report=report,
    )
