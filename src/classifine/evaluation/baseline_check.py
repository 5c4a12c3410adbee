"""The check of a run against its TF-IDF baseline (``metrics.json``'s ``baseline_check``), in words.

Used by training (the log and the warning), ``classifine train``'s summary and the report.

Example:
    >>> check_scores({"metric": "macro_f1", "served": 0.7, "tfidf": 0.8})
    'macro_f1 0.7000 vs 0.8000'
"""

from __future__ import annotations


def check_scores(check: dict[str, object], tfidf_label: str = "") -> str:
    """``metric served vs [tfidf_label]tfidf``, four decimals.

    Example:
        >>> check_scores({"metric": "accuracy", "served": 0.9, "tfidf": 0.85}, "TF-IDF ")
        'accuracy 0.9000 vs TF-IDF 0.8500'
    """
    served, tfidf = float(check["served"]), float(check["tfidf"])  # type: ignore[arg-type]
    return f"{check['metric']} {served:.4f} vs {tfidf_label}{tfidf:.4f}"


def describe_cross_validated(check: dict[str, object]) -> str | None:
    """A cross-validated check in one line (None for a check on validation).

    Example:
        >>> describe_cross_validated({"estimate": "cross-validation", "folds": 5, "validation_texts": 48,
        ...                           "metric": "macro_f1", "served": 0.62, "tfidf": 0.44})
        'check against TF-IDF (5-fold cross-validation on all 48 labelled rows): frozen encoder + head ...'
    """
    if check.get("estimate") != "cross-validation":
        return None
    return (
        f"check against TF-IDF ({check['folds']}-fold cross-validation on all {check['validation_texts']} "
        f"labelled rows): frozen encoder + head {check_scores(check, 'TF-IDF ')} (the served model is "
        "fine-tuned from it on every row and has no held-out score)"
    )


def describe_unchecked(check: dict[str, object]) -> str:
    """What a cross-validated check whose starting point is below TF-IDF says (the warning, the report).

    Example:
        >>> describe_unchecked({"folds": 5, "validation_texts": 48, "metric": "macro_f1", "served": 0.48,
        ...                     "tfidf": 0.57})
        'the served model could not be checked against TF-IDF: it trained on all 48 labelled rows ...'
    """
    n = check["validation_texts"]
    return (
        f"the served model could not be checked against TF-IDF: it trained on all {n} "
        f"labelled rows, so none is held out, and its starting point (the frozen encoder with a head) "
        f"is below TF-IDF in {check['folds']}-fold cross-validation: {check_scores(check, 'TF-IDF ')}. "
        "Fine-tuning usually gains on it; compare the two on a labelled test split (the report's TF-IDF "
        "row), or hold the validation split out (model.fewshot.encoder_rows=train: a noisy check on a "
        "few rows)"
    )


def describe_worse(check: dict[str, object]) -> str:
    """What a ``worse`` baseline check on validation says, in words (for the warning and the report).

    Example:
        >>> describe_worse({"metric": "macro_f1", "served": 0.7, "tfidf": 0.8, "validation_texts": 40})
        'on validation (40 texts) the served model is WORSE than the TF-IDF baseline: macro_f1 0.7000 vs ...'
    """
    n = int(check["validation_texts"])  # type: ignore[call-overload]
    scores = check_scores(check)
    return f"on validation ({n} texts) the served model is WORSE than the TF-IDF baseline: {scores}"
