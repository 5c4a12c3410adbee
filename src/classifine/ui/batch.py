"""Batch files for the web page: read an uploaded CSV/TSV/JSONL, classify a column, write predictions.

Malformed uploads are :class:`~classifine.errors.DataError` naming the file and what to fix: not
UTF-8, no rows, a broken line, a missing column.

Example:
    >>> frame = read_upload("questions.csv", b"text\\nWho wrote Hamlet?\\n")
    >>> text_column_guess(frame)
    'text'
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import PurePath

import pandas as pd

from classifine.errors import DataError
from classifine.ui.client import Prediction, ServerClient

SUFFIXES = ("csv", "tsv", "jsonl", "json")
_TEXT_NAMES = ("text", "texts", "sentence", "content", "body", "message", "question", "review")


def _decode(name: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at position {exc.start})",
            where=name,
            hint="save the file as UTF-8 and upload it again",
        ) from None


def _jsonl(name: str, text: str) -> pd.DataFrame:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"line {number} is not valid JSON ({exc.msg})",
                where=name,
                hint="JSON Lines: one JSON object per line",
            ) from None
        if not isinstance(row, dict):
            raise DataError(f"line {number} is not a JSON object", where=name, hint='e.g. {"text": "..."}')
        rows.append(row)
    return pd.DataFrame(rows)


def _json(name: str, text: str) -> pd.DataFrame:
    try:
        data = json.loads(text)
    except ValueError:
        return _jsonl(name, text)  # a .json file holding JSON Lines
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise DataError("expected a JSON list of objects", where=name, hint='e.g. [{"text": "..."}]')
    return pd.DataFrame(data)


def read_upload(name: str, data: bytes) -> pd.DataFrame:
    """A table of the uploaded file (every column as text); DataError when it cannot be used.

    Example:
        >>> len(read_upload("a.jsonl", b'{"text": "hi"}\\n{"text": "yo"}\\n'))
        2
    """
    suffix = PurePath(name).suffix.lower().lstrip(".")
    if suffix not in SUFFIXES:
        raise DataError(
            f"unsupported file type '.{suffix}'", where=name, hint="upload a CSV, TSV or JSONL file"
        )
    text = _decode(name, data)
    if suffix in ("csv", "tsv"):
        try:
            frame = pd.read_csv(io.StringIO(text), sep="," if suffix == "csv" else "\t", dtype=str)
        except pd.errors.EmptyDataError:
            frame = pd.DataFrame()
        except pd.errors.ParserError as exc:
            reason = str(exc).strip().splitlines()[-1]
            raise DataError(f"not a valid {suffix.upper()} file ({reason})", where=name) from None
    else:
        frame = _jsonl(name, text) if suffix == "jsonl" else _json(name, text)
    if frame.empty:
        raise DataError("the file has no rows", where=name, hint="upload a file with a header and data rows")
    frame.columns = [str(c) for c in frame.columns]
    return frame


def text_column_guess(frame: pd.DataFrame) -> str:
    """The column most likely to hold the texts: a usual name, else the longest text on average."""
    by_name = {c.lower(): c for c in frame.columns}
    for name in _TEXT_NAMES:
        if name in by_name:
            return by_name[name]
    lengths = {c: frame[c].astype(str).str.len().mean() for c in frame.columns}
    return max(lengths, key=lambda c: lengths[c])


def column_texts(frame: pd.DataFrame, column: str, where: str = "upload") -> list[str]:
    """The texts of ``column`` (missing values become empty strings); DataError if there is none."""
    if column not in frame.columns:
        raise DataError(
            f"no column '{column}'", where=where, hint=f"choose one of: {', '.join(map(str, frame.columns))}"
        )
    values = frame[column]
    texts = ["" if pd.isna(v) else v if isinstance(v, str) else json.dumps(v) for v in values]
    if not any(t.strip() for t in texts):
        raise DataError(
            f"column '{column}' has no text", where=where, hint="choose the column with the texts"
        )
    return texts


def classify_frame(
    client: ServerClient,
    frame: pd.DataFrame,
    column: str,
    model: str | None = None,
    *,
    on_progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """The frame with ``label``, ``confidence``, one ``score_<label>`` column per label and
    ``prediction_id`` (send it as feedback); rows with an empty text get no prediction.

    Example:
        >>> classify_frame(client, read_upload("q.csv", data), "text")["label"].tolist()  # doctest: +SKIP
        ['HUM']
    """
    texts = column_texts(frame, column)
    todo = [i for i, t in enumerate(texts) if t.strip()]
    preds = client.classify_all([texts[i] for i in todo], model, on_progress=on_progress)
    out = frame.copy()
    by_row: dict[int, Prediction] = dict(zip(todo, preds, strict=True))
    labels = list(preds[0].scores) if preds else []
    out["label"] = [_label(by_row[i]) if i in by_row else None for i in range(len(out))]
    out["confidence"] = [round(by_row[i].confidence, 4) if i in by_row else None for i in range(len(out))]
    for name in labels:
        out[f"score_{name}"] = [
            round(by_row[i].scores[name], 4) if i in by_row else None for i in range(len(out))
        ]
    out["prediction_id"] = [by_row[i].id if i in by_row else None for i in range(len(out))]
    return out


def _label(pred: Prediction) -> str:
    return pred.label if isinstance(pred.label, str) else json.dumps(pred.label, ensure_ascii=False)


def to_bytes(frame: pd.DataFrame, fmt: str) -> bytes:
    """The predictions as a download: ``csv`` or ``jsonl`` (UTF-8)."""
    if fmt == "jsonl":
        return frame.to_json(orient="records", lines=True, force_ascii=False).encode("utf-8")
    return frame.to_csv(index=False).encode("utf-8")
