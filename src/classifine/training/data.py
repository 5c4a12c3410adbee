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
from classifine.models.windows import LongText, encode_windows, pool


class Encoded:
    """A tokenised dataset: one dict of python lists per row (padding happens in the collator).

    A row is one model window; ``doc[i]`` is the text row ``i`` came from (long texts read in
    several windows give several rows), ``n_docs`` the number of texts.
    """

    def __init__(
        self, rows: list[dict[str, Any]], doc: list[int] | None = None, n_docs: int | None = None
    ) -> None:
        self.rows = rows
        self.doc = doc if doc is not None else list(range(len(rows)))
        self.n_docs = n_docs if n_docs is not None else len(rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.rows[i]

    def lengths(self) -> list[int]:
        return [len(r["input_ids"]) for r in self.rows]

    def sorted_by_length(self) -> Encoded:
        """Rows ordered longest first: evaluation batches then carry almost no padding."""
        order = sorted(range(len(self.rows)), key=lambda i: -len(self.rows[i]["input_ids"]))
        return Encoded([self.rows[i] for i in order], [self.doc[i] for i in order], self.n_docs)


def encode(
    ds: Dataset, tokenizer: Any, max_length: int, long_text: LongText | None = None, batch: int = 1000
) -> Encoded:
    """Tokenise ``ds`` once into model windows (no padding); targets under ``labels``.

    ``long_text`` says how texts longer than ``max_length`` are read (default: truncated); every
    window of a text carries the text's target.
    """
    y = ds.y()  # (N,) int64 or (N, C) float32
    settings = long_text or LongText()
    rows: list[dict[str, Any]] = []
    doc: list[int] = []
    for start in range(0, len(ds), batch):
        windows = encode_windows(tokenizer, ds.texts[start : start + batch], max_length, settings)
        for row, d in zip(windows.rows, windows.doc, strict=True):
            target = y[start + d]
            rows.append({**row, "labels": target.tolist() if ds.multi_label else int(target)})
            doc.append(start + d)
    return Encoded(rows, doc, len(ds))


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


def pooled_targets(enc: Encoded) -> np.ndarray:
    """Per-text targets of an encoded split (the target of each text's first window)."""
    first: dict[int, int] = {}
    for i, d in enumerate(enc.doc):
        first.setdefault(d, i)
    return np.asarray([enc.rows[first[d]]["labels"] for d in range(enc.n_docs)])


def pooled_probabilities(logits: np.ndarray, enc: Encoded, multi_label: bool) -> np.ndarray:
    """Per-text probabilities (N, C) of an encoded split from its windows' logits (W, C)."""
    return pool(probabilities(logits, multi_label), enc.doc, enc.n_docs, multi_label)


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
