"""Argilla records: built from a real model's predictions, checked with the argilla SDK's own classes.

The Argilla server needs Elasticsearch, which cannot run here: the push is tested up to the SDK
client (a clear error when no server answers).
"""

from __future__ import annotations

from pathlib import Path

import argilla as rg
import numpy as np
import pytest

from classifine.cli.main import main
from classifine.inference.predictor import Classifier
from classifine.integrations.argilla import read_records, sdk_records, to_records
from fixtures_models import toy_texts


@pytest.fixture(scope="module")
def run(toy_run: Path) -> Path:
    return toy_run


def test_records_match_the_sdk_classes() -> None:
    probs = np.array([[0.9, 0.7, 0.1], [0.2, 0.3, 0.4]])
    labels = ["a", "b", "c"]
    single = to_records(["x", "y"], probs, labels, agent="run-v2")
    multi = to_records(["x", "y"], probs, labels, agent="run-v2", thresholds=[0.5, 0.5, 0.5])
    assert single[0]["suggestions"][0] == {
        "question_name": "label", "value": "a", "score": 0.9, "agent": "run-v2", "type": "model"
    }  # fmt: skip
    assert multi[0]["suggestions"][0]["value"] == ["a", "b"] and multi[0]["suggestions"][0]["score"] == [
        0.9,
        0.7,
    ]
    assert multi[1]["suggestions"][0]["value"] == [] and multi[1]["suggestions"][0]["score"] == []
    for records, multi_label in ((single, False), (multi, True)):
        objects = sdk_records(records)
        assert all(isinstance(r, rg.Record) for r in objects)
        for record, raw in zip(objects, records, strict=True):
            suggestion = record.suggestions["label"]
            assert suggestion.value == raw["suggestions"][0]["value"]
            assert suggestion.score == raw["suggestions"][0]["score"] and suggestion.agent == "run-v2"
            assert record.fields["text"] == raw["fields"]["text"] and record.id == raw["id"]
            assert record.to_dict()["suggestions"]["label"]["value"] == raw["suggestions"][0]["value"]
        values = [r.suggestions["label"].value for r in objects]
        assert all(isinstance(v, list) == multi_label for v in values)  # (the SDK's questions need a server)


def test_predict_format_argilla_and_push_errors(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    texts, _labels = toy_texts(30, seed=51)
    data = tmp_path / "new.csv"
    data.write_text("text\n" + "\n".join(texts) + "\n")
    out = tmp_path / "records.jsonl"
    assert main(["predict", str(run), "--input", str(data), "--format", "argilla", "--output", str(out)]) == 0
    records = read_records(out)
    assert [r["fields"]["text"] for r in records] == texts
    assert {r["suggestions"][0]["agent"] for r in records} == {"toy-v1"}
    preds = Classifier.load(run).predict(texts)  # the suggestions are the model's own predictions
    assert [r["suggestions"][0]["value"] for r in records] == [p.label for p in preds]
    scores = [r["suggestions"][0]["score"] for r in records]
    assert scores == pytest.approx([max(p.scores.values()) for p in preds], abs=1e-5)
    assert all(0.5 <= s <= 1.0 for s in scores)
    assert len(sdk_records(records)) == 30
    args = [
        "argilla",
        "push",
        str(out),
        "--run",
        str(run),
        "--dataset",
        "toy",
        "--api-url",
        "http://127.0.0.1:9",
    ]
    assert main([*args, "--api-key-env", "CF_NO_SUCH_VARIABLE"]) == 2
    assert "CF_NO_SUCH_VARIABLE is not set" in capsys.readouterr().err
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CF_ARGILLA_KEY", "argilla.apikey")
        assert main([*args, "--api-key-env", "CF_ARGILLA_KEY"]) == 2
    assert "could not be reached" in capsys.readouterr().err
