"""A run's ``model/`` folder loads unchanged in ``transformers.pipeline("text-classification")``.

Two runs, as other tools would receive them: a LoRA run of the packaged MiniLM (adapters merged into
plain weights) and a multi-label run of a tiny BERT built from its config. Each folder is handed to
the Hugging Face pipeline as is; its label names and probabilities must match classifine's own
predictions (the transformer alone: these runs use no TF-IDF mixing, which other tools cannot see).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fixtures_models import build_tiny_model, toy_multilabel_splits, toy_splits

# fp32 training and inference: a bf16 run is served by classifine with bf16 autocast (as trained),
# while other servers run it in fp32, which moves probabilities by up to ~1e-3.
FP32 = {"model.hybrid": "off", "train.early_stopping": None, "train.precision": "fp32"}
TEXTS = ["a great and happy film", "the plot was awful and boring", "the movie cast was fine"]


def _pipeline_scores(folder: Path, labels: list[str]) -> np.ndarray:
    from transformers import pipeline

    clf = pipeline("text-classification", model=str(folder), device="cpu")
    rows = clf(TEXTS, top_k=None)
    return np.array(
        [[next(s["score"] for s in row if s["label"] == name) for name in labels] for row in rows]
    )


@pytest.mark.integration
def test_lora_run_of_minilm_loads_in_transformers_pipeline(tmp_path: Path) -> None:
    from classifine.api import train
    from classifine.inference.predictor import Classifier

    splits = toy_splits(64, 16)
    frame = pd.DataFrame({"text": splits["train"].texts, "label": [y[0] for y in splits["train"].labels]})
    result = train(
        frame, model="minilm-l6", method="lora", max_length=32, epochs=1, batch_size=16,
        output_dir=tmp_path, name="lora", evaluate=False, progress=False,
        overrides=FP32,
    )  # fmt: skip
    folder = result.run_dir / "model"
    config = json.loads((folder / "config.json").read_text())
    meta = json.loads((folder / "classifine.json").read_text())
    assert meta["method"] == "lora" and not meta["adapter"]  # merged: a plain BertForSequenceClassification
    assert not (folder / "adapter_config.json").exists()
    assert config["architectures"] == ["BertForSequenceClassification"]
    labels = [config["id2label"][str(i)] for i in range(len(config["id2label"]))]
    assert labels == ["neg", "pos"]

    ours = Classifier.load(result.run_dir, engine="torch").predict_proba(TEXTS)
    theirs = _pipeline_scores(folder, labels)
    assert np.abs(ours - theirs).max() < 1e-4
    assert np.allclose(theirs.sum(axis=1), 1.0, atol=1e-5)  # softmax over the labels


def test_multilabel_run_loads_in_transformers_pipeline(tmp_path: Path) -> None:
    from classifine.api import train
    from classifine.inference.predictor import Classifier

    model = build_tiny_model("bert", tmp_path / "tiny-bert")
    splits = toy_multilabel_splits(96, 24)
    frame, val = (
        pd.DataFrame({"text": splits[s].texts, "labels": ["|".join(y) for y in splits[s].labels]})
        for s in ("train", "validation")
    )
    result = train(
        frame, validation=val, test=val, text="text", label="labels", multi_label=True, model=str(model),
        method="full", max_length=32, epochs=12, batch_size=16, learning_rate=3e-3, output_dir=tmp_path,
        name="ml", evaluate=False, progress=False, overrides=FP32,
    )  # fmt: skip
    folder = result.run_dir / "model"
    config = json.loads((folder / "config.json").read_text())
    assert config["problem_type"] == "multi_label_classification"
    labels = [config["id2label"][str(i)] for i in range(len(config["id2label"]))]
    assert labels == ["movie", "neg", "pos"]

    ours = Classifier.load(result.run_dir, engine="torch").predict_proba(TEXTS)
    theirs = _pipeline_scores(folder, labels)
    assert np.abs(ours - theirs).max() < 1e-4
    assert not np.allclose(theirs.sum(axis=1), 1.0, atol=1e-2)  # independent sigmoids, not a softmax
    assert theirs[0, labels.index("pos")] > 0.5 and theirs[1, labels.index("neg")] > 0.5
