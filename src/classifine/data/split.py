"""Seeded, stratified, leakage-free train/validation/test splits.

Rows with identical text (after whitespace normalisation and case folding) form one group and
always land in the same split, so no text is ever both trained on and tested on.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

import numpy as np

from classifine.data.dataset import Dataset, DatasetSplits
from classifine.errors import DataError

_WS = re.compile(r"\s+")
_EXAMPLE_CHARS = 60


def text_key(text: str) -> str:
    """The identity used for leakage checks: case-folded text with collapsed whitespace."""
    return _WS.sub(" ", text).strip().casefold()


def _groups(ds: Dataset) -> list[list[int]]:
    by_key: dict[str, list[int]] = defaultdict(list)
    for i, text in enumerate(ds.texts):
        by_key[text_key(text)].append(i)
    return list(by_key.values())


def _stratum(ds: Dataset, group: list[int], freq: dict[str, int]) -> str:
    """Stratify a group by its rarest label (the usual approximation for multi-label data)."""
    names = {n for i in group for n in ds.labels[i]}
    if not names:
        return ""
    return min(names, key=lambda n: (freq[n], n))


def split_dataset(
    ds: Dataset,
    validation: float = 0.1,
    test: float = 0.2,
    seed: int = 42,
    names: tuple[str, str] = ("validation", "test"),
) -> DatasetSplits:
    """Split ``ds`` into train/validation/test by fractions of rows, stratified by label.

    Example:
        >>> splits = split_dataset(ds, validation=0.1, test=0.2, seed=42)
        >>> len(splits.train) + len(splits.validation) + len(splits.test) == len(ds)
        True
    """
    if validation + test >= 1.0:
        raise DataError(f"split fractions validation={validation} + test={test} leave no training data")
    groups = _groups(ds)
    freq = ds.class_counts()
    strata: dict[str, list[list[int]]] = defaultdict(list)
    for g in groups:
        strata[_stratum(ds, g, freq)].append(g)
    rng = np.random.default_rng(seed)
    parts: dict[str, list[int]] = {"train": [], "validation": [], "test": []}
    for name in sorted(strata):
        members = strata[name]
        order = rng.permutation(len(members))
        n = len(members)
        n_test = int(round(n * test))
        n_val = int(round(n * validation))
        needed = 1 + (test > 0) + (validation > 0)
        if n < needed and name:
            carved = [part for part, f in zip(names, (validation, test), strict=True) if f > 0]
            raise DataError(
                f"class '{name}' has only {n} distinct text(s); "
                f"splitting off {' and '.join(carved)} rows needs at least {needed}",
                hint="add examples, set data.min_examples_per_class to drop or merge rare classes, "
                "or set data.split.validation/test to 0",
            )
        if test > 0 and n_test == 0:
            n_test = 1
        if validation > 0 and n_val == 0:
            n_val = 1
        if n - n_test - n_val < 1:
            n_val = max(0, n - n_test - 1)
        for rank, gi in enumerate(order):
            dest = "test" if rank < n_test else "validation" if rank < n_test + n_val else "train"
            parts[dest].extend(members[gi])
    return DatasetSplits(
        train=ds.subset(sorted(parts["train"])),
        validation=ds.subset(sorted(parts["validation"])),
        test=ds.subset(sorted(parts["test"])),
    )


def split_off(
    ds: Dataset, fraction: float, seed: int = 42, name: str = "validation"
) -> tuple[Dataset, Dataset]:
    """Carve a stratified, leakage-free fraction off ``ds`` (e.g. validation from an official train set).

    Returns ``(rest, carved)``; ``name`` names the carved split in error messages.
    """
    splits = split_dataset(ds, validation=0.0, test=fraction, seed=seed, names=("validation", name))
    return splits.train, splits.test


def overlap(a: Dataset, b: Dataset) -> int:
    """Number of distinct texts present in both datasets."""
    return len({text_key(t) for t in a.texts} & {text_key(t) for t in b.texts})


def _short(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _EXAMPLE_CHARS else flat[: _EXAMPLE_CHARS - 1] + "…"


def duplicate_stats(ds: Dataset) -> tuple[int, int, int, list[dict[str, Any]]]:
    """Exact-text duplicates: ``(duplicate_rows, duplicate_texts, conflicting_texts, conflict_examples)``.

    ``duplicate_rows`` counts rows repeating an earlier row's text (what deduplication removes);
    ``duplicate_texts`` counts distinct texts seen more than once; a text is conflicting when its
    copies carry different labels (up to 3 examples are returned).

    Example:
        >>> duplicate_stats(Dataset(["a", "a", "b"], [("x",), ("y",), ("x",)], ls))[:3]
        (1, 1, 1)
    """
    rows: dict[str, list[int]] = defaultdict(list)
    for i, text in enumerate(ds.texts):
        rows[text].append(i)
    repeated = {t: idx for t, idx in rows.items() if len(idx) > 1}
    duplicate_rows = sum(len(idx) - 1 for idx in repeated.values())
    examples: list[dict[str, Any]] = []
    conflicting = 0
    for text, idx in repeated.items():
        label_sets = sorted({ds.labels[i] for i in idx})
        if len(label_sets) > 1:
            conflicting += 1
            if len(examples) < 3:
                examples.append(
                    {"text": _short(text), "labels": [list(r) for r in label_sets], "rows": len(idx)}
                )
    return duplicate_rows, len(repeated), conflicting, examples
