"""From replies to label probabilities and confidences, and from predictions to leaderboard rows.

Example:
    >>> row = llm_leaderboard_row("smollm2-135m", "zero-shot", preds, splits.test)
    >>> sorted(row)[:3]
    ['abstention_rate', 'accuracy', 'kind']
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from classifine.data.dataset import Dataset
from classifine.errors import DataError
from classifine.llm.backends import TokenLogprob
from classifine.metrics import headline_from_decisions

if TYPE_CHECKING:
    from classifine.llm.labeler import LLMPrediction


def _token_spans(tokens: Sequence[TokenLogprob]) -> tuple[str, list[tuple[int, int]]]:
    spans: list[tuple[int, int]] = []
    pos = 0
    for t in tokens:
        spans.append((pos, pos + len(t.token)))
        pos += len(t.token)
    return "".join(t.token for t in tokens), spans


def label_confidence(tokens: Sequence[TokenLogprob], label: str) -> float | None:
    """Probability the model gave the tokens spelling ``label`` in its answer (exp of their summed logprobs).

    Example:
        >>> label_confidence([TokenLogprob('{"label":"', -0.01), TokenLogprob("spam", -0.2),
        ...                   TokenLogprob('"}', 0.0)], "spam")  # doctest: +ELLIPSIS
        0.81...
    """
    content, spans = _token_spans(tokens)
    start = content.casefold().find(label.casefold())
    if start < 0:
        return None
    end = start + len(label)
    total = sum(t.logprob for t, (a, b) in zip(tokens, spans, strict=True) if a < end and b > start)
    return float(math.exp(total))


def first_token_scores(
    tokens: Sequence[TokenLogprob], label: str, labels: Sequence[str]
) -> dict[str, float] | None:
    """A distribution over labels from the top alternatives at the answer's first label token.

    Each alternative token is matched to the labels it could begin; its probability goes to that
    label when exactly one label fits. None when fewer than one label can be scored.
    """
    content, spans = _token_spans(tokens)
    start = content.casefold().find(label.casefold())
    if start < 0:
        return None
    pos = next((i for i, (a, b) in enumerate(spans) if a <= start < b), None)
    if pos is None:
        return None
    offset = start - spans[pos][0]
    prefix = content[spans[pos][0] : start]
    mass = dict.fromkeys(labels, 0.0)
    alternatives = tokens[pos].top or [(tokens[pos].token, tokens[pos].logprob)]
    for alt, logprob in alternatives:
        if len(alt) < offset or alt[:offset] != prefix:
            continue
        rest = alt[offset:].casefold()
        if not rest.strip():
            continue
        owners = [n for n in labels if n.casefold().startswith(rest) or rest.startswith(n.casefold())]
        if len(owners) == 1:
            mass[owners[0]] += math.exp(logprob)
    if mass.get(label, 0.0) == 0.0:
        mass[label] = math.exp(tokens[pos].logprob)
    total = sum(mass.values())
    return {k: v / total for k, v in mass.items()} if total > 0 else None


def prediction_matrix(preds: Sequence[LLMPrediction], labels: Sequence[str]) -> np.ndarray:
    """(N, C) probabilities: scores when known, else confidence on the chosen label(s); uniform if abstained.

    Example:
        >>> prediction_matrix(preds, ["ham", "spam"]).shape
        (len(preds), 2)
    """
    n_labels = len(labels)
    out = np.full((len(preds), n_labels), 1.0 / n_labels, dtype=np.float64)
    index = {name: i for i, name in enumerate(labels)}
    for row, p in enumerate(preds):
        if p.abstained:
            continue
        if p.scores:
            vec = np.array([p.scores.get(name, 0.0) for name in labels], dtype=np.float64)
            if vec.sum() > 0:
                out[row] = vec / vec.sum()
                continue
        chosen = [index[n] for n in p.chosen() if n in index]
        conf = p.confidence if p.confidence is not None else 1.0
        rest = (1.0 - conf) / max(1, n_labels - len(chosen))
        out[row] = rest
        out[row, chosen] = conf
    return out


def decisions(preds: Sequence[LLMPrediction], dataset: Dataset) -> np.ndarray:
    """Hard decisions in label-set order; a single-label abstention is -1 (always wrong)."""
    if dataset.multi_label:
        return dataset.label_set.encode([tuple(p.chosen()) for p in preds]).astype(int)
    index = {n: i for i, n in enumerate(dataset.label_set.names)}
    return np.array([index.get(p.label, -1) if p.label is not None else -1 for p in preds], dtype=np.int64)


def llm_leaderboard_row(
    name: str,
    kind: str,
    preds: Sequence[LLMPrediction],
    dataset: Dataset,
    *,
    seconds: float | None = None,
) -> dict[str, Any]:
    """A leaderboard row (same keys as the evaluation report's rows); abstentions count as wrong.

    Example:
        >>> llm_leaderboard_row("gemma3-270m", "few-shot", preds, splits.test, seconds=12.5)["kind"]
        'few-shot'
    """
    if len(preds) != len(dataset):
        raise DataError(f"{len(preds)} predictions for {len(dataset)} texts", hint="label the whole split")
    if len(preds) == 0:
        raise DataError("no predictions to score")
    ls = dataset.label_set
    metrics = headline_from_decisions(dataset.y(), decisions(preds, dataset), len(ls), ls.multi_label)
    if seconds is None:
        seconds = getattr(preds, "seconds", None)
    return {
        "name": name,
        "kind": kind,
        **metrics,
        "abstention_rate": float(np.mean([p.abstained for p in preds])),
        "texts_per_s": float(len(preds) / seconds) if seconds else None,
        "n": len(preds),
    }
