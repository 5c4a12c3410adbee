"""Metrics every layer needs (training, LLM labelling, evaluation): pure functions of decisions.

They live below every part that uses them; :mod:`classifine.evaluation.metrics` builds the full
report metrics on top.

Example:
    >>> headline_from_decisions(np.array([0, 1]), np.array([0, 1]), 2, False)["macro_f1"]
    1.0
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score


def headline_from_decisions(
    y_true: np.ndarray, y_pred: np.ndarray, n_labels: int, multi_label: bool
) -> dict[str, float]:
    """Accuracy (subset accuracy for multi-label), macro-F1 and micro-F1 of hard decisions.

    Single-label ``y_pred`` may hold -1 (an abstention): wrong, and a miss for every class.
    This is the one place those three numbers are computed (training, TF-IDF, LLM rows, reports).

    Example:
        >>> headline_from_decisions(np.array([0, 1]), np.array([0, -1]), 2, False)["accuracy"]
        0.5
    """
    from sklearn.metrics import accuracy_score

    labels = None if multi_label else list(range(n_labels))
    true, pred = np.asarray(y_true).astype(int), np.asarray(y_pred).astype(int)
    return {
        "accuracy": float(accuracy_score(true, pred)),
        "macro_f1": float(f1_score(true, pred, average="macro", labels=labels, zero_division=0)),
        "micro_f1": float(f1_score(true, pred, average="micro", labels=labels, zero_division=0)),
    }
