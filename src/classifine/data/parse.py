"""Turn a DataFrame of labelled text into a :class:`~classifine.data.dataset.Dataset`.

Column mapping, single- and multi-label parsing (list cells, JSON strings, delimited strings, 0/1
columns), missing values and unknown labels, each reported with the rows and how to fix them.

Example:
    >>> ds = to_dataset(df, text_column="text", label_column="label", where="data.csv")
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from classifine.data.dataset import Dataset
from classifine.data.labels import LabelSet
from classifine.errors import DataError, suggestion

_SHOWN = 5
_DELIMITERS = ("|", ";", ",")
_TRUE = {"1", "true", "yes"}
_FALSE = {"0", "false", "no"}


@dataclass
class ParsedFrame:
    """Texts and label tuples read from one frame, before a LabelSet is fixed.

    ``missing_label_rows`` / ``missing_text_rows`` are 1-based data rows that were dropped
    (``missing="drop"``); with ``missing="error"`` they are empty.
    """

    texts: list[str]
    labels: list[tuple[str, ...]]
    multi_label: bool
    order: tuple[str, ...] | None = None
    missing_label_rows: list[int] = field(default_factory=list)
    missing_text_rows: list[int] = field(default_factory=list)


def _rows(rows: list[int]) -> str:
    shown = ", ".join(str(r) for r in rows[:_SHOWN])
    return shown + (", ..." if len(rows) > _SHOWN else "")


def is_missing(value: Any) -> bool:
    """A missing cell: None, NaN, NaT or pandas' NA (a list, an array or a dict is a value, not missing).

    Example:
        >>> is_missing(float("nan")), is_missing([]), is_missing("")
        (True, False, False)
    """
    if value is None:
        return True
    if isinstance(value, (str, bytes, list, tuple, dict, np.ndarray)):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _scalar_name(value: Any) -> str | None:
    if is_missing(value):
        return None
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value)).lower()
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    text = str(value).strip()
    return text or None


def _is_listlike(value: Any) -> bool:
    return isinstance(value, (list, tuple, np.ndarray))


def _looks_json_list(value: Any) -> bool:
    return isinstance(value, str) and value.strip().startswith("[") and value.strip().endswith("]")


def _detect_multi(values: list[Any], delimiter: str | None) -> bool:
    if any(_is_listlike(v) or _looks_json_list(v) for v in values):
        return True
    return delimiter is not None and any(isinstance(v, str) and delimiter in v for v in values)


def _pick_delimiter(values: list[Any]) -> str | None:
    strings = [v for v in values if isinstance(v, str) and not _looks_json_list(v)]
    counts = {d: sum(d in v for v in strings) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else None


def _label_names(value: Any, multi: bool, delimiter: str | None) -> tuple[str, ...] | None:
    """Label names of one cell; None when the cell is missing."""
    if _looks_json_list(value):
        with contextlib.suppress(json.JSONDecodeError):
            value = json.loads(value)
    if _is_listlike(value):
        names = [n for n in (_scalar_name(v) for v in value) if n is not None]
        return tuple(dict.fromkeys(names))
    name = _scalar_name(value)
    if name is None:
        return None
    if multi and delimiter:
        return tuple(dict.fromkeys(p.strip() for p in name.split(delimiter) if p.strip()))
    return (name,)


def check_columns(df: pd.DataFrame, wanted: list[str], option: str, where: str) -> None:
    columns = [str(c) for c in df.columns]
    for column in wanted:
        if column not in columns:
            raise DataError(
                f"column '{column}' not found",
                where=where,
                hint=f"{suggestion(column, columns, 'column')}; set {option}",
            )


def _binary_columns(df: pd.DataFrame, columns: list[str], where: str) -> list[tuple[str, ...] | None]:
    out: list[tuple[str, ...] | None] = []
    for row, values in enumerate(df[columns].itertuples(index=False, name=None), start=1):
        names: list[str] = []
        missing = False
        for column, value in zip(columns, values, strict=True):
            flag = _scalar_name(value)
            if flag is None:
                missing = True
            elif flag.lower() in _TRUE:
                names.append(column)
            elif flag.lower() not in _FALSE:
                raise DataError(
                    f"label column '{column}' holds {flag!r} in row {row}; 0/1 label columns take 0 or 1",
                    where=where,
                    hint="fix that value or name a single label column",
                )
        out.append(None if missing else tuple(names))
    return out


def label_cells(
    df: pd.DataFrame,
    label_column: str | list[str],
    multi_label: bool | str,
    delimiter: str | None,
    where: str,
) -> tuple[list[tuple[str, ...] | None], bool, tuple[str, ...] | None]:
    """Label tuples per row (None = missing), whether the data is multi-label, and a fixed label order."""
    if isinstance(label_column, list):
        return _binary_columns(df, label_column, where), True, tuple(label_column)
    values = list(df[label_column])
    multi = _detect_multi(values, delimiter) if multi_label == "auto" else bool(multi_label)
    delim = delimiter or (_pick_delimiter(values) if multi else None)
    cells = [_label_names(v, multi, delim) for v in values]
    if not multi:
        for row, cell in enumerate(cells, 1):
            if cell is not None and len(cell) > 1:
                raise DataError(
                    f"row {row} has {len(cell)} labels {list(cell)} but the data is single-label",
                    where=where,
                    hint="set data.multi_label=true (--multi-label) or give each row one label",
                )
    return cells, multi, None


def _missing_error(what: str, rows: list[int], where: str, hint: str) -> DataError:
    return DataError(f"{what} has {len(rows)} missing value(s) (rows {_rows(rows)})", where=where, hint=hint)


def parse_frame(
    df: pd.DataFrame,
    *,
    text_column: str = "text",
    label_column: str | list[str] = "label",
    multi_label: bool | str = "auto",
    delimiter: str | None = None,
    where: str = "data",
    missing: str = "error",
) -> ParsedFrame:
    """Read texts and label tuples out of ``df`` (see :func:`to_dataset`).

    Example:
        >>> parse_frame(pd.DataFrame({"text": ["a"], "label": ["x|y"]}), multi_label=True).labels
        [('x', 'y')]
    """
    label_names = list(label_column) if isinstance(label_column, list) else [label_column]
    check_columns(df, [text_column], "data.text_column (--text-column; text= in Python)", where)
    check_columns(df, label_names, "data.label_column (--label-column; label= in Python)", where)
    cells, multi, order = label_cells(df, label_column, multi_label, delimiter, where)
    raw_texts = list(df[text_column])
    no_text = [i for i, t in enumerate(raw_texts, 1) if is_missing(t)]
    no_label = [i for i, c in enumerate(cells, 1) if c is None or (not multi and not c)]
    if missing == "error" and no_label:
        what = f"label column '{', '.join(label_names)}'"
        hint = "fill in those labels or delete the rows; `classifine data inspect` lists them all"
        raise _missing_error(what, no_label, where, hint)
    if missing == "error" and no_text:
        raise _missing_error(
            f"text column '{text_column}'", no_text, where, "fill in those texts or delete the rows"
        )
    dropped = set(no_label) | set(no_text)
    keep = [i for i in range(len(cells)) if i + 1 not in dropped]
    return ParsedFrame(
        texts=[str(raw_texts[i]) for i in keep],
        labels=[cells[i] or () for i in keep],
        multi_label=multi,
        order=order,
        missing_label_rows=no_label,
        missing_text_rows=no_text,
    )


def unknown_label_error(rows: list[tuple[str, ...]], known: tuple[str, ...], where: str, what: str) -> None:
    """Raise a DataError naming labels outside ``known`` and the rows holding them."""
    allowed = set(known)
    found: dict[str, list[int]] = {}
    for row, names in enumerate(rows, 1):
        for name in names:
            if name not in allowed:
                found.setdefault(name, []).append(row)
    if found:
        listed = "; ".join(f"'{n}' (rows {_rows(r)})" for n, r in sorted(found.items())[:_SHOWN])
        raise DataError(
            f"unknown label(s) {what}: {listed}", where=where, hint=f"known labels: {', '.join(known)}"
        )


def build_label_set(
    parsed: ParsedFrame, labels: list[str] | None, where: str, min_classes: int = 2
) -> LabelSet:
    """The LabelSet of a parsed frame: ``labels`` order when given (unknown names rejected), else sorted."""
    order = tuple(labels) if labels else parsed.order
    if order is not None:
        unknown_label_error(parsed.labels, order, where, "not in data.labels" if labels else "")
        label_set = LabelSet(order, parsed.multi_label)
    else:
        label_set = LabelSet.from_labels(parsed.labels, multi_label=parsed.multi_label)
    present = sorted({n for row in parsed.labels for n in row})
    if len(present) < min_classes:
        found = f"only {len(present)} class" + (f" ('{present[0]}')" if present else "")
        raise DataError(
            f"found {found}; a classifier needs at least {min_classes} classes",
            where=where,
            hint="check data.label_column (--label-column) or add examples of the other classes",
        )
    return label_set


def to_dataset(
    df: pd.DataFrame,
    *,
    text_column: str = "text",
    label_column: str | list[str] = "label",
    multi_label: bool | str = "auto",
    delimiter: str | None = None,
    labels: list[str] | None = None,
    where: str = "data",
    name: str = "",
    missing: str = "error",
    min_classes: int | None = None,
) -> Dataset:
    """Turn a frame into a validated Dataset.

    Labels come from one column (a name, a list, a JSON list string or a delimited string) or from
    several 0/1 columns (``label_column=[...]``, one per label: multi-label). Numeric labels become
    strings. ``missing="drop"`` drops rows with a missing text or label and records their counts in
    ``meta`` instead of failing (used by ``classifine data inspect``). ``min_classes`` (default: 2,
    or 0 when ``labels`` fixes the label set, as for an evaluation file) is the number of distinct
    classes the rows must show.

    Example:
        >>> ds = to_dataset(pd.DataFrame({"text": ["a", "b"], "label": [0, 1]}), where="x.csv")
        >>> ds.label_set.names
        ('0', '1')
    """
    parsed = parse_frame(
        df,
        text_column=text_column,
        label_column=label_column,
        multi_label=multi_label,
        delimiter=delimiter,
        where=where,
        missing=missing,
    )
    needed = min_classes if min_classes is not None else (0 if labels else 2)
    label_set = build_label_set(parsed, labels, where, needed)
    meta = {"source": where}
    if missing != "error":
        meta["missing_labels"] = str(len(parsed.missing_label_rows))
        meta["missing_texts"] = str(len(parsed.missing_text_rows))
        meta["missing_rows"] = _rows(sorted(set(parsed.missing_label_rows) | set(parsed.missing_text_rows)))
    return Dataset(parsed.texts, parsed.labels, label_set, name=name, meta=meta)


def drop_empty(ds: Dataset) -> tuple[Dataset, int]:
    """Drop rows whose text is empty or whitespace only; returns ``(dataset, rows_dropped)``.

    Example:
        >>> drop_empty(ds)[1]
        0
    """
    keep = [i for i, text in enumerate(ds.texts) if text.strip()]
    if len(keep) == len(ds):
        return ds, 0
    return ds.subset(keep), len(ds) - len(keep)


@dataclass(frozen=True)
class Columns:
    """How to read labelled rows out of a table: its text and label columns and the label format.

    ``label`` is one column name, or a list of 0/1 columns (multi-label, one per label).

    Example:
        >>> Columns(text="body", label="topic").dataset(df, where="mail.csv").label_set.names
        ('billing', 'tech')
    """

    text: str = "text"
    label: str | list[str] = "label"
    multi_label: bool | str = "auto"
    delimiter: str | None = None

    @classmethod
    def of(cls, data_cfg: Any) -> Columns:
        """The columns a ``DataConfig`` names."""
        return cls(
            data_cfg.text_column, data_cfg.label_column, data_cfg.multi_label, data_cfg.label_delimiter
        )

    def dataset(
        self,
        frame: pd.DataFrame,
        *,
        where: str,
        name: str = "",
        labels: list[str] | None = None,
        missing: str = "error",
        min_classes: int | None = None,
    ) -> Dataset:
        """:func:`to_dataset` with these columns."""
        return to_dataset(
            frame,
            text_column=self.text,
            label_column=self.label,
            multi_label=self.multi_label,
            delimiter=self.delimiter,
            labels=labels,
            where=where,
            name=name,
            missing=missing,
            min_classes=min_classes,
        )
