"""The validated Dataset every module upstream of training produces."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from classifine.data.labels import LabelSet


@dataclass(frozen=True)
class Dataset:
    """Texts with their labels.

    ``labels[i]`` is a tuple of label names for ``texts[i]``: exactly one name for single-label
    data, zero or more for multi-label data.

    Example:
        >>> ds = Dataset(["win cash", "hi mum"], [("spam",), ("ham",)], LabelSet(("ham", "spam")))
        >>> ds.y().tolist()
        [1, 0]
    """

    texts: list[str]
    labels: list[tuple[str, ...]]
    label_set: LabelSet
    name: str = ""
    meta: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise ValueError(f"{len(self.texts)} texts but {len(self.labels)} label rows")

    def __len__(self) -> int:
        return len(self.texts)

    def __iter__(self) -> Iterator[tuple[str, tuple[str, ...]]]:
        return iter(zip(self.texts, self.labels, strict=True))

    @property
    def multi_label(self) -> bool:
        return self.label_set.multi_label

    def y(self) -> np.ndarray:
        """Encoded targets: (N,) int64 for single-label, (N, C) float32 multi-hot for multi-label."""
        return self.label_set.encode(self.labels)

    def class_counts(self) -> dict[str, int]:
        """Rows per label, for every label in the label set (zero included), in label order."""
        counts = Counter(name for row in self.labels for name in row)
        return {name: counts.get(name, 0) for name in self.label_set.names}

    def concat(self, other: Dataset) -> Dataset:
        """This dataset's rows, then ``other``'s (both read against this label set).

        Example:
            >>> splits.train.concat(splits.validation).texts[-1] == splits.validation.texts[-1]
            True
        """
        return Dataset(self.texts + other.texts, self.labels + other.labels, self.label_set)

    def subset(self, indices: Sequence[int] | np.ndarray, name: str | None = None) -> Dataset:
        """A new Dataset with the rows at ``indices`` (same label set)."""
        idx = [int(i) for i in indices]
        return Dataset(
            [self.texts[i] for i in idx],
            [self.labels[i] for i in idx],
            self.label_set,
            self.name if name is None else name,
            dict(self.meta),
        )

    @classmethod
    def from_pandas(
        cls,
        df: Any,
        *,
        text: str = "text",
        label: str | list[str] = "label",
        multi_label: bool | str = "auto",
        labels: Sequence[str] | None = None,
    ) -> Dataset:
        """A Dataset from a DataFrame's text and label column(s) (several 0/1 columns: multi-label).

        Example:
            >>> Dataset.from_pandas(df, text="body", label="queue").label_set.names
            ('billing', 'tech')
        """
        return cls.from_source(df, text=text, label=label, multi_label=multi_label, labels=labels)

    @classmethod
    def from_source(
        cls,
        source: Any,
        *,
        text: str = "text",
        label: str | list[str] = "label",
        multi_label: bool | str = "auto",
        labels: Sequence[str] | None = None,
    ) -> Dataset:
        """A Dataset from any source: a file, ``NAME:split``, a DataFrame, ``(texts, labels)``, ...

        Example:
            >>> len(Dataset.from_source("sms-spam:test"))
            903
        """
        from classifine.data.loading import read_dataset

        return read_dataset(
            source, text_column=text, label_column=label, multi_label=multi_label,
            labels=list(labels) if labels else None,
        )  # fmt: skip

    def to_pandas(self) -> Any:
        """The rows as a DataFrame: ``text`` and ``label`` (``labels``, lists, when multi-label).

        Example:
            >>> Dataset.from_source("trec-6:test").to_pandas().columns.tolist()
            ['text', 'label']
        """
        from classifine.data.sources import dataset_frame

        return dataset_frame(self)

    def split(self, validation: float = 0.1, test: float = 0.2, seed: int = 42) -> DatasetSplits:
        """Seeded, stratified, leakage-free train/validation/test splits (fractions of all rows).

        Example:
            >>> splits = Dataset.from_pandas(df).split(seed=0)
        """
        from classifine.data.split import split_dataset

        return split_dataset(self, validation=validation, test=test, seed=seed)

    def fingerprint(self) -> str:
        """A short sha256 over texts and labels; identical data gives identical fingerprints."""
        h = hashlib.sha256()
        for text, row in self:
            h.update(text.encode("utf-8", "surrogatepass"))
            h.update(b"\x1f")
            h.update("\x1e".join(row).encode("utf-8"))
            h.update(b"\x00")
        return h.hexdigest()[:16]


@dataclass(frozen=True)
class DatasetSplits:
    """Train / validation / test Datasets sharing one LabelSet."""

    train: Dataset
    validation: Dataset
    test: Dataset

    @property
    def label_set(self) -> LabelSet:
        return self.train.label_set

    def items(self) -> list[tuple[str, Dataset]]:
        return [("train", self.train), ("validation", self.validation), ("test", self.test)]

    def __getitem__(self, split: str) -> Dataset:
        if split not in ("train", "validation", "test"):
            raise KeyError(split)
        return getattr(self, split)  # type: ignore[no-any-return]
