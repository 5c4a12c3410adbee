"""``classifine train`` and ``classifine models`` driven as a user would, including a killed, resumed run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from classifine.cli.main import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fixtures_models import build_tiny_model, write_toy_csv  # noqa: E402

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model("bert", tmp_path_factory.mktemp("m") / "bert")


def _config(tmp_path: Path, model: Path, rows: int, epochs: int) -> Path:
    cfg = {
        "data": {
            "source": str(write_toy_csv(tmp_path / "toy.csv", rows)),
            "split": {"validation": 0.15, "test": 0.15},
        },
        "model": {"name": str(model), "method": "full", "max_length": 32},
        "train": {
            "epochs": epochs,
            "batch_size": 16,
            "learning_rate": 1e-2,
            "early_stopping": None,
            "precision": "fp32",
            "threads": 1,
            "warmup_ratio": 0.0,
        },
        "output": {"dir": str(tmp_path / "runs")},
    }
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def test_train_prints_run_and_metrics_then_refuses_to_overwrite(
    tiny_bert: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _config(tmp_path, tiny_bert, rows=200, epochs=6)
    assert main(["train", str(cfg), "--name", "toy", "train.seed=7"]) == 0
    out = capsys.readouterr().out
    run = tmp_path / "runs" / "toy"
    assert str(run) in out and "validation: accuracy" in out
    meta = json.loads((run / "model" / "classifine.json").read_text())
    assert meta["labels"] == ["neg", "pos"] and meta["method"] == "full" and meta["family"] == "bert"
    assert meta["metrics"]["accuracy"] >= 0.8
    resolved = yaml.safe_load((run / "config.yaml").read_text())
    assert resolved["train"]["seed"] == 7 and resolved["output"]["name"] == "toy"
    assert not (tmp_path / "runs" / ".toy.work").exists()
    # training ends by scoring the held-out test split beside TF-IDF
    assert "TF-IDF + linear SVM" in out and (run / "report.html").is_file()
    test = json.loads((run / "metrics.json").read_text())["test"]
    assert test["accuracy"] >= 0.75 and "tfidf_macro_f1" in test

    assert main(["train", str(cfg), "--name", "toy"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["train", str(cfg), "--name", "toy2", "train.epocs=2"]) == 2
    assert "did you mean 'epochs'" in capsys.readouterr().err


def test_train_without_a_test_split_skips_evaluation(
    tiny_bert: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _config(tmp_path, tiny_bert, rows=80, epochs=1)
    assert main(["train", str(cfg), "--name", "notest", "data.split.test=0"]) == 0
    out = capsys.readouterr().out
    assert "no test split to evaluate on" in out
    assert not (tmp_path / "runs" / "notest" / "report.html").exists()
    assert "test" not in json.loads((tmp_path / "runs" / "notest" / "metrics.json").read_text())


def test_killed_run_resumes_without_losing_an_epoch(
    tiny_bert: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    epochs = 12
    cfg = _config(tmp_path, tiny_bert, rows=900, epochs=epochs)
    work = tmp_path / "runs" / ".resumable.work"
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "classifine.cli.main", "--quiet", "train", str(cfg), "--name", "resumable"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not list(work.glob("checkpoint-*/trainer_state.json")):
            assert proc.poll() is None, "training ended before its first checkpoint"
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert not (tmp_path / "runs" / "resumable").exists()  # killed: no artifact
    stale = tmp_path / "runs" / ".resumable.4194303.abc.partial"  # left by a killed writer (no such pid)
    stale.mkdir()

    changed = ["--quiet", "train", str(cfg), "train.epochs=13", "--name", "resumable", "--resume"]
    assert main(changed) == 2  # a changed config must not continue the old checkpoint
    err = capsys.readouterr().err
    assert "cannot resume: the run changed" in err and "train.epochs: 12.0 -> 13.0" in err

    assert main(["--quiet", "train", str(cfg), "--name", "resumable", "--resume"]) == 0
    run = tmp_path / "runs" / "resumable"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["train"]["resumed_from"].startswith("checkpoint-")
    assert metrics["train"]["train_loss"] > 0.01  # the whole run's loss, not only the resumed part
    assert metrics["train"]["seconds"] > 0
    assert not stale.exists()
    assert (run / "model" / "model.safetensors").stat().st_mode & 0o044 == 0o044  # readable like the rest
    assert metrics["train"]["epochs"] == pytest.approx(epochs)
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    eval_epochs = sorted(round(e["epoch"]) for e in log if "eval_loss" in e)
    assert eval_epochs == list(range(1, epochs + 1))  # every epoch evaluated exactly once
    steps_per_epoch = metrics["train"]["global_step"] // epochs
    assert metrics["train"]["global_step"] == steps_per_epoch * epochs
    assert (run / "model" / "classifine.json").is_file() and not (
        tmp_path / "runs" / ".resumable.work"
    ).exists()


def test_resume_without_checkpoint_starts_fresh(tiny_bert: Path, tmp_path: Path) -> None:
    cfg = _config(tmp_path, tiny_bert, rows=120, epochs=2)
    assert main(["--quiet", "train", str(cfg), "--name", "fresh", "--resume"]) == 0
    metrics = json.loads((tmp_path / "runs" / "fresh" / "metrics.json").read_text())
    assert metrics["train"]["resumed_from"] is None and metrics["train"]["epochs"] == pytest.approx(2)


def test_models_list_and_bad_fetch(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["minilm-l6"]["packaged"] and rows["minilm-l6"]["lora_targets"] == ["query", "value"]
    assert rows["distilbert-base-uncased"]["lora_targets"] == ["q_lin", "v_lin"]
    assert rows["gemma3-270m"]["family"] == "gemma3" and rows["gemma3-270m"]["max_length"] == 512
    assert main(["models", "list"]) == 0
    assert "smollm2-135m" in capsys.readouterr().out
    assert main(["models", "fetch", "minilm-l7"]) == 2
    assert "did you mean 'minilm-l6'" in capsys.readouterr().err
