"""Label texts with an LLM backend: prompts, cache, calls, parsing, confidences.

Example:
    >>> backend = get_backend("local", model="smollm2-135m")
    >>> preds = label_texts(["WIN a FREE prize!!"], LabelSet(("ham", "spam")), backend)
    >>> preds[0].label
    'spam'
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tqdm.auto import tqdm

from classifine.data.dataset import Dataset
from classifine.data.labels import LabelSet
from classifine.errors import ConfigError
from classifine.llm.backends import LLMBackend, LLMReply, LLMRequest
from classifine.llm.cache import LLMCache, cache_key
from classifine.llm.parsing import parse_answer
from classifine.llm.prompts import FewShotPool, PromptBuilder
from classifine.llm.scoring import first_token_scores, label_confidence

logger = logging.getLogger(__name__)

MODES = ("zero-shot", "few-shot")


@dataclass
class LLMPrediction:
    """One text's answer: ``label`` (single-label) or ``labels`` (multi-label), or an abstention.

    ``scores`` is a probability distribution over labels when the backend gives one;
    ``confidence`` is the probability of the chosen label(s) when known.
    """

    label: str | None
    labels: tuple[str, ...] | None
    scores: dict[str, float] | None
    confidence: float | None
    raw: str
    abstained: bool
    cached: bool = False

    def chosen(self) -> tuple[str, ...]:
        """The chosen label names (empty on abstention)."""
        if self.labels is not None:
            return self.labels
        return (self.label,) if self.label is not None else ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "labels": list(self.labels) if self.labels is not None else None,
            "confidence": self.confidence,
            "scores": self.scores,
            "abstained": self.abstained,
            "cached": self.cached,
            "raw": self.raw,
        }


class LabelResult(list[LLMPrediction]):
    """Predictions in input order, plus run statistics (seconds, backend calls, cache hits)."""

    def __init__(
        self, preds: Sequence[LLMPrediction], *, seconds: float, calls: int, cache_hits: int
    ) -> None:
        super().__init__(preds)
        self.seconds = seconds
        self.calls = calls
        self.cache_hits = cache_hits

    @property
    def abstentions(self) -> int:
        return sum(p.abstained for p in self)


def _multi_from_scores(scores: dict[str, float]) -> tuple[str, ...]:
    """Multi-label choice from a distribution: every label at least half as likely as the top one."""
    top = max(scores.values())
    return tuple(n for n, p in scores.items() if p >= 0.5 * top)


def interpret(
    reply: LLMReply,
    labels: Sequence[str],
    *,
    multi_label: bool = False,
    synonyms: Mapping[str, str] | None = None,
    cached: bool = False,
) -> LLMPrediction:
    """Turn a backend reply into a prediction (scores when given, else tolerant parsing).

    Example:
        >>> interpret(LLMReply(raw='{"label": "spam"}'), ["ham", "spam"]).label
        'spam'
    """
    scores = reply.scores
    if scores:
        chosen: tuple[str, ...] | None
        chosen = _multi_from_scores(scores) if multi_label else (max(scores, key=scores.__getitem__),)
        confidence = min(scores[n] for n in chosen)
    else:
        chosen = parse_answer(reply.raw, labels, multi_label=multi_label, synonyms=synonyms)
        confidence = None
        if chosen and reply.logprobs:
            confs = [label_confidence(reply.logprobs, n) for n in chosen]
            known = [c for c in confs if c is not None]
            confidence = min(known) if known else None
            if not multi_label:
                scores = first_token_scores(reply.logprobs, chosen[0], labels)
    if not chosen:
        return LLMPrediction(None, () if multi_label else None, scores, None, reply.raw, True, cached)
    if multi_label:
        return LLMPrediction(None, chosen, scores, confidence, reply.raw, False, cached)
    return LLMPrediction(chosen[0], None, scores, confidence, reply.raw, False, cached)


def make_builder(
    label_set: LabelSet,
    mode: str = "zero-shot",
    *,
    train: Dataset | None = None,
    k: int = 4,
    similar: bool = False,
    seed: int = 42,
    template: str | None = None,
    descriptions: Mapping[str, str] | None = None,
) -> PromptBuilder:
    """A PromptBuilder for the mode (few-shot needs the TRAIN split).

    Example:
        >>> make_builder(splits.label_set, "few-shot", train=splits.train, k=2).kind
        'few-shot'
    """
    if mode not in MODES:
        raise ConfigError(f"unknown labelling mode '{mode}'", hint=f"use one of {', '.join(MODES)}")
    pool = None
    if mode == "few-shot":
        if train is None:
            raise ConfigError(
                "few-shot labelling needs training examples", hint="pass --train FILE or --config"
            )
        pool = FewShotPool(train, k=k, seed=seed, similar=similar)
    return PromptBuilder(
        labels=label_set.names,
        multi_label=label_set.multi_label,
        template=template,
        descriptions=descriptions,
        pool=pool,
    )


def request_keys(
    backend: LLMBackend, builder: PromptBuilder, requests: Sequence[LLMRequest], texts: Sequence[str]
) -> list[str]:
    """Cache keys of the requests (identical texts with identical prompts share a key)."""
    identity = backend.identity()
    pool = builder.pool
    mode = {"kind": builder.kind, "pool": pool.signature() if pool is not None else None}
    th = builder.template_hash()
    return [
        cache_key(identity, th, builder.labels, mode, f"{r.system}\x1e{r.user}", t)
        for r, t in zip(requests, texts, strict=True)
    ]


CONTENT_FREE = ("N/A", "", "[MASK]")


def _answer(
    backend: LLMBackend,
    builder: PromptBuilder,
    texts: Sequence[str],
    store: LLMCache | None,
    progress: bool,
) -> tuple[list[str], dict[str, LLMReply], set[str], int]:
    """Keys, replies by key, the keys served from cache, and the number of backend calls."""
    requests = builder.build_all(texts)
    keys = request_keys(backend, builder, requests, texts)
    replies: dict[str, LLMReply] = store.get_many(keys) if store is not None else {}
    hit_keys = set(replies)
    todo = list(dict.fromkeys(k_ for k_ in keys if k_ not in replies))
    first_row = {k_: i for i, k_ in reversed(list(enumerate(keys)))}
    bar = tqdm(total=len(todo), desc="labelling", unit="text", disable=not progress or not todo)
    try:
        for j, reply in backend.run([requests[first_row[k_]] for k_ in todo]):
            replies[todo[j]] = reply
            if store is not None:
                store.put(todo[j], reply)
            bar.update(1)
    finally:
        bar.close()
    return keys, replies, hit_keys, len(todo)


def _calibrator(
    backend: LLMBackend, builder: PromptBuilder, store: LLMCache | None
) -> Callable[[LLMReply], LLMReply]:
    """Contextual calibration: divide label scores by those the prompt gives content-free inputs.

    Small models prefer some labels whatever the text (Zhao et al., 2021, "Calibrate before
    use"); the mean distribution over "N/A", "" and "[MASK]" estimates that bias.
    """
    keys, replies, _, _ = _answer(backend, builder, CONTENT_FREE, store, progress=False)
    rows: list[dict[str, float]] = [r for r in (replies[k].scores for k in keys) if r]
    if not rows:
        logger.warning("calibration needs label scores; this backend gives none, so it is skipped")
        return lambda reply: reply
    prior = {name: float(sum(r.get(name, 0.0) for r in rows)) / len(rows) for name in builder.labels}

    def apply(reply: LLMReply) -> LLMReply:
        if not reply.scores:
            return reply
        raw = {n: reply.scores.get(n, 0.0) / max(prior[n], 1e-12) for n in builder.labels}
        total = sum(raw.values()) or 1.0
        scores = {n: v / total for n, v in raw.items()}
        return LLMReply(max(scores, key=scores.__getitem__), scores, reply.logprobs, reply.prompt_tokens)

    return apply


def label_texts(
    texts: Sequence[str],
    label_set: LabelSet,
    backend: LLMBackend,
    mode: str = "zero-shot",
    *,
    builder: PromptBuilder | None = None,
    train: Dataset | None = None,
    k: int = 4,
    similar: bool = False,
    seed: int = 42,
    template: str | None = None,
    descriptions: Mapping[str, str] | None = None,
    synonyms: Mapping[str, str] | None = None,
    cache: LLMCache | bool = True,
    calibrate: bool = False,
    progress: bool = False,
) -> LabelResult:
    """Label every text; cached answers cost nothing and identical texts are asked once.

    ``calibrate`` divides label scores (local scoring) by those of content-free inputs, which
    removes a small model's preference for some labels; replies are cached uncalibrated.

    Example:
        >>> result = label_texts(texts, labels, backend, "few-shot", train=splits.train, k=4)
        >>> result.cache_hits, result.abstentions
        (0, 3)
    """
    started = time.perf_counter()
    prompt_options = mode != "zero-shot" or train is not None or similar or template or descriptions
    if builder is not None and prompt_options:
        raise ConfigError(
            "label_texts got both a prompt builder and prompt options",
            hint="pass the options to make_builder, or pass no builder",
        )
    builder = builder or make_builder(
        label_set,
        mode,
        train=train,
        k=k,
        similar=similar,
        seed=seed,
        template=template,
        descriptions=descriptions,
    )
    store: LLMCache | None = LLMCache() if cache is True else (cache if isinstance(cache, LLMCache) else None)
    keys, replies, hit_keys, calls = _answer(backend, builder, texts, store, progress)
    if calibrate and not any(r.scores for r in replies.values()):
        logger.warning("calibration needs label scores (the local backend gives them); skipped")
    elif calibrate:
        adjust = _calibrator(backend, builder, store)
        replies = {k_: adjust(r) for k_, r in replies.items()}
    multi = label_set.multi_label
    preds = [
        interpret(replies[k_], label_set.names, multi_label=multi, synonyms=synonyms, cached=k_ in hit_keys)
        for k_ in keys
    ]
    seconds = time.perf_counter() - started
    result = LabelResult(preds, seconds=seconds, calls=calls, cache_hits=sum(k_ in hit_keys for k_ in keys))
    logger.debug(
        "labelled %d texts: %d calls, %d cache hits, %d abstentions, %.1f texts/s",
        len(preds), result.calls, result.cache_hits, result.abstentions, len(preds) / max(seconds, 1e-9),
    )  # fmt: skip
    return result
