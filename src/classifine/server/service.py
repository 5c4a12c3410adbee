"""What the HTTP routes share: the serving context, input checks, one classify call, recording.

Example:
    >>> model, rows = await classify(ctx, None, ["free prize!"])
    >>> rows[0].label
    'spam'
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from classifine.errors import ServingError
from classifine.server.errors import ApiError
from classifine.server.metrics import ServerMetrics
from classifine.server.models import LoadedModel, ModelRegistry
from classifine.server.settings import Limits, ServerSettings
from classifine.server.store import PredictionRow, PredictionStore

logger = logging.getLogger(__name__)


@dataclass
class ServingContext:
    """Everything one app serves with; lives in ``app.state.ctx`` (no module-level state)."""

    settings: ServerSettings
    metrics: ServerMetrics
    registry: ModelRegistry
    executor: ThreadPoolExecutor
    stores: dict[str, PredictionStore] = field(default_factory=dict)
    draining: bool = False

    def store_for(self, model: str) -> PredictionStore | None:
        return self.stores.get(model)

    def unique_stores(self) -> list[PredictionStore]:
        seen: dict[int, PredictionStore] = {}
        for store in self.stores.values():
            seen.setdefault(id(store), store)
        return list(seen.values())


@dataclass(frozen=True)
class Scored:
    """One classified text: its id, decision, probabilities (in label order) and top score."""

    id: str
    label: str | list[str]
    probs: np.ndarray
    confidence: float


def sanitize(text: str) -> str:
    """Lone UTF-16 surrogates and NUL characters become U+FFFD / '?' (they cannot be tokenised or stored)."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def check_limits(texts: list[str], limits: Limits, field: str = "texts", status: int = 422) -> list[str]:
    """Enforce texts-per-request and characters-per-text limits; the clean texts."""
    if len(texts) > limits.max_texts:
        raise ApiError(
            status,
            f"{field}: {len(texts)} texts exceed the limit of {limits.max_texts} per request (max_texts); "
            "split the request",
            "limit",
        )
    for i, text in enumerate(texts):
        if len(text) > limits.max_text_chars:
            raise ApiError(
                status,
                f"{field}[{i}]: {len(text)} characters exceed the limit of {limits.max_text_chars} per text "
                "(max_text_chars); shorten the text",
                "limit",
            )
    return [sanitize(t) for t in texts]


def pick_model(ctx: ServingContext, name: str | None) -> LoadedModel:
    """The current version of a served model; 404 naming the served ones when unknown."""
    try:
        return ctx.registry.get(name)
    except ServingError as exc:
        status = 503 if "not loaded" in exc.message else 404
        raise ApiError(status, str(exc), "not_found" if status == 404 else "unavailable") from None


def decide(model: LoadedModel, row: np.ndarray) -> str | list[str]:
    """Single-label: the best label; multi-label: every label at or above its threshold."""
    labels = model.labels
    if model.multi_label:
        thresholds = model.meta.thresholds or [0.5] * len(labels)
        return [name for name, p, t in zip(labels, row, thresholds, strict=True) if p >= t]
    return labels[int(np.argmax(row))]


async def classify(
    ctx: ServingContext, name: str | None, texts: list[str]
) -> tuple[LoadedModel, list[Scored]]:
    """Classify ``texts`` with a served model through its micro-batcher; record every prediction."""
    model = pick_model(ctx, name)
    try:
        future = model.batcher.submit(texts)  # no await between picking the model and queueing on it
    except ServingError as exc:
        raise ApiError(503, str(exc), "unavailable") from None
    try:
        probs = await future  # (N, C)
    except Exception:  # logged by the batcher (type only): the message could quote a text
        raise ApiError(500, "the model failed on this batch; see the server log", "internal") from None
    store = ctx.store_for(model.name)
    keep = ctx.settings.store_texts
    scored: list[Scored] = []
    for text, row in zip(texts, probs, strict=True):
        label = decide(model, row)
        confidence = float(row.max()) if len(row) else 0.0
        record = PredictionRow.make(
            model.name, model.version, label, model.multi_label, confidence, text, keep_text=keep
        )
        if store is not None:
            store.record(record)
        scored.append(Scored(record.id, label, row, confidence))
    ctx.metrics.observe_predictions(model.name, [s.label for s in scored], [s.confidence for s in scored])
    return model, scored
