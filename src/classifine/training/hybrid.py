"""The hybrid: a weighted mix of the transformer's and the TF-IDF model's probabilities.

The TF-IDF share is chosen on the validation split (the TF-IDF model scored there was fit on the
training split alone, so both sides are out-of-sample). ``model.hybrid: auto`` keeps the mix only
when it beats the transformer alone on the selection metric; ``on`` always mixes; ``off`` never.

Example:
    >>> decision = decide("auto", y_val, p_transformer, p_tfidf, multi_label=False, metric="macro_f1")
    >>> decision.weight  # doctest: +SKIP
    0.3
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from classifine.evaluation.baseline_check import check_scores, describe_unchecked
from classifine.evaluation.metrics import headline_metrics
from classifine.models.tfidf import mix_probabilities
from classifine.training.schedule import MIN_SELECTION_TEXTS

#: TF-IDF shares tried; 0 (the transformer alone) is the reference, 1 (TF-IDF alone) is not served.
WEIGHTS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
#: The share ``hybrid: on`` serves when validation is too small to choose one (a fixed schedule).
FIXED_WEIGHT = 0.5


@dataclass(frozen=True)
class HybridDecision:
    """The TF-IDF share served (0: the transformer alone) and the validation scores behind it."""

    weight: float
    metric: str
    scores: dict[str, float] = field(default_factory=dict)  # transformer, tfidf, hybrid (best share)

    @property
    def kept(self) -> bool:
        return self.weight > 0


def _score(
    y: np.ndarray, probs: np.ndarray, multi: bool, metric: str, threshold: float
) -> tuple[float, float]:
    """(the selection metric, minus the log-loss): higher is better for both; the second breaks ties."""
    p = np.clip(probs, 1e-7, 1 - 1e-7)
    if multi:
        loss = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    else:
        loss = float(-np.mean(np.log(p[np.arange(len(y)), np.asarray(y, dtype=np.int64)])))
    if metric == "loss":
        return -loss, -loss
    return headline_metrics(y, probs, multi, threshold)[metric], -loss


def decide(
    setting: str,
    y: np.ndarray,
    p_model: np.ndarray,
    p_tfidf: np.ndarray | None,
    *,
    multi_label: bool,
    metric: str = "macro_f1",
    threshold: float = 0.5,
    choose: bool = True,
) -> HybridDecision:
    """Choose the TF-IDF share on validation (``setting``: auto, on or off).

    The validation scores of the model, TF-IDF and the best mix are returned whatever the setting
    (the report and the baseline check use them). With ``choose`` false (validation too small to
    choose on) ``auto`` serves the model alone and ``on`` serves :data:`FIXED_WEIGHT`.

    Example:
        >>> decide("off", y, p, q, multi_label=False).weight
        0.0
    """
    if p_tfidf is None or len(y) == 0:
        return HybridDecision(0.0, metric)
    alone = _score(y, p_model, multi_label, metric, threshold)
    tfidf = _score(y, p_tfidf, multi_label, metric, threshold)
    tried = {
        w: _score(y, mix_probabilities(p_model, p_tfidf, w), multi_label, metric, threshold) for w in WEIGHTS
    }
    best = max(WEIGHTS, key=lambda w: (tried[w], -w))
    scores = {"transformer": alone[0], "tfidf": tfidf[0], "hybrid": tried[best][0], "hybrid_weight": best}
    if setting == "off" or (not choose and setting == "auto"):
        return HybridDecision(0.0, metric, scores)
    if not choose:
        fixed = _score(y, mix_probabilities(p_model, p_tfidf, FIXED_WEIGHT), multi_label, metric, threshold)
        return HybridDecision(
            FIXED_WEIGHT, metric, scores | {"hybrid": fixed[0], "hybrid_weight": FIXED_WEIGHT}
        )
    keep = setting == "on" or tried[best] > alone
    return HybridDecision(best if keep else 0.0, metric, scores)


def baseline_check(decision: HybridDecision, n_texts: int) -> dict[str, object] | None:
    """The served model beside the TF-IDF model on validation: scores, and whether it is worse.

    None when there was nothing to compare (no validation texts or no TF-IDF model).

    Example:
        >>> baseline_check(decision, 538)["worse"]
        False
    """
    if not decision.scores:
        return None
    served = decision.scores["hybrid"] if decision.kept else decision.scores["transformer"]
    tfidf = decision.scores["tfidf"]
    return {
        "metric": decision.metric,
        "served": served,
        "tfidf": tfidf,
        "validation_texts": n_texts,
        "worse": bool(served < tfidf),
    }


def cross_validated_check(
    metric: str, head: float, tfidf: float, n_texts: int, folds: int
) -> dict[str, object]:
    """The baseline check when the encoder trained on every labelled row: cross-validated on them all.

    ``head``: the frozen encoder's head (what contrastive training starts from); ``tfidf``: the TF-IDF
    model; both out-of-fold on the same ``folds`` folds, each at its best ``C``. The served model has
    no held-out score, so ``worse`` is None (not known); ``starting_point_worse`` says whether its
    starting point scores below TF-IDF. Fine-tuning gains on that starting point (in every cell of
    ``bench/results/fewshot.json`` the served model is above TF-IDF on the test split, while the
    starting point is below it in 6 of 24: ``bench/fewshot_check.py``), so a starting point below
    TF-IDF is a reason to look, not a verdict.

    Example:
        >>> cross_validated_check("macro_f1", 0.62, 0.44, 48, 5)["starting_point_worse"]
        False
    """
    return {
        "metric": metric,
        "served": head,
        "tfidf": tfidf,
        "validation_texts": n_texts,
        "worse": None,
        "starting_point_worse": bool(head < tfidf),
        "estimate": "cross-validation",
        "folds": folds,
        "compared": "frozen encoder + head (the few-shot model's starting point) against TF-IDF",
    }


def baseline_warning(check: dict[str, object] | None) -> str | None:
    """The one-line warning for a model worse than TF-IDF on validation (None when it is not), or for
    a few-shot model that could not be checked and whose starting point is below TF-IDF.

    Example:
        >>> baseline_warning({"metric": "macro_f1", "served": 0.7, "tfidf": 0.8, "validation_texts": 40,
        ...                   "worse": True})
        'the served model is worse than the TF-IDF baseline on validation: macro_f1 0.7000 vs 0.8000 ...'
    """
    if check and check.get("estimate") == "cross-validation" and check.get("starting_point_worse"):
        return describe_unchecked(check)
    if not check or not check.get("worse"):
        return None
    advice = "consider more labelled data, model.hybrid=on, or serving TF-IDF"
    n = int(check["validation_texts"])  # type: ignore[call-overload]
    few = f" (only {n} texts: a noisy comparison)" if n < MIN_SELECTION_TEXTS else ""
    return (
        f"the served model is worse than the TF-IDF baseline on validation: {check_scores(check)} "
        f"on {n} texts{few}; {advice}"
    )
