"""Seeded resampling of a training set: class balancing, k examples per class, stratified subsampling.

Multi-label rows are grouped by their rarest label (the usual approximation), so the rare labels are
the ones protected. Every function is deterministic for a given seed.

Example:
    >>> balanced = balance(ds, "undersample", seed=42)
    >>> set(balanced.class_counts().values())
    {13}
"""

from __future__ import annotations

import logging
from collections import defaultdict

import numpy as np

from classifine.data.dataset import Dataset
from classifine.errors import ConfigError

logger = logging.getLogger(__name__)

BALANCE_METHODS = ("none", "undersample", "oversample")


def primary_labels(ds: Dataset) -> list[str]:
    """One label per row: the label itself, or the rarest label of a multi-label row ("" when none).

    Example:
        >>> primary_labels(ds)[:2]
        ['spam', 'ham']
    """
    freq = ds.class_counts()
    return [min(row, key=lambda n: (freq[n], n)) if row else "" for row in ds.labels]


def _groups(ds: Dataset) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = defaultdict(list)
    for i, name in enumerate(primary_labels(ds)):
        groups[name].append(i)
    return dict(sorted(groups.items()))


def balance(ds: Dataset, method: str, seed: int = 42) -> Dataset:
    """Undersample every class to the smallest class, or oversample (with replacement) to the largest.

    Multi-label rows without any label are kept as they are.

    Example:
        >>> len(balance(ds, "oversample", seed=0)) >= len(ds)
        True
    """
    if method not in BALANCE_METHODS:
        raise ConfigError(
            f"unknown balance method '{method}'", hint=f"use one of {', '.join(BALANCE_METHODS)}"
        )
    if method == "none" or len(ds) == 0:
        return ds
    groups = _groups(ds)
    unlabelled = groups.pop("", [])
    if not groups:
        return ds
    sizes = [len(rows) for rows in groups.values()]
    target = min(sizes) if method == "undersample" else max(sizes)
    rng = np.random.default_rng(seed)
    chosen: list[int] = list(unlabelled)
    for rows in groups.values():
        if len(rows) > target:
            chosen.extend(rng.choice(rows, size=target, replace=False).tolist())
        else:
            chosen.extend(rows)
            if len(rows) < target:
                chosen.extend(rng.choice(rows, size=target - len(rows), replace=True).tolist())
    logger.info("balanced training set by %s: %d -> %d rows", method, len(ds), len(chosen))
    return ds.subset(sorted(chosen))


def k_per_class(ds: Dataset, k: int, seed: int = 42) -> Dataset:
    """Keep ``k`` random rows of each class (few-shot training); smaller classes are kept whole and warned of.

    Example:
        >>> set(k_per_class(ds, 8, seed=42).class_counts().values())
        {8}
    """
    if k < 1:
        raise ConfigError(f"k_per_class must be at least 1, got {k}", where="data.k_per_class")
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    short: list[str] = []
    for name, rows in _groups(ds).items():
        if not name:
            continue
        if len(rows) < k:
            short.append(f"{name} ({len(rows)})")
            chosen.extend(rows)
        else:
            chosen.extend(rng.choice(rows, size=k, replace=False).tolist())
    if short:
        logger.warning(
            "k_per_class=%d: these classes have fewer rows and are kept whole: %s", k, ", ".join(short)
        )
    return ds.subset(sorted(chosen))


def subsample(ds: Dataset, n: int, seed: int = 42) -> Dataset:
    """A stratified random subset of exactly ``min(n, len(ds))`` rows, at least one per class when possible.

    Example:
        >>> len(subsample(ds, 100, seed=42))
        100
    """
    if n >= len(ds):
        return ds
    groups = _groups(ds)
    names = list(groups)
    sizes = np.array([len(groups[g]) for g in names], dtype=np.float64)
    quota = sizes * n / sizes.sum()
    take = np.floor(quota).astype(int)
    if n >= len(names):
        take = np.maximum(take, 1)
    # Largest remainders get the rows still missing (or lose the rows in excess).
    order = np.argsort(-(quota - np.floor(quota)), kind="stable")
    i = 0
    while take.sum() != n:
        j = order[i % len(order)]
        step = 1 if take.sum() < n else -1
        if 0 < take[j] + step <= sizes[j] and not (step < 0 and take[j] == 1 and n >= len(names)):
            take[j] += step
        i += 1
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    for name, count in zip(names, take, strict=True):
        chosen.extend(rng.choice(groups[name], size=int(count), replace=False).tolist())
    return ds.subset(sorted(chosen))


def concat(parts: list[Dataset], name: str | None = None) -> Dataset:
    """Join datasets that share one label set (e.g. an official train set = train + validation).

    Example:
        >>> len(concat([splits.train, splits.validation])) == len(splits.train) + len(splits.validation)
        True
    """
    if not parts:
        raise ValueError("concat needs at least one dataset")
    first = parts[0]
    return Dataset(
        [t for p in parts for t in p.texts],
        [r for p in parts for r in p.labels],
        first.label_set,
        first.name if name is None else name,
        dict(first.meta),
    )
