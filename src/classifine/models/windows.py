"""How a text becomes model inputs when it may be longer than the model's window.

``truncate`` keeps the first ``max_length`` tokens. ``head_tail`` keeps the first ``head`` content
tokens and the last ones (the two ends of an e-mail or article carry most of its topic). ``chunks``
reads the text whole: overlapping windows of ``max_length`` tokens (``stride`` tokens shared by
neighbours; at most ``max_windows``, spread evenly over the text), each scored on its own, their
probabilities pooled per text - the mean for single-label, the maximum for multi-label. Training,
prediction, evaluation, the ONNX engines and the server all go through :func:`encode_windows` and
:func:`pool`, so a text is read the same way everywhere.

Example:
    >>> w = encode_windows(tokenizer, ["a long e-mail ..."], 256, LongText("chunks", stride=64))
    >>> w.doc  # which text each window belongs to
    [0, 0, 0]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

MODES = ("truncate", "head_tail", "chunks")
INPUT_KEYS = ("input_ids", "attention_mask", "token_type_ids")
#: Padded tokens per forward pass when predicting: 64 short texts, or 16 windows of 256 tokens.
#: Activations grow with rows x length (attention with length squared); big transient buffers
#: also fragment the heap, so whole-split scoring of long texts would hold gigabytes.
FORWARD_TOKENS = 4096
#: Texts tokenised at once: every window of a long text exists until ``max_windows`` are picked.
ENCODE_SLICE = 256


@dataclass(frozen=True)
class LongText:
    """How texts longer than ``max_length`` are read (recorded in the artifact)."""

    mode: Literal["truncate", "head_tail", "chunks"] = "truncate"
    stride: int = 64  # chunks: tokens shared by consecutive windows
    max_windows: int = 8  # chunks: at most this many windows per text, spread evenly
    head: int = 128  # head_tail: content tokens kept from the start (the rest from the end)

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "stride": self.stride, "max_windows": self.max_windows, "head": self.head}


@dataclass
class Windows:
    """Encoded windows (one dict of token lists per window) and the text each belongs to."""

    rows: list[dict[str, list[int]]]
    doc: list[int]
    n_docs: int


def choose_mode(lengths: list[int], max_length: int, share: float = 0.05) -> str:
    """``truncate`` when at most ``share`` of the texts exceed ``max_length`` tokens, else ``chunks``.

    Example:
        >>> choose_mode([10, 20, 900], 256)
        'chunks'
    """
    if not lengths:
        return "truncate"
    longer = float(np.mean(np.asarray(lengths) > max_length))
    return "truncate" if longer <= share else "chunks"


def _spread(indices: list[int], limit: int) -> list[int]:
    if len(indices) <= limit:
        return indices
    picks = np.linspace(0, len(indices) - 1, limit).round().astype(int)
    return [indices[i] for i in sorted(set(picks.tolist()))]


def _rows(enc: Any, picked: list[int]) -> list[dict[str, list[int]]]:
    keys = [k for k in INPUT_KEYS if k in enc]
    return [{k: list(enc[k][i]) for k in keys} for i in picked]


def _chunks(tokenizer: Any, texts: list[str], max_length: int, lt: LongText) -> Windows:
    stride = min(lt.stride, max(max_length // 2, 1))
    enc = tokenizer(
        texts, truncation=True, max_length=max_length, stride=stride, return_overflowing_tokens=True
    )
    by_doc: dict[int, list[int]] = {}
    for i, d in enumerate(enc["overflow_to_sample_mapping"]):
        by_doc.setdefault(int(d), []).append(i)
    picked = [i for d in range(len(texts)) for i in _spread(by_doc.get(d, []), lt.max_windows)]
    doc = [int(enc["overflow_to_sample_mapping"][i]) for i in picked]
    return Windows(_rows(enc, picked), doc, len(texts))


def _head_tail(tokenizer: Any, texts: list[str], max_length: int, lt: LongText) -> Windows:
    enc = tokenizer(
        texts,
        truncation=True,
        max_length=max_length,
        stride=0,
        return_overflowing_tokens=True,
        return_special_tokens_mask=True,
    )
    parts: dict[int, list[int]] = {}
    for i, d in enumerate(enc["overflow_to_sample_mapping"]):
        parts.setdefault(int(d), []).append(i)
    rows: list[dict[str, list[int]]] = []
    for d in range(len(texts)):
        first = parts[d][0]
        if len(parts[d]) == 1:
            rows.extend(_rows(enc, [first]))
            continue
        ids, special = enc["input_ids"][first], enc["special_tokens_mask"][first]
        lead = next((k for k, s in enumerate(special) if not s), len(ids))
        trail = next((k for k, s in enumerate(reversed(special)) if not s), 0)
        content = [
            t
            for i in parts[d]
            for t, s in zip(enc["input_ids"][i], enc["special_tokens_mask"][i], strict=True)
            if not s
        ]
        budget = max_length - lead - trail
        head = min(lt.head, budget)
        kept = content[:head] + content[len(content) - (budget - head) :]
        row = {
            "input_ids": ids[:lead] + kept + (ids[len(ids) - trail :] if trail else []),
            "attention_mask": [],
        }
        row["attention_mask"] = [1] * len(row["input_ids"])
        if "token_type_ids" in enc:
            row["token_type_ids"] = [0] * len(row["input_ids"])
        rows.append(row)
    return Windows(rows, list(range(len(texts))), len(texts))


def encode_windows(tokenizer: Any, texts: list[str], max_length: int, long_text: LongText) -> Windows:
    """Tokenise ``texts`` into model windows as ``long_text`` says (no padding; that is per batch).

    Example:
        >>> encode_windows(tok, ["short"], 128, LongText()).doc
        [0]
    """
    if not texts:
        return Windows([], [], 0)
    if len(texts) > ENCODE_SLICE:  # the tokenizer's own output for a whole split can take gigabytes
        rows: list[dict[str, list[int]]] = []
        doc: list[int] = []
        for start in range(0, len(texts), ENCODE_SLICE):
            part = encode_windows(tokenizer, texts[start : start + ENCODE_SLICE], max_length, long_text)
            rows.extend(part.rows)
            doc.extend(start + d for d in part.doc)
        return Windows(rows, doc, len(texts))
    if long_text.mode == "chunks":
        return _chunks(tokenizer, texts, max_length, long_text)
    if long_text.mode == "head_tail":
        return _head_tail(tokenizer, texts, max_length, long_text)
    enc = tokenizer(texts, truncation=True, max_length=max_length)
    return Windows(_rows(enc, list(range(len(texts)))), list(range(len(texts))), len(texts))


def length_batches(lengths: Sequence[int], max_rows: int, budget: int = FORWARD_TOKENS) -> list[list[int]]:
    """Rows in forward-pass batches of similar length, longest first: at most ``max_rows`` rows and
    ``budget`` padded tokens each (a row longer than the budget goes alone).

    Example:
        >>> length_batches([300, 5, 6, 7], max_rows=2, budget=400)
        [[0], [3, 2], [1]]
    """
    if budget < 1 or max_rows < 1:
        raise ValueError("budget and max_rows must be positive")
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return pack(order, lengths, budget, max_rows)


def pack(order: Sequence[int], lengths: Sequence[int], budget: int, max_rows: int) -> list[list[int]]:
    """Greedy packing of rows in ``order`` (longest first): the first row of a batch sets its width."""
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        width = lengths[current[0]] if current else lengths[i]
        if current and (len(current) + 1 > max_rows or (len(current) + 1) * width > budget):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def pool(probs: np.ndarray, doc: list[int] | np.ndarray, n_docs: int, multi_label: bool) -> np.ndarray:
    """Per-text probabilities (N, C) from per-window ones (W, C): mean (single-label) or max (multi-label).

    Example:
        >>> pool(np.array([[0.8, 0.2], [0.4, 0.6]]), [0, 0], 1, False)
        array([[0.6, 0.4]])
    """
    doc_arr = np.asarray(doc, dtype=np.int64)
    if len(doc_arr) == n_docs and np.array_equal(doc_arr, np.arange(n_docs)):
        return probs
    out = np.zeros((n_docs, probs.shape[1]), dtype=np.float64)
    if multi_label:
        np.maximum.at(out, doc_arr, probs)
        return out
    np.add.at(out, doc_arr, probs)
    counts = np.bincount(doc_arr, minlength=n_docs).astype(np.float64)
    return out / np.maximum(counts, 1.0)[:, None]


def token_lengths(tokenizer: Any, texts: list[str], batch: int = 1000) -> list[int]:
    """Token counts of whole texts (special tokens included), for choosing how to read them."""
    out: list[int] = []
    limit = tokenizer.model_max_length
    tokenizer.model_max_length = 10**9  # measuring, not encoding for the model: no "too long" warnings
    try:
        for start in range(0, len(texts), batch):
            enc = tokenizer(texts[start : start + batch], truncation=False)
            out.extend(len(ids) for ids in enc["input_ids"])
    finally:
        tokenizer.model_max_length = limit
    return out
