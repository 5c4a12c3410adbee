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

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from classifine.data.hub import is_disk_folder, read_splits_dir
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
#: The largest text cell a CSV/TSV may hold (characters).
MAX_FIELD_CHARS = 64 * 1024 * 1024
READ_CHUNK_ROWS = 50_000


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


def _check_exists(p: Path) -> None:
    if not p.exists():
        parent = p.parent if str(p.parent) not in ("", ".") else Path.cwd()
        hint = "check the path"
        if parent.is_dir():
            near = sorted(x.name for x in parent.iterdir() if x.suffix.lower() in FORMATS)[:5]
            if near:
                hint += f"; data files in {parent}: {', '.join(near)}"
        raise DataError("file not found", where=str(p), hint=hint)


def _utf8_error(raw: bytes, exc: UnicodeDecodeError, p: Path, line: int, offset: int) -> DataError:
    bad = raw[exc.start : exc.start + 1].hex()
    return DataError(
        f"not UTF-8 text: byte 0x{bad} at line {line}, byte offset {offset + exc.start}",
        where=str(p),
        hint=f"re-encode the file, e.g. iconv -f latin1 -t utf-8 {p.name} > {p.stem}.utf8{p.suffix}",
    )


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
        raise _utf8_error(raw, exc, p, raw[: exc.start].count(b"\n") + 1, 0) from None


def _lines(p: Path) -> Iterator[str]:
    """Decoded lines (with their line ends) of a UTF-8 file, read lazily; a BOM is dropped.

    Non-UTF-8 bytes raise a DataError naming the line and byte offset, wherever they are.
    """
    offset = 0
    with p.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            chunk = raw.removeprefix(b"\xef\xbb\xbf") if number == 1 else raw
            try:
                yield chunk.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _utf8_error(chunk, exc, p, number, offset + len(raw) - len(chunk)) from None
            offset += len(raw)


def _csv_error(exc: csv.Error, p: Path, line: int, sep: str) -> DataError:
    kind = "TSV" if sep == "\t" else "CSV"
    return DataError(
        f"malformed {kind} at line {line}: {exc}",
        where=f"{p}:{line}",
        hint="quote fields that contain the separator, quotes or line breaks",
    )


def _header(reader: Any, p: Path, sep: str) -> list[str]:
    for row in reader:
        if any(cell.strip() for cell in row):
            names = [c.strip() if i else c.strip().lstrip("\ufeff") for i, c in enumerate(row)]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise DataError(
                    f"duplicate column name(s) {dupes} in the header",
                    where=f"{p}:{reader.line_num}",
                    hint="give every column a distinct name",
                )
            return names
    raise DataError("file is empty", where=str(p), hint="write a header line and at least one data row")


def _delimited_chunks(p: Path, sep: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Stream a CSV/TSV file as frames of string cells (cells stay text: "NA" is a real message).

    A row with more fields than the header is an error naming its line; a row with fewer fields
    gets missing cells (reported later as missing texts or labels).
    """
    _check_exists(p)
    # Long documents are longer than the csv module's default field limit (128 KiB).
    csv.field_size_limit(MAX_FIELD_CHARS)
    reader = csv.reader(_lines(p), delimiter=sep)
    try:
        columns = _header(reader, p, sep)
        rows: list[list[str | None]] = []
        for row in reader:
            if not row:
                continue
            if len(row) > len(columns):
                raise DataError(
                    f"malformed {'TSV' if sep == chr(9) else 'CSV'}: "
                    f"Expected {len(columns)} fields in line {reader.line_num}, saw {len(row)}",
                    where=f"{p}:{reader.line_num}",
                    hint="quote fields that contain the separator, or check the column count of that line",
                )
            rows.append(row + [None] * (len(columns) - len(row)))
            if len(rows) >= chunk_rows:
                yield pd.DataFrame(rows, columns=columns, dtype=object)
                rows = []
    except csv.Error as exc:
        raise _csv_error(exc, p, reader.line_num, sep) from None
    if rows:
        yield pd.DataFrame(rows, columns=columns, dtype=object)
    else:
        yield pd.DataFrame(columns=columns, dtype=object)  # keeps the header of a file without rows


def _columns_frame(obj: dict[str, list[Any]], p: Path) -> pd.DataFrame:
    lengths = {k: len(v) for k, v in obj.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"'{k}': {n}" for k, n in list(lengths.items())[:6])
        raise DataError(
            f"JSON columns have different lengths ({shown})",
            where=str(p),
            hint="every column list must hold one value per row; or write an array of records",
        )
    return pd.DataFrame(obj)


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
            return _columns_frame(lists, p)  # {"column": [values]}
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
    except RecursionError:
        raise DataError(
            f"JSONL line {number} is nested too deeply", where=f"{p}:{number}", hint="flatten that record"
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
    _check_exists(path)
    for number, line in enumerate(_lines(path), start=1):
        if line.strip():
            yield number, parse_jsonl_line(line, number, path)


def _jsonl_chunks(p: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    records: list[dict[str, Any]] = []
    for _, record in iter_jsonl(p):
        records.append(record)
        if len(records) >= chunk_rows:
            yield pd.DataFrame.from_records(records)
            records = []
    yield pd.DataFrame.from_records(records)


def _parquet_chunks(p: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    _check_exists(p)
    if p.stat().st_size == 0:
        raise DataError("file is empty", where=str(p), hint="write the Parquet file again")
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(p)
        yield pf.schema_arrow.empty_table().to_pandas()
        for batch in pf.iter_batches(batch_size=chunk_rows):
            yield batch.to_pandas()
    except Exception as exc:  # pyarrow raises several unrelated types for a corrupt file
        raise DataError(
            f"cannot read Parquet: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
            where=str(p),
            hint="check that the file is a complete Parquet file",
        ) from None


def iter_chunks(
    path: str | Path, *, fmt: str | None = None, chunk_rows: int = 1000
) -> Iterator[pd.DataFrame]:
    """Stream a table as frames of at most ``chunk_rows`` rows (CSV, TSV, JSONL and Parquet never load whole).

    The first frame may be empty: it carries the columns even when the file has no rows. JSON and
    ``save_to_disk`` folders are read whole, then chunked.

    Example:
        >>> sum(len(c) for c in iter_chunks("big.csv", chunk_rows=500))
        120000
    """
    p = Path(path)
    _check_exists(p)
    kind = fmt or detect_format(p)
    if kind == "txt":
        first = next(_lines(p), "")
        kind = "tsv" if "\t" in first else "csv"
    if kind in ("csv", "tsv"):
        yield from _delimited_chunks(p, "\t" if kind == "tsv" else ",", chunk_rows)
    elif kind == "jsonl":
        yield from _jsonl_chunks(p, chunk_rows)
    elif kind == "parquet":
        yield from _parquet_chunks(p, chunk_rows)
    elif kind == "json":
        df = _read_json(read_text(p), p)
        yield from (df.iloc[i : i + chunk_rows] for i in range(0, max(len(df), 1), chunk_rows))
    elif kind in ("disk", "folder"):
        df = _single_split(p)
        yield from (df.iloc[i : i + chunk_rows] for i in range(0, max(len(df), 1), chunk_rows))
    else:
        raise DataError(
            f"unknown format '{kind}'", where=str(p), hint=f"use one of {sorted(set(FORMATS.values()))}"
        )


def _single_split(p: Path) -> pd.DataFrame:
    frames = read_splits_dir(p)
    if len(frames) != 1:
        raise DataError(
            f"folder holds several splits ({', '.join(frames)})",
            where=str(p),
            hint="use it as data.source (its splits are used as they are) or pick one split's file",
        )
    return next(iter(frames.values()))


def no_rows_error(p: Path | str, columns: Any) -> DataError:
    """The error for a table without data rows (``columns`` tells whether it had a header)."""
    return DataError(
        "file has no data rows" + (" (only a header)" if len(columns) else ""),
        where=str(p),
        hint="add labelled rows below the header",
    )


def read_table(path: str | Path, *, fmt: str | None = None) -> pd.DataFrame:
    """Read one table of records. ``fmt`` overrides detection from the extension.

    A ``save_to_disk`` folder holding several splits is rejected here: use :func:`read_splits_dir`.

    Example:
        >>> read_table("data/train.jsonl").shape
        (120, 2)
    """
    p = Path(path)
    chunks = list(iter_chunks(p, fmt=fmt, chunk_rows=READ_CHUNK_ROWS))
    df = pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]
    if len(df) == 0:
        raise no_rows_error(p, df.columns)
    return df
