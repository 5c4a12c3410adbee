"""Load a trained artifact and predict: batched, length-sorted, in the caller's order.

Example:
    >>> clf = Classifier.load("runs/sms-spam-minilm")
    >>> clf.predict(["WINNER!! claim your free prize now"])[0].label
    'spam'
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import expit, softmax

from classifine.artifact import ArtifactMeta, model_dir, read_meta
from classifine.data.clean import make_cleaner
from classifine.errors import DataError, ModelError
from classifine.inference.engines import Engine, load_engine, select_engine
from classifine.models.tfidf import TfidfModel, mix_probabilities
from classifine.models.windows import LongText, encode_windows, length_batches, pool

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


def _engine_labels(engine: Engine) -> int | None:
    """The class count an engine produces, when it can tell without running."""
    model = getattr(engine, "model", None)
    if model is not None:
        return getattr(getattr(model, "config", None), "num_labels", None)
    count = getattr(engine, "num_labels", None)
    return count if isinstance(count, int) else None


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

    The network runs in an engine (``runner``: torch, or an ONNX Runtime export) that maps token
    arrays to logits; tokenising, long-text windows, softmax/sigmoid, the TF-IDF mix, thresholds,
    top-k and ordering happen here, once for every engine.

    Example:
        >>> Classifier.load("runs/trec-6").predict(["Who wrote Hamlet?"])[0].label
        'HUM'
    """

    def __init__(
        self,
        runner: Engine,
        tokenizer: Any,
        meta: ArtifactMeta,
        *,
        batch_size: int = 64,
        path: Path | None = None,
    ) -> None:
        if batch_size < 1:
            raise DataError(f"batch_size must be at least 1, got {batch_size}")
        num_labels = _engine_labels(runner)
        if num_labels is not None and num_labels != len(meta.labels):
            raise ModelError(
                f"the model has {num_labels} outputs but classifine.json lists {len(meta.labels)} labels",
                where=str(path or ""),
                hint="retrain or repair classifine.json",
            )
        self.runner = runner
        self.tokenizer = tokenizer
        self.meta = meta
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
        self.long_text = LongText(**meta.long_text) if meta.long_text else LongText()
        self._tfidf: TfidfModel | None = None

    @property
    def tfidf(self) -> TfidfModel | None:
        """The run's TF-IDF model (loaded on first use), or None when the run has none."""
        if self._tfidf is None and self.meta.tfidf and self.path is not None:
            self._tfidf = TfidfModel.load(model_dir(self.path) / self.meta.tfidf)
        return self._tfidf

    @property
    def hybrid(self) -> bool:
        """Whether served probabilities mix in the TF-IDF model's (``hybrid_weight`` > 0)."""
        return self.meta.hybrid_weight > 0 and self.meta.tfidf is not None

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        engine: str = "auto",
        device: str = "cpu",
        batch_size: int = 64,
        threads: int | None = None,
    ) -> Classifier:
        """Load a run folder (or its ``model/`` folder) for prediction.

        Args:
            path: a run folder written by ``classifine train`` (or its ``model/`` folder).
            engine: ``torch``, ``onnx``, ``onnx-int8`` (written by ``classifine export``) or
                ``auto``: int8 when it exists and passed its parity check, then ONNX, else torch.
            device: ``cpu`` or a torch device such as ``cuda`` (torch engine only).
            batch_size: texts (windows) per forward pass.
            threads: intra-op threads of an ONNX engine (default: the usable CPUs); a server running
                several forward passes side by side gives each its share.

        Example:
            >>> clf = Classifier.load("runs/sms-spam-minilm", engine="onnx-int8", batch_size=32)
            >>> clf.engine
            'onnx-int8'
        """
        folder = model_dir(path)
        name = select_engine(engine, folder, read_meta(folder), device)
        runner, tokenizer, meta = load_engine(name, folder, device=device, threads=threads)
        return cls(runner, tokenizer, meta, batch_size=batch_size, path=Path(path))

    @property
    def engine(self) -> str:
        """The name of the engine in use: ``torch``, ``onnx`` or ``onnx-int8``."""
        return self.runner.name

    @property
    def multi_label(self) -> bool:
        return self.meta.multi_label

    def _forward(self, rows: list[dict[str, list[int]]]) -> np.ndarray:
        """Probabilities (B, C) of a batch of encoded windows, padded to the batch's longest."""
        enc = self.tokenizer.pad(rows, padding=True, return_tensors="np")
        arrays = {k: np.asarray(enc[k]) for k in self.runner.input_names if k in enc}  # each (B, T)
        logits = self.runner.logits(arrays).astype(np.float64)  # (B, C)
        return expit(logits) if self.multi_label else softmax(logits, axis=-1)

    def predict_proba(self, texts: Sequence[str], *, cleaned: bool = False) -> np.ndarray:
        """Class probabilities, shape (N, C): softmax for single-label, sigmoid for multi-label.

        Texts are cleaned as at training time (unless ``cleaned=True`` says they already were: some
        cleaning steps are not idempotent, e.g. HTML entities), sorted by length into batches (less
        padding), and returned in the caller's order.

        Example:
            >>> clf.predict_proba(["hello", "free money"]).shape
            (2, 2)
        """
        p_model, p_tfidf = self.predict_parts(texts, cleaned=cleaned)
        return self.combine(p_model, p_tfidf)

    def predict_parts(
        self, texts: Sequence[str], *, cleaned: bool = False
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """The transformer's probabilities (N, C) and, for a hybrid run, the TF-IDF model's (else None).

        Each text is read as the run was trained (``long_text``: truncated, head + tail, or whole in
        windows whose probabilities are pooled); windows are batched by length.
        """
        items = _check_texts(texts) if cleaned else [self._clean(t) for t in _check_texts(texts)]
        tfidf = self.tfidf if self.hybrid else None
        return self._transformer_proba(items), tfidf.predict_proba(items) if tfidf is not None else None

    def combine(self, p_model: np.ndarray, p_tfidf: np.ndarray | None) -> np.ndarray:
        """The served probabilities: the hybrid mix when the run keeps one, else the transformer's."""
        if p_tfidf is None or not self.hybrid:
            return p_model
        return mix_probabilities(p_model, p_tfidf, self.meta.hybrid_weight)

    def _transformer_proba(self, items: list[str]) -> np.ndarray:
        windows = encode_windows(self.tokenizer, items, self.meta.max_length, self.long_text)
        out = np.zeros((len(windows.rows), len(self.labels)), dtype=np.float64)
        for idx in length_batches([len(r["input_ids"]) for r in windows.rows], self.batch_size):
            out[idx] = self._forward([windows.rows[i] for i in idx])
        return pool(out, windows.doc, len(items), self.multi_label)

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
        input: Any,
        output: str | Path,
        text_column: str = "text",
        *,
        top_k: int | None = None,
        chunk_rows: int = 1000,
        progress: bool = True,
    ) -> int:
        """Stream any data source (a file of any format, ``NAME:split``, a DataFrame) through the
        classifier and write predictions atomically to CSV/TSV or JSONL.

        CSV/TSV output keeps the input columns and adds ``label``, ``score`` and ``score_<label>``;
        JSONL output adds ``label`` and ``scores`` (an object). Returns the number of rows.

        Example:
            >>> clf.predict_file("inbox.csv", "inbox.pred.csv", text_column="body")
            1000
        """
        from classifine.inference.files import predict_file

        return predict_file(self, input, Path(output), text_column, top_k, chunk_rows, progress)
