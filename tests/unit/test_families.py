"""One suite every model family must pass: training lowers the loss, save -> reload keeps predictions,
and the ONNX export (and int8) agrees with torch.

Families: BERT, DistilBERT, ALBERT, T5, Llama, Gemma3, each a tiny random model built from its config.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from classifine.artifact import ArtifactMeta, read_meta
from classifine.models.build import build_for_training, load_trained, save_trained
from classifine.models.zoo import resolve
from classifine.training.fit import fit
from classifine.training.plan import make_plan

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fixtures_models import FAMILIES, build_tiny_model, tiny_config, toy_splits  # noqa: E402

torch = pytest.importorskip("torch")

# ALBERT shares one layer's weights across depth and diverges at the larger rate.
LEARNING_RATE = {"albert": 3e-3}
LORA_HEAD = {
    "bert": "classifier",
    "distilbert": "classifier",
    "albert": "classifier",
    "t5": "classification_head",
    "llama": "score",
    "gemma3": "score",
}


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-models")
    return {family: build_tiny_model(family, root / family) for family in FAMILIES}


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def probs_of(model: Any, tokenizer: Any, texts: list[str]) -> np.ndarray:
    """Softmax probabilities, (N, C), for a padded batch."""
    batch = tokenizer(texts, padding=True, truncation=True, max_length=32, return_tensors="pt")
    with torch.no_grad():
        logits = model(**batch).logits  # (N, C)
    return torch.softmax(logits.float(), dim=-1).numpy()


def _meta(spec: Any, method: str) -> ArtifactMeta:
    return ArtifactMeta(
        labels=["neg", "pos"],
        problem_type="single_label",
        max_length=32,
        base_model=spec.name,
        base_model_source=spec.source,
        family=spec.family,
        method=method,
    )


@pytest.mark.parametrize("family", FAMILIES)
def test_resolve_reads_family_from_folder(tiny_models: dict[str, Path], family: str) -> None:
    spec = resolve(str(tiny_models[family]))
    assert spec.family == family
    assert spec.needs_pad_token == (family in ("llama", "gemma3"))
    # capped by max_position_embeddings; T5 has relative positions, so the encoder default applies
    assert spec.max_length == (256 if family == "t5" else 64)


@pytest.mark.parametrize("family", FAMILIES)
def test_full_finetune_lowers_loss_and_reloads(
    tiny_models: dict[str, Path], tmp_path: Path, family: str
) -> None:
    splits = toy_splits()
    cfg = tiny_config(tiny_models[family], "full", epochs=8, learning_rate=LEARNING_RATE.get(family, 1e-2))
    run = fit(splits, cfg, tmp_path / "run", progress=False)

    losses = [
        e["loss"] for e in map(json.loads, (run / "train_log.jsonl").read_text().splitlines()) if "loss" in e
    ]
    assert losses[-1] < losses[0] - 0.3, losses
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["validation"]["accuracy"] >= 0.75
    assert metrics["train"]["epochs"] == pytest.approx(8.0)

    model, tokenizer, meta = load_trained(run)
    assert meta.family == family and meta.method == "full" and not meta.adapter
    assert meta.labels == ["neg", "pos"] and meta.max_length == 32
    probs = probs_of(model, tokenizer, splits.validation.texts)
    accuracy = float((probs.argmax(1) == splits.validation.y()).mean())
    assert accuracy == pytest.approx(metrics["validation"]["accuracy"])
    assert list((run / "model").glob("*.safetensors")) and not list((run / "model").glob("*.bin"))


@pytest.mark.parametrize("family", FAMILIES)
def test_lora_merged_and_adapter_reload_identically(
    tiny_models: dict[str, Path], tmp_path: Path, family: str
) -> None:
    splits = toy_splits(n_train=8, n_eval=16)
    spec = resolve(str(tiny_models[family]))
    torch.manual_seed(0)
    cfg = tiny_config(tiny_models[family], "lora")
    model, tokenizer = build_for_training(spec, splits.label_set, "lora", make_plan(cfg, splits).lora)
    assert any(LORA_HEAD[family] in name for name in model.modules_to_save)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert any("lora_A" in n for n in trainable) and any(LORA_HEAD[family] in n for n in trainable)
    assert not any("embed" in n for n in trainable)
    with torch.no_grad():  # LoRA B starts at zero (a no-op): give it weight so merging matters
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.5)
    model.eval()
    texts = splits.validation.texts
    expected = probs_of(model, tokenizer, texts)

    save_trained(model, tokenizer, tmp_path / "adapter", _meta(spec, "lora"), merge=False)
    assert read_meta(tmp_path / "adapter").adapter
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
    adapter_model, adapter_tok, _ = load_trained(tmp_path / "adapter")
    np.testing.assert_allclose(probs_of(adapter_model, adapter_tok, texts), expected, atol=1e-5)

    save_trained(model, tokenizer, tmp_path / "merged", _meta(spec, "lora"), merge=True)
    assert not read_meta(tmp_path / "merged").adapter
    assert not (tmp_path / "merged" / "adapter_config.json").exists()
    merged_model, merged_tok, _ = load_trained(tmp_path / "merged")
    assert not any("lora" in n for n, _ in merged_model.named_parameters())
    np.testing.assert_allclose(probs_of(merged_model, merged_tok, texts), expected, atol=1e-5)


def test_lora_fit_keeps_adapter_and_matches_metrics(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    splits = toy_splits()
    cfg = tiny_config(tiny_models["llama"], "lora", epochs=6, learning_rate=1e-2)
    cfg.model.lora.merge = False
    run = fit(splits, cfg, tmp_path / "run", progress=False)
    model, tokenizer, meta = load_trained(run)
    assert meta.adapter and meta.method == "lora" and meta.family == "llama"
    assert tokenizer.pad_token_id is not None and tokenizer.padding_side == "right"
    probs = probs_of(model, tokenizer, splits.validation.texts)
    metrics = json.loads((run / "metrics.json").read_text())["validation"]
    assert float((probs.argmax(1) == splits.validation.y()).mean()) == pytest.approx(metrics["accuracy"])
    assert metrics["accuracy"] >= 0.75


@pytest.mark.parametrize("family", FAMILIES)
def test_export_onnx_parity_and_engines_agree(
    tiny_models: dict[str, Path], tmp_path: Path, family: str
) -> None:
    import onnx

    from classifine.export import export_run
    from classifine.inference.predictor import Classifier

    splits = toy_splits()
    # Llama is exported from a kept LoRA adapter: export merges it into plain weights first
    method = "lora" if family == "llama" else "full"
    cfg = tiny_config(tiny_models[family], method, epochs=8, learning_rate=LEARNING_RATE.get(family, 1e-2))
    cfg.model.lora.merge = False
    run = fit(splits, cfg, tmp_path / "run", progress=False)
    assert read_meta(run).adapter == (family == "llama")
    result = export_run(run, int8=True, data=splits.validation)
    graph = onnx.load(str(run / "model" / "model.onnx"))
    assert graph.graph.initializer and not any("lora" in t.name for t in graph.graph.initializer)

    fp32, int8 = result.records["onnx"], result.records["onnx-int8"]
    assert result.family == family and fp32.passed, fp32
    assert fp32.parity.texts == len(splits.validation) and fp32.parity.agreement == 1.0
    assert fp32.parity.max_abs_diff < 1e-4
    assert fp32.parity.accuracy == fp32.parity.torch_accuracy
    val_accuracy = json.loads((run / "metrics.json").read_text())["validation"]["accuracy"]
    assert fp32.parity.torch_accuracy == pytest.approx(val_accuracy)
    # int8 is checked and recorded for every family; on these 32 texts it agrees on all labels
    assert int8.parity.texts == fp32.parity.texts and int8.passed and int8.parity.agreement == 1.0
    assert int8.size_bytes < fp32.size_bytes

    texts = splits.test.texts
    by_engine = {e: Classifier.load(run, engine=e) for e in ("torch", "onnx")}
    torch_preds = by_engine["torch"].predict(texts)
    onnx_preds = by_engine["onnx"].predict(texts)
    assert [p.label for p in onnx_preds] == [p.label for p in torch_preds]
    for a, b in zip(onnx_preds, torch_preds, strict=True):
        assert a.scores == pytest.approx(b.scores, abs=1e-4)
    few = ["", "good", *texts[:3]]  # one-token sequences: no axis was specialised to the tracing shape
    one_by_one = Classifier.load(run, engine="onnx", batch_size=1).predict_proba(few)
    np.testing.assert_allclose(one_by_one, by_engine["torch"].predict_proba(few), atol=1e-4)
