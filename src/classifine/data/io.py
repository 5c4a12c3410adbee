"""Read tables of labelled text (CSV, TSV, JSON, JSONL, Parquet, ``save_to_disk`` folders) into DataFrames.

Every failure becomes a :class:`~classifine.errors.DataError` that names the file, the line or row
and how to fix it. :func:`to_dataset` turns a frame into a :class:`~classifine.data.dataset.Dataset`.

Example:
    >>> df = read_table("data/reviews.csv")
    >>> list(df.columns)
    ['text', 'label']
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from classifine.data.dataset import Dataset
from classifine.data.labels import LabelSet
from classifine.errors import DataError, suggestion

FORMATS: dict[str, str] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".txt": "txt",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
DISK_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")
_PARSER_LINE = re.compile(r"line (\d+)")


def detect_format(path: str | Path) -> str:
    """Name the format of ``path``: csv, tsv, txt, json, jsonl, parquet, disk (``save_to_disk``) or folder.

    Example:
        >>> detect_format("reviews.jsonl")
        'jsonl'
    """
    p = Path(path)
    if p.is_dir():
        return "disk" if is_disk_folder(p) else "folder"
    fmt = FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise DataError(
            f"unknown file type '{p.suffix or '(none)'}'",
            where=str(p),
            hint=f"use one of {', '.join(sorted(FORMATS))} or a folder written by datasets' save_to_disk",
        )
    return fmt


def is_disk_folder(path: Path) -> bool:
    """True when ``path`` is a folder written by ``Dataset.save_to_disk`` or ``DatasetDict.save_to_disk``."""
    return path.is_dir() and any((path / m).is_file() for m in DISK_MARKERS)


def _check_exists(p: Path) -> None:
    if not p.exists():
        parent = p.parent if str(p.parent) not in ("", ".") else Path.cwd()
        hint = "check the path"
        if parent.is_dir():
            near = sorted(x.name for x in parent.iterdir() if x.suffix.lower() in FORMATS)[:5]
            if near:
                hint += f"; data files in {parent}: {', '.join(near)}"
        raise DataError("file not found", where=str(p), hint=hint)


def read_text(path: str | Path) -> str:
    """Read a file as UTF-8 (a BOM is accepted); non-UTF-8 bytes raise a DataError with line and byte offset.

    Example:
        >>> read_text("data/reviews.csv")[:9]
        'text,labe'
    """
    p = Path(path)
    _check_exists(p)
    raw = p.read_bytes()
    if not raw.strip():
        raise DataError("file is empty", where=str(p), hint="write a header line and at least one data row")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        bad = raw[exc.start : exc.start + 1].hex()
        raise DataError(
            f"not UTF-8 text: byte 0x{bad} at line {line}, byte offset {exc.start}",
            where=str(p),
            hint=f"re-encode the file, e.g. iconv -f latin1 -t utf-8 {p.name} > {p.stem}.utf8{p.suffix}",
        ) from None


def _read_delimited(text: str, p: Path, sep: str) -> pd.DataFrame:
    try:
        # Cells stay strings: texts such as "NA" are real messages, an empty label cell counts as
        # missing later, and label ids keep their spelling ("01" is not 1).
        df = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False)
    except pd.errors.ParserError as exc:
        found = _PARSER_LINE.search(str(exc))
        where = f"{p}:{found.group(1)}" if found else str(p)
        raise DataError(
            f"malformed {'TSV' if sep == chr(9) else 'CSV'}: {str(exc).strip().splitlines()[-1]}",
            where=where,
            hint="quote fields that contain the separator, or check the column count of that line",
        ) from None
    except pd.errors.EmptyDataError:
        raise DataError("file is empty", where=str(p), hint="write a header line and data rows") from None
    return df


def _read_json(text: str, p: Path) -> pd.DataFrame:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"malformed JSON: {exc.msg} (column {exc.colno})",
            where=f"{p}:{exc.lineno}",
            hint="a .json file must hold one array of records; use .jsonl for one record per line",
        ) from None
    if isinstance(obj, dict):
        lists = {k: v for k, v in obj.items() if isinstance(v, list)}
        if len(lists) == 1 and all(isinstance(r, dict) for r in next(iter(lists.values()))):
            obj = next(iter(lists.values()))  # {"data": [records]}
        elif lists and len(lists) == len(obj):
            return pd.DataFrame(obj)  # {"column": [values]}
    if not isinstance(obj, list) or not all(isinstance(r, dict) for r in obj):
        raise DataError(
            "JSON is not an array of records",
            where=str(p),
            hint='write [{"text": "...", "label": "..."}, ...] or use JSONL',
        )
    return pd.DataFrame.from_records(obj)


def _read_jsonl(text: str, p: Path) -> pd.DataFrame:
    records: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"malformed JSONL line {number}: {exc.msg} (column {exc.colno})",
                where=f"{p}:{number}",
                hint="each line must be one complete JSON object; fix or delete that line",
            ) from None
        if not isinstance(record, dict):
            raise DataError(
                f"JSONL line {number} is a {type(record).__name__}, not an object",
                where=f"{p}:{number}",
                hint='write one {"text": ..., "label": ...} object per line',
            )
        records.append(record)
    return pd.DataFrame.from_records(records)


def _read_parquet(p: Path) -> pd.DataFrame:
    _check_exists(p)
    if p.stat().st_size == 0:
        raise DataError("file is empty", where=str(p), hint="write the Parquet file again")
    try:
        return pd.read_parquet(p)
    except Exception as exc:  # pyarrow raises several unrelated types for a corrupt file
        raise DataError(
            f"cannot read Parquet: {str(exc).splitlines()[0]}",
            where=str(p),
            hint="check that the file is a complete Parquet file",
        ) from None


def read_table(path: str | Path, *, fmt: str | None = None) -> pd.DataFrame:
    """Read one table of records. ``fmt`` overrides detection from the extension.

    A ``save_to_disk`` folder holding several splits is rejected here: use :func:`read_splits_dir`.

    Example:
        >>> read_table("data/train.jsonl").shape
        (120, 2)
    """
    p = Path(path)
    _check_exists(p)
    kind = fmt or detect_format(p)
    if kind in ("disk", "folder"):
        frames = read_splits_dir(p)
        if len(frames) != 1:
            raise DataError(
                f"folder holds several splits ({', '.join(frames)})",
                where=str(p),
                hint="use it as data.source (its splits are used as they are) or pick one split's file",
            )
        df = next(iter(frames.values()))
    elif kind == "parquet":
        df = _read_parquet(p)
    else:
        text = read_text(p)
        if kind == "txt":
            kind = "tsv" if "\t" in text.split("\n", 1)[0] else "csv"
        if kind in ("csv", "tsv"):
            df = _read_delimited(text, p, "\t" if kind == "tsv" else ",")
        elif kind == "json":
            df = _read_json(text, p)
        elif kind == "jsonl":
            df = _read_jsonl(text, p)
        else:
            raise DataError(
                f"unknown format '{kind}'", where=str(p), hint=f"use one of {sorted(set(FORMATS.values()))}"
            )
    if len(df) == 0:
        raise DataError(
            "file has no data rows" + (" (only a header)" if len(df.columns) else ""),
            where=str(p),
            hint="add labelled rows below the header",
        )
    return df


def read_splits_dir(path: str | Path) -> dict[str, pd.DataFrame]:
    """Read a ``save_to_disk`` folder (Dataset -> ``{"train": df}``; DatasetDict -> one frame per split).

    Label columns stored as ``ClassLabel`` come back as label names.

    Example:
        >>> sorted(read_splits_dir("data/saved"))
        ['test', 'train']
    """
    p = Path(path)
    _check_exists(p)
    if not is_disk_folder(p):
        raise DataError(
            "folder is not a datasets save_to_disk folder",
            where=str(p),
            hint="use a folder of train/test data files as data.source, or pass a single file",
        )
    import datasets

    try:
        loaded = datasets.load_from_disk(str(p))
    except Exception as exc:  # corrupt or partial folders raise assorted errors
        raise DataError(f"cannot read saved dataset: {exc}", where=str(p), hint="save it again") from None
    if isinstance(loaded, datasets.DatasetDict):
        return {name: hf_to_frame(split) for name, split in loaded.items()}
    return {"train": hf_to_frame(loaded)}


def hf_to_frame(ds: Any) -> pd.DataFrame:
    """Convert a ``datasets.Dataset`` to a DataFrame, mapping ``ClassLabel`` ids (and lists of them) to names.

    Example:
        >>> hf_to_frame(datasets.Dataset.from_dict({"text": ["a"], "label": [0]})).shape
        (1, 2)
    """
    import datasets

    df: pd.DataFrame = ds.to_pandas()
    for column, feature in ds.features.items():
        inner = getattr(feature, "feature", None)  # List / Sequence / LargeList of ClassLabel
        if isinstance(feature, datasets.ClassLabel):
            names = feature.names
            df[column] = [names[int(v)] if v is not None and int(v) >= 0 else None for v in df[column]]
        elif isinstance(inner, datasets.ClassLabel):
            names = inner.names
            df[column] = [None if v is None else [names[int(i)] for i in v] for v in df[column]]
    return df


# ---------------------------------------------------------------------------------------------
# Frame -> Dataset
# ---------------------------------------------------------------------------------------------

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


def _scalar_name(value: Any) -> str | None:
    if value is None or (not isinstance(value, (str, bytes)) and pd.isna(value)):
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


def _check_columns(df: pd.DataFrame, wanted: list[str], option: str, where: str) -> None:
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


def _label_cells(
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
    _check_columns(df, [text_column], "data.text_column (--text-column)", where)
    _check_columns(df, label_names, "data.label_column (--label-column)", where)
    cells, multi, order = _label_cells(df, label_column, multi_label, delimiter, where)
    raw_texts = list(df[text_column])
    no_text = [i for i, t in enumerate(raw_texts, 1) if t is None or (not isinstance(t, str) and pd.isna(t))]
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
