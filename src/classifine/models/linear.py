"""Linear scores over a whole label set from a scikit-learn model fitted on the classes it saw."""

from __future__ import annotations

import numpy as np

#: The intercept of a class absent from the training rows: it never wins.
ABSENT = -1e4


def over_labels(
    coef: np.ndarray, intercept: np.ndarray, classes: np.ndarray, n_labels: int, dtype: type = np.float64
) -> tuple[np.ndarray, np.ndarray]:
    """``(weight (C, D), bias (C,))`` for all ``n_labels`` from a fitted model's ``coef_``/``intercept_``.

    ``classes`` are the label indices the model saw (``model.classes_``). A binary model's single
    score ``s`` becomes ``+s/2`` and ``-s/2`` (the same softmax as a sigmoid of ``s``); absent
    classes get :data:`ABSENT`.

    Example:
        >>> w, b = over_labels(np.array([[2.0]]), np.array([1.0]), np.array([0, 2]), 3)
        >>> w[:, 0].tolist(), b.tolist()
        ([-1.0, 0.0, 1.0], [-0.5, -10000.0, 0.5])
    """
    weight: np.ndarray = np.zeros((n_labels, coef.shape[1]), dtype=dtype)
    bias: np.ndarray = np.full(n_labels, ABSENT, dtype=dtype)
    if len(classes) == 2:
        weight[classes[1]], weight[classes[0]] = coef[0] / 2, -coef[0] / 2
        bias[classes[1]], bias[classes[0]] = intercept[0] / 2, -intercept[0] / 2
    else:
        weight[classes], bias[classes] = coef, intercept
    return weight, bias
