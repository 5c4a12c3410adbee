"""A TF-IDF + linear model that is trained with scikit-learn and stored without pickle.

The strongest classic baseline a competent user writes - word 1-2-grams, sublinear tf, a linear SVM
(or logistic regression) with ``C`` tuned on validation, then refit on train + validation - and a
servable model: :meth:`TfidfModel.save` writes the vocabulary and settings as JSON and the idf,
coefficients and intercepts as safetensors; :meth:`TfidfModel.load` reads them back and executes
nothing from the files. Probabilities come from a softmax (single-label) or sigmoid (multi-label)
of the decision scores with a temperature fitted on validation, so they can be mixed with a
transformer's (the hybrid).

Example:
    >>> fitted = fit_tfidf(splits.train, splits.validation)
    >>> fitted.model.predict_proba(["free entry, win cash"]).shape
    (1, 2)
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from classifine.data.dataset import Dataset
from classifine.errors import DataError, ModelError
from classifine.models.linear import over_labels

logger = logging.getLogger(__name__)

FORMAT = 1
TFIDF_FOLDER = "tfidf"  # inside an artifact's model/ folder
SETTINGS_FILE = "tfidf.json"
WEIGHTS_FILE = "tfidf.safetensors"
C_GRID = (0.1, 0.3, 1.0, 3.0)
# Below this many training texts, terms seen once are kept (min_df=1): dropping them would leave too
# small a vocabulary.
MIN_DF_ROWS = 200
TOKEN_PATTERN = r"(?u)\b\w\w+\b"  # scikit-learn's default: words of two or more characters


@dataclass
class TfidfModel:
    """Fitted TF-IDF features and one linear scorer per label; ``predict_proba`` gives (N, C)."""

    vocabulary: dict[str, int]
    idf: np.ndarray  # (V,) float32
    coef: np.ndarray  # (K, V) float32; K = C, or 1 for a binary single-label model
    intercept: np.ndarray  # (K,)
    labels: list[str]
    multi_label: bool
    temperature: float = 1.0
    params: dict[str, Any] = field(default_factory=dict)

    def features(self, texts: list[str]) -> sparse.csr_matrix:
        """(N, V) l2-normalised sublinear TF-IDF rows, exactly as scikit-learn's TfidfVectorizer."""
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.preprocessing import normalize

        counts = CountVectorizer(
            vocabulary=self.vocabulary, ngram_range=(1, 2), token_pattern=TOKEN_PATTERN, dtype=np.float32
        ).transform(texts)
        counts.data = np.log(counts.data) + 1.0  # sublinear tf
        return normalize(counts @ sparse.diags(self.idf), norm="l2", copy=False).tocsr()

    def decision(self, texts: list[str]) -> np.ndarray:
        """Decision scores (N, C) in label order (a binary model's one score becomes -s, +s)."""
        raw = np.asarray(self.features(texts) @ self.coef.T, dtype=np.float64) + self.intercept  # (N, K)
        if raw.shape[1] == 1 and len(self.labels) == 2 and not self.multi_label:
            return np.hstack([-raw, raw]) / 2.0
        return raw

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Probabilities (N, C): softmax (single-label) or sigmoid (multi-label) of scaled scores."""
        return scores_to_proba(self.decision(texts), self.temperature, self.multi_label)

    def save(self, folder: str | Path) -> None:
        """Write ``tfidf.json`` (settings, labels, vocabulary) and ``tfidf.safetensors`` (arrays)."""
        from safetensors.numpy import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        settings = {
            "format": FORMAT,
            "labels": self.labels,
            "multi_label": self.multi_label,
            "temperature": self.temperature,
            "ngram_range": [1, 2],
            "token_pattern": TOKEN_PATTERN,
            "sublinear_tf": True,
            "params": self.params,
            "vocabulary": self.vocabulary,
        }
        (folder / SETTINGS_FILE).write_text(json.dumps(settings, ensure_ascii=False), encoding="utf-8")
        arrays = {"idf": self.idf, "coef": self.coef, "intercept": self.intercept}
        save_file(
            {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in arrays.items()}, folder / WEIGHTS_FILE
        )

    @classmethod
    def load(cls, folder: str | Path) -> TfidfModel:
        """Read a saved model (JSON and safetensors only); a damaged folder is a ModelError."""
        from safetensors.numpy import load_file

        folder = Path(folder)
        try:
            settings = json.loads((folder / SETTINGS_FILE).read_text(encoding="utf-8"))
            arrays = load_file(folder / WEIGHTS_FILE)
            model = cls(
                vocabulary={str(k): int(v) for k, v in settings["vocabulary"].items()},
                idf=arrays["idf"],
                coef=arrays["coef"],
                intercept=arrays["intercept"],
                labels=[str(x) for x in settings["labels"]],
                multi_label=bool(settings["multi_label"]),
                temperature=float(settings["temperature"]),
                params=dict(settings.get("params") or {}),
            )
        except Exception as exc:  # a damaged folder fails in JSON, safetensors or key lookups
            raise ModelError(
                f"cannot read the TF-IDF model ({exc})", where=str(folder), hint="retrain"
            ) from None
        if model.coef.shape[1] != len(model.vocabulary) or model.idf.shape[0] != len(model.vocabulary):
            raise ModelError(
                "the TF-IDF arrays do not match its vocabulary", where=str(folder), hint="retrain"
            )
        return model


def mix_probabilities(p_model: np.ndarray, p_tfidf: np.ndarray, weight: float) -> np.ndarray:
    """The hybrid's probabilities: ``(1 - weight) * p_model + weight * p_tfidf`` (weight = TF-IDF share).

    Example:
        >>> mix_probabilities(np.array([[0.9, 0.1]]), np.array([[0.5, 0.5]]), 0.5)
        array([[0.7, 0.3]])
    """
    return (1.0 - weight) * np.asarray(p_model, dtype=np.float64) + weight * np.asarray(
        p_tfidf, dtype=np.float64
    )


def scores_to_proba(scores: np.ndarray, temperature: float, multi_label: bool) -> np.ndarray:
    """Softmax or sigmoid of ``temperature * scores`` (N, C), as float64."""
    z = np.asarray(scores, dtype=np.float64) * temperature
    if multi_label:
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]


@dataclass
class FittedTfidf:
    """The served model (refit on train + validation) and validation probabilities of the train-only fit."""

    model: TfidfModel
    validation_proba: np.ndarray | None
    seconds: float


def _vectorizer(n_train: int) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(
        ngram_range=(1, 2),
        sublinear_tf=True,
        token_pattern=TOKEN_PATTERN,
        min_df=2 if n_train >= MIN_DF_ROWS else 1,
        dtype=np.float32,
    )


def _fit_linear(
    x: sparse.spmatrix, y: np.ndarray, c: float, multi_label: bool, n_labels: int, seed: int
) -> Any:
    """A linear SVM per label (multi-label) or one multi-class SVM; (coef (K, V), intercept (K,))."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if multi_label:
            coef = np.zeros((n_labels, x.shape[1]), dtype=np.float32)
            intercept = np.full(n_labels, -1.0, dtype=np.float32)  # a label never seen: always "no"
            for c_idx in range(n_labels):
                target = y[:, c_idx].astype(int)
                if 0 < target.sum() < len(target):
                    svm = LinearSVC(C=c, tol=1e-3, random_state=seed).fit(x, target)
                    coef[c_idx], intercept[c_idx] = svm.coef_[0], svm.intercept_[0]
            return coef, intercept
        svm = LinearSVC(C=c, tol=1e-3, random_state=seed).fit(x, y)
        classes = np.asarray(svm.classes_, dtype=np.int64)
        if len(classes) == 2 and n_labels == 2:
            return svm.coef_.astype(np.float32), svm.intercept_.astype(np.float32)
        return over_labels(svm.coef_, svm.intercept_, classes, n_labels, np.float32)


def _model(
    vec: Any, coef: np.ndarray, intercept: np.ndarray, ds: Dataset, params: dict[str, Any]
) -> TfidfModel:
    vocab = {str(t): int(i) for t, i in vec.vocabulary_.items()}
    return TfidfModel(
        vocab,
        vec.idf_.astype(np.float32),
        coef,
        intercept,
        list(ds.label_set.names),
        ds.multi_label,
        1.0,
        params,
    )


def _macro_f1(ds: Dataset, proba: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    predicted = (proba >= 0.5).astype(int) if ds.multi_label else proba.argmax(axis=1)
    return float(f1_score(ds.y(), predicted, average="macro", zero_division=0))


def _temperature(model: TfidfModel, texts: list[str], y: np.ndarray) -> float:
    """The scale of decision scores that minimises validation log-loss (a one-parameter calibration)."""
    scores = model.decision(texts)
    best_t, best_loss = 1.0, np.inf
    for t in np.geomspace(0.25, 64.0, 25):
        p = np.clip(scores_to_proba(scores, float(t), model.multi_label), 1e-7, 1 - 1e-7)
        if model.multi_label:
            loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
        else:
            loss = -np.mean(np.log(p[np.arange(len(y)), y]))
        if loss < best_loss:
            best_t, best_loss = float(t), float(loss)
    return best_t


def fit_tfidf(
    train: Dataset, validation: Dataset, seed: int = 42, c_grid: tuple[float, ...] = C_GRID
) -> FittedTfidf:
    """Fit on train, pick ``C`` (validation macro-F1) and the temperature (validation log-loss), refit on
    train + validation. Without validation rows, ``C`` = 1 and no refit.

    Example:
        >>> fit_tfidf(splits.train, splits.validation).model.params["C"]
        1.0
    """
    start = time.perf_counter()
    if len(train) == 0:
        raise DataError("the TF-IDF model needs training texts, but the train split is empty")
    n_labels = len(train.label_set)
    vec = _vectorizer(len(train))
    try:
        x_train = vec.fit_transform(train.texts)
    except ValueError as exc:  # every text empty or made only of stop characters
        raise DataError(f"TF-IDF found no usable words in the train split ({exc})") from None
    grid = c_grid if len(validation) else (1.0,)
    fits = []
    for c in grid:
        coef, intercept = _fit_linear(x_train, train.y(), c, train.multi_label, n_labels, seed)
        model = _model(vec, coef, intercept, train, {"C": c})
        score = _macro_f1(validation, model.predict_proba(validation.texts)) if len(validation) else 0.0
        fits.append((score, -grid.index(c), model))
    val_f1, _, best = max(fits, key=lambda f: f[:2])  # a tie goes to the smallest (most regularised) C
    val_proba = None
    if len(validation):
        best.temperature = _temperature(best, validation.texts, validation.y())
        val_proba = best.predict_proba(validation.texts)
        best = _refit(train, validation, best, seed)
    best.params.update(
        validation_macro_f1=val_f1,
        n_features=len(best.vocabulary),
        classifier="linear-svm",
        min_df=vec.min_df,
    )
    seconds = time.perf_counter() - start
    logger.info("tf-idf: C=%s, %d features, validation macro-F1 %.4f (%.1fs)", best.params["C"],
                len(best.vocabulary), val_f1, seconds)  # fmt: skip
    return FittedTfidf(best, val_proba, seconds)


def out_of_fold_proba(ds: Dataset, folds: list[np.ndarray], c: float, seed: int = 42) -> np.ndarray:
    """Probabilities of every row of ``ds`` from a TF-IDF model (``C`` = ``c``) fit on the other folds.

    ``folds``: the row indices of each fold (e.g. :func:`classifine.training.head.cv_folds`).

    Example:
        >>> out_of_fold_proba(rows, cv_folds(rows.y(), False, 0), 1.0).shape
        (48, 6)
    """
    n_labels = len(ds.label_set)
    y = ds.y()
    proba = np.zeros((len(ds), n_labels), dtype=np.float64)
    for test in folds:
        kept = np.setdiff1d(np.arange(len(ds)), test)
        fold = ds.subset(kept)
        vec = _vectorizer(len(fold))
        x = vec.fit_transform(fold.texts)
        coef, intercept = _fit_linear(x, y[kept], c, ds.multi_label, n_labels, seed)
        model = _model(vec, coef, intercept, fold, {"C": c})
        proba[test] = model.predict_proba([ds.texts[i] for i in test])
    return proba


def _refit(train: Dataset, validation: Dataset, chosen: TfidfModel, seed: int) -> TfidfModel:
    """The chosen settings refit on train + validation (more data for the served model)."""
    both = train.concat(validation)
    vec = _vectorizer(len(both))
    x = vec.fit_transform(both.texts)
    c = float(chosen.params["C"])
    coef, intercept = _fit_linear(x, both.y(), c, both.multi_label, len(both.label_set), seed)
    model = _model(vec, coef, intercept, both, dict(chosen.params, refit="train+validation"))
    model.temperature = chosen.temperature
    return model
