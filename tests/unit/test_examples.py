"""Every shipped example config must parse against the current schema."""

from __future__ import annotations

from pathlib import Path

import pytest

from classifine.config import load_config

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.yaml"))


def test_examples_exist() -> None:
    names = {p.stem for p in EXAMPLES}
    for needed in (
        "sms-spam",
        "20newsgroups",
        "movie-reviews",
        "trec-6",
        "trec-50",
        "reuters-multilabel-sample",
    ):
        assert needed in names


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_config_parses(path: Path) -> None:
    cfg = load_config(path)
    assert cfg.data.source or cfg.data.train
    assert cfg.output.name
