"""Compare trained runs on the same texts: one leaderboard with paired significance against the best row.

Every run (plus the TF-IDF baseline and any LLM rows) labels exactly the same texts: the runs'
shared test split, or ``data`` (a file or a catalog ``NAME:split``). Rows carry accuracy,
macro/micro-F1, per-class F1, latency per text, model size and training time; every row is
tested against the best one (highest macro-F1) with McNemar's test and a seeded paired
bootstrap interval for the macro-F1 difference.

Example:
    >>> cmp = compare_runs(["runs/full", "runs/lora", "runs/llm-lora"])
    >>> cmp.entries[0].name, cmp.entries[1].mcnemar.p_value  # doctest: +SKIP
    ('full', 0.031)
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from classifine.artifact import model_dir, read_meta
from classifine.data.dataset import Dataset, DatasetSplits
from classifine.data.labels import LabelSet
from classifine.errors import ConfigError, DataError
from classifine.evaluation.metrics import decision_metrics
from classifine.evaluation.significance import (
    BootstrapDiff,
    McNemar,
    correct,
    mcnemar,
    paired_bootstrap_macro_f1,
)
from classifine.experiments.compare import LLMSpec

logger = logging.getLogger(__name__)


@dataclass
class Entry:
    """One leaderboard row: who labelled, their decisions on the shared texts, and what they cost."""

    name: str
    kind: str
    decisions: np.ndarray  # (N,) class indices (-1 = abstained) or (N, C) 0/1
    metrics: dict[str, Any] = field(default_factory=dict)
    ms_per_text: float | None = None
    size_mb: float | None = None
    train_seconds: float | None = None
    run: str | None = None
    mcnemar: McNemar | None = None
    bootstrap: BootstrapDiff | None = None

    def to_dict(self) -> dict[str, Any]:
        keys = ("accuracy", "macro_f1", "micro_f1")
        return {
            "name": self.name,
            "kind": self.kind,
            "run": self.run,
            **{k: self.metrics.get(k) for k in keys},
            "per_class_f1": {n: s["f1"] for n, s in self.metrics.get("per_class", {}).items()},
            "confusion_matrix": self.metrics.get("confusion_matrix"),
            "ms_per_text": self.ms_per_text,
            "size_mb": self.size_mb,
            "train_seconds": self.train_seconds,
            "mcnemar_vs_best": self.mcnemar.to_dict() if self.mcnemar else None,
            "macro_f1_diff_vs_best": self.bootstrap.to_dict() if self.bootstrap else None,
        }


@dataclass
class Comparison:
    """The leaderboard: entries best first, on ``n`` texts of ``dataset``."""

    dataset: str
    labels: list[str]
    multi_label: bool
    entries: list[Entry]
    notes: list[str] = field(default_factory=list)
    resamples: int = 1000
    seed: int = 0

    @property
    def n(self) -> int:
        return int(self.entries[0].decisions.shape[0]) if self.entries else 0

    @property
    def best(self) -> Entry:
        return self.entries[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "n": self.n,
            "labels": self.labels,
            "multi_label": self.multi_label,
            "best": self.best.name,
            "bootstrap": {"resamples": self.resamples, "seed": self.seed, "confidence": 0.95},
            "rows": [e.to_dict() for e in self.entries],
            "notes": self.notes,
        }


@dataclass
class _Run:
    path: Path
    name: str
    meta: Any
    cfg: Any  # Config or None
    clf: Any = None  # the loaded Classifier, once scored


def _load_runs(paths: Sequence[str | Path]) -> list[_Run]:
    from classifine.config import load_config

    if not paths:
        raise ConfigError("compare needs at least one run folder")
    runs = []
    for raw in paths:
        folder = model_dir(raw)
        run_dir = folder.parent if folder.name == "model" else folder
        cfg_path = run_dir / "config.yaml"
        cfg = load_config(cfg_path) if cfg_path.is_file() else None
        runs.append(_Run(run_dir, run_dir.name, read_meta(folder), cfg))
    names = [r.name for r in runs]
    if len(set(names)) < len(names):  # same folder name in different places: show the paths
        for r in runs:
            r.name = str(r.path)
    return runs


def _shared_labels(runs: Sequence[_Run]) -> LabelSet:
    first = runs[0].meta
    for r in runs[1:]:
        if set(r.meta.labels) != set(first.labels) or r.meta.multi_label != first.multi_label:
            raise DataError(
                f"runs do not share labels: {runs[0].name} has {sorted(first.labels)}"
                f"{' (multi-label)' if first.multi_label else ''}, {r.name} has {sorted(r.meta.labels)}"
                f"{' (multi-label)' if r.meta.multi_label else ''}",
                hint="compare runs trained on the same label set",
            )
    return LabelSet(tuple(first.labels), first.multi_label)


def _eval_data(
    runs: Sequence[_Run],
    data: str | None,
    label_set: LabelSet,
    text_column: str | None,
    label_column: str | None,
) -> tuple[Dataset, DatasetSplits | None, bool, str]:
    """The shared texts, the first run's splits (for TF-IDF / few-shot), whether texts are cleaned, a name."""
    from classifine.data.loading import load_splits
    from classifine.evaluation.baseline import relabel

    first = runs[0]
    if data is None:
        if any(r.cfg is None for r in runs):
            raise DataError(
                "a run folder has no config.yaml, so its test split is unknown", hint="pass --data SOURCE"
            )
        sections = {json.dumps(r.cfg.data.model_dump(mode="json"), sort_keys=True) for r in runs}
        if len(sections) > 1:
            raise DataError(
                "the runs were trained on different data sections, so their test splits differ",
                hint="pass --data SOURCE to compare them on the same texts",
            )
        splits = load_splits(first.cfg.data)
        if len(splits.test) == 0:
            raise DataError("the runs' data has no test split", hint="pass --data SOURCE")
        name = f"{first.cfg.data.source or first.cfg.data.train}, test split"
        return relabel(splits.test, label_set, name), splits, True, name
    from classifine.evaluation.evaluate import labelled_data

    ds = relabel(labelled_data(data, first.cfg, label_set, text_column, label_column), label_set, data)
    train_splits = load_splits(first.cfg.data) if first.cfg is not None else None
    return ds, train_splits, False, data


def _decisions(probs: np.ndarray, multi: bool, thresholds: Sequence[float] | None) -> np.ndarray:
    if multi:
        return (probs >= np.asarray(thresholds or [0.5] * probs.shape[1])[None, :]).astype(int)
    return probs.argmax(axis=1)


def _size_mb(folder: Path) -> float:
    return round(sum(p.stat().st_size for p in folder.rglob("*.safetensors")) / 1e6, 1)


def _train_seconds(run_dir: Path) -> float | None:
    try:
        return float(json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))["train"]["seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _run_entry(run: _Run, ds: Dataset, label_set: LabelSet, cleaned: bool) -> Entry:
    from classifine.inference.predictor import Classifier

    # ``cleaned``: the shared test split was cleaned when loaded, by the data section all runs share.
    clf = run.clf = Classifier.load(run.path)
    clf.predict_proba(ds.texts[:8], cleaned=cleaned)  # warm-up: first calls pay one-off costs
    start = time.perf_counter()
    probs = clf.predict_proba(ds.texts, cleaned=cleaned)  # (N, C) in this run's label order
    seconds = time.perf_counter() - start
    order = [list(run.meta.labels).index(n) for n in label_set.names]
    decisions = _decisions(
        probs[:, order],
        label_set.multi_label,
        [run.meta.thresholds[i] for i in order] if run.meta.thresholds else None,
    )
    return Entry(
        name=run.name,
        kind=f"hybrid ({run.meta.method} + tf-idf)" if clf.hybrid else f"fine-tuned ({run.meta.method})",
        decisions=decisions,
        ms_per_text=1000.0 * seconds / max(len(ds), 1),
        size_mb=_size_mb(run.path / "model"),
        train_seconds=_train_seconds(run.path),
        run=str(run.path),
    )


def _tfidf_entry(
    runs: Sequence[_Run], splits: DatasetSplits, ds: Dataset, cleaned: bool, notes: list[str]
) -> Entry | None:
    """The TF-IDF row: the first run's stored TF-IDF model if it has one, else one fit on its train split."""
    from classifine.data.clean import clean_dataset, make_cleaner
    from classifine.evaluation.baseline import ROW_NAME, baseline_for_run

    first = runs[0]
    texts = ds if cleaned else clean_dataset(ds, make_cleaner(first.meta.clean))
    stored = first.clf.tfidf if first.clf is not None else None
    result = baseline_for_run(first.cfg, splits, texts, "test", ds.label_set, notes, stored=stored)
    if result is None:
        return None
    ms = 1000.0 / result.texts_per_s if result.texts_per_s else None
    decisions = _decisions(result.probs, ds.label_set.multi_label, None)
    return Entry(ROW_NAME, "tf-idf", decisions, ms_per_text=ms, train_seconds=round(result.seconds, 2))


def _llm_entries(
    llms: Sequence[LLMSpec], shots: Sequence[int], ds: Dataset, splits: DatasetSplits | None, progress: bool
) -> list[Entry]:
    from classifine.experiments.compare import llm_predictions
    from classifine.llm.scoring import decisions

    out = []
    for name, kind, preds in llm_predictions(llms, shots, ds, splits, progress=progress):
        seconds = getattr(preds, "seconds", None)
        ms = 1000.0 * seconds / len(ds) if seconds else None
        out.append(Entry(name, kind, decisions(preds, ds), ms_per_text=ms))
    return out


def compare_runs(
    runs: Sequence[str | Path],
    *,
    data: str | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    include_baseline: bool = True,
    llms: Sequence[LLMSpec] = (),
    shots: Sequence[int] = (0,),
    resamples: int = 1000,
    seed: int = 0,
    progress: bool = False,
) -> Comparison:
    """Score every run (and TF-IDF, and LLMs) on the same texts; rank by macro-F1; test against the best.

    Args:
        runs: run folders; they must share their labels.
        data: a labelled file or ``NAME:split``; default: the runs' shared test split.
        resamples, seed: the paired bootstrap of the macro-F1 difference.

    Example:
        >>> compare_runs(["runs/a", "runs/b"], data="trec-6:test").best.name  # doctest: +SKIP
        'a'
    """
    loaded = _load_runs(runs)
    label_set = _shared_labels(loaded)
    ds, splits, cleaned, name = _eval_data(loaded, data, label_set, text_column, label_column)
    notes: list[str] = []
    entries = [_run_entry(r, ds, label_set, cleaned) for r in loaded]
    if include_baseline:
        if splits is None or loaded[0].cfg is None:
            notes.append("TF-IDF baseline skipped: the first run has no config.yaml to find its train split")
        else:
            entry = _tfidf_entry(loaded, splits, ds, cleaned, notes)
            entries += [entry] if entry is not None else []
    entries += _llm_entries(llms, shots, ds, splits, progress) if llms else []
    y = ds.y()
    for e in entries:
        e.metrics = decision_metrics(y, e.decisions, label_set)
    entries.sort(key=lambda e: -e.metrics["macro_f1"])  # stable: ties keep the order given
    best = entries[0]
    n_labels = len(label_set)
    for e in entries[1:]:
        e.mcnemar = mcnemar(correct(y, best.decisions), correct(y, e.decisions))
        e.bootstrap = paired_bootstrap_macro_f1(
            y, best.decisions, e.decisions, n_labels, resamples=resamples, seed=seed
        )
    notes.append(f"latency: batch prediction of all {len(ds)} texts on this machine, one run after another")
    return Comparison(name, list(label_set.names), label_set.multi_label, entries, notes, resamples, seed)
