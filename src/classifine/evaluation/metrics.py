"""Classification metrics as pure functions over numpy arrays (scikit-learn underneath).

Everything returned is JSON-ready: plain floats, ints, lists and dicts keyed by label name.

Example:
    >>> ls = LabelSet(("ham", "spam"))
    >>> m = compute_metrics(np.array([0, 1]), np.array([[0.9, 0.1], [0.2, 0.8]]), ls)
    >>> m["accuracy"], m["positive_f1"]
    (1.0, 1.0)
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    hamming_loss,
    multilabel_confusion_matrix,
    precision_recall_fscore_support,
    roc_auc_score,
)

from classifine.data.labels import LabelSet
from classifine.errors import DataError
from classifine.evaluation.calibration import multi_label_calibration, single_label_calibration
from classifine.metrics import headline_from_decisions

logger = logging.getLogger(__name__)

# The headline keys every leaderboard row and report table reads.


def _check_inputs(
    y_true: np.ndarray, probs: np.ndarray, label_set: LabelSet
) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true)
    p = np.asarray(probs, dtype=np.float64)
    n_labels = len(label_set)
    if len(y) == 0:
        raise DataError(
            "cannot compute metrics on 0 examples", hint="check that the evaluation split is not empty"
        )
    if p.ndim != 2 or p.shape != (len(y), n_labels):
        raise DataError(
            f"probabilities have shape {p.shape}, expected ({len(y)}, {n_labels}) for {n_labels} labels",
            hint="pass one row of class probabilities per example",
        )
    if not np.isfinite(p).all():
        raise DataError("probabilities contain NaN or infinite values", hint="check the model outputs")
    if label_set.multi_label:
        if y.shape != p.shape:
            raise DataError(f"multi-label targets have shape {y.shape}, expected {p.shape} (multi-hot)")
        y = (y > 0.5).astype(np.int64)
    else:
        if y.ndim != 1:
            raise DataError(f"single-label targets have shape {y.shape}, expected ({len(y)},) class indices")
        y = y.astype(np.int64)
        if y.min() < 0 or y.max() >= n_labels:
            raise DataError(f"target index out of range 0..{n_labels - 1}")
    return y, p


def _per_class(y: np.ndarray, pred: np.ndarray, names: Sequence[str]) -> dict[str, dict[str, float | int]]:
    labels = list(range(len(names)))
    prec, rec, f1, sup = precision_recall_fscore_support(
        y, pred, labels=labels, average=None, zero_division=0
    )
    return {
        name: {
            "precision": float(prec[i]),
            "recall": float(rec[i]),
            "f1": float(f1[i]),
            "support": int(sup[i]),
        }
        for i, name in enumerate(names)
    }


def _averages(y: np.ndarray, pred: np.ndarray, n_labels: int, samples: bool = False) -> dict[str, float]:
    labels = list(range(n_labels))
    out: dict[str, float] = {}
    averages = ["macro", "micro", "weighted"] + (["samples"] if samples else [])
    for avg in averages:
        out[f"{avg}_f1"] = float(f1_score(y, pred, labels=labels, average=avg, zero_division=0))
    prec, rec, _, _ = precision_recall_fscore_support(
        y, pred, labels=labels, average="macro", zero_division=0
    )
    out["macro_precision"] = float(prec)
    out["macro_recall"] = float(rec)
    return out


def _single_auc(y: np.ndarray, p: np.ndarray, names: Sequence[str]) -> tuple[float | None, str | None]:
    present = np.unique(y)
    if len(names) == 2:
        if len(present) < 2:
            return None, "ROC-AUC omitted: only one class present in the targets"
        return float(roc_auc_score(y, p[:, 1])), None
    if len(present) < len(names):
        missing = [names[i] for i in range(len(names)) if i not in set(present.tolist())]
        return None, f"ROC-AUC omitted: classes absent from the targets: {', '.join(missing[:5])}"
    rows = p / np.clip(p.sum(axis=1, keepdims=True), 1e-12, None)
    return float(roc_auc_score(y, rows, multi_class="ovr", average="macro")), None


def _single_label(y: np.ndarray, p: np.ndarray, names: Sequence[str]) -> dict[str, Any]:
    pred = p.argmax(axis=1)  # (N,)
    out: dict[str, Any] = {"problem_type": "single_label", "n": len(y), "labels": list(names)}
    out["accuracy"] = float(accuracy_score(y, pred))
    out.update(_averages(y, pred, len(names)))
    out["per_class"] = _per_class(y, pred, names)
    if len(names) == 2:
        # The positive class of a binary task is the second label (e.g. "spam" after "ham").
        out["positive_label"] = names[1]
        out["positive_f1"] = out["per_class"][names[1]]["f1"]
    out["confusion_matrix"] = confusion_matrix(y, pred, labels=list(range(len(names)))).tolist()
    auc, note = _single_auc(y, p, names)
    out["roc_auc"] = auc
    notes = [note] if note else []
    out.update(single_label_calibration(y, p))
    out["notes"] = notes
    return out


def _multi_label(y: np.ndarray, p: np.ndarray, names: Sequence[str], thr: np.ndarray) -> dict[str, Any]:
    pred = (p >= thr[None, :]).astype(np.int64)  # (N, C)
    out: dict[str, Any] = {"problem_type": "multi_label", "n": len(y), "labels": list(names)}
    out["subset_accuracy"] = float(accuracy_score(y, pred))
    out["accuracy"] = out["subset_accuracy"]
    out["hamming_loss"] = float(hamming_loss(y, pred))
    out.update(_averages(y, pred, len(names), samples=True))
    out["per_class"] = _per_class(y, pred, names)
    cms = multilabel_confusion_matrix(y, pred, labels=list(range(len(names))))
    out["per_label_confusion"] = {name: cms[i].tolist() for i, name in enumerate(names)}
    out["thresholds"] = [float(t) for t in thr]
    defined = [i for i in range(len(names)) if 0 < y[:, i].sum() < len(y)]
    notes: list[str] = []
    if defined:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            aucs = [roc_auc_score(y[:, i], p[:, i]) for i in defined]
        out["roc_auc"] = float(np.mean(aucs))
        if len(defined) < len(names):
            notes.append(
                f"ROC-AUC averaged over the {len(defined)} of {len(names)} labels with both outcomes"
            )
    else:
        out["roc_auc"] = None
        notes.append("ROC-AUC omitted: no label has both outcomes in the targets")
    out.update(multi_label_calibration(y, p, thr))
    out["notes"] = notes
    return out


def compute_metrics(
    y_true: np.ndarray,
    probs: np.ndarray,
    label_set: LabelSet,
    thresholds: Sequence[float] | float | None = None,
) -> dict[str, Any]:
    """Every metric classifine reports, for single- or multi-label predictions.

    Args:
        y_true: single-label (N,) class indices; multi-label (N, C) 0/1 multi-hot.
        probs: (N, C) softmax probabilities (single-label) or sigmoid scores (multi-label).
        label_set: the labels in index order; ``label_set.multi_label`` picks the problem type.
        thresholds: multi-label decision threshold, one per label or one for all (default 0.5).

    Returns:
        A JSON-ready dict: accuracy, macro/micro/weighted F1, macro precision/recall, ``per_class``,
        confusion data, ``roc_auc`` (``None`` when undefined, with a note), ``ece``, ``reliability``, ``n``.

    Raises:
        DataError: on 0 examples or shapes that do not match the label set.

    Example:
        >>> compute_metrics(np.array([1]), np.array([[0.3, 0.7]]), LabelSet(("a", "b")))["accuracy"]
        1.0
    """
    y, p = _check_inputs(y_true, probs, label_set)
    names = list(label_set.names)
    if not label_set.multi_label:
        return _single_label(y, p, names)
    if thresholds is None:
        thr = np.full(len(names), 0.5)
    elif isinstance(thresholds, (int, float)):
        thr = np.full(len(names), float(thresholds))
    else:
        thr = np.asarray(thresholds, dtype=np.float64)
        if thr.shape != (len(names),):
            raise DataError(f"{len(thr)} thresholds given for {len(names)} labels", hint="give one per label")
    return _multi_label(y, p, names, thr)


def headline_metrics(
    y_true: np.ndarray, probs: np.ndarray, multi_label: bool, thresholds: Sequence[float] | float = 0.5
) -> dict[str, float]:
    """:func:`headline_from_decisions` of probabilities (argmax, or per-label thresholds).

    Example:
        >>> headline_metrics(np.array([0, 1]), np.array([[0.9, 0.1], [0.2, 0.8]]), False)["accuracy"]
        1.0
    """
    if multi_label:
        pred = (probs >= np.asarray(thresholds, dtype=np.float64)).astype(int)
    else:
        pred = probs.argmax(axis=1)
    return headline_from_decisions(y_true, pred, probs.shape[1], multi_label)


def decision_metrics(y_true: np.ndarray, y_pred: np.ndarray, label_set: LabelSet) -> dict[str, Any]:
    """Headline numbers, per-class scores and (single-label) the confusion matrix of hard decisions.

    For labellers that give decisions rather than probabilities (LLMs with abstentions, compared
    runs). A single-label decision of -1 (an abstention) is wrong, and is left out of the matrix.

    Example:
        >>> decision_metrics(np.array([0, 1]), np.array([0, -1]), LabelSet(("a", "b")))["accuracy"]
        0.5
    """
    names = list(label_set.names)
    y, pred = np.asarray(y_true).astype(int), np.asarray(y_pred).astype(int)
    out: dict[str, Any] = {"n": len(y), "labels": names}
    out.update(headline_from_decisions(y, pred, len(names), label_set.multi_label))
    out["per_class"] = _per_class(y, pred, names)
    if not label_set.multi_label:
        out["confusion_matrix"] = confusion_matrix(y, pred, labels=list(range(len(names)))).tolist()
    return out
