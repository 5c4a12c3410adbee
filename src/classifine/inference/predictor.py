"""Load a trained artifact and predict: batched, length-sorted, in the caller's order.

Example:
    >>> clf = Classifier.load("runs/sms-spam-minilm")
    >>> clf.predict(["WINNER!! claim your free prize now"])[0].label
    'spam'
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from classifine.artifact import ArtifactMeta, atomic_file
from classifine.data.clean import make_cleaner
from classifine.data.io import iter_jsonl
from classifine.errors import DataError, ModelError, suggestion

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prediction:
    """One text's prediction.

    ``label`` is a name (single-label) or the list of names at or above their threshold
    (multi-label); ``scores`` maps every label to its probability; ``top_k`` lists the highest
    ``(label, score)`` pairs, best first.
    """

    label: str | list[str]
    scores: dict[str, float]
    top_k: list[tuple[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "scores": self.scores, "top_k": [list(p) for p in self.top_k]}


def _load_model(path: Path) -> tuple[Any, Any, ArtifactMeta]:
    """(model, tokenizer, meta) for inference, without the per-weight loading progress bar."""
    from transformers.utils import logging as hf_logging

    # A small model loads in well under a second; the bar would only clutter CLI and server output.
    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        from classifine.models.build import load_trained

        model, tokenizer, meta = load_trained(path)
        return model, tokenizer, meta
    finally:
        if shown:
            hf_logging.enable_progress_bar()


def _check_texts(texts: Any) -> list[str]:
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        kind = type(texts).__name__
        raise DataError(f"expected a list of texts, got {kind}", hint='wrap a single text in a list: ["..."]')
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise DataError(f"text #{i} is {type(text).__name__}, not a string", hint="pass strings only")
    return list(texts)


class Classifier:
    """A trained classifier ready to predict; build it with :meth:`Classifier.load`.

    Example:
        >>> Classifier.load("runs/trec-6").predict(["Who wrote Hamlet?"])[0].label
        'HUM'
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        meta: ArtifactMeta,
        *,
        device: str = "cpu",
        batch_size: int = 64,
        path: Path | None = None,
    ) -> None:
        if batch_size < 1:
            raise DataError(f"batch_size must be at least 1, got {batch_size}")
        num_labels = getattr(getattr(model, "config", None), "num_labels", len(meta.labels))
        if num_labels != len(meta.labels):
            raise ModelError(
                f"the model has {num_labels} outputs but classifine.json lists {len(meta.labels)} labels",
                where=str(path or ""),
                hint="retrain or repair classifine.json",
            )
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self.meta = meta
        self.device = device
        self.batch_size = batch_size
        self.path = path
        self.labels: list[str] = list(meta.labels)
        self.thresholds = np.asarray(meta.thresholds or [0.5] * len(self.labels), dtype=np.float64)
        if meta.multi_label and len(self.thresholds) != len(self.labels):
            raise ModelError(
                f"{len(self.thresholds)} thresholds for {len(self.labels)} labels in classifine.json",
                where=str(path or ""),
            )
        self._clean = make_cleaner(meta.clean)

    @classmethod
    def load(cls, path: str | Path, *, device: str = "cpu", batch_size: int = 64) -> Classifier:
        """Load a run folder (or its ``model/`` folder) for prediction.

        Example:
            >>> clf = Classifier.load("runs/sms-spam-minilm", batch_size=32)
        """
        folder = Path(path)
        model, tokenizer, meta = _load_model(folder)
        return cls(model, tokenizer, meta, device=device, batch_size=batch_size, path=folder)

    @property
    def multi_label(self) -> bool:
        return self.meta.multi_label

    def _forward(self, batch: list[str]) -> np.ndarray:
        enc = self.tokenizer(
            batch, padding=True, truncation=True, max_length=self.meta.max_length, return_tensors="pt"
        )
        enc = {
            k: v.to(self.device)
            for k, v in enc.items()
            if k in ("input_ids", "attention_mask", "token_type_ids")
        }
        use_bf16 = self.meta.precision == "bf16" and self.device == "cpu"
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
            logits = self.model(**enc).logits.float()  # (B, C)
        probs = torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, dim=-1)
        return probs.cpu().numpy().astype(np.float64)

    def predict_proba(self, texts: Sequence[str], *, cleaned: bool = False) -> np.ndarray:
        """Class probabilities, shape (N, C): softmax for single-label, sigmoid for multi-label.

        Texts are cleaned as at training time (unless ``cleaned=True`` says they already were: some
        cleaning steps are not idempotent, e.g. HTML entities), sorted by length into batches (less
        padding), and returned in the caller's order.

        Example:
            >>> clf.predict_proba(["hello", "free money"]).shape
            (2, 2)
        """
        items = _check_texts(texts) if cleaned else [self._clean(t) for t in _check_texts(texts)]
        out = np.zeros((len(items), len(self.labels)), dtype=np.float64)
        if not items:
            return out
        order = np.argsort([len(t) for t in items], kind="stable")
        with torch.inference_mode():
            for start in range(0, len(items), self.batch_size):
                idx = order[start : start + self.batch_size]
                out[idx] = self._forward([items[i] for i in idx])
        return out

    def _to_prediction(self, row: np.ndarray, top_k: int | None) -> Prediction:
        scores = {name: float(p) for name, p in zip(self.labels, row, strict=True)}
        ranked = sorted(scores.items(), key=lambda kv: -kv[1])
        k = len(ranked) if top_k is None else top_k
        if self.multi_label:
            label: str | list[str] = [
                n for n, p, t in zip(self.labels, row, self.thresholds, strict=True) if p >= t
            ]
        else:
            label = ranked[0][0]
        return Prediction(label=label, scores=scores, top_k=ranked[:k])

    def predict(self, texts: Sequence[str], top_k: int | None = None) -> list[Prediction]:
        """Predict labels; multi-label applies the per-label thresholds from ``classifine.json``.

        Args:
            texts: a list of strings (empty strings are predicted too).
            top_k: how many ``(label, score)`` pairs each prediction lists (default: all labels).

        Example:
            >>> clf.predict(["free prize"], top_k=1)[0].top_k
            [('spam', 0.97)]
        """
        if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
            raise DataError(f"top_k must be a positive integer, got {top_k!r}")
        probs = self.predict_proba(texts)
        return [self._to_prediction(row, top_k) for row in probs]

    def predict_file(
        self,
        input: str | Path,
        output: str | Path,
        text_column: str = "text",
        *,
        top_k: int | None = None,
        chunk_rows: int = 1000,
        progress: bool = True,
    ) -> int:
        """Stream a CSV/TSV/JSONL file through the classifier and write predictions atomically.

        CSV/TSV output keeps the input columns and adds ``label``, ``score`` and ``score_<label>``;
        JSONL output adds ``label`` and ``scores`` (an object). Returns the number of rows.

        Example:
            >>> clf.predict_file("inbox.csv", "inbox.pred.csv", text_column="body")
            1000
        """
        return _predict_file(self, Path(input), Path(output), text_column, top_k, chunk_rows, progress)


_CSV_SEP = {".csv": ",", ".tsv": "\t"}
_JSONL = (".jsonl", ".ndjson")


def _file_kind(path: Path, what: str) -> str:
    suffix = path.suffix.lower()
    if suffix in _CSV_SEP or suffix in _JSONL:
        return suffix
    raise DataError(
        f"unsupported {what} file type '{suffix or '(none)'}'",
        where=str(path),
        hint="use .csv, .tsv, .jsonl or .ndjson",
    )


def _check_column(columns: Sequence[str], text_column: str, where: str) -> None:
    if text_column not in columns:
        raise DataError(
            f"text column '{text_column}' not found",
            where=where,
            hint=f"pass --text-column; {suggestion(text_column, columns, 'column')}",
        )


def _csv_chunks(path: Path, sep: str, text_column: str, chunk_rows: int) -> Iterator[list[dict[str, Any]]]:
    try:
        reader = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, chunksize=chunk_rows)
        for chunk in reader:
            _check_column(list(chunk.columns), text_column, str(path))
            yield chunk.to_dict("records")
    except pd.errors.EmptyDataError:
        raise DataError(
            "the file is empty", where=str(path), hint="write a header row and data rows"
        ) from None
    except pd.errors.ParserError as exc:
        raise DataError(
            f"malformed {sep!r}-separated file ({exc})",
            where=str(path),
            hint="check quoting and the number of fields per row",
        ) from None
    except UnicodeDecodeError as exc:
        raise DataError(
            f"not UTF-8 text at byte {exc.start}",
            where=str(path),
            hint="re-encode it, e.g. iconv -f latin1 -t utf-8",
        ) from None


def _jsonl_chunks(path: Path, text_column: str, chunk_rows: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    first = True
    for number, record in iter_jsonl(path):
        if first:  # checked once: a later record without the text gets an error row, not a crash
            _check_column(list(record), text_column, f"{path}:{number}")
            first = False
        chunk.append(record)
        if len(chunk) >= chunk_rows:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


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


def _predict_file(
    clf: Classifier,
    src: Path,
    dst: Path,
    text_column: str,
    top_k: int | None,
    chunk_rows: int,
    progress: bool,
) -> int:
    if not src.is_file():
        raise DataError("input file not found", where=str(src), hint="check the path")
    kind_in, kind_out = _file_kind(src, "input"), _file_kind(dst, "output")
    chunks = (
        _jsonl_chunks(src, text_column, chunk_rows)
        if kind_in in _JSONL
        else _csv_chunks(src, _CSV_SEP[kind_in], text_column, chunk_rows)
    )
    rows = 0
    with atomic_file(dst) as tmp:
        with (
            open(tmp, "w", encoding="utf-8", newline="") as fh,
            tqdm(unit="rows", desc="predict", disable=not progress) as bar,
        ):
            writer = _Writer(fh, kind_out, clf.labels)
            for records in chunks:
                writer.write(records, _predict_chunk(clf, records, text_column, top_k))
                rows += len(records)
                bar.update(len(records))
        if rows == 0:
            raise DataError("the file has no data rows", where=str(src))
    logger.debug("wrote %d predictions to %s", rows, dst)
    return rows
