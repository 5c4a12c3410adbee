"""Tokenise once, keep lengths, batch by a token budget, pad per batch; plus small validation helpers.

Rows are stored as compact int32 arrays (not Python lists: a 10k-document set at 256 tokens would
otherwise hold ~2.5M Python int objects). Training batches are planned by :func:`token_budget_batches`:
rows of similar length together, as many as fit ``rows x longest <= budget``, so a batch of short
texts holds more rows than one of long texts and every step costs about the same.

Example:
    >>> enc = encode(ds, tokenizer, max_length=128)
    >>> batches = token_budget_batches(enc.lengths(), budget=2048, max_rows=64, seed=0)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from classifine.data.dataset import Dataset
from classifine.models.windows import LongText, encode_windows, length_batches, pack, pool

_KEYS = ("input_ids", "attention_mask", "token_type_ids")


class Encoded:
    """A tokenised dataset: one dict of int32 arrays per row (padding happens in the collator).

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
            arrays = {k: np.asarray(v, dtype=np.int32) for k, v in row.items() if k in _KEYS}
            rows.append({**arrays, "labels": target.tolist() if ds.multi_label else int(target)})
            doc.append(start + d)
    return Encoded(rows, doc, len(ds))


def token_budget_batches(
    lengths: Sequence[int], budget: int, max_rows: int, seed: int, epoch: int = 0, chunk: int | None = None
) -> list[list[int]]:
    """Row indices grouped into batches of similar length under a padded-token budget.

    Rows are shuffled (seeded by ``seed`` and ``epoch``), cut into chunks of ``chunk`` rows (default:
    all), each chunk is sorted by length and packed greedily: a batch takes rows while
    ``rows x longest <= budget`` and ``rows <= max_rows``; a row longer than the budget gets a batch
    of its own. The batch order is then shuffled. Chunks keep batches of similar length while
    mixing which rows meet: sorting a whole dataset by length also sorts it by whatever correlates
    with length (on SMS spam, the label), which hurts learning.

    Example:
        >>> sorted(map(sorted, token_budget_batches([5, 50, 6, 48], budget=100, max_rows=8, seed=0)))
        [[0, 2], [1, 3]]
    """
    if budget < 1 or max_rows < 1:
        raise ValueError("budget and max_rows must be positive")
    rng = np.random.default_rng([seed, epoch])
    shuffled = rng.permutation(len(lengths))
    size = chunk or max(len(lengths), 1)
    batches: list[list[int]] = []
    for start in range(0, len(shuffled), size):
        part = shuffled[start : start + size]
        lens = np.asarray(lengths, dtype=np.int64)[part]
        order = part[np.argsort(-lens, kind="stable")].tolist()  # longest first, ties in shuffled order
        batches += pack(order, lengths, budget, max_rows)
    return [batches[k] for k in rng.permutation(len(batches)).tolist()]


def _fit_count(batches: list[list[int]], count: int, lengths: Sequence[int]) -> list[list[int]]:
    """``batches`` split (the one with most rows, in two) or merged (the two with fewest padded
    tokens) until there are ``count``: every epoch must have the same number of steps."""
    out = [list(b) for b in batches]
    while len(out) < count and max(map(len, out)) > 1:
        k = max(range(len(out)), key=lambda i: len(out[i]))
        half = len(out[k]) // 2
        out[k : k + 1] = [out[k][:half], out[k][half:]]
    while len(out) > count:
        cost = sorted(range(len(out)), key=lambda i: len(out[i]) * max(lengths[j] for j in out[i]))
        first, second = sorted(cost[:2])
        out[first] = out[first] + out.pop(second)
    return out


class TokenBatches:
    """A dataset whose items are whole token-budget batches (lists of rows), for a batch-size-1 loader.

    The Trainer takes any sized dataset plus a collator; giving it planned batches this way keeps
    ``transformers.Trainer`` unmodified. The Trainer calls :meth:`set_epoch` at the start of every
    epoch (also when it resumes mid-epoch), which re-plans the batches for that epoch's seed.

    Chunked sorting makes the batch count vary a little between epochs while the Trainer's schedule
    needs one count: the dataset's length is the largest count of its first ``epochs`` epochs
    (planned up front; at most 32), and an epoch with fewer batches splits its largest ones. (Past
    those epochs a rare extra batch is merged into another, which may exceed the budget.)
    """

    def __init__(
        self,
        enc: Encoded,
        budget: int,
        max_rows: int,
        seed: int,
        shuffle: bool = True,
        chunk: int | None = None,
        epochs: int = 1,
    ) -> None:
        self.enc = enc
        self.budget = budget
        self.max_rows = max_rows
        self.seed = seed
        self.shuffle = shuffle
        self.chunk = chunk
        self._lengths = enc.lengths()
        self.count = 0
        if shuffle:
            self.count = max(len(self._plan(e)) for e in range(max(1, min(epochs, 32))))
        self.batches: list[list[int]] = []
        self.set_epoch(0)

    def _plan(self, epoch: int) -> list[list[int]]:
        return token_budget_batches(self._lengths, self.budget, self.max_rows, self.seed, epoch, self.chunk)

    def set_epoch(self, epoch: int) -> None:
        """Plan the batches of ``epoch`` (the same count every epoch)."""
        if self.shuffle:
            self.batches = _fit_count(self._plan(epoch), self.count, self._lengths)
        else:
            self.batches = length_batches(self._lengths, self.max_rows, self.budget)

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> list[dict[str, Any]]:
        return [self.enc[j] for j in self.batches[i]]

    def rows(self) -> int:
        """The number of rows (not batches)."""
        return len(self.enc)

    def padded_tokens(self) -> int:
        """Tokens one pass computes, padding included."""
        return sum(len(b) * max(self._lengths[j] for j in b) for b in self.batches)


class Collator:
    """Pad a batch to its own longest row, or to a fixed length; accepts a list of planned batches.

    Items may be rows (dicts) or whole batches from :class:`TokenBatches` (lists of rows), which
    are flattened first.
    """

    def __init__(self, tokenizer: Any, pad_to: int | None = None) -> None:
        self.pad_id = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0)
        self.pad_to = pad_to
        self.right = getattr(tokenizer, "padding_side", "right") != "left"

    def __call__(self, features: Sequence[Any]) -> dict[str, Any]:
        import torch

        rows: list[dict[str, Any]] = []
        for f in features:
            rows.extend(f if isinstance(f, list) else [f])
        width = self.pad_to or max(len(r["input_ids"]) for r in rows)
        out: dict[str, Any] = {}
        for key in (k for k in _KEYS if k in rows[0]):
            fill = self.pad_id if key == "input_ids" else 0
            arr = np.full((len(rows), width), fill, dtype=np.int64)  # (B, T)
            for b, r in enumerate(rows):
                v = np.asarray(r[key])[:width]
                if self.right:
                    arr[b, : len(v)] = v
                else:
                    arr[b, width - len(v) :] = v
            out[key] = torch.from_numpy(arr)
        labels = [r["labels"] for r in rows]
        multi = isinstance(labels[0], list)
        out["labels"] = torch.tensor(labels, dtype=torch.float32 if multi else torch.long)
        return out


def iter_batches(enc: Encoded, budget: int, max_rows: int) -> Iterator[list[int]]:
    """Evaluation batches of ``enc`` (longest first, token-budgeted) as lists of row indices."""
    yield from length_batches(enc.lengths(), max_rows, budget)


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
    model: Any, enc: Encoded, collator: Collator, batch_size: int, budget: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Logits (N, C) and targets of ``enc``, in ``enc``'s row order, in float32 without autocast.

    That is what a reloaded artifact computes. Rows run longest first in batches of at most
    ``batch_size`` rows and ``budget`` padded tokens.
    """
    import torch

    model.eval()
    device = next(model.parameters()).device
    n = len(enc)
    budget = budget or batch_size * max(enc.lengths(), default=1)
    logits: np.ndarray | None = None
    targets: np.ndarray | None = None
    with torch.no_grad():
        for idx in iter_batches(enc, budget, batch_size):
            batch = collator([enc[i] for i in idx])
            y = batch.pop("labels").numpy()
            out = model(**{k: v.to(device) for k, v in batch.items()}).logits.float().cpu().numpy()  # (B, C)
            if logits is None or targets is None:
                logits = np.zeros((n, out.shape[1]), dtype=np.float32)
                targets = np.zeros((n, *y.shape[1:]), dtype=y.dtype)
            logits[idx], targets[idx] = out, y
    if logits is None or targets is None:
        raise ValueError("nothing to predict: no rows")
    return logits, targets
