"""The packaged MiniLM, trained briefly on SMS spam, exported to ONNX and int8: the engines agree."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from classifine.artifact import read_meta
from classifine.data.dataset import Dataset
from classifine.inference.predictor import Classifier

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.integration

PARITY_TEXTS = 128


@pytest.fixture(scope="module")
def sms_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real LoRA run of the packaged MiniLM on sms-spam: 30 steps of 16 texts, ~225 validation texts."""
    import classifine

    torch.set_num_threads(2)
    overrides = [
        "data.source=sms-spam",
        "data.max_rows=480",
        "data.split.validation=0.05",
        "model.max_length=64",
        "train.epochs=1",
        "train.max_steps=30",
        "train.learning_rate=0.005",
        "train.class_weights=auto",
        "train.early_stopping=null",
        f"output.dir={tmp_path_factory.mktemp('runs')}",
        "output.name=sms",
    ]
    return classifine.train(None, overrides, evaluate=False, progress=False).run_dir


@pytest.fixture(scope="module")
def export_payload(sms_run: Path) -> dict:
    """``classifine export RUN --int8 --json`` on the real run, as a user runs it."""
    import contextlib
    import io

    from classifine.cli.main import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["export", str(sms_run), "--int8", "--json", "--max-texts", str(PARITY_TEXTS)])
    return {"code": code, **json.loads(out.getvalue())}


def _validation(run: Path) -> Dataset:
    from classifine.config import load_config
    from classifine.data.loading import load_splits

    return load_splits(load_config(run / "config.yaml").data).validation


def test_export_passes_parity_on_real_validation_texts(sms_run: Path, export_payload: dict) -> None:
    assert export_payload["code"] == 0 and export_payload["passed"]
    fp32, int8 = export_payload["exports"]["onnx"], export_payload["exports"]["onnx-int8"]
    assert fp32["parity"]["split"] == "validation" and fp32["parity"]["texts"] == PARITY_TEXTS
    assert fp32["parity"]["agreement"] >= 0.999 and fp32["parity"]["max_abs_diff"] <= 1e-3
    assert int8["parity"]["agreement"] >= 0.99
    assert abs(int8["parity"]["accuracy"] - int8["parity"]["torch_accuracy"]) <= 0.01
    majority = 0.87  # share of ham in sms-spam: the run learned something beyond it
    assert fp32["parity"]["torch_accuracy"] > majority + 0.05
    assert int8["size_bytes"] < 0.3 * fp32["size_bytes"]  # int8 weights: about a quarter
    assert read_meta(sms_run).exports["onnx-int8"].sha256 == int8["sha256"]


def test_engines_agree_on_labels(sms_run: Path, export_payload: dict) -> None:
    assert export_payload["passed"]
    texts = _validation(sms_run).texts[:100]
    clfs = {e: Classifier.load(sms_run, engine=e) for e in ("torch", "onnx", "onnx-int8")}
    assert Classifier.load(sms_run).engine == "onnx-int8"  # auto: int8 exists and passed
    labels = {e: [p.label for p in clf.predict(texts)] for e, clf in clfs.items()}
    assert labels["onnx"] == labels["torch"]
    agree = np.mean([a == b for a, b in zip(labels["onnx-int8"], labels["torch"], strict=True)])
    assert agree >= 0.99, agree
    # the artifact trained with bf16 autocast where the CPU has it: torch predicts with it, the
    # ONNX graph is fp32, so the two differ by bf16 rounding at most
    diff = np.abs(clfs["onnx"].predict_proba(texts) - clfs["torch"].predict_proba(texts)).max()
    assert diff < (0.05 if read_meta(sms_run).precision == "bf16" else 1e-3), diff
    one = clfs["onnx-int8"].predict(texts[:3], top_k=1)
    assert [len(p.top_k) for p in one] == [1, 1, 1] and all(p.label in ("ham", "spam") for p in one)
