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
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from classifine.data import catalog
from classifine.data.dataset import Dataset, DatasetSplits
from classifine.data.loading import canonical_splits
from classifine.data.parse import Columns
from classifine.data.report import SEVERITIES, DataReport, Finding
from classifine.data.sample import concat
from classifine.data.sources import SPLITS, CatalogSource, SourceLike, open_source
from classifine.data.split import duplicate_stats, text_key
from classifine.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

#: Above this share of texts longer than the model's window, they are read in windows (models.windows).
LONG_TEXT_SHARE = 0.05

IMBALANCE_WARNING = 5.0
IMBALANCE_INFO = 3.0
SMALL_CLASS = 3


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


def overlap_stats(train: Dataset, test: Dataset) -> dict[str, float]:
    """Test rows whose text (case-folded, whitespace-collapsed) also occurs in ``train``.

    ``train`` is every row that is not test (``data inspect --test`` passes the data file,
    ``validate`` the train and validation splits), so both count the same. Empty texts never count.

    Example:
        >>> overlap_stats(train, test)["test_rows"]
        0
    """
    seen = {k for t in train.texts if (k := text_key(t))}
    keys = [k for t in test.texts if (k := text_key(t))]
    shared_rows = sum(k in seen for k in keys)
    return {
        "shared_texts": len(seen & set(keys)),
        "test_rows": shared_rows,
        "fraction": shared_rows / len(keys) if keys else 0.0,
    }


def _token_lengths(texts: list[str], tokenizer_path: str | Path) -> list[int]:
    folder = Path(tokenizer_path).expanduser()
    if not folder.is_dir():
        raise DataError(
            "tokenizer folder not found", where=str(folder), hint="pass a model or tokenizer folder"
        )
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
    if r.tokens and r.tokens.get("over_max_length", 0.0) > 0:
        limit, share = int(r.tokens["max_length"]), r.tokens["over_max_length"]
        severity = "warning" if share > LONG_TEXT_SHARE else "info"
        out.append(
            Finding(
                severity,
                "long_texts",
                f"{share:.0%} of texts exceed the model's {limit} tokens "
                f"({r.tokens['over_512']:.0%} exceed 512); "
                + (
                    "model.long_text=auto reads them whole, in overlapping windows"
                    if share > LONG_TEXT_SHARE
                    else "they are truncated (model.long_text=chunks reads them whole)"
                ),
            )
        )
    return out


def inspect_dataset(
    data: Dataset | DatasetSplits,
    *,
    tokenizer_path: str | Path | None = None,
    max_length: int | None = None,
    test: Dataset | None = None,
    name: str | None = None,
) -> DataReport:
    """Build the :class:`DataReport` of a dataset.

    For splits: classes and lengths of train, duplicates and conflicting labels over all rows (a
    text's copies always share a split, so a conflict can sit in any of them), overlap with test.

    ``ds.meta["missing_labels"]`` / ``["missing_texts"]`` (set by ``to_dataset(missing="drop")``) are
    reported as missing values.

    Example:
        >>> inspect_dataset(Dataset(["a", "a", "b"], [("x",), ("x",), ("y",)], ls)).duplicate_rows
        1
    """
    sizes = None
    every = seen_in_training = data if isinstance(data, Dataset) else data.train
    if isinstance(data, DatasetSplits):
        sizes = {split: len(part) for split, part in data.items()}
        test = test if test is not None else data.test
        every = concat([part for _, part in data.items()], data.train.name)
        seen_in_training = concat([data.train, data.validation], data.train.name)
        data = data.train
    ds = data
    counts = ds.class_counts()
    present = [v for v in counts.values() if v > 0]
    duplicate_rows, duplicate_texts, conflicting, examples = duplicate_stats(every)
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
        lengths = _token_lengths(ds.texts, tokenizer_path)
        report.tokens = _percentiles(lengths)
        arr = np.asarray(lengths)
        limit = max_length or 512
        report.tokens.update(
            max_length=float(limit),
            over_max_length=float(np.mean(arr > limit)) if len(arr) else 0.0,
            over_512=float(np.mean(arr > 512)) if len(arr) else 0.0,
        )
    if test is not None:
        report.overlap = overlap_stats(seen_in_training, test)
    if ds.multi_label:
        per_row = [len(r) for r in ds.labels]
        report.notes.append(f"labels per row: mean {np.mean(per_row):.2f}, max {max(per_row, default=0)}")
    findings = _class_findings(report) + _text_findings(report)
    report.warnings = sorted(findings, key=lambda f: SEVERITIES.index(f.severity))
    return report


def inspection_data(
    source: SourceLike | Any, split: str | None, columns: Columns
) -> tuple[Dataset, Dataset | None, list[str]]:
    """What ``classifine data inspect`` reports on: the rows, a test set for overlap, and notes.

    Rows with a missing text or label are kept out and counted, not fatal. ``split`` is ``all``,
    ``train``/``validation``/``test``, or a source's own split name (a folder's ``train_2021``).
    Catalog datasets are reported as shipped (before their deduplication and split).

    Example:
        >>> ds, test, notes = inspection_data("sms-spam", None, Columns())
    """
    src = open_source(source)
    if isinstance(src, CatalogSource):
        return _catalog_inspection(src.dataset_name, split or src.split)
    frames = src.frames()
    if split not in (None, "all") and len(frames) == 1 and split not in frames:
        raise ConfigError(
            f"--split {split} needs a catalog dataset or a folder of splits",
            where=src.where,
            hint="drop --split",
        )

    def read(frame: pd.DataFrame, where: str) -> Dataset:
        return columns.dataset(frame, where=where, name=src.name, missing="drop", min_classes=0)

    if split == "all" or len(frames) == 1:
        frame = (
            pd.concat(list(frames.values()), ignore_index=True)
            if len(frames) > 1
            else next(iter(frames.values()))
        )
        return read(frame, src.where), None, ["all splits together"] if len(frames) > 1 else []
    if split is not None and split in frames:  # the source's own split name, e.g. train_2021
        return read(frames[split], f"{src.where} [{split}]"), None, [f"the {split} split"]
    named = canonical_splits(frames, src.where)
    chosen = split or "train"
    if chosen not in named:
        raise ConfigError(f"no '{chosen}' split", where=src.where, hint=f"splits here: {', '.join(frames)}")
    test = read(named["test"], f"{src.where} [test]") if chosen != "test" and "test" in named else None
    return read(named[chosen], f"{src.where} [{chosen}]"), test, [f"the {chosen} split"]


def _catalog_inspection(name: str, split: str | None) -> tuple[Dataset, Dataset | None, list[str]]:
    if split not in (None, "all", *SPLITS):
        raise ConfigError(
            f"unknown split '{split}'", where="--split", hint=f"use one of all, {', '.join(SPLITS)}"
        )
    if split == "all":
        splits = catalog.load_catalog(name)
        return concat([ds for _, ds in splits.items()], name), None, ["all splits together"]
    if split is not None:
        return catalog.load_catalog(name)[split], None, [f"the catalog's {split} split"]
    if catalog.get_entry(name).split.startswith("official"):
        note = "the official train file as shipped (the catalog's train + validation splits)"
        return catalog.load_raw(name), catalog.load_catalog(name).test, [note]
    return catalog.load_raw(name), None, ["all rows as shipped, before the catalog's deduplication and split"]
