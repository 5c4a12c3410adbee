"""Tokenise once, keep lengths, pad per batch; plus the small validation metrics used while training.

Example:
    >>> enc = encode(ds, tokenizer, max_length=128)
    >>> enc[0].keys()
    dict_keys(['input_ids', 'attention_mask', 'labels'])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from classifine.data.dataset import Dataset


class Encoded:
    """A tokenised dataset: one dict of python lists per row (padding happens in the collator)."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.rows[i]

    def lengths(self) -> list[int]:
        return [len(r["input_ids"]) for r in self.rows]

    def sorted_by_length(self) -> Encoded:
        """Rows ordered longest first: evaluation batches then carry almost no padding."""
        return Encoded(sorted(self.rows, key=lambda r: -len(r["input_ids"])))


def encode(ds: Dataset, tokenizer: Any, max_length: int, batch: int = 1000) -> Encoded:
    """Tokenise ``ds`` once with truncation to ``max_length`` (no padding); targets under ``labels``."""
    y = ds.y()  # (N,) int64 or (N, C) float32
    rows: list[dict[str, Any]] = []
    for start in range(0, len(ds), batch):
        texts = ds.texts[start : start + batch]
        enc = tokenizer(texts, truncation=True, max_length=max_length, padding=False)
        keys = [k for k in enc if k in ("input_ids", "attention_mask", "token_type_ids")]
        for j in range(len(texts)):
            row = {k: enc[k][j] for k in keys}
            target = y[start + j]
            row["labels"] = target.tolist() if ds.multi_label else int(target)
            rows.append(row)
    return Encoded(rows)


class Collator:
    """Pad a batch to its own longest row (``DataCollatorWithPadding``), or to a fixed length."""

    def __init__(self, tokenizer: Any, pad_to: int | None = None) -> None:
        from transformers import DataCollatorWithPadding

        self._inner = DataCollatorWithPadding(
            tokenizer, padding="max_length" if pad_to else "longest", max_length=pad_to
        )

    def __call__(self, features: Sequence[dict[str, Any]]) -> dict[str, Any]:
        return self._inner(list(features))  # type: ignore[no-any-return]


def probabilities(logits: np.ndarray, multi_label: bool) -> np.ndarray:
    """Softmax (single-label) or sigmoid (multi-label) of (N, C) logits, as float64."""
    z = np.asarray(logits, dtype=np.float64)
    if multi_label:
        return 1.0 / (1.0 + np.exp(-z))
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]


def tune_thresholds(
    y_true: np.ndarray, probs: np.ndarray, default: float, min_positives: int = 5
) -> list[float]:
    """Per-label threshold on a 0.05..0.95 grid maximising that label's F1 on validation.

    A label with fewer than ``min_positives`` validation positives keeps ``default``: a threshold
    fitted to one or two examples overfits them (and can flood predictions with that label).
    Among equally good thresholds the middle one is taken.

    Example:
        >>> tune_thresholds(np.array([[1], [0]]), np.array([[0.3], [0.1]]), 0.5, min_positives=1)
        [0.25]
    """
    from sklearn.metrics import f1_score

    grid = np.round(np.arange(0.05, 0.951, 0.05), 2)
    out: list[float] = []
    for c in range(probs.shape[1]):
        truth = np.asarray(y_true)[:, c].astype(int)
        if truth.sum() < max(min_positives, 1):
            out.append(float(default))
            continue
        scores = [f1_score(truth, (probs[:, c] >= t).astype(int), zero_division=0) for t in grid]
        ties = np.flatnonzero(np.isclose(scores, max(scores)))
        out.append(float(grid[ties[len(ties) // 2]]))  # middle of the best plateau generalises best
    return out


def predict_logits(
    model: Any, enc: Encoded, collator: Collator, batch_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Logits (N, C) and targets of ``enc`` in float32 without autocast: what a reloaded artifact computes."""
    import torch

    model.eval()
    device = next(model.parameters()).device
    logits, targets = [], []
    with torch.no_grad():
        for start in range(0, len(enc), batch_size):
            batch = collator([enc[i] for i in range(start, min(start + batch_size, len(enc)))])
            targets.append(batch.pop("labels").numpy())
            out = model(**{k: v.to(device) for k, v in batch.items()})
            logits.append(out.logits.float().cpu().numpy())  # (B, C)
    return np.concatenate(logits), np.concatenate(targets)
