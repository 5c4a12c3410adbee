"""Paired significance tests for two classifiers scored on the same texts (pure functions).

* :func:`mcnemar`: is the difference in accuracy more than chance? Only the discordant texts
  count (``b``: A right and B wrong, ``c``: A wrong and B right). With fewer than 25 of them the
  exact two-sided binomial test is used, otherwise the chi-squared statistic with continuity
  correction, ``(|b - c| - 1)^2 / (b + c)``, on one degree of freedom.
* :func:`paired_bootstrap_macro_f1`: a percentile confidence interval for the macro-F1 difference
  ``F1(B) - F1(A)``, resampling texts with replacement (the same resample for both systems), seeded.

Example:
    >>> mcnemar([True, True, False], [False, True, False]).p_value
    1.0
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

EXACT_BELOW = 25


@dataclass(frozen=True)
class McNemar:
    """Discordant counts and the two-sided p-value of McNemar's test."""

    b: int  # texts A got right and B got wrong
    c: int  # texts A got wrong and B got right
    statistic: float | None  # chi-squared statistic (None for the exact test)
    p_value: float
    method: Literal["exact", "chi2"]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def binomial_two_sided(k: int, n: int) -> float:
    """Exact two-sided p-value of ``k`` or fewer successes in ``n`` fair coin flips (``k <= n/2``).

    Example:
        >>> binomial_two_sided(1, 7)  # 2 * (1 + 7) / 2**7
        0.125
    """
    if n == 0:
        return 1.0
    k = min(k, n - k)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0**n
    return min(1.0, 2.0 * tail)


def mcnemar(correct_a: Any, correct_b: Any, *, exact_below: int = EXACT_BELOW) -> McNemar:
    """McNemar's test on two boolean vectors saying, per text, whether each system was right.

    Example:
        >>> r = mcnemar([1, 1, 1, 1, 1, 1, 1, 0], [0, 0, 0, 0, 0, 0, 1, 1])
        >>> (r.b, r.c, r.method, r.p_value)
        (6, 1, 'exact', 0.125)
    """
    a = np.asarray(correct_a, dtype=bool)
    bb = np.asarray(correct_b, dtype=bool)
    if a.shape != bb.shape:
        raise ValueError(f"paired vectors differ in shape: {a.shape} vs {bb.shape}")
    b = int(np.sum(a & ~bb))
    c = int(np.sum(~a & bb))
    n = b + c
    if n < exact_below:
        return McNemar(b, c, None, binomial_two_sided(min(b, c), n), "exact")
    stat = (abs(b - c) - 1.0) ** 2 / n
    # chi-squared with 1 degree of freedom: P(X > s) = erfc(sqrt(s / 2))
    return McNemar(b, c, stat, math.erfc(math.sqrt(stat / 2.0)), "chi2")


def correct(y_true: Any, y_pred: Any) -> np.ndarray:
    """Per text, whether the decision is right (multi-label: every label right). -1 is never right."""
    y, p = np.asarray(y_true), np.asarray(y_pred)
    return (y == p).all(axis=1) if y.ndim == 2 else y == p


def f1_counts(y_true: Any, y_pred: Any, n_labels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per text and label: true positive, false positive, false negative indicators, each (N, C).

    Single-label inputs are class indices (a prediction of -1, an abstention, is a miss for the
    true class and a false positive for none); multi-label inputs are (N, C) 0/1 matrices.
    """
    y, p = np.asarray(y_true), np.asarray(y_pred)
    if y.ndim == 1:
        labels = np.arange(n_labels)
        t = (y[:, None] == labels[None, :]).astype(np.int8)  # (N, C)
        q = (p[:, None] == labels[None, :]).astype(np.int8)  # (N, C)
    else:
        t, q = (y > 0.5).astype(np.int8), (p > 0.5).astype(np.int8)
    return t & q, (1 - t) & q, t & (1 - q)


def macro_f1_from_counts(tp: Any, fp: Any, fn: Any) -> Any:
    """Macro-F1 from summed counts (..., C); a label with no true and no predicted text scores 0.

    Example:
        >>> float(macro_f1_from_counts(np.array([2, 0]), np.array([1, 0]), np.array([0, 1])))
        0.4
    """
    tp, fp, fn = (np.asarray(x, dtype=np.float64) for x in (tp, fp, fn))
    denom = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(denom), where=denom > 0)
    return f1.mean(axis=-1)


@dataclass(frozen=True)
class BootstrapDiff:
    """Observed macro-F1 difference (B - A) and its percentile interval over paired resamples."""

    diff: float
    low: float
    high: float
    confidence: float
    resamples: int
    seed: int

    @property
    def significant(self) -> bool:
        """The interval excludes 0."""
        return self.low > 0 or self.high < 0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "significant": self.significant}


def paired_bootstrap_macro_f1(
    y_true: Any,
    pred_a: Any,
    pred_b: Any,
    n_labels: int,
    *,
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> BootstrapDiff:
    """Percentile interval for ``macroF1(B) - macroF1(A)`` over texts resampled with replacement.

    Both systems are scored on the same resample each time, so the interval reflects the paired
    difference, not two independent uncertainties.

    Example:
        >>> d = paired_bootstrap_macro_f1([0, 1, 1, 0], [0, 1, 1, 0], [0, 1, 0, 0], 2, seed=1)
        >>> d.diff < 0 and d.low <= d.diff <= d.high
        True
    """
    counts_a = f1_counts(y_true, pred_a, n_labels)
    counts_b = f1_counts(y_true, pred_b, n_labels)
    n = counts_a[0].shape[0]
    observed = float(
        macro_f1_from_counts(*(c.sum(0) for c in counts_b))
        - macro_f1_from_counts(*(c.sum(0) for c in counts_a))
    )
    rng = np.random.default_rng(seed)
    diffs = np.empty(resamples)
    chunk = max(1, 2_000_000 // max(n, 1))
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        idx = rng.integers(0, n, size=(size, n))
        # weights[r, i] = how often text i is drawn in resample r: (R, N)
        flat = (np.arange(size)[:, None] * n + idx).ravel()
        weights = np.bincount(flat, minlength=size * n).reshape(size, n).astype(np.float64)
        f1_a = macro_f1_from_counts(*(weights @ c for c in counts_a))  # (R,)
        f1_b = macro_f1_from_counts(*(weights @ c for c in counts_b))
        diffs[start : start + size] = f1_b - f1_a
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(diffs, [alpha, 1.0 - alpha])
    return BootstrapDiff(observed, float(low), float(high), confidence, resamples, seed)
