"""JSON errors: every failure is ``{"error", "error_type"[, "detail"]}`` with a 4xx status.

Request bodies are never echoed back or logged: validation details keep the field location and
the message, not the input.

Example:
    >>> raise ApiError(404, "unknown model 'x'", "not_found")
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from classifine.errors import ClassifineError

logger = logging.getLogger(__name__)

_KIND_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "validation",
    503: "unavailable",
}


class ApiError(Exception):
    """An error answered as JSON with ``status``."""

    def __init__(
        self, status: int, message: str, error_type: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type or _KIND_BY_STATUS.get(status, "error")
        self.headers = headers


def error_response(
    status: int,
    message: str,
    error_type: str | None = None,
    *,
    detail: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "error": message,
        "error_type": error_type or _KIND_BY_STATUS.get(status, "error"),
    }
    if detail is not None:
        body["detail"] = detail
    return JSONResponse(body, status_code=status, headers=headers)


def _clean_detail(errors: list[Any]) -> list[dict[str, Any]]:
    out = []
    for err in errors:
        item: dict[str, Any] = {
            "loc": [p if isinstance(p, int) else str(p) for p in err.get("loc", ())],
            "msg": str(err.get("msg", "")),
            "type": str(err.get("type", "")),
        }
        ctx = err.get("ctx")
        if isinstance(ctx, dict):
            item["ctx"] = {str(k): v if isinstance(v, int | float | str) else str(v) for k, v in ctx.items()}
        out.append(item)
    return out


def _summary(detail: list[dict[str, Any]]) -> str:
    if not detail:
        return "invalid request"
    first = detail[0]
    if first["type"] == "json_invalid":
        return "the request body is not valid JSON; send a JSON object with Content-Type: application/json"
    where = ".".join(str(p) for p in first["loc"])
    more = f" (and {len(detail) - 1} more problems)" if len(detail) > 1 else ""
    return f"{where}: {first['msg']}{more}"


async def _validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail = _clean_detail(list(exc.errors()))
    return error_response(422, _summary(detail), "validation", detail=detail)


async def _api(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message, exc.error_type, headers=exc.headers)


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = str(exc.detail)
    if exc.status_code == 404:
        message = f"no route {request.url.path}; see GET /docs for the API"
    elif exc.status_code == 405:
        message = f"method {request.method} not allowed on {request.url.path}"
    return error_response(exc.status_code, message, headers=getattr(exc, "headers", None))


async def _classifine(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ClassifineError)
    return error_response(422, str(exc), "invalid")


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Only the route and the exception type: a message could quote a request's text.
    logger.error("internal error on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return error_response(500, "internal server error", "internal")


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception to a JSON error body."""
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(ApiError, _api)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(ClassifineError, _classifine)
    app.add_exception_handler(Exception, _unexpected)
