"""Optional API key: ``Authorization: Bearer <key>``, compared in constant time.

Without a key configured every route is open except ``POST /v1/models/{name}/reload``, which
needs one. ``/health`` and ``/ready`` never ask for it (probes).

Example:
    >>> router = APIRouter(dependencies=[Depends(require_api_key)])
"""

from __future__ import annotations

import hmac

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from classifine.server.errors import ApiError

bearer = HTTPBearer(
    auto_error=False,
    description="The server's API key (only when it was started with --api-key-env).",
)
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def _matches(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8"))


def _check(request: Request, credentials: HTTPAuthorizationCredentials | None, required: bool) -> None:
    key = request.app.state.ctx.settings.api_key
    if key is None:
        if required:
            raise ApiError(
                403,
                "this endpoint needs an API key and the server has none: start it with --api-key-env NAME",
                "forbidden",
            )
        return
    if credentials is None:
        raise ApiError(
            401, "missing API key: send the header 'Authorization: Bearer <key>'", "unauthorized", _CHALLENGE
        )
    if not _matches(credentials.credentials, key.get_secret_value()):
        raise ApiError(401, "invalid API key", "unauthorized", _CHALLENGE)


async def require_api_key(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Security(bearer)
) -> None:
    """Pass when no key is configured or the request carries the right one; else 401."""
    _check(request, credentials, required=False)


async def require_configured_key(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Security(bearer)
) -> None:
    """Like :func:`require_api_key`, but 403 when the server has no key at all (admin routes)."""
    _check(request, credentials, required=True)
