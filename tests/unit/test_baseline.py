"""The TF-IDF baseline on small synthetic topic data."""

from __future__ import annotations

import random

import numpy as np
import pytest

from classifine.data.dataset import Dataset, DatasetSplits
from classifine.data.labels import LabelSet
from classifine.errors import DataError, ModelError
from classifine.evaluation.baseline import relabel, tfidf_baseline
from classifine.models.tfidf import C_GRID, TfidfModel, fit_tfidf

TOPICS = {
    "sport": "goal match team score league coach player stadium referee",
    "tech": "cpu code bug chip compiler server laptop kernel software",
    "food": "pasta bread cheese recipe oven sauce salad spoon dinner",
}
FILLER = ["the", "a", "of", "and", "to", "in", "is", "it", "was", "for", "on", "with"]


def _texts(topic: str, n: int, rng: random.Random) -> list[str]:
    words = TOPICS[topic].split()
    return [
        " ".join(rng.choice(words) if rng.random() < 0.5 else rng.choice(FILLER) for _ in range(12))
        for _ in range(n)
    ]


def _dataset(n_per: int, seed: int, label_set: LabelSet) -> Dataset:
    rng = random.Random(seed)
    texts: list[str] = []
    labels: list[tuple[str, ...]] = []
    for topic in TOPICS:
        texts += _texts(topic, n_per, rng)
        labels += [(topic,)] * n_per
    return Dataset(texts, labels, label_set)


@pytest.fixture(scope="module")
def splits() -> DatasetSplits:
    ls = LabelSet(tuple(sorted(TOPICS)))
    return DatasetSplits(_dataset(20, 1, ls), _dataset(8, 2, ls), _dataset(15, 3, ls))


def test_baseline_beats_chance_by_a_margin(splits: DatasetSplits) -> None:
    result = tfidf_baseline(splits)
    assert result.probs.shape == (45, 3)
    np.testing.assert_allclose(result.probs.sum(axis=1), 1.0, atol=1e-9)
    assert result.metrics["accuracy"] >= 0.9  # chance is 1/3
    assert result.metrics["macro_f1"] >= 0.9
    assert result.params["C"] in C_GRID and result.params["refit"] == "train+validation"
    assert result.params["min_df"] == 1  # 60 training texts: too few to drop rare terms
    assert result.seconds > 0 and result.texts_per_s is not None


def test_baseline_is_deterministic(splits: DatasetSplits) -> None:
    a, b = tfidf_baseline(splits, seed=7), tfidf_baseline(splits, seed=7)
    np.testing.assert_array_equal(a.probs, b.probs)
    assert a.metrics == b.metrics


def test_baseline_without_validation_uses_default_c(splits: DatasetSplits) -> None:
    no_val = DatasetSplits(splits.train, splits.train.subset([]), splits.test)
    assert tfidf_baseline(no_val).params["C"] == 1.0


def test_class_missing_from_train_gets_zero_probability(splits: DatasetSplits) -> None:
    def no_food(ds: Dataset) -> Dataset:
        return ds.subset([i for i, row in enumerate(ds.labels) if row != ("food",)])

    partial = DatasetSplits(no_food(splits.train), no_food(splits.validation), splits.test)
    result = tfidf_baseline(partial)
    food = splits.label_set.index("food")
    assert result.probs.shape == (45, 3)
    assert np.all(result.probs[:, food] == 0.0)
    assert result.metrics["per_class"]["food"]["recall"] == 0.0
    # food texts must go somewhere, so precision drops; the known classes are still found
    assert result.metrics["per_class"]["sport"]["recall"] >= 0.9
    assert result.metrics["per_class"]["tech"]["recall"] >= 0.9


def test_multi_label_baseline() -> None:
    ls = LabelSet(("sport", "tech"), multi_label=True)
    rng = random.Random(5)

    def make(n: int) -> Dataset:
        texts, labels = [], []
        for _ in range(n):
            tags = tuple(t for t in ("sport", "tech") if rng.random() < 0.5)
            words = [w for t in tags for w in _texts(t, 1, rng)[0].split()] or _texts("food", 1, rng)[
                0
            ].split()
            texts.append(" ".join(words))
            labels.append(tags)
        return Dataset(texts, labels, ls)

    result = tfidf_baseline(DatasetSplits(make(80), make(20), make(40)))
    assert result.probs.shape == (40, 2)
    assert result.metrics["problem_type"] == "multi_label"
    assert result.metrics["micro_f1"] >= 0.85
    assert result.metrics["hamming_loss"] <= 0.15


def test_baseline_errors_are_clear(splits: DatasetSplits) -> None:
    one = splits.train.subset([0, 1, 2])
    with pytest.raises(DataError, match="at least 2 classes"):
        tfidf_baseline(DatasetSplits(one, splits.validation, splits.test))
    with pytest.raises(DataError, match="train split is empty"):
        tfidf_baseline(DatasetSplits(splits.train.subset([]), splits.validation, splits.test))
    other = LabelSet(("sport", "tech"))
    with pytest.raises(DataError, match="not labels of this model"):
        relabel(splits.train, other, "train split")


def test_stored_model_reads_back_identically_without_pickle(splits: DatasetSplits, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sklearn.feature_extraction.text import TfidfVectorizer

    fitted = fit_tfidf(splits.train, splits.validation)
    fitted.model.save(tmp_path / "tfidf")
    assert sorted(p.name for p in (tmp_path / "tfidf").iterdir()) == ["tfidf.json", "tfidf.safetensors"]
    loaded = TfidfModel.load(tmp_path / "tfidf")
    np.testing.assert_array_equal(
        loaded.predict_proba(splits.test.texts), fitted.model.predict_proba(splits.test.texts)
    )
    # The features are scikit-learn's, computed from the stored vocabulary and idf alone.
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, dtype=np.float32)
    vec.fit(splits.train.texts + splits.validation.texts)
    np.testing.assert_allclose(
        loaded.features(splits.test.texts).toarray(), vec.transform(splits.test.texts).toarray(), atol=1e-6
    )
    assert fitted.validation_proba is not None and fitted.validation_proba.shape == (24, 3)
    (tmp_path / "tfidf" / "tfidf.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ModelError, match="cannot read the TF-IDF model"):
        TfidfModel.load(tmp_path / "tfidf")
