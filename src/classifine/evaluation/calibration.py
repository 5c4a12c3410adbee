"""Calibration: how far a classifier's confidence is from how often it is right.

Expected calibration error (ECE) splits predictions into equal-width confidence bins and
averages ``|accuracy - confidence|`` over the bins, weighted by how many predictions each holds.
A perfectly calibrated model that says 80% is right 80% of the time and has ECE 0.

Example:
    >>> ece, bins = reliability(np.array([0.9, 0.9]), np.array([True, False]), n_bins=15)
    >>> round(ece, 2)
    0.4
"""

from __future__ import annotations

from typing import Any

import numpy as np

DEFAULT_BINS = 15


def reliability(
    confidence: np.ndarray, correct: np.ndarray, n_bins: int = DEFAULT_BINS
) -> tuple[float, list[dict[str, Any]]]:
    """ECE and per-bin reliability data for a reliability diagram.

    Args:
        confidence: (N,) the probability the model gave to its own decision, in [0, 1].
        correct: (N,) whether that decision was right.
        n_bins: number of equal-width bins over [0, 1].

    Returns:
        ``(ece, bins)`` where each bin is ``{"lo", "hi", "count", "confidence", "accuracy"}``
        (confidence/accuracy are ``None`` for empty bins).

    Example:
        >>> reliability(np.array([1.0]), np.array([True]))[0]
        0.0
    """
    conf = np.clip(np.asarray(confidence, dtype=np.float64), 0.0, 1.0)
    hit = np.asarray(correct, dtype=np.float64)
    n = len(conf)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # Bin i holds (lo, hi]; a confidence of exactly 0 goes into the first bin.
    which = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    ece = 0.0
    bins: list[dict[str, Any]] = []
    for i in range(n_bins):
        mask = which == i
        count = int(mask.sum())
        entry: dict[str, Any] = {
            "lo": float(edges[i]),
            "hi": float(edges[i + 1]),
            "count": count,
            "confidence": None,
            "accuracy": None,
        }
        if count:
            mean_conf = float(conf[mask].mean())
            mean_acc = float(hit[mask].mean())
            entry["confidence"] = mean_conf
            entry["accuracy"] = mean_acc
            ece += abs(mean_acc - mean_conf) * count / n
        bins.append(entry)
    return float(ece), bins


def single_label_calibration(
    y_true: np.ndarray, probs: np.ndarray, n_bins: int = DEFAULT_BINS
) -> dict[str, Any]:
    """ECE, reliability bins and Brier score of a single-label classifier.

    Args:
        y_true: (N,) class indices.
        probs: (N, C) class probabilities (rows sum to 1).

    Example:
        >>> single_label_calibration(np.array([0]), np.array([[1.0, 0.0]]))["ece"]
        0.0
    """
    pred = probs.argmax(axis=1)  # (N,)
    conf = probs.max(axis=1)  # (N,)
    ece, bins = reliability(conf, pred == y_true, n_bins)
    onehot = np.zeros_like(probs, dtype=np.float64)
    onehot[np.arange(len(y_true)), y_true] = 1.0
    brier = float(((probs - onehot) ** 2).sum(axis=1).mean())
    return {"ece": ece, "brier": brier, "reliability": bins}


def multi_label_calibration(
    y_true: np.ndarray, probs: np.ndarray, thresholds: np.ndarray, n_bins: int = DEFAULT_BINS
) -> dict[str, Any]:
    """ECE over every (row, label) yes/no decision of a multi-label classifier.

    The confidence of a decision is ``p`` when it says yes and ``1 - p`` when it says no.

    Example:
        >>> multi_label_calibration(np.array([[1, 0]]), np.array([[1.0, 0.0]]), np.array([0.5, 0.5]))["ece"]
        0.0
    """
    decided = probs >= thresholds[None, :]  # (N, C)
    conf = np.where(decided, probs, 1.0 - probs).ravel()
    correct = (decided == (y_true > 0.5)).ravel()
    ece, bins = reliability(conf, correct, n_bins)
    brier = float(((probs - y_true) ** 2).mean())
    return {"ece": ece, "brier": brier, "reliability": bins}
