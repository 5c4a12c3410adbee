"""Read-only routes for reviewing a served model (what the web page shows):

``GET /v1/models/{name}/card``, ``GET /v1/monitor``, ``GET /v1/monitor/lowest-confidence`` and
``GET /v1/feedback/summary``. They read the run folder and the prediction store; none changes anything.

Example:
    >>> app.include_router(router)
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from classifine.server.auth import require_api_key
from classifine.server.errors import ApiError
from classifine.server.review import feedback_summary, lowest_confidence, model_card, run_folder
from classifine.server.routes_admin import model_info
from classifine.server.schemas import ErrorBody, Label, ModelInfo
from classifine.server.service import ServingContext, pick_model
from classifine.server.store import PredictionStore

router = APIRouter(dependencies=[Depends(require_api_key)], tags=["review"])
_ERR: dict[int | str, dict[str, Any]] = {code: {"model": ErrorBody} for code in (401, 404, 409, 422)}


class ModelCard(BaseModel):
    model: ModelInfo
    evaluation: dict[str, Any] | None = Field(
        description="the recorded test evaluation: leaderboard (model, TF-IDF, LLM rows), per-class "
        "scores, confusion matrix; null until 'classifine evaluate' ran"
    )
    validation: dict[str, Any] = Field(description="validation metrics recorded at training")
    training: dict[str, Any] = Field(description="training time, epochs, method, learning rate, batch size")
    versions: list[dict[str, Any]] = Field(
        description="the versions in runs/<name>/versions/N, oldest first; empty: no versions yet"
    )
    promotions: list[dict[str, Any]] = Field(
        description="the promotions log (versions/promotions.jsonl), oldest first"
    )


class MonitorResponse(BaseModel):
    generated_at: str
    low_confidence_threshold: float
    models: list[dict[str, Any]] = Field(description="as 'classifine monitor --json' (empty: no predictions)")


class ReviewItem(BaseModel):
    id: str = Field(description="prediction id; send it to POST /v1/feedback to correct it")
    created_at: float
    model_version: str
    label: Label
    confidence: float
    text: str | None = Field(description="the text, when the server stores texts (--store-texts)")


class ReviewResponse(BaseModel):
    model: str
    texts_stored: bool
    predictions: list[ReviewItem]


class FeedbackSummary(BaseModel):
    model: str
    rows: int
    judged: int
    confirmed: int
    corrected: int
    accuracy: float | None


def _ctx(request: Request) -> ServingContext:
    ctx: ServingContext = request.app.state.ctx
    return ctx


async def _store(ctx: ServingContext, name: str) -> PredictionStore:
    """The model's store with every queued row written (409 without a store)."""
    store = ctx.store_for(name)
    if store is None:
        raise ApiError(409, "the server runs without a store (--no-store): nothing is recorded", "conflict")
    await asyncio.to_thread(store.flush, 10.0)
    return store


@router.get(
    "/v1/models/{name}/card", response_model=ModelCard, responses=_ERR, summary="The model card of a model"
)
async def card(name: str, request: Request) -> ModelCard:
    """Labels, test metrics beside TF-IDF (and LLM rows when evaluated), confusion matrix, versions."""
    model = pick_model(_ctx(request), name)
    body = await asyncio.to_thread(model_card, Path(model.path))
    return ModelCard(model=model_info(model), **body)


@router.get("/v1/monitor", response_model=MonitorResponse, responses=_ERR, summary="Monitoring report")
async def monitor(
    request: Request,
    model: str | None = Query(None, description="a served model (default: the first)"),
    low_confidence: float = Query(0.6, ge=0.0, le=1.0, description="low-confidence threshold"),
) -> MonitorResponse:
    """Volume, confidence over time, low-confidence share, label drift (PSI) and feedback accuracy."""
    from classifine.server.monitor import monitor as build

    ctx = _ctx(request)
    served = pick_model(ctx, model)
    store = await _store(ctx, served.name)
    report = await asyncio.to_thread(
        build, store.url, run=run_folder(Path(served.path)), model=served.name, low_confidence=low_confidence
    )
    return MonitorResponse(
        generated_at=report.generated_at, low_confidence_threshold=low_confidence, models=report.models
    )


@router.get(
    "/v1/monitor/lowest-confidence",
    response_model=ReviewResponse,
    responses=_ERR,
    summary="Least confident recent predictions",
)
async def lowest(
    request: Request,
    model: str | None = Query(None, description="a served model (default: the first)"),
    limit: int = Query(20, ge=1, le=500, description="how many predictions"),
    recent: int = Query(500, ge=1, le=100_000, description="among this many latest predictions"),
    unreviewed: bool = Query(True, description="leave out predictions that already have feedback"),
) -> ReviewResponse:
    """The least confident of the latest predictions, to review and correct (POST /v1/feedback)."""
    ctx = _ctx(request)
    served = pick_model(ctx, model)
    store = await _store(ctx, served.name)
    rows = await asyncio.to_thread(
        lowest_confidence, store.url, served.name, limit=limit, recent=recent, unreviewed=unreviewed
    )
    items = [ReviewItem(**row) for row in rows]
    return ReviewResponse(model=served.name, texts_stored=ctx.settings.store_texts, predictions=items)


@router.get("/v1/feedback/summary", response_model=FeedbackSummary, responses=_ERR, summary="Feedback counts")
async def summary(
    request: Request, model: str | None = Query(None, description="a served model (default: the first)")
) -> FeedbackSummary:
    """How much feedback a model has: rows, judged predictions, confirmed, corrected, accuracy."""
    ctx = _ctx(request)
    served = pick_model(ctx, model)
    store = await _store(ctx, served.name)
    counts = await asyncio.to_thread(feedback_summary, store.url, served.name)
    keys = ("rows", "judged", "confirmed", "corrected", "accuracy")
    return FeedbackSummary(model=served.name, **{k: counts[k] for k in keys})
