"""``classifine evaluate`` and ``classifine predict`` on a tiny run folder, as a user drives them."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pandas as pd
import pytest
import torch

from classifine.cli.main import main
from classifine.config import Config, DataConfig
from classifine.inference.predictor import Classifier
from unit.test_predictor import build_tiny_run

TOPICS = {
    "food": "pasta bread cheese recipe oven sauce",
    "sport": "goal match team score league coach player",
    "tech": "cpu code bug chip compiler server laptop",
}
FILLER = ["the", "a", "of", "and", "to", "in", "is", "it"]


def _frame(n_per: int, seed: int) -> pd.DataFrame:
    rng = random.Random(seed)
    rows = []
    for topic, words in TOPICS.items():
        for _ in range(n_per):
            text = " ".join(
                rng.choice(words.split()) if rng.random() < 0.5 else rng.choice(FILLER) for _ in range(10)
            )
            rows.append({"text": text, "label": topic})
    return pd.DataFrame(rows).sample(frac=1.0, random_state=seed).reset_index(drop=True)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("e2e")
    files = {}
    for i, split in enumerate(("train", "validation", "test")):
        files[split] = root / f"{split}.csv"
        _frame({"train": 20, "validation": 6, "test": 10}[split], i).to_csv(files[split], index=False)
    folder = build_tiny_run(root / "run", ["food", "sport", "tech"])
    cfg = Config(
        data=DataConfig(
            train=str(files["train"]), validation=str(files["validation"]), test=str(files["test"])
        )
    )
    (folder / "config.yaml").write_text(cfg.to_yaml())
    (folder / "metrics.json").write_text(json.dumps({"best": {"macro_f1": 0.5}}))
    return folder


def _accuracy(run: Path, frame: pd.DataFrame) -> float:
    preds = Classifier.load(run).predict(list(frame["text"]))
    return sum(p.label == gold for p, gold in zip(preds, frame["label"], strict=True)) / len(frame)


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("error: ")
    return err[0]


def test_evaluate_writes_report_with_baseline(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", str(run)]) == 0
    out = capsys.readouterr().out
    assert "TF-IDF + linear SVM" in out and "difference" in out and "report.html" in out
    data = json.loads((run / "metrics.json").read_text())
    assert data["best"] == {"macro_f1": 0.5}  # training keys survive
    test = pd.read_csv(run.parent / "test.csv")
    assert data["test"]["accuracy"] == pytest.approx(_accuracy(run, test))
    assert data["evaluation"]["metrics"]["n"] == 30
    assert data["evaluation"]["baseline"]["accuracy"] >= 0.9  # separable topics; chance is 1/3
    assert f"{data['test']['accuracy']:.4f}" in out
    for name in ("report.md", "report.html", "per_class_f1.png"):
        assert (run / name).is_file()


def test_evaluate_validation_split_as_json(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", str(run), "--split", "validation", "--no-baseline", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["split"] == "validation" and payload["baseline"] is None
    assert payload["metrics"]["n"] == 18
    assert payload["metrics"]["accuracy"] == pytest.approx(
        _accuracy(run, pd.read_csv(run.parent / "validation.csv"))
    )


def test_evaluate_on_a_data_file(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frame = _frame(5, 7).rename(columns={"text": "body", "label": "topic"})
    frame.to_json(tmp_path / "extra.jsonl", orient="records", lines=True)
    args = [
        "evaluate",
        str(run),
        "--data",
        str(tmp_path / "extra.jsonl"),
        "--text-column",
        "body",
        "--label-column",
        "topic",
        "--json",
    ]
    assert main(args) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["dataset"] == "extra.jsonl" and payload["metrics"]["n"] == 15
    assert payload["baseline"]["accuracy"] >= 0.8
    expected = _accuracy(run, frame.rename(columns={"body": "text", "topic": "label"}))
    assert payload["metrics"]["accuracy"] == pytest.approx(expected)

    sport = _frame(4, 8).query("label == 'sport'")
    sport.to_csv(tmp_path / "sport.csv", index=False)
    assert main(["evaluate", str(run), "--data", str(tmp_path / "sport.csv"), "--no-baseline", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["metrics"]["per_class"]["sport"]["support"] == 4 and payload["metrics"]["roc_auc"] is None
    assert payload["metrics"]["accuracy"] == pytest.approx(_accuracy(run, sport))


def test_evaluate_errors_exit_2(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pd.DataFrame({"text": ["goal", "cpu", "oven"], "label": ["sport", "tech", "cooking"]}).to_csv(
        tmp_path / "bad.csv", index=False
    )
    assert main(["-q", "evaluate", str(run), "--data", str(tmp_path / "bad.csv")]) == 2
    assert "cooking" in _one_error_line(capsys)
    assert main(["-q", "evaluate", str(tmp_path / "nope")]) == 2
    assert "artifact not found" in _one_error_line(capsys)
    assert main(["-q", "evaluate", str(run), "--split", "train"]) == 2
    assert "unknown split" in _one_error_line(capsys)


def test_predict_texts(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    texts = ["goal match team", "cpu code bug", ""]
    assert (
        main(["predict", str(run), "--text", texts[0], "--text", texts[1], "--text", texts[2], "--json"]) == 0
    )
    payload = json.loads(capsys.readouterr().out)
    expected = Classifier.load(run).predict(texts)
    assert [p["label"] for p in payload] == [p.label for p in expected]
    assert [p["text"] for p in payload] == texts
    assert main(["predict", str(run), "--text", texts[0], "--top-k", "2"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(expected[0].label + "\t") and line.count(" 0.") == 2


def test_predict_file(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frame = _frame(4, 11)
    frame.to_csv(tmp_path / "in.csv", index=False)
    out = tmp_path / "out.jsonl"
    assert main(["predict", str(run), "--input", str(tmp_path / "in.csv"), "--output", str(out)]) == 0
    assert "Wrote 12 predictions" in capsys.readouterr().out
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    expected = Classifier.load(run).predict(list(frame["text"]))
    assert [r["predicted_label"] for r in rows] == [p.label for p in expected]  # input already has "label"
    assert [r["label"] for r in rows] == list(frame["label"])


def test_predict_errors_exit_2(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "in.csv").write_text("id,body\n1,goal\n")
    args = [
        "-q",
        "predict",
        str(run),
        "--input",
        str(tmp_path / "in.csv"),
        "--output",
        str(tmp_path / "o.csv"),
    ]
    assert main(args) == 2
    assert "text column 'text' not found" in _one_error_line(capsys)
    (tmp_path / "bad.jsonl").write_text('{"text": "goal"}\n{"text": \n')
    args = [
        "-q",
        "predict",
        str(run),
        "--input",
        str(tmp_path / "bad.jsonl"),
        "--output",
        str(tmp_path / "o.jsonl"),
    ]
    assert main(args) == 2
    assert "line 2" in _one_error_line(capsys)
    assert not (tmp_path / "o.jsonl").exists()
    assert main(["-q", "predict", str(run)]) == 2
    assert "either --text" in _one_error_line(capsys)
