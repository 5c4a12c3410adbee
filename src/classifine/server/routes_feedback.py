"""``POST /v1/feedback``: confirm or correct a prediction, by its id or by the text.

Example:
    >>> app.include_router(router)
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request

from classifine.errors import suggestion
from classifine.server.auth import require_api_key
from classifine.server.errors import ApiError
from classifine.server.schemas import ErrorBody, FeedbackRequest, FeedbackResponse
from classifine.server.service import LoadedModel, ServingContext, check_limits, pick_model
from classifine.server.store import PredictionRow, PredictionStore, encode_label, text_hash

router = APIRouter(dependencies=[Depends(require_api_key)], tags=["feedback"])
_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorBody} for code in (401, 404, 409, 413, 422)}


def _label(model: LoadedModel, label: str | list[str]) -> str | list[str]:
    """The feedback label checked against the model's labels (a list for multi-label models)."""
    names = [label] if isinstance(label, str) else list(label)
    if not model.multi_label and (not isinstance(label, str)):
        raise ApiError(422, f"label: model '{model.name}' is single-label; send one label name", "validation")
    for name in names:
        if name not in model.labels:
            hint = suggestion(name, model.labels, "label")
            raise ApiError(
                422, f"label: '{name}' is not a label of model '{model.name}'; {hint}", "validation"
            )
    return sorted(names) if model.multi_label else names[0]


async def _find(stores: list[PredictionStore], body: FeedbackRequest, sha: str | None) -> tuple[Any, Any]:
    """(prediction row or None, store it was found in or None); rows still queued are written first."""
    for store in stores:
        await asyncio.to_thread(store.flush, 10.0)
        if body.id is not None:
            row = await asyncio.to_thread(store.get_prediction, body.id)
        else:
            assert sha is not None
            row = await asyncio.to_thread(store.latest_for_text, sha, body.model)
        if row is not None:
            return row, store
    return None, None


@router.post(
    "/v1/feedback",
    status_code=201,
    response_model=FeedbackResponse,
    responses=_ERRORS,
    summary="Confirm or correct a prediction",
)
async def add_feedback(body: FeedbackRequest, request: Request) -> FeedbackResponse:
    """Record the right label for a prediction (by ``id``) or a text: a confirmation or a correction."""
    ctx: ServingContext = request.app.state.ctx
    if (body.id is None) == (body.text is None):
        raise ApiError(422, "give exactly one of 'id' (a prediction id) or 'text'", "validation")
    stores = [ctx.store_for(pick_model(ctx, body.model).name)] if body.model else ctx.unique_stores()
    live = [s for s in stores if s is not None]
    if not live:
        raise ApiError(
            409, "the server runs without a store (--no-store): feedback is not recorded", "conflict"
        )
    text = check_limits([body.text], ctx.settings.limits, "text")[0] if body.text is not None else None
    sha = text_hash(text) if text is not None else None
    row, found_in = await _find(live, body, sha)
    if body.id is not None and row is None:
        raise ApiError(
            404,
            f"unknown prediction id '{body.id}' (not stored: wrong id, another store, or dropped when the "
            "store queue was full); send the text instead",
            "not_found",
        )
    prediction: PredictionRow | None = row
    model = pick_model(ctx, prediction.model if prediction else body.model)
    label = _label(model, body.label)
    encoded = encode_label(label)
    kind = "confirm" if prediction is not None and prediction.label == encoded else "correct"
    store: PredictionStore = found_in or ctx.store_for(model.name) or live[0]
    values = {
        "prediction_id": prediction.id if prediction else None,
        "text_sha256": prediction.text_sha256 if prediction else sha,
        "text": text if ctx.settings.store_texts else None,
        "model": model.name,
        "label": encoded,
        "predicted_label": prediction.label if prediction else None,
        "kind": kind,
    }
    feedback_id = await asyncio.to_thread(store.add_feedback, values)
    return FeedbackResponse(
        feedback_id=feedback_id, kind=kind, prediction_id=values["prediction_id"], model=model.name
    )
