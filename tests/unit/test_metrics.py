"""Metric values on small hand-computed examples."""

from __future__ import annotations

import numpy as np
import pytest

from classifine.data.labels import LabelSet
from classifine.errors import DataError
from classifine.evaluation.calibration import reliability
from classifine.evaluation.metrics import compute_metrics, headline_metrics

THREE = LabelSet(("a", "b", "c"))


def _onehot_probs(pred: list[int], n_classes: int, top: float = 0.8) -> np.ndarray:
    rest = (1.0 - top) / (n_classes - 1)
    probs = np.full((len(pred), n_classes), rest)
    probs[np.arange(len(pred)), pred] = top
    return probs


def test_single_label_values_match_hand_computation() -> None:
    y = np.array([0, 0, 1, 1, 2, 2])
    probs = _onehot_probs([0, 1, 1, 1, 2, 0], 3)
    m = compute_metrics(y, probs, THREE)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["micro_f1"] == pytest.approx(4 / 6)
    # class a: P 1/2 R 1/2 F1 .5; class b: P 2/3 R 1 F1 .8; class c: P 1 R 1/2 F1 2/3
    assert m["per_class"]["a"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert m["per_class"]["b"]["precision"] == pytest.approx(2 / 3)
    assert m["per_class"]["b"]["f1"] == pytest.approx(0.8)
    assert m["per_class"]["c"]["recall"] == pytest.approx(0.5)
    assert m["macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert m["weighted_f1"] == pytest.approx(m["macro_f1"])  # equal supports
    assert m["macro_precision"] == pytest.approx((0.5 + 2 / 3 + 1.0) / 3)
    assert m["macro_recall"] == pytest.approx((0.5 + 1.0 + 0.5) / 3)
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert m["n"] == 6 and m["labels"] == ["a", "b", "c"]
    assert m["roc_auc"] is not None and 0.0 <= m["roc_auc"] <= 1.0
    assert "positive_f1" not in m
    light = headline_metrics(y, probs, multi_label=False)  # what training and leaderboards use
    assert light == {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"], "micro_f1": m["micro_f1"]}


def test_binary_auc_and_positive_class_f1() -> None:
    ls = LabelSet(("ham", "spam"))
    p_spam = np.array([0.1, 0.4, 0.35, 0.8])
    probs = np.stack([1 - p_spam, p_spam], axis=1)
    m = compute_metrics(np.array([0, 0, 1, 1]), probs, ls)
    assert m["roc_auc"] == pytest.approx(0.75)
    assert m["positive_label"] == "spam"
    # predicted spam only for 0.8: P 1, R 1/2 -> F1 2/3
    assert m["positive_f1"] == pytest.approx(2 / 3)
    assert m["accuracy"] == pytest.approx(0.75)


def test_absent_class_gets_zero_scores_and_no_auc() -> None:
    y = np.array([0, 1, 0, 1])
    probs = _onehot_probs([0, 1, 2, 1], 3)
    m = compute_metrics(y, probs, THREE)
    assert m["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert m["roc_auc"] is None
    assert any("absent" in note and "c" in note for note in m["notes"])


def test_binary_with_one_class_present_omits_auc() -> None:
    m = compute_metrics(np.array([0, 0]), np.array([[0.9, 0.1], [0.6, 0.4]]), LabelSet(("x", "y")))
    assert m["roc_auc"] is None and m["accuracy"] == 1.0


def test_ece_perfectly_calibrated_is_zero() -> None:
    # confidence 0.8 on every row, right on 8 of 10
    y = np.array([0] * 8 + [1] * 2)
    probs = np.tile([0.8, 0.2], (10, 1))
    m = compute_metrics(y, probs, LabelSet(("x", "y")))
    assert m["ece"] == pytest.approx(0.0, abs=1e-12)
    full = [b for b in m["reliability"] if b["count"]]
    assert len(m["reliability"]) == 15 and len(full) == 1
    assert full[0]["count"] == 10 and full[0]["accuracy"] == pytest.approx(0.8)


def test_ece_overconfident() -> None:
    y = np.array([0, 1, 0, 1])
    probs = np.tile([0.99, 0.01], (4, 1))
    m = compute_metrics(y, probs, LabelSet(("x", "y")))
    assert m["ece"] == pytest.approx(0.49)
    # Brier: rows right (0.01^2 * 2) and wrong (0.99^2 * 2), averaged
    assert m["brier"] == pytest.approx((2 * 0.01**2 + 2 * 0.99**2) / 2)


def test_reliability_bins_mix() -> None:
    ece, bins = reliability(np.array([0.95, 0.95, 0.55, 0.55]), np.array([True, True, True, False]), 10)
    # bin (0.9, 1.0]: conf .95 acc 1 -> gap .05 ; bin (0.5, 0.6]: conf .55 acc .5 -> gap .05
    assert ece == pytest.approx(0.05)
    assert [b["count"] for b in bins if b["count"]] == [2, 2]


ML = LabelSet(("a", "b", "c"), multi_label=True)
Y_ML = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 0]], dtype=np.float32)
P_ML = np.array([[0.9, 0.2, 0.4], [0.1, 0.7, 0.2], [0.8, 0.6, 0.55], [0.3, 0.1, 0.1]])


def test_multi_label_values() -> None:
    m = compute_metrics(Y_ML, P_ML, ML)  # threshold 0.5: preds [1,0,0] [0,1,0] [1,1,1] [0,0,0]
    assert m["problem_type"] == "multi_label"
    assert m["subset_accuracy"] == pytest.approx(0.5) and m["accuracy"] == m["subset_accuracy"]
    assert m["hamming_loss"] == pytest.approx(2 / 12)
    assert m["per_class"]["a"]["f1"] == 1.0 and m["per_class"]["b"]["f1"] == 1.0
    assert m["per_class"]["c"]["f1"] == 0.0
    assert m["macro_f1"] == pytest.approx(2 / 3)
    assert m["micro_f1"] == pytest.approx(0.8)  # tp 4, fp 1, fn 1
    assert m["per_label_confusion"]["c"] == [[2, 1], [1, 0]]
    assert m["thresholds"] == [0.5, 0.5, 0.5]
    # c: positives score 0.4, negatives 0.2, 0.55, 0.1 -> AUC 2/3; a and b separate perfectly
    assert m["roc_auc"] == pytest.approx((1 + 1 + 2 / 3) / 3)


def test_multi_label_per_label_thresholds_change_decisions() -> None:
    m = compute_metrics(Y_ML, P_ML, ML, thresholds=[0.5, 0.5, 0.35])  # c: [1,0,1,0] vs truth [1,0,0,0]
    assert m["per_class"]["c"]["precision"] == pytest.approx(0.5)
    assert m["per_class"]["c"]["recall"] == pytest.approx(1.0)
    assert m["subset_accuracy"] == pytest.approx(0.75)
    assert m["thresholds"] == [0.5, 0.5, 0.35]


def test_multi_label_auc_skips_constant_labels() -> None:
    y = Y_ML.copy()
    y[:, 2] = 0
    m = compute_metrics(y, P_ML, ML)
    assert m["roc_auc"] == pytest.approx(1.0)
    assert any("2 of 3" in note for note in m["notes"])


def test_bad_inputs_raise_data_error() -> None:
    with pytest.raises(DataError, match="0 examples"):
        compute_metrics(np.array([], dtype=np.int64), np.zeros((0, 3)), THREE)
    with pytest.raises(DataError, match="shape"):
        compute_metrics(np.array([0, 1]), np.zeros((2, 2)), THREE)
    with pytest.raises(DataError, match="NaN"):
        compute_metrics(np.array([0]), np.array([[np.nan, 0.5, 0.5]]), THREE)
    with pytest.raises(DataError, match="thresholds"):
        compute_metrics(Y_ML, P_ML, ML, thresholds=[0.5, 0.5])
