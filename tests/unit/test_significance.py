"""McNemar's test and the paired bootstrap, against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from classifine.data.labels import LabelSet
from classifine.evaluation.metrics import decision_metrics
from classifine.evaluation.significance import (
    binomial_two_sided,
    correct,
    f1_counts,
    macro_f1_from_counts,
    mcnemar,
    paired_bootstrap_macro_f1,
)


def _pairs(b: int, c: int, both_right: int = 3, both_wrong: int = 2) -> tuple[list[bool], list[bool]]:
    a = [True] * b + [False] * c + [True] * both_right + [False] * both_wrong
    bb = [False] * b + [True] * c + [True] * both_right + [False] * both_wrong
    return a, bb


def test_exact_binomial_p_values() -> None:
    assert binomial_two_sided(1, 7) == pytest.approx(2 * (1 + 7) / 2**7)  # 0.125
    assert binomial_two_sided(0, 5) == pytest.approx(2 / 2**5)  # 0.0625
    assert binomial_two_sided(3, 6) == 1.0  # 2 * (1 + 6 + 15 + 20) / 64 > 1, capped
    assert binomial_two_sided(5, 7) == binomial_two_sided(2, 7) == pytest.approx(2 * (1 + 7 + 21) / 128)
    assert binomial_two_sided(0, 0) == 1.0


def test_mcnemar_uses_only_discordant_texts_and_the_exact_test_below_25() -> None:
    r = mcnemar(*_pairs(6, 1))
    assert (r.b, r.c, r.method, r.statistic) == (6, 1, "exact", None)
    assert r.p_value == pytest.approx(0.125)
    assert mcnemar(*_pairs(6, 1, both_right=500, both_wrong=70)).p_value == pytest.approx(0.125)
    r = mcnemar(*_pairs(12, 12))  # 24 discordant: still exact, and balanced
    assert r.method == "exact" and r.p_value == 1.0
    assert mcnemar(*_pairs(0, 0)).p_value == 1.0


def test_mcnemar_chi_squared_with_continuity_correction_from_25() -> None:
    r = mcnemar(*_pairs(10, 30))
    assert r.method == "chi2" and r.statistic == pytest.approx(361 / 40)  # (|10 - 30| - 1)^2 / 40
    assert r.p_value == pytest.approx(0.0026631192591, rel=1e-9)  # P(chi2_1 > 9.025)
    r = mcnemar(*_pairs(20, 5))  # exactly 25 discordant
    assert r.method == "chi2" and r.statistic == pytest.approx(196 / 25)
    assert r.p_value == pytest.approx(0.0051102606609, rel=1e-9)  # P(chi2_1 > 7.84)
    with pytest.raises(ValueError):
        mcnemar([True], [True, False])


def test_correct_counts_abstentions_and_partial_multilabel_rows_as_wrong() -> None:
    assert correct(np.array([0, 1, 2]), np.array([0, -1, 1])).tolist() == [True, False, False]
    y = np.array([[1, 0], [1, 1]])
    assert correct(y, np.array([[1, 0], [1, 0]])).tolist() == [True, False]


def test_macro_f1_from_counts_matches_scikit_learn() -> None:
    rng = np.random.default_rng(3)
    y, p = rng.integers(0, 4, 200), rng.integers(-1, 4, 200)  # -1: abstained
    tp, fp, fn = (c.sum(0) for c in f1_counts(y, p, 5))  # label 4 never occurs: F1 0, as sklearn
    expected = f1_score(y, p, labels=[0, 1, 2, 3, 4], average="macro", zero_division=0)
    assert float(macro_f1_from_counts(tp, fp, fn)) == pytest.approx(expected)
    ym, pm = rng.integers(0, 2, (50, 3)), rng.integers(0, 2, (50, 3))
    tp, fp, fn = (c.sum(0) for c in f1_counts(ym, pm, 3))
    assert float(macro_f1_from_counts(tp, fp, fn)) == pytest.approx(f1_score(ym, pm, average="macro"))
    assert decision_metrics(y, p, LabelSet(("a", "b", "c", "d", "e")))["macro_f1"] == pytest.approx(expected)


def test_bootstrap_interval_of_two_texts_is_known_exactly() -> None:
    # y = [0, 1]; A is right on both, B says 0 twice. Resamples of two texts with replacement:
    #   {0, 0} (p 1/4): both score 0.5               -> diff 0
    #   {1, 1} (p 1/4): A 0.5, B 0                   -> diff -0.5
    #   {0, 1} (p 1/2): A 1, B (2/3 + 0) / 2 = 1/3   -> diff -2/3
    # so the 2.5% quantile is -2/3 and the 97.5% quantile is 0.
    d = paired_bootstrap_macro_f1([0, 1], [0, 1], [0, 0], 2, resamples=4000, seed=5)
    assert d.diff == pytest.approx(-2 / 3)
    assert d.low == pytest.approx(-2 / 3) and d.high == 0.0 and not d.significant


def test_bootstrap_is_paired_seeded_and_centred_on_the_observed_difference() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    a = np.where(rng.random(300) < 0.9, y, (y + 1) % 3)  # ~90% right
    b = np.where(rng.random(300) < 0.6, y, (y + 1) % 3)  # ~60% right
    d = paired_bootstrap_macro_f1(y, a, b, 3, resamples=500, seed=7)
    observed = f1_score(y, b, average="macro") - f1_score(y, a, average="macro")
    assert d.diff == pytest.approx(observed)
    assert d.low < d.diff < d.high < 0 and d.significant
    assert d == paired_bootstrap_macro_f1(y, a, b, 3, resamples=500, seed=7)
    assert d != paired_bootstrap_macro_f1(y, a, b, 3, resamples=500, seed=8)
    same = paired_bootstrap_macro_f1(y, a, a, 3, resamples=200, seed=1)
    assert (same.diff, same.low, same.high) == (0.0, 0.0, 0.0)
