"""Parity of an exported engine with torch fp32 on the run's held-out texts.

Example:
    >>> data, split = parity_data(Path("runs/sms-spam-minilm"), meta, max_texts=1000)
    >>> record = compare(reference_probs, onnx_probs, data, meta, split, **FP32_LIMITS)
    >>> record.agreement >= 0.999
    True
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from classifine.artifact import ArtifactMeta, ParityRecord
from classifine.data.dataset import Dataset
from classifine.data.labels import LabelSet
from classifine.errors import ModelError

logger = logging.getLogger(__name__)

#: fp32 must agree on >= 99.9% of decisions and move no probability by more than 1e-3.
FP32_LIMITS: dict[str, float | None] = {"min_agreement": 0.999, "max_allowed_diff": 1e-3}
#: int8 must agree on >= 99% of decisions (its probabilities move by design).
INT8_LIMITS: dict[str, float | None] = {"min_agreement": 0.99, "max_allowed_diff": None}


def parity_data(run_dir: Path, meta: ArtifactMeta, max_texts: int) -> tuple[Dataset, str]:
    """The run's validation split (its test split when it has none), as loaded for training.

    Splits come from the run's ``config.yaml`` exactly as ``classifine evaluate`` loads them
    (already cleaned), capped at ``max_texts`` by a seeded stratified subsample.

    Example:
        >>> data, split = parity_data(Path("runs/trec-6-minilm"), meta, 1000)
    """
    from classifine.config import load_config
    from classifine.data.loading import load_splits
    from classifine.evaluation.baseline import relabel

    config = run_dir / "config.yaml"
    if not config.is_file():
        raise ModelError(
            "the run folder has no config.yaml, so its validation texts are unknown",
            where=str(run_dir),
            hint="export a run folder written by 'classifine train'",
        )
    splits = load_splits(load_config(config).data)
    split = "validation" if len(splits.validation) else "test"
    data = splits[split]
    if len(data) == 0:
        raise ModelError("no validation or test texts for the parity check", where=str(config))
    data = relabel(data, LabelSet(tuple(meta.labels), meta.multi_label), str(config))
    return cap(data, max_texts), split


def cap(data: Dataset, max_texts: int) -> Dataset:
    """At most ``max_texts`` rows: a seeded stratified subsample when there are more."""
    if len(data) <= max_texts:
        return data
    from classifine.data.sample import subsample

    logger.info("parity on a seeded stratified subset of %d of %d texts", max_texts, len(data))
    return subsample(data, max_texts, seed=42)


def decisions(probs: np.ndarray, meta: ArtifactMeta) -> np.ndarray:
    """Hard decisions: the argmax (N,), or the labels at or above their thresholds (N, C)."""
    if meta.multi_label:
        thresholds = np.asarray(meta.thresholds or [0.5] * len(meta.labels), dtype=np.float64)
        return (probs >= thresholds).astype(int)
    return probs.argmax(axis=1)


def accuracy(probs: np.ndarray, data: Dataset, meta: ArtifactMeta) -> float:
    """Accuracy against the gold labels (subset accuracy for multi-label)."""
    pred, gold = decisions(probs, meta), data.y()
    same = (pred == gold).all(axis=1) if meta.multi_label else pred == gold
    return float(np.mean(same))


def compare(
    reference: np.ndarray,
    candidate: np.ndarray,
    data: Dataset,
    meta: ArtifactMeta,
    split: str,
    *,
    min_agreement: float | None,
    max_allowed_diff: float | None,
) -> ParityRecord:
    """Agreement, max |Δp| and both accuracies of ``candidate`` vs ``reference`` probabilities (N, C).

    Example:
        >>> compare(ref, cand, data, meta, "validation", **INT8_LIMITS).agreement
        0.998
    """
    if reference.shape != candidate.shape:
        got, want = candidate.shape[1:], reference.shape[1:]
        raise ModelError(f"the export gives {got} outputs per text; torch {want}")
    ref, cand = decisions(reference, meta), decisions(candidate, meta)
    same = (ref == cand).all(axis=1) if meta.multi_label else ref == cand
    return ParityRecord(
        split=split,
        texts=len(data),
        agreement=float(np.mean(same)),
        max_abs_diff=float(np.abs(reference - candidate).max()),
        accuracy=accuracy(candidate, data, meta),
        torch_accuracy=accuracy(reference, data, meta),
        min_agreement=float(min_agreement or 0.0),
        max_allowed_diff=max_allowed_diff,
    )


def passed(record: ParityRecord) -> bool:
    """Whether a parity record meets its own limits."""
    if not np.isfinite(record.max_abs_diff):
        return False
    if record.max_allowed_diff is not None and record.max_abs_diff > record.max_allowed_diff:
        return False
    return record.agreement >= record.min_agreement
