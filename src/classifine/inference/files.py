"""Stream any data source through a :class:`~classifine.inference.predictor.Classifier` into a file.

Input is read by the source layer (files of every format stream chunk by chunk); output is CSV/TSV
or JSONL, written atomically.

Example:
    >>> predict_file(clf, Path("inbox.csv"), Path("inbox.pred.csv"), "body", None, 1000, False)
    1000
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from tqdm.auto import tqdm

from classifine.artifact import atomic_file
from classifine.errors import DataError, suggestion

if TYPE_CHECKING:
    from classifine.inference.predictor import Classifier, Prediction

logger = logging.getLogger(__name__)


_CSV_SEP = {".csv": ",", ".tsv": "\t"}
_JSONL = (".jsonl", ".ndjson")


def _output_kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in _CSV_SEP or suffix in _JSONL:
        return suffix
    raise DataError(
        f"unsupported output file type '{suffix or '(none)'}'",
        where=str(path),
        hint="write predictions to .csv, .tsv, .jsonl or .ndjson",
    )


def _records(source: Any, text_column: str, chunk_rows: int) -> Iterator[list[dict[str, Any]]]:
    """Stream the source's rows; the text column is checked on the first rows (later rows without a
    text get an error row, not a crash)."""
    from classifine.data.sources import iter_records

    first = True
    for chunk in iter_records(source, chunk_rows):
        if first:
            columns = list(dict.fromkeys(k for r in chunk for k in r))
            if text_column not in columns:
                raise DataError(
                    f"text column '{text_column}' not found",
                    where=str(source),
                    hint=f"pass --text-column; {suggestion(text_column, columns, 'column')}",
                )
            first = False
        yield [{k: _plain(v) for k, v in r.items()} for r in chunk]


def _plain(value: Any) -> Any:
    """A JSON/CSV-ready cell: numpy scalars as Python values, missing values (NaN) as None."""
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        try:
            value = value.item()
        except (ValueError, AttributeError):
            return value.tolist() if hasattr(value, "tolist") else value
    if isinstance(value, float) and value != value:
        return None
    return value


class _Writer:
    """Writes prediction rows as CSV/TSV (flat score columns) or JSONL (scores as an object)."""

    def __init__(self, fh: TextIO, kind: str, labels: list[str]) -> None:
        self.fh, self.kind, self.labels = fh, kind, labels
        self.csv: csv.DictWriter[str] | None = None
        self.names: dict[str, str] = {}

    def _out_names(self, columns: Sequence[str]) -> dict[str, str]:
        taken = set(columns)
        names = {
            key: key if key not in taken else f"predicted_{key}"
            for key in ("label", "score", "scores", "error")
        }
        if any(v != k for k, v in names.items()):
            logger.warning("the input already has label/score columns: predictions go to predicted_* columns")
        return names

    def write(self, records: list[dict[str, Any]], preds: list[Prediction | str]) -> None:
        if not self.names:
            self.names = self._out_names(list(records[0]))
        for record, pred in zip(records, preds, strict=True):
            row = dict(record)
            if isinstance(pred, str):
                row[self.names["error"]] = pred
                row[self.names["label"]] = None
            else:
                label = pred.label if isinstance(pred.label, str) else "|".join(pred.label)
                row[self.names["label"]] = pred.label if self.kind in _JSONL else label
                row[self.names["score"]] = max(pred.scores.values())
                if self.kind in _JSONL:
                    row[self.names["scores"]] = pred.scores
                else:
                    row.update({f"score_{n}": pred.scores[n] for n in self.labels})
            self._emit(row)

    def _emit(self, row: dict[str, Any]) -> None:
        if self.kind in _JSONL:
            self.fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
            return
        if self.csv is None:
            ours = [
                self.names["label"],
                self.names["score"],
                *(f"score_{n}" for n in self.labels),
                self.names["error"],
            ]
            fields = [c for c in row if c not in ours] + ours
            self.csv = csv.DictWriter(
                self.fh, fieldnames=fields, delimiter=_CSV_SEP[self.kind], extrasaction="ignore", restval=""
            )
            self.csv.writeheader()
        self.csv.writerow(row)


def _predict_chunk(
    clf: Classifier, records: list[dict[str, Any]], text_column: str, top_k: int | None
) -> list[Prediction | str]:
    ok = [i for i, r in enumerate(records) if isinstance(r.get(text_column), str)]
    preds = clf.predict([records[i][text_column] for i in ok], top_k=top_k)
    out: list[Prediction | str] = ["text is missing or not a string"] * len(records)
    for i, pred in zip(ok, preds, strict=True):
        out[i] = pred
    return out


def predict_file(
    clf: Classifier,
    source: Any,
    dst: Path,
    text_column: str,
    top_k: int | None,
    chunk_rows: int,
    progress: bool,
) -> int:
    kind_out = _output_kind(dst)
    chunks = _records(source, text_column, chunk_rows)
    rows = 0
    with (
        atomic_file(dst) as tmp,
        open(tmp, "w", encoding="utf-8", newline="") as fh,
        tqdm(unit="rows", desc="predict", disable=not progress) as bar,
    ):
        writer = _Writer(fh, kind_out, clf.labels)
        for records in chunks:
            writer.write(records, _predict_chunk(clf, records, text_column, top_k))
            rows += len(records)
            bar.update(len(records))
    logger.debug("wrote %d predictions to %s", rows, dst)
    return rows
