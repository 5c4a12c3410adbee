"""Classifier round trip on a tiny random BERT with a hand-written classifine.json."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from classifine.errors import DataError, ModelError
from classifine.inference.predictor import Classifier
from fixtures_models import WORDS, build_tiny_run


def mixed_texts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 40))) for _ in range(n)]


@pytest.fixture(scope="module")
def single_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    return build_tiny_run(tmp_path_factory.mktemp("single"), ["food", "sport", "tech"])


@pytest.fixture(scope="module")
def clf(single_run: Path) -> Classifier:
    return Classifier.load(single_run, batch_size=4)


def test_order_restored_across_length_sorted_batches(clf: Classifier) -> None:
    texts = mixed_texts(23)
    calls: list[list[int]] = []
    forward = clf._forward

    def spy(batch: list[str]) -> np.ndarray:
        calls.append([len(t) for t in batch])
        return forward(batch)

    clf._forward = spy  # type: ignore[method-assign]
    try:
        batched = clf.predict_proba(texts)
    finally:
        del clf._forward
    one_by_one = np.vstack([clf.predict_proba([t]) for t in texts])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)
    assert [len(c) for c in calls] == [4, 4, 4, 4, 4, 3]
    flat = [n for c in calls for n in c]
    assert flat == sorted(flat)  # batches were grouped by length
    assert len({tuple(r.round(4)) for r in batched}) > 5  # the model does tell texts apart


def test_predict_labels_scores_and_top_k(clf: Classifier) -> None:
    texts = mixed_texts(6, seed=3)
    probs = clf.predict_proba(texts)
    preds = clf.predict(texts, top_k=2)
    for row, pred in zip(probs, preds, strict=True):
        assert pred.label == clf.labels[int(row.argmax())]
        assert math.isclose(sum(pred.scores.values()), 1.0, abs_tol=1e-6)
        assert len(pred.top_k) == 2 and pred.top_k[0][0] == pred.label
        assert pred.top_k[0][1] >= pred.top_k[1][1]
    assert len(clf.predict(texts[:1])[0].top_k) == 3  # default: every label, best first
    assert clf.predict([]) == []


def test_empty_and_whitespace_texts_are_predicted(clf: Classifier) -> None:
    preds = clf.predict(["", "   ", "goal"])
    assert [p.label in clf.labels for p in preds] == [True, True, True]
    assert preds[0].scores == pytest.approx(preds[1].scores)


def test_bad_inputs_are_clear_errors(clf: Classifier) -> None:
    with pytest.raises(DataError, match="list of texts"):
        clf.predict("goal match")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="text #1 is int"):
        clf.predict(["goal", 3])  # type: ignore[list-item]
    with pytest.raises(DataError, match="top_k"):
        clf.predict(["goal"], top_k=0)


def test_cleaning_and_bf16_paths(tmp_path: Path) -> None:
    run = build_tiny_run(tmp_path / "r", ["a", "b"], clean={"lowercase": True}, precision="bf16")
    fp32 = build_tiny_run(tmp_path / "f", ["a", "b"])
    lower = Classifier.load(run)
    assert lower.predict_proba(["GOAL Match"]) == pytest.approx(lower.predict_proba(["goal match"]))
    # same seed, same weights: bf16 autocast stays close to fp32, but it did run (not bit-identical)
    diff = np.abs(lower.predict_proba(["goal match"]) - Classifier.load(fp32).predict_proba(["goal match"]))
    assert 0 < diff.max() < 0.05


def test_already_cleaned_texts_are_not_cleaned_twice(tmp_path: Path) -> None:
    from classifine.data.clean import make_cleaner

    run = build_tiny_run(tmp_path / "r", ["a", "b"], clean={"strip_html": True})
    clf = Classifier.load(run)
    raw = "&lt;b&gt;goal&lt;/b&gt; match team"
    once = make_cleaner({"strip_html": True})(raw)
    assert once != make_cleaner({"strip_html": True})(once)  # this cleaner is not idempotent
    assert clf.predict_proba([once], cleaned=True) == pytest.approx(clf.predict_proba([raw]))
    assert clf.predict_proba([once]) != pytest.approx(clf.predict_proba([raw]))


def test_label_count_mismatch_is_a_model_error(tmp_path: Path) -> None:
    run = build_tiny_run(tmp_path / "r", ["a", "b"])
    meta = json.loads((run / "model" / "classifine.json").read_text())
    meta["labels"] = ["a", "b", "c"]
    (run / "model" / "classifine.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="3 labels"):
        Classifier.load(run)


def test_multi_label_thresholds_applied(tmp_path_factory: pytest.TempPathFactory) -> None:
    root = tmp_path_factory.mktemp("multi")
    texts = mixed_texts(12, seed=5)
    probe = Classifier.load(build_tiny_run(root / "probe", ["x", "y", "z"], multi_label=True, seed=1))
    probs = probe.predict_proba(texts)
    np.testing.assert_array_less(-1e-9, probs)
    assert not np.allclose(probs.sum(axis=1), 1.0)  # sigmoid, not softmax
    mid = float(np.median(probs[:, 2]))
    thresholds = [0.0, 1.0, mid]  # x always on, y never, z on for the upper half
    clf = Classifier.load(
        build_tiny_run(root / "run", ["x", "y", "z"], multi_label=True, thresholds=thresholds, seed=1)
    )
    preds = clf.predict(texts)
    for row, pred in zip(probs, preds, strict=True):
        assert pred.label == ["x"] + (["z"] if row[2] >= mid else [])
    assert sum("z" in p.label for p in preds) == int((probs[:, 2] >= mid).sum()) >= 6


def test_predict_file_streams_csv_and_jsonl(clf: Classifier, tmp_path: Path) -> None:
    texts = mixed_texts(1000, seed=9)
    texts[10] = ""
    pd.DataFrame({"id": range(1000), "body": texts}).to_csv(tmp_path / "in.csv", index=False)
    calls: list[int] = []
    predict = clf.predict

    def spy(batch: list[str], top_k: int | None = None) -> list:  # type: ignore[type-arg]
        calls.append(len(batch))
        return predict(batch, top_k=top_k)

    clf.predict = spy  # type: ignore[method-assign]
    try:
        rows = clf.predict_file(
            tmp_path / "in.csv", tmp_path / "out.csv", text_column="body", chunk_rows=128, progress=False
        )
    finally:
        del clf.predict
    assert rows == 1000 and calls == [128] * 7 + [104]
    out = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    expected = clf.predict(texts)
    assert list(out["id"]) == list(range(1000))
    assert list(out["label"]) == [p.label for p in expected]
    np.testing.assert_allclose(out["score_sport"], [p.scores["sport"] for p in expected], atol=1e-6)
    np.testing.assert_allclose(out["score"], [max(p.scores.values()) for p in expected], atol=1e-6)

    with open(tmp_path / "in.jsonl", "w") as fh:
        for i, t in enumerate(texts[:300]):
            fh.write(json.dumps({"id": i, "text": t}) + "\n")
        fh.write(json.dumps({"id": 300, "text": None}) + "\n")
    assert (
        clf.predict_file(tmp_path / "in.jsonl", tmp_path / "out.jsonl", chunk_rows=64, progress=False) == 301
    )
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["label"] for r in lines[:300]] == [p.label for p in expected[:300]]
    assert lines[5]["scores"] == pytest.approx(expected[5].scores)
    assert lines[300]["label"] is None and "not a string" in lines[300]["error"]


def test_predict_file_errors(clf: Classifier, tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text("id,body\n1,goal\n")
    with pytest.raises(DataError, match="text column 'txt' not found.*body"):
        clf.predict_file(tmp_path / "in.csv", tmp_path / "out.csv", text_column="txt", progress=False)
    (tmp_path / "bad.jsonl").write_text('{"text": "goal"}\n{"text": "oops"\n')
    with pytest.raises(DataError, match="line 2"):
        clf.predict_file(tmp_path / "bad.jsonl", tmp_path / "out.jsonl", progress=False)
    assert not (tmp_path / "out.jsonl").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file left
    with pytest.raises(DataError, match="unsupported output"):
        clf.predict_file(tmp_path / "in.csv", tmp_path / "out.xlsx", text_column="body", progress=False)
    with pytest.raises(DataError, match="not found"):
        clf.predict_file(tmp_path / "missing.csv", tmp_path / "out.csv", progress=False)


def test_predict_file_jsonl_with_bom_and_a_record_missing_its_text(clf: Classifier, tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(b'\xef\xbb\xbf{"text": "goal match"}\n{"id": 2}\n{"text": "cpu bug"}\n')
    assert clf.predict_file(src, tmp_path / "out.jsonl", progress=False) == 3
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert rows[0]["label"] in clf.labels and rows[2]["label"] in clf.labels
    assert rows[1]["error"] == "text is missing or not a string" and rows[1]["label"] is None
