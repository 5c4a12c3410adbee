"""``GET /v1/models``, ``/health``, ``/ready``, ``/metrics`` and ``POST /v1/models/{name}/reload``.

Example:
    >>> app.include_router(router)
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from classifine.errors import ClassifineError
from classifine.server.auth import require_api_key, require_configured_key
from classifine.server.errors import ApiError
from classifine.server.metrics import CONTENT_TYPE
from classifine.server.schemas import (
    ErrorBody,
    HealthResponse,
    ModelInfo,
    ModelsResponse,
    ReadyResponse,
    ReloadResponse,
)
from classifine.server.service import LoadedModel, ServingContext, pick_model

router = APIRouter()
_ERR: dict[int | str, dict[str, Any]] = {code: {"model": ErrorBody} for code in (401, 403, 404, 409, 422)}


def _ctx(request: Request) -> ServingContext:
    ctx: ServingContext = request.app.state.ctx
    return ctx


def model_info(model: LoadedModel) -> ModelInfo:
    meta = model.meta
    return ModelInfo(
        name=model.name,
        version=model.version,
        labels=model.labels,
        problem_type=meta.problem_type,
        engine=model.engine,
        base_model=meta.base_model,
        max_length=meta.max_length,
        metrics=dict(meta.metrics),
        loaded_at=model.loaded_at,
    )


@router.get("/health", response_model=HealthResponse, tags=["probes"], summary="Liveness probe")
async def health() -> HealthResponse:
    """Alive: the process answers."""
    return HealthResponse(status="ok")


@router.get(
    "/ready",
    response_model=ReadyResponse,
    tags=["probes"],
    summary="Readiness probe",
    responses={503: {"model": ReadyResponse}},
)
async def ready(request: Request) -> Any:
    """Ready: every model is loaded and the server is not shutting down (else 503)."""
    ctx = _ctx(request)
    names = [m.name for m in ctx.registry.all()]
    if ctx.draining or not ctx.registry.ready:
        status = "draining" if ctx.draining else "loading"
        return JSONResponse({"status": status, "models": names}, status_code=503)
    return ReadyResponse(status="ready", models=names)


@router.get(
    "/v1/models",
    response_model=ModelsResponse,
    dependencies=[Depends(require_api_key)],
    tags=["models"],
    summary="List the served models",
    responses={401: {"model": ErrorBody}},
)
async def list_models(request: Request) -> ModelsResponse:
    """The served models: name, version, labels, engine and headline metrics."""
    return ModelsResponse(models=[model_info(m) for m in _ctx(request).registry.all()])


@router.post(
    "/v1/models/{name}/reload",
    response_model=ReloadResponse,
    dependencies=[Depends(require_configured_key)],
    responses=_ERR,
    tags=["models"],
    summary="Reload a model from its run folder",
)
async def reload_model(name: str, request: Request) -> ReloadResponse:
    """Load the run folder again and swap it in atomically; requests in flight finish on the old model."""
    ctx = _ctx(request)
    pick_model(ctx, name)  # 404 naming the served models
    try:
        model, previous = await ctx.registry.reload(name)
    except Exception as exc:  # a broken run on disk: keep serving the loaded version
        ctx.metrics.reloads.labels(name, "failed").inc()
        current = ctx.registry.get(name).version
        reason = str(exc) if isinstance(exc, ClassifineError) else f"{type(exc).__name__}: {exc}"[:500]
        raise ApiError(409, f"reload failed, still serving version {current}: {reason}", "model") from None
    changed = previous != model.version
    ctx.metrics.reloads.labels(name, "swapped" if changed else "unchanged").inc()
    return ReloadResponse(model=name, version=model.version, previous_version=previous, changed=changed)


@router.get(
    "/metrics",
    dependencies=[Depends(require_api_key)],
    tags=["probes"],
    response_class=Response,
    summary="Prometheus metrics",
    responses={200: {"content": {"text/plain": {}}}, 401: {"model": ErrorBody}},
)
async def metrics(request: Request) -> Response:
    """Prometheus metrics of this server process."""
    ctx = _ctx(request)
    ctx.metrics.store_queue.set(sum(s.depth for s in ctx.unique_stores()))
    return Response(ctx.metrics.render(), media_type=CONTENT_TYPE)
