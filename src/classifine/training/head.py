"""The light head on sentence embeddings: logistic regression, and the embeddings it is fit on.

Embeddings are computed by the served module itself
(:class:`~classifine.models.embedding.EmbeddingClassifier`) on the same windows prediction uses,
with the same autocast, so the head is fit on exactly what it will see. The head is
scikit-learn's logistic regression (multinomial for single-label, one binary model per label for
multi-label), turned into the module's linear layer: softmax / sigmoid of its logits are the
regression's probabilities.

Example:
    >>> x, doc = embed_texts(model, tokenizer, texts, 128, LongText())
    >>> weight, bias = fit_head(x, y[doc], multi_label=False, n_labels=6, c=10.0)
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np

from classifine.evaluation.metrics import headline_metrics
from classifine.models.linear import ABSENT, over_labels
from classifine.models.windows import INPUT_KEYS, LongText, encode_windows, length_batches, pool
from classifine.training.data import probabilities

logger = logging.getLogger(__name__)

#: Bias of a multi-label output whose label is never (or always) present in training: a constant answer.
CONSTANT_BIAS = 8.0
CV_FOLDS = 5


def embed_texts(
    model: Any,
    tokenizer: Any,
    texts: list[str],
    max_length: int,
    long_text: LongText,
    *,
    batch_size: int = 64,
    bf16: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Unit-length embeddings of every window of ``texts`` (W, D) and the text each window belongs to (W,).

    Windows are batched by length (little padding) and returned in window order.

    Example:
        >>> x, doc = embed_texts(model, tokenizer, ["short", "a long e-mail ..."], 256, LongText("chunks"))
    """
    import torch

    windows = encode_windows(tokenizer, texts, max_length, long_text)
    hidden = int(model.config.hidden_size)
    out = np.zeros((len(windows.rows), hidden), dtype=np.float32)
    model.eval()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for idx in length_batches([len(r["input_ids"]) for r in windows.rows], batch_size):
            batch = tokenizer.pad([windows.rows[i] for i in idx], padding=True, return_tensors="pt")
            inputs = {k: v for k, v in batch.items() if k in INPUT_KEYS}
            out[idx] = model.embed(**inputs).float().numpy()  # (B, D)
    return out, np.asarray(windows.doc, dtype=np.int64)


def _binary_lr(x: np.ndarray, y: np.ndarray, c: float, seed: int) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    if y.min() == y.max():  # a label never (or always) present: a constant answer
        return np.zeros(x.shape[1], dtype=np.float64), CONSTANT_BIAS if y[0] else -CONSTANT_BIAS
    lr = LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(x, y)
    return lr.coef_[0], float(lr.intercept_[0])


def fit_head(
    x: np.ndarray, y: np.ndarray, *, multi_label: bool, n_labels: int, c: float, seed: int = 42
) -> tuple[np.ndarray, np.ndarray]:
    """Logistic regression on embeddings ``x`` (N, D) as a linear layer: ``(weight (C, D), bias (C,))``.

    Single-label: multinomial (a binary problem becomes logits ``-z/2, +z/2``, whose softmax is the
    regression's sigmoid); a class absent from ``y`` never wins. Multi-label: one binary regression
    per label on the multi-hot ``y`` (N, C).

    Example:
        >>> weight, bias = fit_head(x, y, multi_label=False, n_labels=6, c=10.0)
        >>> weight.shape
        (6, 384)
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    weight = np.zeros((n_labels, x.shape[1]), dtype=np.float64)
    bias = np.zeros(n_labels, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if multi_label:
            for k in range(n_labels):
                weight[k], bias[k] = _binary_lr(x, np.asarray(y[:, k], dtype=np.int64), c, seed)
            return weight, bias
        y = np.asarray(y, dtype=np.int64)
        classes = np.unique(y)
        if len(classes) == 1:  # one class seen: it always wins
            bias[:] = ABSENT
            bias[classes[0]] = 0.0
            return weight, bias
        lr = LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(x, y)
    return over_labels(lr.coef_, lr.intercept_, classes, n_labels)


def head_probabilities(
    x: np.ndarray, doc: np.ndarray, n_docs: int, weight: np.ndarray, bias: np.ndarray, multi_label: bool
) -> np.ndarray:
    """Per-text probabilities (N, C) from window embeddings (W, D), pooled as prediction pools them."""
    logits = x.astype(np.float64) @ weight.T + bias  # (W, C)
    return pool(probabilities(logits, multi_label), doc, n_docs, multi_label)


def cv_folds(y_doc: np.ndarray, multi_label: bool, seed: int) -> list[np.ndarray] | None:
    """Fold number of each text for stratified cross-validation, or None when a class has one text."""
    from sklearn.model_selection import KFold, StratifiedKFold

    if multi_label:
        n = min(CV_FOLDS, len(y_doc))
        if n < 2:
            return None
        splitter: Any = KFold(n, shuffle=True, random_state=seed)
        return [test for _, test in splitter.split(y_doc)]
    counts = np.bincount(y_doc)
    smallest = int(counts[counts > 0].min())
    if smallest < 2:
        return None
    splitter = StratifiedKFold(min(CV_FOLDS, smallest), shuffle=True, random_state=seed)
    return [test for _, test in splitter.split(np.zeros(len(y_doc)), y_doc)]


def cross_validated_c(
    x: np.ndarray,
    doc: np.ndarray,
    y_doc: np.ndarray,
    *,
    multi_label: bool,
    grid: tuple[float, ...],
    metric: str = "macro_f1",
    seed: int = 42,
    log: bool = True,
) -> tuple[float, dict[str, float]]:
    """The head's ``C`` with the best cross-validated ``metric`` on the training texts, and every score.

    Folds split texts (all windows of a text stay together), stratified by class; a tie goes to the
    smallest (most regularised) ``C``. With a class of a single text, no folds: ``C`` = 1.

    Example:
        >>> cross_validated_c(x, doc, y, multi_label=False, grid=(0.1, 1.0, 10.0))
        (10.0, {'0.1': 0.61, '1.0': 0.74, '10.0': 0.77})
    """
    folds = cv_folds(y_doc, multi_label, seed)
    if folds is None:
        return 1.0, {}
    n_labels = y_doc.shape[1] if multi_label else int(y_doc.max()) + 1
    scores: dict[str, float] = {}
    for c in grid:
        probs = np.zeros((len(y_doc), n_labels), dtype=np.float64)
        for test_docs in folds:
            held = np.isin(doc, test_docs)
            w, b = fit_head(
                x[~held], y_doc[doc[~held]], multi_label=multi_label, n_labels=n_labels, c=c, seed=seed
            )
            probs[test_docs] = head_probabilities(
                x[held], _renumber(doc[held], test_docs), len(test_docs), w, b, multi_label
            )
        scores[str(c)] = float(headline_metrics(y_doc, probs, multi_label, 0.5)[metric])
    best = max(grid, key=lambda c: (scores[str(c)], -c))
    if log:
        logger.info("head: C=%g by %d-fold cross-validation (%s %s)", best, len(folds), metric, scores)
    return best, scores


def _renumber(doc: np.ndarray, docs: np.ndarray) -> np.ndarray:
    """Map text ids ``doc`` onto positions in ``docs`` (0..len(docs)-1)."""
    position = {int(d): i for i, d in enumerate(docs)}
    return np.asarray([position[int(d)] for d in doc], dtype=np.int64)
