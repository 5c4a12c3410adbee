"""System packages the tests need: skip when absent on a developer machine, fail under CI.

``make test`` installs them (``scripts/system-deps.sh``) when it runs as root with apt-get; a test
that still finds one missing skips naming it, except under ``CI=true``, where a skipped real-service
test would hide a broken setup and so fails.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


def require_system(what: str, found: bool, package: str) -> None:
    """Skip (or fail under CI) unless ``found``; the message names the Debian package to install."""
    if found:
        return
    message = (
        f"{what} is not installed: install the Debian package '{package}' "
        f"(make test does it as root: scripts/system-deps.sh)"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def postgres_bin() -> Path | None:
    """The folder holding PostgreSQL's initdb and pg_ctl (Debian keeps them out of PATH)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def chromium_path() -> str | None:
    """Debian's Chromium binary, if installed."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None
