"""Evaluate a trained run: load it and its held-out data, score it beside TF-IDF, write the report.

Example:
    >>> report = evaluate_run("runs/trec-6-minilm")
    >>> round(report.metrics["accuracy"], 2)  # doctest: +SKIP
    0.93
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from classifine.artifact import model_dir
from classifine.data.dataset import Dataset, DatasetSplits
from classifine.data.labels import LabelSet
from classifine.errors import DataError, ModelError
from classifine.evaluation.baseline import ROW_NAME, baseline_for_run, relabel
from classifine.evaluation.metrics import compute_metrics
from classifine.evaluation.report import EvalReport, ExtraRows, leaderboard_row, write_report


def _model_rows(
    clf: Any, ds: Dataset, label_set: LabelSet, dataset_name: str, split: str, notes: list[str]
) -> EvalReport:
    """The report with the served model's row (and the transformer alone, when a hybrid is served)."""
    meta = clf.meta
    thresholds = meta.thresholds if meta.multi_label else None
    start = time.perf_counter()
    p_model, p_tfidf = clf.predict_parts(ds.texts, cleaned=True)  # already cleaned once, like the baseline's
    served = clf.combine(p_model, p_tfidf)
    tps = len(ds) / max(time.perf_counter() - start, 1e-9)
    metrics = compute_metrics(ds.y(), served, label_set, thresholds)
    name = f"{meta.base_model} ({meta.method})"
    if clf.hybrid:
        notes.append(
            f"served model: {name} mixed with the run's TF-IDF model (TF-IDF share {meta.hybrid_weight:.1f})"
        )
        name += " + tf-idf"
    report = EvalReport(model_name=name, dataset=dataset_name, split=split, metrics=metrics, notes=notes)
    report.add_row(leaderboard_row(name, "hybrid" if clf.hybrid else "fine-tuned", metrics, texts_per_s=tps))
    if clf.hybrid:
        alone = compute_metrics(ds.y(), p_model, label_set, thresholds)
        report.add_row(leaderboard_row(f"{meta.base_model} ({meta.method}) alone", "fine-tuned", alone))
    return report


def training_notes(run_dir: Path) -> list[str]:
    """What the report says about how the run trained: the method and why, what validation chose,
    and a served model worse than TF-IDF on validation (from the run's ``metrics.json``).

    Example:
        >>> training_notes(Path("runs/trec-6-k8"))[0]
        'method: fewshot (auto: 8 labelled rows per class (median) <= 64 and an encoder model)'
    """
    path = run_dir / "metrics.json"
    try:
        summary = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, json.JSONDecodeError):
        return []
    train = summary.get("train") or {}
    notes = []
    if train.get("method_reason"):
        notes.append(f"method: {train['method']} ({train['method_reason']}); {train.get('schedule', '')}")
    if train.get("selection"):
        notes.append(f"validation split: {train['selection']}")
    check = summary.get("baseline_check") or {}
    from classifine.evaluation.baseline_check import (
        describe_cross_validated,
        describe_unchecked,
        describe_worse,
    )

    if (cross_validated := describe_cross_validated(check)) is not None:
        below = check.get("starting_point_worse", check.get("worse"))  # older runs said "worse"
        notes.append(describe_unchecked(check) if below else cross_validated)
    elif check.get("worse"):
        notes.append(describe_worse(check))
    return notes


def _run_config(run_dir: Path) -> Any:
    from classifine.config import load_config

    path = run_dir / "config.yaml"
    return load_config(path) if path.is_file() else None


def labelled_data(
    source: Any,
    cfg: Any,
    label_set: LabelSet,
    text_column: str | None = None,
    label_column: str | None = None,
) -> Dataset:
    """Labelled rows from any source, read against a model's labels with the run's columns by default.

    Example:
        >>> labelled_data("extra.csv", cfg, clf_label_set).label_set.names
        ('ham', 'spam')
    """
    from classifine.data.loading import read_dataset

    data = cfg.data if cfg is not None else None
    return read_dataset(
        source,
        text_column=text_column or (data.text_column if data else "text"),
        label_column=label_column or (data.label_column if data else "label"),
        multi_label=label_set.multi_label,
        delimiter=data.label_delimiter if data else None,
        labels=list(label_set.names),
        min_classes=1,
    )


def _file_dataset(
    source: Any, cfg: Any, meta: Any, text_column: str | None, label_column: str | None
) -> Dataset:
    """:func:`labelled_data` cleaned as the run's own data was (so both models see the same texts)."""
    from classifine.data.clean import clean_dataset, make_cleaner

    label_set = LabelSet(tuple(meta.labels), meta.multi_label)
    return clean_dataset(
        labelled_data(source, cfg, label_set, text_column, label_column), make_cleaner(meta.clean)
    )


def _run_splits(run_dir: Path, cfg: Any, splits: DatasetSplits | None) -> DatasetSplits:
    """The run's own splits: as given by the caller (e.g. right after training), else loaded once."""
    if splits is not None:
        return splits
    if cfg is None:
        raise ModelError(
            "the run folder has no config.yaml, so its data split is unknown",
            where=str(run_dir),
            hint="pass --data FILE with labelled texts",
        )
    from classifine.data.loading import load_splits

    return load_splits(cfg.data)


def _dataset_name(cfg: Any, split: str, ds: Dataset) -> str:
    """What the evaluated rows are called: the file a split came from, or the source and the split."""
    if cfg is None:
        return ds.name or "data"
    data = cfg.data
    own = getattr(data, split, None) if split in ("validation", "test") else None
    if own:
        return str(own)
    return f"{data.source or data.train} ({split} split)"


def _eval_rows(
    run_dir: Path, cfg: Any, meta: Any, data_file: Any, split: str, columns: tuple[str | None, str | None],
    splits: DatasetSplits | None, needs_train: bool,
) -> tuple[Dataset, str, str, DatasetSplits | None]:  # fmt: skip
    """(rows to score, their name, the split's name, the run's splits when needed)."""
    if data_file is not None:
        ds = _file_dataset(data_file, cfg, meta, *columns)
        where = ds.meta.get("source") or ds.name or "data"
        name = Path(where).name if Path(where).is_file() else where
        if needs_train and cfg is not None:
            splits = _run_splits(run_dir, cfg, splits)
        return ds, name, "file", splits
    splits = _run_splits(run_dir, cfg, splits)
    return splits[split], _dataset_name(cfg, split, splits[split]), split, splits


def evaluate_run(
    run_path: str | Path,
    *,
    data_file: Any = None,
    split: str = "test",
    text_column: str | None = None,
    label_column: str | None = None,
    include_baseline: bool = True,
    extra_rows: Iterable[dict[str, Any]] | ExtraRows = (),
    limit: int | None = None,
    splits: DatasetSplits | None = None,
) -> EvalReport:
    """Score a trained run on its ``split`` (or on ``data_file``) beside a TF-IDF baseline; write the report.

    Args:
        run_path: a run folder (or its ``model/`` folder).
        data_file: evaluate on this labelled data instead of the run's own split: any source
            (a file, ``NAME:test``, a DataFrame, ...; see :func:`~classifine.data.sources.open_source`).
        split: ``test`` or ``validation`` of the run's data (ignored with ``data_file``).
        text_column, label_column: columns of ``data_file`` (default: the run's config).
        include_baseline: train and score the TF-IDF baseline on the run's train split.
        extra_rows: more leaderboard rows, or a callable ``(eval_data, splits) -> rows`` that
            scores other labellers (e.g. zero/few-shot LLMs) on exactly the evaluated texts.
        limit: evaluate every row of the leaderboard on a seeded stratified subset of this size.
        splits: the run's splits when the caller already holds them (saves loading them again).

    Example:
        >>> evaluate_run("runs/trec-6-minilm").metrics["macro_f1"]  # doctest: +SKIP
        0.95
    """
    from classifine.inference.predictor import Classifier

    if split not in ("test", "validation"):
        raise DataError(f"unknown split '{split}'", hint="use test or validation")
    folder = model_dir(run_path)
    run_dir = folder.parent if folder.name == "model" else folder
    # The trained weights, not an export: the recorded test metrics describe the model itself
    # ('classifine export' reports each export's accuracy beside torch's).
    clf = Classifier.load(folder, engine="torch")
    meta = clf.meta
    label_set = LabelSet(tuple(meta.labels), meta.multi_label)
    cfg = _run_config(run_dir)
    needs_train = include_baseline or callable(extra_rows)  # TF-IDF and few-shot rows use the train split
    columns = (text_column, label_column)
    ds, dataset_name, split, splits = _eval_rows(
        run_dir, cfg, meta, data_file, split, columns, splits, needs_train
    )
    ds = relabel(ds, label_set, dataset_name)
    if len(ds) == 0:
        raise DataError(f"the {split} data is empty", where=dataset_name)
    notes: list[str] = (
        [splits.train.meta["rare_classes"]] if splits and "rare_classes" in splits.train.meta else []
    )
    notes += training_notes(run_dir)
    if limit is not None and limit < len(ds):
        from classifine.data.sample import subsample

        notes.append(f"every row scored on the same seeded stratified subset of {limit} of {len(ds)} texts")
        ds = subsample(ds, limit, seed=42)
        split = f"{split} subset"  # never recorded as the run's test metrics
    report = _model_rows(clf, ds, label_set, dataset_name, split, notes)
    if include_baseline:
        stored = clf.tfidf if split in ("test", "file", "test subset", "file subset") else None
        base = baseline_for_run(cfg, splits, ds, split, label_set, notes, stored=stored)
        if base is not None:
            report.baseline = base.metrics
            report.add_row(leaderboard_row(ROW_NAME, "tf-idf", base.metrics, texts_per_s=base.texts_per_s))
    for row in extra_rows(ds, splits) if callable(extra_rows) else extra_rows:
        report.add_row(row)
    write_report(run_dir, report)
    return report
