"""Engine selection on a tiny random BERT run: names, fallbacks and clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from classifine.errors import ConfigError, ModelError
from classifine.inference.engines import TorchEngine, select_engine
from classifine.inference.predictor import Classifier
from fixtures_models import build_tiny_run
from unit.test_predictor import mixed_texts


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    return build_tiny_run(tmp_path_factory.mktemp("engines"), ["food", "sport", "tech"])


def test_auto_without_exports_is_torch(tiny_run: Path) -> None:
    clf = Classifier.load(tiny_run)
    assert clf.engine == "torch" and isinstance(clf.runner, TorchEngine)
    assert Classifier.load(tiny_run, engine="torch").engine == "torch"


def test_unknown_engine_names_the_nearest(tiny_run: Path) -> None:
    with pytest.raises(ConfigError, match="unknown engine 'onx'.*did you mean 'onnx'"):
        Classifier.load(tiny_run, engine="onx")
    with pytest.raises(ConfigError, match="did you mean 'onnx-int8'"):
        Classifier.load(tiny_run, engine="onnx_int8")


@pytest.mark.parametrize(("engine", "flag"), [("onnx", "'classifine export RUN'"), ("onnx-int8", "--int8")])
def test_missing_export_says_how_to_make_it(tiny_run: Path, engine: str, flag: str) -> None:
    with pytest.raises(ModelError, match=f"no {engine} export.*{flag}"):
        Classifier.load(tiny_run, engine=engine)


def test_onnx_is_cpu_only_and_auto_off_cpu_is_torch(tiny_run: Path) -> None:
    from classifine.artifact import read_meta

    folder = tiny_run / "model"
    assert select_engine("auto", folder, read_meta(folder), device="cuda") == "torch"
    with pytest.raises(ModelError, match="CPU only"):
        select_engine("onnx", folder, read_meta(folder), device="cuda")


def test_torch_engine_logits_are_float32_and_softmaxed_once(tiny_run: Path) -> None:
    clf = Classifier.load(tiny_run, engine="torch")
    texts = mixed_texts(5, seed=2)
    enc = clf.tokenizer(texts, padding=True, return_tensors="np")
    logits = clf.runner.logits({k: enc[k] for k in clf.runner.input_names if k in enc})
    assert logits.dtype == np.float32 and logits.shape == (5, 3)
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(clf.predict_proba(texts), expected, atol=1e-6)
