"""The classic baseline every report shows: what a competent user's TF-IDF model scores on the same texts.

Word 1-2-grams, sublinear tf, a linear SVM with ``C`` tuned on the validation split, refit on
train + validation (:func:`classifine.models.tfidf.fit_tfidf`), scored on the test split with the
same metrics as the fine-tuned model. A fine-tuned transformer that does not beat this is not worth
serving. A run that stored its TF-IDF model (every run trained with a validation split does) is
scored with that model, so the row is the very model the hybrid mixes in.

Example:
    >>> result = tfidf_baseline(splits)
    >>> result.metrics["macro_f1"]  # doctest: +SKIP
    0.97
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from classifine.data.dataset import Dataset, DatasetSplits
from classifine.data.labels import LabelSet
from classifine.errors import ClassifineError, DataError
from classifine.evaluation.metrics import compute_metrics
from classifine.models.tfidf import C_GRID, TfidfModel, fit_tfidf

logger = logging.getLogger(__name__)

ROW_NAME = "tf-idf + linear svm"


@dataclass
class BaselineResult:
    """Test metrics, test probabilities (N, C) and timing of the TF-IDF baseline."""

    metrics: dict[str, Any]
    probs: np.ndarray
    seconds: float
    params: dict[str, Any] = field(default_factory=dict)
    texts_per_s: float | None = None


def _check_train(train: Dataset) -> None:
    if len(train) == 0:
        raise DataError("the TF-IDF baseline needs training texts, but the train split is empty")
    if not train.multi_label and len(set(train.y().tolist())) < 2:
        raise DataError("the TF-IDF baseline needs at least 2 classes in the train split")


def score_model(
    model: TfidfModel, test: Dataset, label_set: LabelSet, seconds: float = 0.0
) -> BaselineResult:
    """Score a fitted TF-IDF model on ``test`` (the same metrics as every leaderboard row)."""
    t0 = time.perf_counter()
    probs = model.predict_proba(test.texts)
    predict_seconds = time.perf_counter() - t0
    metrics = compute_metrics(test.y(), probs, label_set)
    tps = len(test) / predict_seconds if predict_seconds > 0 else None
    return BaselineResult(metrics, probs, seconds + predict_seconds, dict(model.params), tps)


def tfidf_baseline(
    splits: DatasetSplits, seed: int = 42, c_grid: tuple[float, ...] = C_GRID
) -> BaselineResult:
    """Fit the TF-IDF model on train (``C`` tuned on validation, refit on train + validation), score test.

    An empty validation split means no tuning (``C`` = 1) and no refit.

    Example:
        >>> tfidf_baseline(splits).metrics["accuracy"]  # doctest: +SKIP
        0.98
    """
    _check_train(splits.train)
    fitted = fit_tfidf(splits.train, splits.validation, seed=seed, c_grid=c_grid)
    result = score_model(fitted.model, splits.test, splits.label_set, fitted.seconds)
    logger.info("tf-idf baseline: test macro-F1 %.4f", result.metrics["macro_f1"])
    return result


def relabel(ds: Dataset, label_set: LabelSet, where: str) -> Dataset:
    """The same rows under the model's label set (its index order); unknown labels are a DataError."""
    unknown = sorted({n for row in ds.labels for n in row} - set(label_set.names))
    if unknown:
        raise DataError(
            f"labels {unknown[:10]} are not labels of this model ({', '.join(label_set.names)})",
            where=where,
            hint="evaluate on data labelled with the model's labels",
        )
    return Dataset(ds.texts, ds.labels, label_set, ds.name, dict(ds.meta))


def baseline_for_run(
    cfg: Any,
    splits: DatasetSplits | None,
    eval_ds: Dataset,
    split: str,
    label_set: LabelSet,
    notes: list[str],
    stored: TfidfModel | None = None,
) -> BaselineResult | None:
    """The baseline row of a run evaluation (``None`` and a note when it cannot be had).

    ``stored`` is the run's own TF-IDF model (fit on train, refit on train + validation): used as it
    is, except when the validation split itself is scored - then a model fit on train alone is.
    """
    if stored is not None and split != "validation":
        return score_model(stored, eval_ds, label_set)
    if cfg is None or splits is None:
        notes.append("TF-IDF baseline skipped: the run folder has no config.yaml to find its train split")
        return None
    try:
        train = relabel(splits.train, label_set, "train split")
        # Tuning C on the split being scored would flatter the baseline: evaluate on validation untuned.
        val = (
            relabel(splits.validation, label_set, "validation split")
            if split != "validation"
            else train.subset([])
        )
        return tfidf_baseline(DatasetSplits(train, val, eval_ds), seed=cfg.train.seed)
    except ClassifineError as exc:
        notes.append(f"TF-IDF baseline skipped: {exc}")
        logger.warning("TF-IDF baseline skipped: %s", exc)
        return None
