"""One ASGI middleware: body size limit (413), in-flight count, and request metrics by route.

Pure ASGI (no BaseHTTPMiddleware) to keep the per-request cost small. The route label is the
route's template (``/v1/models/{name}/reload``), never the raw path, so metrics cardinality stays
bounded; unknown paths are counted as ``unmatched``.

Example:
    >>> app.add_middleware(ServingMiddleware, metrics=metrics, max_body_bytes=1_048_576)
"""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from classifine.server.metrics import ServerMetrics

_BODY_METHODS = {"POST", "PUT", "PATCH"}


async def _send_error(send: Send, status: int, message: str, error_type: str) -> None:
    body = json.dumps({"error": message, "error_type": error_type}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _too_large(limit: int) -> str:
    return f"request body exceeds the limit of {limit} bytes (max_body_bytes); send fewer or shorter texts"


class ServingMiddleware:
    """Limit request bodies, count requests in flight and observe every response."""

    def __init__(self, app: ASGIApp, *, metrics: ServerMetrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
            await send(message)

        self.metrics.in_flight.inc()
        try:
            if scope["method"] in _BODY_METHODS:
                receive = await self._buffered(scope, receive, send_wrapper)
            if receive is not None:
                await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.in_flight.dec()
            route = scope.get("route")
            template = getattr(route, "path_format", None) or getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(
                template, scope["method"], status["code"], time.perf_counter() - started
            )

    async def _buffered(self, scope: Scope, receive: Receive, send: Send) -> Any:
        """Read the whole body (up to the limit) and replay it; None when already answered 413/400."""
        declared = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _send_error(send, 400, "invalid Content-Length header", "bad_request")
                    return None
        if declared is not None and declared > self.max_body:
            await _send_error(send, 413, _too_large(self.max_body), "too_large")
            return None
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                await _send_error(send, 413, _too_large(self.max_body), "too_large")
                return None
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay
