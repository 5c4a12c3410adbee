"""``POST /v1/classify`` and ``POST /predict`` (Text Embeddings Inference's shape).

Example:
    >>> app.include_router(router)
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, Query, Request, Response

from classifine.data.clean import make_cleaner
from classifine.server.auth import require_api_key
from classifine.server.errors import ApiError
from classifine.server.schemas import (
    ClassifyPrediction,
    ClassifyRequest,
    ClassifyResponse,
    ErrorBody,
    PredictRequest,
    ScoredLabel,
    TeiPrediction,
)
from classifine.server.service import LoadedModel, Scored, ServingContext, check_limits, classify, pick_model

router = APIRouter(dependencies=[Depends(require_api_key)], tags=["classify"])
_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorBody} for code in (401, 404, 413, 422, 503)}
PREDICTION_IDS_HEADER = "X-Prediction-Ids"


def _ctx(request: Request) -> ServingContext:
    ctx: ServingContext = request.app.state.ctx
    return ctx


@router.post("/v1/classify", response_model=ClassifyResponse, responses=_ERRORS, summary="Classify texts")
async def classify_texts(body: ClassifyRequest, request: Request) -> ClassifyResponse:
    """Classify texts: a label, every label's probability and the top-k labels per text, each with an id."""
    ctx = _ctx(request)
    if not body.texts:
        raise ApiError(422, "texts: give at least one text", "validation")
    texts = check_limits(body.texts, ctx.settings.limits)
    model, scored = await classify(ctx, body.model, texts)
    labels = model.labels
    predictions = []
    for s in scored:
        ranked = sorted(zip(labels, s.probs.tolist(), strict=True), key=lambda kv: -kv[1])
        ranked = ranked if body.top_k is None else ranked[: body.top_k]
        predictions.append(
            ClassifyPrediction(
                id=s.id,
                label=s.label,
                scores=dict(zip(labels, s.probs.tolist(), strict=True)),
                top_k=[ScoredLabel(label=n, score=p) for n, p in ranked],
            )
        )
    return ClassifyResponse(model=model.name, model_version=model.version, predictions=predictions)


def _tei_texts(inputs: str | list[str] | list[list[str]]) -> tuple[list[str], bool]:
    """TEI's input forms -> (texts, batched). Pairs are refused: these models classify one text."""
    pair = "text pairs are not supported: this model classifies single texts"
    if isinstance(inputs, str):
        return [inputs], False
    if not inputs:
        raise ApiError(422, "inputs: an empty list; send a text or a batch [[text], ...]", "validation")
    if all(isinstance(x, str) for x in inputs):
        if len(inputs) == 1:
            return [str(inputs[0])], False
        hint = "" if len(inputs) == 2 else "; a batch is [[text], [text], ...]"
        raise ApiError(422, f"inputs: {pair}{hint}", "validation")
    texts = []
    for i, item in enumerate(inputs):
        if not isinstance(item, list) or len(item) != 1:
            what = pair if isinstance(item, list) and len(item) == 2 else "each batch item must be [text]"
            raise ApiError(422, f"inputs[{i}]: {what}", "validation")
        texts.append(item[0])
    return texts, True


def _token_count(model: LoadedModel, texts: list[str]) -> int:
    tokenizer = model.token_counter
    if tokenizer is None:
        return 0
    clean = make_cleaner(model.meta.clean)
    return max(
        (len(ids) for ids in tokenizer([clean(t) for t in texts], truncation=False)["input_ids"]), default=0
    )


async def _check_tokens(ctx: ServingContext, model: LoadedModel, texts: list[str]) -> None:
    """Without truncation, a text longer than the model's max length is an error (as in TEI)."""
    # A private tokenizer copy: the forward threads' tokenizer keeps truncation settings as state.
    longest = await asyncio.to_thread(_token_count, model, texts)
    if longest > model.meta.max_length:
        raise ApiError(
            413,
            f"Input validation error: `inputs` must have less than {model.meta.max_length} tokens. "
            f"Given: {longest}",
            "validation",
        )


def _tei_scores(model: LoadedModel, s: Scored, raw: bool) -> list[TeiPrediction]:
    probs = np.clip(s.probs, 1e-12, 1.0)
    if raw:
        # Softmax is shift-invariant: log-probabilities are the logits up to one constant per text;
        # for sigmoid (multi-label) the logit is recovered exactly.
        probs = np.log(probs / np.clip(1.0 - probs, 1e-12, None)) if model.multi_label else np.log(probs)
    ranked = sorted(zip(model.labels, probs.tolist(), strict=True), key=lambda kv: -kv[1])
    return [TeiPrediction(score=p, label=n) for n, p in ranked]


@router.post(
    "/predict",
    response_model=list[TeiPrediction] | list[list[TeiPrediction]],
    responses={**_ERRORS, 400: {"model": ErrorBody}},
    summary="Classify (Text Embeddings Inference's /predict)",
)
async def predict_tei(
    body: PredictRequest,
    request: Request,
    response: Response,
    model: str | None = Query(None, description="a served model name (default: the first one)"),
) -> list[TeiPrediction] | list[list[TeiPrediction]]:
    """Text Embeddings Inference's classification endpoint: scores per label, best first."""
    ctx = _ctx(request)
    texts, batched = _tei_texts(body.inputs)
    if any(t == "" for t in texts):
        raise ApiError(400, "`inputs` cannot be empty", "empty")
    if len(texts) > ctx.settings.limits.max_texts:
        limit = ctx.settings.limits.max_texts
        raise ApiError(413, f"batch size {len(texts)} > maximum allowed batch size {limit}", "validation")
    texts = check_limits(texts, ctx.settings.limits, "inputs", status=413)
    truncate = body.truncate if body.truncate is not None else ctx.settings.auto_truncate
    if not truncate:
        await _check_tokens(ctx, pick_model(ctx, model), texts)
    served, scored = await classify(ctx, model, texts)
    response.headers[PREDICTION_IDS_HEADER] = ",".join(s.id for s in scored)
    results = [_tei_scores(served, s, body.raw_scores) for s in scored]
    return results if batched else results[0]
