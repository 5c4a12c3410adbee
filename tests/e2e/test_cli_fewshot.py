"""Few-shot runs driven through the CLI: the method choice, the TF-IDF warning, export and ONNX prediction."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
import torch
import yaml

from classifine.cli.main import main
from fixtures_models import build_tiny_model, write_toy_csv

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    return build_tiny_model("bert", tmp_path_factory.mktemp("m") / "bert")


def _config(tmp_path: Path, model: Path, rows: int, **model_keys: object) -> Path:
    data = write_toy_csv(tmp_path / "toy.csv", rows, seed=5)
    cfg = {
        "data": {"source": str(data), "split": {"validation": 0.25, "test": 0.25}},
        "model": {"name": str(model), "max_length": 32, **model_keys},
        "train": {"precision": "fp32", "threads": 1, "learning_rate": 1e-3},
        "output": {"dir": str(tmp_path / "runs")},
    }
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def test_auto_picks_fewshot_and_records_it(
    tiny_bert: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", str(_config(tmp_path, tiny_bert, 64)), "--name", "auto"]) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "method: fewshot (auto: 16 labelled rows per class (median) <= 64" in out
    assert "selection: fixed schedule: 16 validation texts are trained on" in out
    # 16 validation texts choose nothing: the encoder trains on all 48 rows, the check is cross-validated;
    # the tiny encoder is random, so its frozen head loses to TF-IDF on the sentiment words: the served
    # model has no held-out score, and the warning says it could not be checked (not that it is worse)
    check = json.loads((tmp_path / "runs" / "auto" / "metrics.json").read_text())["baseline_check"]
    assert check["estimate"] == "cross-validation" and check["validation_texts"] == 48
    assert check["worse"] is None and check["starting_point_worse"] is True
    warning = [line for line in captured.err.splitlines() if line.startswith("warning: ")]
    assert warning and "could not be checked against TF-IDF: it trained on all 48" in warning[-1]
    assert "below TF-IDF in 5-fold cross-validation" in warning[-1]
    run = tmp_path / "runs" / "auto"
    resolved = yaml.safe_load((run / "config.yaml").read_text())
    assert resolved["model"]["method"] == "fewshot" and resolved["train"]["selection"] == "fixed"
    assert (
        resolved["train"]["max_steps"]
        == json.loads((run / "metrics.json").read_text())["train"]["global_step"]
    )
    assert json.loads((run / "model" / "classifine.json").read_text())["method"] == "fewshot"
    report = (run / "report.md").read_text()
    assert "method: fewshot" in report and "could not be checked against TF-IDF" in report


def test_a_model_worse_than_tfidf_is_warned_about(
    tiny_bert: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A head so regularised that it barely moves: TF-IDF, which reads the sentiment words, wins easily.
    cfg = _config(tmp_path, tiny_bert, 64, method="head", fewshot={"head_c": 1e-6})
    assert main(["train", str(cfg), "--name", "weak"]) == 0
    captured = capsys.readouterr()
    warning = [line for line in captured.err.splitlines() if line.startswith("warning: ")]
    assert warning and "worse than the TF-IDF baseline on validation" in warning[-1]
    assert "on 16 texts (only 16 texts: a noisy comparison)" in warning[-1]
    run = tmp_path / "runs" / "weak"
    check = json.loads((run / "metrics.json").read_text())["baseline_check"]
    assert check["worse"] and check["served"] < check["tfidf"]
    assert "WORSE than the TF-IDF baseline" in (run / "report.md").read_text()
    # --json carries the same check for scripts
    assert main(["train", str(cfg), "--name", "weak2", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["baseline_check"]["worse"] is True


def test_fewshot_run_exports_to_onnx_and_predicts_the_same(tiny_bert: Path, tmp_path: Path) -> None:
    from classifine.inference.predictor import Classifier

    cfg = _config(tmp_path, tiny_bert, 64, method="fewshot")
    assert main(["train", str(cfg), "--name", "fs", "--no-evaluate"]) == 0
    run = tmp_path / "runs" / "fs"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["export", str(run), "--int8", "--json"])
    payload = json.loads(out.getvalue())
    assert code == 0 and payload["passed"], payload
    texts = ["the movie was good", "awful boring plot", "it was a film"]
    torch_probs = Classifier.load(run, engine="torch").predict_proba(texts)
    onnx = Classifier.load(run, engine="onnx")
    assert onnx.engine == "onnx"
    assert (onnx.predict_proba(texts) - torch_probs).__abs__().max() < 1e-4
    assert Classifier.load(run).engine == "onnx-int8"  # auto takes the checked int8 export
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        assert main(["predict", str(run), "--engine", "onnx", "--text", "the movie was good", "--json"]) == 0
    assert "label" in printed.getvalue()
