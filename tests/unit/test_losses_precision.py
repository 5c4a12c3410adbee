"""Losses, class weights, thresholds, precision detection, run naming and the training loop's edges."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from classifine.config import config_from_dict
from classifine.data.dataset import Dataset
from classifine.data.labels import LabelSet
from classifine.errors import ConfigError, ModelError
from classifine.evaluation.metrics import headline_from_decisions, headline_metrics
from classifine.models import zoo
from classifine.training import data as tdata
from classifine.training import precision
from classifine.training.fit import fit
from classifine.training.losses import class_weights, make_loss, resolve_loss
from classifine.training.runs import run_folder, work_dir_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fixtures_models import build_tiny_model, tiny_config, toy_multilabel_splits, toy_splits  # noqa: E402

torch = pytest.importorskip("torch")


def _ds(labels: list[tuple[str, ...]], names: tuple[str, ...], multi: bool = False) -> Dataset:
    return Dataset([f"t{i}" for i in range(len(labels))], labels, LabelSet(names, multi))


def test_auto_class_weights_are_inverse_frequency_with_mean_one() -> None:
    ds = _ds([("a",)] * 6 + [("b",)] * 2, ("a", "b"))
    w = class_weights(ds, "auto")
    assert w is not None
    np.testing.assert_allclose(w, [0.5, 1.5])
    assert w.mean() == pytest.approx(1.0)
    assert class_weights(ds, "none") is None
    np.testing.assert_allclose(class_weights(ds, {"b": 3.0}), [1.0, 3.0])


def test_explicit_weight_for_unknown_label_is_a_config_error() -> None:
    ds = _ds([("ham",), ("spam",)], ("ham", "spam"))
    with pytest.raises(ConfigError, match="spma.*did you mean 'spam'"):
        class_weights(ds, {"spma": 2.0})


def test_multilabel_auto_weights_are_neg_over_pos() -> None:
    ds = _ds([("x",), ("x", "y"), ("x",), ()], ("x", "y"), multi=True)
    np.testing.assert_allclose(class_weights(ds, "auto"), [1.0, 3.0])  # x: 1/3 clipped to 1; y: 3/1


def test_weighted_cross_entropy_matches_torch() -> None:
    logits = torch.tensor([[2.0, 0.0], [0.5, 1.5], [0.0, 0.1]])
    labels = torch.tensor([0, 1, 0])
    w = np.array([0.5, 1.5], dtype=np.float32)
    got = make_loss("cross_entropy", multi_label=False, weights=w)({"logits": logits}, labels)
    want = torch.nn.functional.cross_entropy(logits, labels, weight=torch.tensor(w))
    assert float(got) == pytest.approx(float(want), rel=1e-6)


def test_focal_loss_with_zero_gamma_is_cross_entropy_and_down_weights_easy_rows() -> None:
    logits = torch.tensor([[4.0, 0.0], [0.2, 0.0]])
    labels = torch.tensor([0, 0])
    ce = float(torch.nn.functional.cross_entropy(logits, labels))
    assert float(
        make_loss("focal", multi_label=False, weights=None, gamma=0.0)({"logits": logits}, labels)
    ) == (pytest.approx(ce, rel=1e-6))
    focal = float(make_loss("focal", multi_label=False, weights=None, gamma=2.0)({"logits": logits}, labels))
    assert focal < 0.5 * ce


def test_bce_uses_pos_weight_and_loss_auto_picks_by_problem() -> None:
    logits = torch.tensor([[0.0, 0.0]])
    target = torch.tensor([[1.0, 0.0]])
    plain = float(make_loss("bce", multi_label=True, weights=None)({"logits": logits}, target))
    assert plain == pytest.approx(np.log(2.0), rel=1e-5)
    weighted = float(
        make_loss("bce", multi_label=True, weights=np.array([3.0, 1.0]))({"logits": logits}, target)
    )
    assert weighted == pytest.approx(2 * np.log(2.0), rel=1e-5)  # mean of (3 log 2, log 2)
    assert resolve_loss("auto", multi_label=False) == "cross_entropy"
    assert resolve_loss("auto", multi_label=True) == "bce"
    with pytest.raises(ConfigError):
        resolve_loss("cross_entropy", multi_label=True)


def test_threshold_tuning_finds_the_separating_threshold() -> None:
    y = np.array([[1, 0], [1, 0], [0, 1], [0, 0]])
    p = np.array([[0.35, 0.9], [0.4, 0.1], [0.1, 0.8], [0.2, 0.2]])
    th = tdata.tune_thresholds(y, p, default=0.5, min_positives=1)
    assert 0.2 < th[0] <= 0.35  # every positive of label 0 sits at 0.35-0.4, negatives at <= 0.2
    assert 0.2 < th[1] <= 0.8
    assert tdata.tune_thresholds(np.zeros((2, 1)), np.array([[0.1], [0.9]]), 0.5) == [0.5]
    # Too few validation positives to fit a threshold: keep the default rather than overfit one example.
    assert tdata.tune_thresholds(y, p, default=0.5) == [0.5, 0.5]


def test_headline_metrics_single_and_multi() -> None:
    m = headline_metrics(np.array([0, 1, 1]), np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]), False)
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert m["macro_f1"] == pytest.approx(2 / 3)
    ml = headline_metrics(np.array([[1, 0], [0, 1]]), np.array([[0.7, 0.2], [0.1, 0.4]]), True, [0.5, 0.3])
    assert ml["accuracy"] == 1.0 and ml["micro_f1"] == 1.0
    abstained = headline_from_decisions(np.array([0, 1]), np.array([0, -1]), 2, False)
    assert abstained["accuracy"] == 0.5 and abstained["macro_f1"] == pytest.approx((1.0 + 0.0) / 2)


def test_precision_detection_follows_cpu_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2", "amx_bf16"}))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert precision.resolve_precision("auto") == "bf16"
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2"}))
    assert precision.resolve_precision("auto") == "fp32"
    assert precision.resolve_precision("bf16") == "bf16"  # explicit wins, with a warning
    assert precision.resolve_precision("fp32") == "fp32"


def test_apply_threads_sets_torch_threads() -> None:
    before = torch.get_num_threads()
    try:
        assert precision.apply_threads(1) == 1
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_zoo_presets_hub_ids_and_typos() -> None:
    assert zoo.resolve("distilbert-base-uncased").lora_targets == ("q_lin", "v_lin")
    assert zoo.resolve("google/flan-t5-base").family == "t5"
    assert zoo.resolve("meta-llama/Llama-3.2-1B").needs_pad_token
    assert zoo.resolve("mpnet-base", fetch=False).lora_targets == ("q", "k", "v", "o")
    with pytest.raises(ModelError, match="did you mean 'minilm-l6'"):
        zoo.resolve("minilm-l7")
    with pytest.raises(ModelError, match="not found"):
        zoo.resolve("./no/such/folder")
    names = [s.name for s in zoo.list_presets()]
    assert names[:4] == ["minilm-l6", "mpnet-base", "smollm2-135m", "gemma3-270m"]


def test_hub_id_offline_is_a_model_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    from classifine.models.build import build_for_training

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read at import: patch the value
    spec = zoo.resolve("distilbert-base-uncased")
    with pytest.raises(ModelError, match="hub.*local folder"):
        build_for_training(spec, LabelSet(("a", "b")), "full")


def test_qlora_on_cpu_says_what_to_do(tmp_path: Path) -> None:
    from classifine.models.build import build_for_training

    folder = build_tiny_model("bert", tmp_path / "bert")
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(ModelError, match="QLoRA needs a CUDA GPU.*model.method=lora"):
        build_for_training(zoo.resolve(str(folder)), LabelSet(("a", "b")), "qlora")


def test_run_folder_naming_and_resume_lookup(tmp_path: Path) -> None:
    cfg = config_from_dict({"data": {"source": "sms-spam"}, "output": {"dir": str(tmp_path)}})
    run = run_folder(cfg)
    assert run.parent == tmp_path and run.name.startswith("sms-spam-minilm-l6-auto-")
    work = work_dir_for(tmp_path / "sms-spam-minilm-l6-auto-20260101-000000")
    work.mkdir()
    assert run_folder(cfg, resume=True).name == "sms-spam-minilm-l6-auto-20260101-000000"
    named = config_from_dict({"output": {"dir": str(tmp_path), "name": "mine"}})
    assert run_folder(named) == tmp_path / "mine"


def test_existing_run_folder_needs_overwrite(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    cfg = config_from_dict({"output": {"overwrite": False}})
    with pytest.raises(ModelError, match="already exists.*overwrite"):
        fit(toy_splits(), cfg, tmp_path / "run", progress=False)


def test_multilabel_training_tunes_thresholds_and_honours_max_steps(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    folder = build_tiny_model("bert", tmp_path / "bert")
    cfg = tiny_config(folder, "full", epochs=50, max_steps=12, learning_rate=1e-2, class_weights="auto")
    run = fit(toy_multilabel_splits(), cfg, tmp_path / "run", progress=False)
    meta = json.loads((run / "model" / "classifine.json").read_text())
    assert meta["problem_type"] == "multi_label" and meta["labels"] == ["movie", "neg", "pos"]
    assert len(meta["thresholds"]) == 3 and all(0.05 <= t <= 0.95 for t in meta["thresholds"])
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["train"]["global_step"] == 12
    assert not work_dir_for(run).exists()


def test_unknown_early_stopping_metric_is_a_config_error(tmp_path: Path) -> None:
    folder = build_tiny_model("bert", tmp_path / "bert")
    cfg = tiny_config(folder, "full", early_stopping={"metric": "macro_f2"})
    with pytest.raises(ConfigError, match="did you mean 'macro_f1'"):
        fit(toy_splits(), cfg, tmp_path / "run", progress=False)


def test_same_seed_same_metrics(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    folder = build_tiny_model("distilbert", tmp_path / "m")
    runs = [
        fit(toy_splits(), tiny_config(folder, "full", epochs=2), tmp_path / f"r{i}", progress=False)
        for i in range(2)
    ]
    a, b = (json.loads((r / "metrics.json").read_text())["validation"] for r in runs)
    assert a == pytest.approx(b, abs=1e-6)
