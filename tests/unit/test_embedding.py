"""The embedding classifier module (fewshot / head runs): the maths, save/load without pickle, bad folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from classifine.errors import ModelError
from classifine.models.embedding import (
    HEAD_FILE,
    EmbeddingClassifier,
    load_embedding_classifier,
    mean_pool,
    save_embedding_classifier,
)
from fixtures_models import build_tiny_model

LABELS = ["neg", "pos", "other"]


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    return build_tiny_model("bert", tmp_path_factory.mktemp("emb") / "bert")


def _model(folder: Path, seed: int = 0) -> tuple[EmbeddingClassifier, object]:
    from transformers import AutoModel, AutoTokenizer

    rng = np.random.default_rng(seed)
    encoder = AutoModel.from_pretrained(folder)
    weight = rng.normal(size=(len(LABELS), encoder.config.hidden_size))
    return EmbeddingClassifier(encoder, weight, rng.normal(size=len(LABELS)), labels=LABELS).eval(), (
        AutoTokenizer.from_pretrained(folder)
    )


def test_mean_pool_ignores_padding() -> None:
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])  # (1, 3, 2); the last token is padding
    assert torch.allclose(mean_pool(hidden, torch.tensor([[1, 1, 0]])), torch.tensor([[2.0, 3.0]]))


def test_logits_are_the_head_of_unit_mean_embeddings_whatever_the_padding(tiny_bert: Path) -> None:
    model, tokenizer = _model(tiny_bert)
    texts = ["the movie was good", "bad"]
    enc = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**enc).logits  # (2, 3)
        hidden = model.encoder(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).float()
        pooled = (hidden * mask).sum(1) / mask.sum(1)
        expected = torch.nn.functional.normalize(pooled, dim=1) @ model.head.weight.T + model.head.bias
        alone = model(**tokenizer(["bad"], return_tensors="pt")).logits  # no padding at all
    assert logits.shape == (2, 3)
    assert torch.allclose(logits, expected, atol=1e-5)
    assert torch.allclose(logits[1], alone[0], atol=1e-5)
    assert torch.allclose(model.embed(**enc).norm(dim=1), torch.ones(2), atol=1e-5)
    assert model.config.num_labels == 3 and model.config.id2label[2] == "other"


def test_save_and_load_round_trip_without_pickle(tiny_bert: Path, tmp_path: Path) -> None:
    model, tokenizer = _model(tiny_bert, seed=1)
    save_embedding_classifier(model, tokenizer, tmp_path)
    files = {p.name for p in tmp_path.iterdir()}
    assert HEAD_FILE in files and "model.safetensors" in files and "config.json" in files
    assert not [f for f in files if f.endswith((".bin", ".pt", ".pkl", ".pickle"))]
    loaded = load_embedding_classifier(tmp_path, LABELS, {"pooling": "mean", "normalize": True})
    enc = tokenizer(["the plot was awful and boring", "good"], padding=True, return_tensors="pt")
    with torch.no_grad():
        assert torch.allclose(model(**enc).logits, loaded(**enc).logits, atol=1e-6)


def test_damaged_or_mismatched_folders_are_model_errors(tiny_bert: Path, tmp_path: Path) -> None:
    model, tokenizer = _model(tiny_bert)
    save_embedding_classifier(model, tokenizer, tmp_path)
    settings = {"pooling": "mean", "normalize": True}
    with pytest.raises(ModelError, match="2 labels but the head has 3 outputs"):
        load_embedding_classifier(tmp_path, LABELS[:2], settings)
    with pytest.raises(ModelError, match="unsupported embedding settings"):
        load_embedding_classifier(tmp_path, LABELS, {"pooling": "cls", "normalize": True})
    (tmp_path / HEAD_FILE).write_bytes(b"not safetensors")
    with pytest.raises(ModelError, match="cannot read the classification head"):
        load_embedding_classifier(tmp_path, LABELS, settings)
    with pytest.raises(ModelError, match="head of shape"):
        EmbeddingClassifier(model.encoder, np.zeros((3, 5)), np.zeros(3), labels=LABELS)


def test_artifact_meta_accepts_embedding_runs(tmp_path: Path) -> None:
    from classifine.artifact import ArtifactMeta, read_meta, write_meta

    meta = ArtifactMeta(
        labels=LABELS, problem_type="single_label", max_length=32, base_model="tiny", base_model_source="x",
        family="bert", method="fewshot", embedding={"pooling": "mean", "normalize": True, "head": HEAD_FILE},
    )  # fmt: skip
    write_meta(tmp_path, meta)
    assert read_meta(tmp_path).embedding == meta.embedding
    raw = json.loads((tmp_path / "classifine.json").read_text())
    assert raw["method"] == "fewshot" and raw["embedding"]["head"] == HEAD_FILE
