"""Training the real packaged models: MiniLM on SMS spam, SmolLM2 with LoRA."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from classifine.config import config_from_dict
from classifine.data.dataset import DatasetSplits
from classifine.models.build import load_trained
from classifine.training.fit import fit

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.integration


def probs_of(model: Any, tokenizer: Any, texts: list[str], max_length: int, batch: int = 64) -> np.ndarray:
    """Softmax probabilities (N, C) in padded batches."""
    out = []
    for i in range(0, len(texts), batch):
        enc = tokenizer(
            texts[i : i + batch], padding=True, truncation=True, max_length=max_length, return_tensors="pt"
        )
        with torch.no_grad():
            out.append(torch.softmax(model(**enc).logits.float(), dim=-1).numpy())  # (B, C)
    return np.concatenate(out)


@pytest.fixture(scope="module")
def sms_small() -> DatasetSplits:
    from classifine.data.catalog import load_catalog

    splits = load_catalog("sms-spam")
    rng = np.random.default_rng(0)
    train = splits.train.subset(rng.choice(len(splits.train), 300, replace=False))
    val = splits.validation.subset(rng.choice(len(splits.validation), 100, replace=False))
    return DatasetSplits(train, val, splits.test)


def test_minilm_lora_beats_majority_and_reloads(sms_small: DatasetSplits, tmp_path: Path) -> None:
    torch.set_num_threads(2)
    cfg = config_from_dict(
        {
            "model": {"name": "minilm-l6", "method": "lora", "max_length": 64},
            "train": {"epochs": 2, "batch_size": 8, "learning_rate": 2e-3, "early_stopping": None},
        }
    )
    run = fit(sms_small, cfg, tmp_path / "sms", progress=False)
    model, tokenizer, meta = load_trained(run)
    assert meta.base_model == "minilm-l6" and meta.family == "bert" and meta.method == "lora"
    assert meta.labels == ["ham", "spam"] and meta.max_length == 64
    assert meta.data_fingerprint == sms_small.train.fingerprint()

    test = sms_small.test
    probs = probs_of(model, tokenizer, test.texts, 64)
    accuracy = float((probs.argmax(1) == test.y()).mean())
    majority = max(test.class_counts().values()) / len(test)
    assert accuracy > majority + 0.03, (accuracy, majority)

    again, tok2, _ = load_trained(run)
    np.testing.assert_allclose(probs_of(again, tok2, test.texts[:64], 64), probs[:64], atol=1e-5)
    val = json.loads((run / "metrics.json").read_text())["validation"]
    from classifine.inference.predictor import Classifier

    served = Classifier.load(run).predict_proba(sms_small.validation.texts)  # the hybrid, when it was kept
    assert float((served.argmax(1) == sms_small.validation.y()).mean()) == pytest.approx(val["accuracy"])


def test_smollm2_lora_few_steps_reloads_identically(sms_small: DatasetSplits, tmp_path: Path) -> None:
    torch.set_num_threads(2)
    small = DatasetSplits(
        sms_small.train.subset(range(48)), sms_small.validation.subset(range(16)), sms_small.test
    )
    cfg = config_from_dict(
        {
            "model": {
                "name": "smollm2-135m",
                "method": "lora",
                "max_length": 48,
                "hybrid": "off",
                "lora": {"merge": False},
            },
            "train": {"epochs": 1, "max_steps": 3, "batch_size": 8, "early_stopping": None},
        }
    )
    run = fit(small, cfg, tmp_path / "smol", progress=False)
    model, tokenizer, meta = load_trained(run)
    assert meta.family == "llama" and meta.adapter
    assert tokenizer.pad_token_id is not None and model.config.pad_token_id == tokenizer.pad_token_id
    texts = small.validation.texts
    probs = probs_of(model, tokenizer, texts, 48, batch=8)
    val = json.loads((run / "metrics.json").read_text())["validation"]
    assert float((probs.argmax(1) == small.validation.y()).mean()) == pytest.approx(val["accuracy"])
    again, tok2, _ = load_trained(run)
    np.testing.assert_allclose(probs_of(again, tok2, texts, 48, batch=4), probs, atol=1e-4)
