"""The in-memory Python API: the same training as YAML + CLI, what the run folder records, cleaning."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

import classifine
from classifine.cli.main import main
from classifine.data.dataset import Dataset
from classifine.errors import ConfigError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fixtures_models import build_tiny_model, toy_texts  # noqa: E402

pytestmark = pytest.mark.e2e

SETTINGS: dict[str, Any] = {
    "train.batch_size": 16,
    "train.early_stopping": None,
    "train.threads": 1,
    "train.warmup_ratio": 0.0,
    "data.split.validation": 0.15,
    "data.split.test": 0.15,
}


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model("bert", tmp_path_factory.mktemp("m") / "bert")


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    texts, labels = toy_texts(160, seed=5)
    return pd.DataFrame({"body": texts, "queue": [y[0] for y in labels]})


def _probs(run: Path | classifine.TrainResult, texts: list[str]) -> np.ndarray:
    return classifine.Classifier.load(run).predict_proba(texts)


def test_yaml_cli_and_python_paths_train_the_same_model(
    tiny_bert: Path, frame: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    frame.to_csv("tickets.csv", index=False)
    raw = {
        "data": {"source": "tickets.csv", "text_column": "body", "label_column": "queue"},
        "model": {"name": str(tiny_bert), "method": "full", "max_length": 32},
        "train": {"epochs": 3, "learning_rate": 1e-2},
    }
    Path("cfg.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    overrides = [f"{k}={yaml.safe_dump(v, default_flow_style=True).strip()}" for k, v in SETTINGS.items()]
    assert main(["--quiet", "train", "cfg.yaml", *overrides, "--name", "from-yaml"]) == 0

    result = classifine.train(
        frame, text="body", label="queue", model=str(tiny_bert), method="full", max_length=32,
        epochs=3, learning_rate=1e-2, overrides=SETTINGS, name="from-python",
    )  # fmt: skip
    assert isinstance(result, classifine.TrainResult) and result.run_dir == Path("runs/from-python")
    assert result.metrics["test"]["n"] == 24 and 0.0 <= result.metrics["test"]["macro_f1"] <= 1.0
    assert result.report is not None and (result / "report.html").is_file()

    probe = toy_texts(20, seed=99)[0]
    from_yaml, from_python = _probs(Path("runs/from-yaml"), probe), result.classifier.predict_proba(probe)
    np.testing.assert_allclose(from_python, from_yaml, atol=1e-5)
    # The in-memory data is stored in the run, and its config reproduces the run from a clean start.
    recorded = yaml.safe_load((result / "config.yaml").read_text())
    assert recorded["data"]["train"] == "runs/from-python/data/train.parquet"
    assert main(["--quiet", "train", "runs/from-python/config.yaml", "--name", "rerun"]) == 0
    np.testing.assert_allclose(_probs(Path("runs/rerun"), probe), from_python, atol=1e-5)


def _values(node: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(node, dict):
        return [kv for k, v in node.items() for kv in _values(v, f"{path}.{k}".lstrip("."))]
    return [(path, node)]


def test_run_config_records_every_decided_value(tiny_bert: Path, frame: pd.DataFrame, tmp_path: Path) -> None:
    settings = {**SETTINGS, "train.threads": None, "train.class_weights": "auto"}
    result = classifine.train(
        frame, text="body", label="queue", model=str(tiny_bert), method="lora", epochs=1,
        output_dir=tmp_path / "runs", overrides=settings, evaluate=False, progress=False,
    )  # fmt: skip
    recorded = yaml.safe_load((result.run_dir / "config.yaml").read_text())
    flat = dict(_values(recorded))
    assert not [k for k, v in flat.items() if v == "auto"], "a value training decided is still 'auto'"
    decided = [
        "data.multi_label", "data.labels", "model.max_length", "model.lora.target_modules",
        "train.learning_rate", "train.precision", "train.threads", "train.loss", "train.seed",
        "train.class_weights.neg",
    ]  # fmt: skip
    assert [k for k in decided if flat.get(k) is None] == []
    assert flat["model.lora.target_modules"] == ["query", "value"]
    assert flat["train.learning_rate"] == 1e-3 and flat["train.loss"] == "cross_entropy"
    assert flat["train.precision"] in ("bf16", "fp32") and flat["train.threads"] >= 1
    assert classifine.load_config(result.run_dir / "config.yaml").data.labels == ["neg", "pos"]


def test_cleaning_is_what_training_saw_and_what_prediction_applies(tiny_bert: Path, tmp_path: Path) -> None:
    texts, labels = toy_texts(120, seed=8)
    noisy = [f"<p>{t} &amp; more</p> see https://example.com/x" for t in texts]
    df = pd.DataFrame({"text": noisy, "label": [y[0] for y in labels]})
    result = classifine.train(
        df, model=str(tiny_bert), method="full", max_length=32, epochs=1, output_dir=tmp_path / "runs",
        overrides={**SETTINGS, "data.clean.strip_html": True, "data.clean.strip_urls": True},
        evaluate=False, progress=False,
    )  # fmt: skip
    clf = result.classifier
    stored = Dataset.from_source(result.run_dir / "data" / "train.parquet")  # the raw rows, as given
    cleaned = [clf._clean(t) for t in stored.texts]
    assert all("<p>" not in t and "https://" not in t and "&amp;" not in t for t in cleaned)
    assert cleaned != stored.texts  # cleaning changed every text, so the check below is not vacuous
    seen_by_training = Dataset(cleaned, stored.labels, stored.label_set).fingerprint()
    assert clf.meta.data_fingerprint == seen_by_training


def test_keywords_and_data_errors_are_clear(frame: pd.DataFrame) -> None:
    with pytest.raises(ConfigError, match=r"unknown keyword 'epoch'.*did you mean 'epochs'"):
        classifine.train(frame, epoch=3)  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match=r"unknown key 'train.wieght_decay'.*did you mean 'weight_decay'"):
        classifine.train(frame, text="body", label="queue", overrides={"train.wieght_decay": 0.1})
    with pytest.raises(
        classifine.DataError, match=r"column .text. not found.*Known columns: body, queue.*text= in Python"
    ):
        classifine.train(frame)


def test_dataset_from_pandas_and_split() -> None:
    texts, labels = toy_texts(100, seed=1)
    df = pd.DataFrame({"body": texts, "queue": [y[0] for y in labels]})
    ds = Dataset.from_pandas(df, text="body", label="queue")
    splits = ds.split(seed=0)
    assert ds.label_set.names == ("neg", "pos") and len(ds) == 100
    assert len(splits.train) + len(splits.validation) + len(splits.test) == 100
    assert not set(splits.train.texts) & set(splits.test.texts)
    pair = Dataset.from_source((texts[:4], [y[0] for y in labels[:4]]))
    assert pair.texts == texts[:4]
