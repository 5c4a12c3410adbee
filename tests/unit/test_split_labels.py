"""LabelSet encoding and the leakage-free stratified split."""

from __future__ import annotations

import random

import numpy as np
import pytest

from classifine.data.dataset import Dataset
from classifine.data.labels import LabelSet
from classifine.data.split import overlap, split_dataset, split_off, text_key
from classifine.errors import DataError


def _dataset(n: int = 1000, seed: int = 0) -> Dataset:
    rng = random.Random(seed)
    texts = [f"text {rng.randint(0, n // 3)}" for _ in range(n)]
    labels = [("b",) if int(t.split()[1]) % 5 == 0 else ("a",) for t in texts]
    return Dataset(texts, labels, LabelSet.from_labels(labels))


def test_labelset_order_encode_decode() -> None:
    ls = LabelSet.from_labels([("spam",), ("ham",), ("spam",)])
    assert ls.names == ("ham", "spam")
    assert ls.encode([("spam",), ("ham",)]).tolist() == [1, 0]
    assert ls.decode([1, 0]) == ["spam", "ham"]
    multi = LabelSet(("a", "b", "c"), multi_label=True)
    assert multi.encode([("a", "c"), ()]).tolist() == [[1, 0, 1], [0, 0, 0]]
    with pytest.raises(DataError, match="did you mean 'spam'"):
        ls.index("spma")


def test_split_sizes_stratified_and_no_leakage() -> None:
    ds = _dataset()
    splits = split_dataset(ds, validation=0.1, test=0.2, seed=3)
    sizes = [len(s) for _, s in splits.items()]
    assert sum(sizes) == len(ds)
    assert overlap(splits.train, splits.test) == 0
    assert overlap(splits.train, splits.validation) == 0
    assert overlap(splits.validation, splits.test) == 0
    share = {name: s.class_counts()["b"] / len(s) for name, s in splits.items()}
    assert abs(share["train"] - share["test"]) < 0.05


def test_split_is_deterministic_per_seed() -> None:
    ds = _dataset()
    a = split_dataset(ds, seed=1)
    b = split_dataset(ds, seed=1)
    c = split_dataset(ds, seed=2)
    assert a.test.texts == b.test.texts
    assert a.test.texts != c.test.texts


def test_near_duplicates_by_case_and_space_stay_together() -> None:
    texts = ["Hello  World", "hello world", "HELLO WORLD "] + [f"t{i}" for i in range(40)]
    labels = [("x",)] * 3 + [("x",) if i % 2 else ("y",) for i in range(40)]
    ds = Dataset(texts, labels, LabelSet.from_labels(labels))
    for seed in range(5):
        s = split_dataset(ds, seed=seed)
        homes = [
            name for name, part in s.items() if text_key("hello world") in {text_key(t) for t in part.texts}
        ]
        assert len(homes) == 1


def test_too_small_class_is_a_clear_error() -> None:
    labels = [("a",)] * 20 + [("b",)] * 2
    ds = Dataset([f"t{i}" for i in range(22)], labels, LabelSet.from_labels(labels))
    with pytest.raises(DataError, match="class 'b' has only 2"):
        split_dataset(ds, validation=0.1, test=0.2)


def test_split_off_and_multilabel() -> None:
    rng = np.random.default_rng(0)
    labels = [
        tuple(sorted({"x", "y", "z"}.intersection({rng.choice(["x", "y", "z"]), "x"}))) for _ in range(200)
    ]
    ds = Dataset([f"doc {i}" for i in range(200)], labels, LabelSet.from_labels(labels, multi_label=True))
    rest, carved = split_off(ds, 0.25, seed=0)
    assert len(rest) + len(carved) == 200
    assert 40 <= len(carved) <= 60
    assert overlap(rest, carved) == 0
    assert ds.y().shape == (200, 3)


def test_fingerprint_changes_with_labels() -> None:
    ds = _dataset(50)
    flipped = Dataset(ds.texts, [("a",) if r == ("b",) else ("b",) for r in ds.labels], ds.label_set)
    assert ds.fingerprint() == _dataset(50).fingerprint()
    assert ds.fingerprint() != flipped.fingerprint()
