"""Read tables of labelled text (CSV, TSV, JSON, JSONL, Parquet, ``save_to_disk`` folders) into DataFrames.

Every failure becomes a :class:`~classifine.errors.DataError` that names the file, the line or row
and how to fix it. :func:`to_dataset` (from :mod:`classifine.data.parse`) turns a frame into a
:class:`~classifine.data.dataset.Dataset`.

Example:
    >>> df = read_table("data/reviews.csv")
    >>> list(df.columns)
    ['text', 'label']
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from classifine.data.parse import (  # noqa: F401  (re-exported: the reading API in one place)
    ParsedFrame,
    build_label_set,
    drop_empty,
    parse_frame,
    to_dataset,
    unknown_label_error,
)
from classifine.errors import DataError

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


def parse_jsonl_line(line: str, number: int, p: Path | str) -> dict[str, Any]:
    """One JSONL record; a malformed line or a non-object is a DataError naming the line.

    Example:
        >>> parse_jsonl_line('{"text": "hi"}', 1, "in.jsonl")
        {'text': 'hi'}
    """
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
    return record


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Stream ``(line number, record)`` from a JSONL file without reading it whole.

    Example:
        >>> next(iter_jsonl(Path("in.jsonl")))
        (1, {'text': 'hi'})
    """
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if number == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")  # a byte-order mark, as read_text accepts
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise DataError(
                    "not UTF-8 text",
                    where=f"{path}:{number}",
                    hint="re-encode it, e.g. iconv -f latin1 -t utf-8",
                ) from None
            yield number, parse_jsonl_line(line, number, path)


def _read_jsonl(text: str, p: Path) -> pd.DataFrame:
    lines = enumerate(text.splitlines(), start=1)
    return pd.DataFrame.from_records([parse_jsonl_line(line, n, p) for n, line in lines if line.strip()])


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
