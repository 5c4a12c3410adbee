"""Change which version of a run serves: promote, roll back, and tell a running server to reload.

Each change is one line of the promotions log (:mod:`classifine.loop.versions`); the server's
``POST /v1/models/{name}/reload`` then loads the run folder again, which resolves to the new
serving version (requests in flight finish on the old model).

Example:
    >>> rollback("runs/trec-6").serving
    1
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from classifine.errors import ClassifineError, ModelError
from classifine.loop.versions import (
    Promotion,
    append_promotion,
    ensure_version_one,
    existing_versions,
    read_promotions,
    retrain_lock,
    run_root,
    serving_version,
)

logger = logging.getLogger(__name__)


class ServerError(ClassifineError):
    """The classifine server did not accept a reload."""


def _check_version(run: Path, version: int) -> None:
    ensure_version_one(run)
    if version not in existing_versions(run):
        raise ModelError(
            f"run has no version {version}",
            where=str(run),
            hint=f"versions: {', '.join(map(str, existing_versions(run)))} (classifine versions {run})",
        )


def previous_serving(run: str | Path) -> int | None:
    """The version that served before the current one, per the promotions log (None when none did).

    Example:
        >>> previous_serving("runs/trec-6")
        1
    """
    log = read_promotions(run)
    current = log[-1].serving if log else 1
    for entry in reversed(log):
        if entry.previous_version != current and entry.serving == current:
            return entry.previous_version
    return None


def promote(
    run: str | Path, version: int, *, reason: str = "", trigger: str = "classifine promote"
) -> Promotion:
    """Make ``version`` the serving version of ``run`` (logged; no score check: a human decided).

    Example:
        >>> promote("runs/trec-6", 3, reason="checked by hand").serving
        3
    """
    run = run_root(run)
    with retrain_lock(run):
        _check_version(run, version)
        current = serving_version(run)
        entry = Promotion(
            action="promote", version=version, previous_version=current, serving=version,
            decision="promoted", reason=reason or f"version {version} promoted by hand", trigger=trigger,
        )  # fmt: skip
        return append_promotion(run, entry)


def rollback(
    run: str | Path, to: int | None = None, *, reason: str = "", trigger: str = "classifine rollback"
) -> Promotion:
    """Serve an earlier version again: ``to``, or the version that served before the current one.

    Example:
        >>> rollback("runs/trec-6", to=1).decision
        'rolled_back'
    """
    run = run_root(run)
    with retrain_lock(run):
        current = serving_version(run)
        target = to if to is not None else previous_serving(run)
        if target is None:
            raise ModelError(
                f"nothing to roll back to: version {current} is the only version that served",
                where=str(run),
                hint="pass --to N to pick a version",
            )
        _check_version(run, target)
        if target == current:
            raise ModelError(f"version {target} already serves", where=str(run), hint="pick another --to")
        entry = Promotion(
            action="rollback", version=target, previous_version=current, serving=target,
            decision="rolled_back", reason=reason or f"rolled back from version {current} to {target}",
            trigger=trigger,
        )  # fmt: skip
        return append_promotion(run, entry)


def reload_server(url: str, name: str, api_key: str | None, timeout: float = 600.0) -> dict[str, Any]:
    """Ask a running ``classifine serve`` to reload model ``name`` (it loads the serving version).

    Example:
        >>> reload_server("http://127.0.0.1:8000", "trec-6", "secret")["changed"]
        True
    """
    import httpx

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    target = f"{url.rstrip('/')}/v1/models/{name}/reload"
    try:
        response = httpx.post(target, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise ServerError(
            f"could not reach the server: {exc}", where=target, hint="check --server and that it runs"
        ) from None
    if response.status_code != 200:
        try:
            message = str(response.json().get("error", response.text))
        except ValueError:
            message = response.text
        raise ServerError(
            f"reload answered {response.status_code}: {message}",
            where=target,
            hint="the log already records the promotion; reload by hand once the cause is fixed",
        )
    body: dict[str, Any] = response.json()
    logger.info("server now serves %s version %s", name, body.get("version"))
    return body
