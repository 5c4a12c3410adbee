"""Label names in a stable order, and conversion between names and indices."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from classifine.errors import DataError, suggestion


@dataclass(frozen=True)
class LabelSet:
    """The classes of a task, in index order.

    Order is stable: sorted by name unless given explicitly, so the same data always yields
    the same indices.

    Example:
        >>> ls = LabelSet.from_labels([("spam",), ("ham",)])
        >>> ls.names, ls.index("spam")
        (('ham', 'spam'), 1)
    """

    names: tuple[str, ...]
    multi_label: bool = False

    def __post_init__(self) -> None:
        if len(set(self.names)) != len(self.names):
            raise DataError(f"duplicate label names in {list(self.names)}")

    @classmethod
    def from_labels(
        cls, labels: Iterable[Sequence[str]], *, multi_label: bool = False, order: Sequence[str] | None = None
    ) -> LabelSet:
        """Collect the label set from per-row label tuples (sorted, or in ``order`` when given)."""
        seen = {name for row in labels for name in row}
        if order is not None:
            missing = seen - set(order)
            if missing:
                raise DataError(
                    f"labels {sorted(missing)} are not among the declared labels {list(order)}",
                    hint="add them to data.labels or fix the data",
                )
            return cls(tuple(order), multi_label)
        return cls(tuple(sorted(seen)), multi_label)

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        """Index of one label name; unknown names raise a DataError that suggests the nearest."""
        try:
            return self.names.index(name)
        except ValueError:
            raise DataError(f"unknown label '{name}'", hint=suggestion(name, self.names, "label")) from None

    def encode(self, rows: Sequence[Sequence[str]]) -> np.ndarray:
        """Single-label: int64 indices, shape (N,). Multi-label: float32 multi-hot, shape (N, C)."""
        lookup = {n: i for i, n in enumerate(self.names)}

        def idx(name: str) -> int:
            return lookup[name] if name in lookup else self.index(name)

        if not self.multi_label:
            return np.array([idx(r[0]) for r in rows], dtype=np.int64)
        out = np.zeros((len(rows), len(self.names)), dtype=np.float32)
        for i, row in enumerate(rows):
            for name in row:
                out[i, idx(name)] = 1.0
        return out

    def decode(self, indices: Iterable[int]) -> list[str]:
        """Names for a sequence of indices."""
        return [self.names[int(i)] for i in indices]

    def to_dict(self) -> dict[str, object]:
        return {"names": list(self.names), "multi_label": self.multi_label}
