"""The local backend with the packaged SmolLM2-135M-Instruct: label scoring, cache, prefix reuse."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from classifine.data.dataset import Dataset
from classifine.data.labels import LabelSet
from classifine.llm import LLMCache, get_backend, label_texts, llm_leaderboard_row, make_builder
from classifine.llm.local import LocalBackend


@pytest.fixture(scope="module")
def backend() -> LocalBackend:
    torch.set_num_threads(1)
    llm = get_backend("local", model="smollm2-135m", batch_size=10)
    assert isinstance(llm, LocalBackend)
    return llm


@pytest.fixture(scope="module")
def reviews() -> tuple[Dataset, Dataset]:
    """20 short movie-review sentences, 10 per class (seeded), and the train split."""
    from classifine.data.catalog import load_catalog

    splits = load_catalog("movie-reviews")
    rng = np.random.default_rng(0)
    idx: list[int] = []
    for name in splits.label_set.names:
        rows = sorted(
            (
                i
                for i, lab in enumerate(splits.test.labels)
                if lab == (name,) and len(splits.test.texts[i]) < 160
            ),
            key=lambda i: splits.test.texts[i],  # independent of how the catalog stores its rows
        )
        idx += [rows[j] for j in rng.permutation(len(rows))[:10]]
    return splits.test.subset(idx), splits.train


def test_scores_are_distributions_that_vary_with_the_text(
    backend: LocalBackend, reviews: tuple[Dataset, Dataset], tmp_path: Path
) -> None:
    test, _ = reviews
    cache = LLMCache(tmp_path / "c.sqlite")
    preds = label_texts(test.texts, test.label_set, backend, cache=cache)
    for p in preds:
        assert p.scores is not None and set(p.scores) == {"negative", "positive"}
        assert sum(p.scores.values()) == pytest.approx(1.0, abs=1e-5)
        assert p.confidence == pytest.approx(max(p.scores.values())) and not p.abstained
    row = llm_leaderboard_row("smollm2-135m", "zero-shot", preds, test)
    # SmolLM2-135M is close to chance on movie reviews (0.525-0.65 on four seeded samples of 40):
    # its quality is measured in bench/llm_labeling.py; here the scores must at least depend on the text.
    assert len({p.label for p in preds}) == 2
    assert np.std([p.scores["positive"] for p in preds if p.scores]) > 0.01
    assert 0.0 <= row["accuracy"] <= 1.0
    assert row["abstention_rate"] == 0.0

    calls = backend.forward_calls
    again = label_texts(test.texts, test.label_set, backend, cache=cache)
    assert backend.forward_calls == calls  # zero model forward passes
    assert again.cache_hits == len(test) and again.calls == 0
    assert [p.scores for p in again] == [p.scores for p in preds]


def test_shared_prefix_reuse_gives_the_same_scores(
    backend: LocalBackend, reviews: tuple[Dataset, Dataset]
) -> None:
    test, train = reviews
    texts = test.texts[:3] + test.texts[-3:]
    kwargs = {"train": train, "k": 1, "cache": False}
    fast = label_texts(texts, test.label_set, backend, "few-shot", **kwargs)  # type: ignore[arg-type]
    backend.reuse_prefix = False
    try:
        full = label_texts(texts, test.label_set, backend, "few-shot", **kwargs)  # type: ignore[arg-type]
    finally:
        backend.reuse_prefix = True
    for a, b in zip(fast, full, strict=True):
        assert a.scores is not None and b.scores is not None
        assert a.scores["positive"] == pytest.approx(b.scores["positive"], abs=1e-4)
    # and the fast run really did reuse a shared prompt prefix (instructions + fixed examples)
    requests = make_builder(test.label_set, "few-shot", train=train, k=1).build_all(texts)
    assert backend._shared_prefix(backend._token_rows(requests)) >= 8


def test_label_cache_pass_and_row_pass_agree_on_multi_token_labels(backend: LocalBackend) -> None:
    labels = LabelSet(("ham", "spam"))  # 'spam' is two tokens for this tokenizer
    assert [len(x) for x in backend._label_ids(labels.names)] == [1, 2]
    texts = ["WINNER!! Claim your free cash prize now, text WIN to 80086", "ok see you at home later"]
    by_cache = label_texts(texts, labels, backend, cache=False)
    backend.label_pass = "rows"
    try:
        by_rows = label_texts(texts, labels, backend, cache=False)
    finally:
        backend.label_pass = "cache"
    for a, b in zip(by_cache, by_rows, strict=True):
        assert a.scores is not None and b.scores is not None
        assert a.scores["spam"] == pytest.approx(b.scores["spam"], abs=1e-4)


def test_generate_mode_answers_are_parsed_not_crashing(backend: LocalBackend) -> None:
    gen = LocalBackend("smollm2-135m", mode="generate", max_new_tokens=4, batch_size=4)
    gen._model = backend.model  # share the loaded weights
    labels = LabelSet(("negative", "positive"))
    texts = ["a wonderful, moving film", "dull and far too long", "I loved every minute", "a total mess"]
    preds = label_texts(texts, labels, gen, cache=False)
    assert preds.calls == 4
    assert all(p.label in labels.names for p in preds if not p.abstained)
    # This small model often echoes the prompt instead of answering: those rows are abstentions.
    assert sum(not p.abstained for p in preds) >= 1
    assert preds.abstentions == sum(p.label is None for p in preds)
    assert all(p.scores is None for p in preds)  # generation gives text, not a distribution
