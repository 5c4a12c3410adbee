"""``classifine pipeline compile`` and a real local Kubeflow run of the compiled YAML.

The compiled ``pipeline.yaml`` is loaded back and run with ``kfp.local.SubprocessRunner`` (each
component a subprocess in this environment, as its pod would run it) on a tiny BERT built from its
config and the toy sentiment task: data check -> train -> evaluate beside TF-IDF -> ONNX export ->
promotion gate, and every step's outputs are checked.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
import yaml

from fixtures_models import build_tiny_model, toy_splits


def _write_task(root: Path) -> Path:
    model = build_tiny_model("bert", root / "tiny-bert")
    for name, ds in toy_splits(96, 32).items():
        frame = pd.DataFrame({"text": ds.texts, "label": [y[0] for y in ds.labels]})
        frame.to_csv(root / f"{name}.csv", index=False)
    cfg = root / "pipe.yaml"
    cfg.write_text(
        f"data: {{train: {root}/train.csv, validation: {root}/validation.csv, test: {root}/test.csv}}\n"
        f"model: {{name: {model}, method: full, max_length: 32, hybrid: 'off'}}\n"
        "train: {epochs: 6, batch_size: 16, learning_rate: 0.006, early_stopping: null, precision: fp32}\n"
        f"output: {{dir: {root}/runs}}\n"
    )
    return cfg


def _task_dir(root: Path, task: str) -> Path:
    found = sorted(root.glob(f"*/{task}"))
    assert len(found) == 1, f"{task}: {found}"
    return found[0]


def _outputs(task: Path) -> dict:
    return json.loads((task / "executor_output.json").read_text())


@pytest.mark.timeout(600)
def test_compiled_pipeline_runs_locally_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kfp import components, local

    from classifine.cli.main import main
    from classifine.inference.predictor import Classifier

    src = str(Path(__file__).resolve().parents[2] / "src")
    monkeypatch.setenv("PYTHONPATH", src + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cfg = _write_task(tmp_path)
    out = tmp_path / "pipeline.yaml"
    code = main(
        ["pipeline", "compile", str(cfg), "--out", str(out), "--threshold", "0.99", "--image", "reg/cf:1"]
    )
    assert code == 0 and out.is_file()
    spec = yaml.safe_load(out.read_text())
    executors = spec["deploymentSpec"]["executors"]
    assert {e["container"]["image"] for e in executors.values()} == {"reg/cf:1"}
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == {"data-check", "train", "evaluate", "export", "promotion-gate"}
    assert tasks["train"]["dependentTasks"] == ["data-check"]
    assert set(tasks["promotion-gate"]["dependentTasks"]) == {"evaluate", "export"}
    compiled_config = json.loads(
        spec["root"]["inputDefinitions"]["parameters"]["config_json"]["defaultValue"]
    )
    assert compiled_config["train"]["epochs"] == 6

    # The model serving now scores 0.2: the new one beats it (and may clear the 0.99 threshold).
    current = tmp_path / "serving"
    current.mkdir()
    (current / "metrics.json").write_text(json.dumps({"test": {"macro_f1": 0.2}}))
    root = tmp_path / "kfp-root"
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root), raise_on_error=True)
    pipeline = components.load_component_from_file(str(out))
    run = pipeline(current_model=str(current), promote_to=str(current))
    assert run.output is True

    check = _task_dir(root, "data-check")
    found = json.loads((check / "check" / "check.json").read_text())
    assert found["splits"] == {"train": 96, "validation": 32, "test": 32} and found["labels"] == [
        "neg",
        "pos",
    ]

    trained = _task_dir(root, "train") / "run"
    assert (trained / "model" / "classifine.json").is_file()
    assert not list(trained.parent.glob(".*.work"))  # the work folder was cleaned up

    scores = _outputs(_task_dir(root, "evaluate"))
    metrics = scores["artifacts"]["scores"]["artifacts"][0]["metadata"]
    assert metrics["model_macro_f1"] >= 0.8 and 0.0 <= metrics["tfidf_macro_f1"] <= 1.0
    assert scores["parameterValues"]["Output"] == metrics["model_macro_f1"]
    assert (trained / "report.html").is_file()  # the evaluation wrote the run's report

    exported = _task_dir(root, "export") / "exported"
    assert (exported / "model" / "model.onnx").is_file()

    decision = json.loads((_task_dir(root, "promotion-gate") / "decision").read_text())
    # Promoted either way; which reason depends on whether the tiny model reached the 0.99 threshold
    # (both branches and the refusal are also checked one by one below).
    score = metrics["model_macro_f1"]
    expected = "clears the threshold 0.9900" if score >= 0.99 else "beats the current model's 0.2000"
    assert decision["promoted"] and expected in decision["reason"] and decision["score"] == score
    assert decision["current_score"] == 0.2
    assert json.loads((current / "decision.json").read_text())["promoted"]
    promoted = Classifier.load(current, engine="onnx")
    assert promoted.predict(["a great and happy film"])[0].label == "pos"


def test_gate_refuses_a_model_below_threshold_and_current(tmp_path: Path) -> None:
    from classifine.pipeline import steps

    exported = tmp_path / "exported"
    exported.mkdir()
    current = tmp_path / "serving"
    current.mkdir()
    (current / "metrics.json").write_text(json.dumps({"test": {"macro_f1": 0.9}}))
    refused = steps.gate(exported, 0.85, "macro_f1", 0.95, str(current), str(current))
    assert not refused["promoted"] and refused["promoted_to"] is None
    assert "below the threshold 0.9500 and does not beat the current model's 0.9000" in refused["reason"]
    assert not (current / "decision.json").exists()  # nothing was copied over the serving model
    cleared = steps.gate(exported, 0.96, "macro_f1", 0.95, "", "")
    assert cleared["promoted"] and "clears the threshold" in cleared["reason"]


def test_tune_variant_searches_then_refits_the_best_config(tmp_path: Path) -> None:
    from classifine.cli.main import main
    from classifine.config import load_config
    from classifine.pipeline import steps

    cfg = _write_task(tmp_path)
    cfg.write_text(
        cfg.read_text().replace("epochs: 6", "epochs: 5")
        + "tune: {space: {train.learning_rate: [0.006, 0.003]}, sampler: grid, pruner: none}\n"
    )
    out = tmp_path / "pipeline.yaml"
    assert main(["pipeline", "compile", str(cfg), "--out", str(out), "--tune", "2"]) == 0
    tasks = yaml.safe_load(out.read_text())["root"]["dag"]["tasks"]
    assert "tune" in tasks and "train" not in tasks and tasks["evaluate"]["dependentTasks"] == ["tune"]

    config_json = json.dumps(load_config(cfg).model_dump(mode="json"))
    found = steps.tune(config_json, tmp_path / "out" / "run", trials=2)
    run = tmp_path / "out" / "run"
    assert (run / "model" / "classifine.json").is_file() and found["validation"]["accuracy"] >= 0.8
    summary = json.loads((Path(found["study"]) / "summary.json").read_text())
    assert summary["refit"]["trial"] == found["trial"], summary
