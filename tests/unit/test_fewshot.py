"""The small-data decisions (method, steps, what validation may choose), the head, and tiny few-shot runs."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from classifine.config import config_from_dict
from classifine.data.dataset import DatasetSplits
from classifine.errors import ConfigError
from classifine.evaluation.baseline_check import describe_cross_validated
from classifine.models.zoo import resolve
from classifine.training.head import cross_validated_c, fit_head, head_probabilities
from classifine.training.hybrid import (
    FIXED_WEIGHT,
    baseline_check,
    baseline_warning,
    cross_validated_check,
    decide,
)
from classifine.training.plan import make_plan, with_step_floor
from classifine.training.schedule import MIN_STEPS, choose_method, select_on_validation, small_data_steps
from fixtures_models import build_tiny_model, toy_multilabel_splits, toy_splits


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("fewshot")
    return {f: build_tiny_model(f, root / f) for f in ("bert", "llama")}


def _k_splits(k: int, n_val: int = 8) -> DatasetSplits:
    """k rows per class of the toy task, n_val validation rows."""
    splits = toy_splits(n_train=2 * k, n_eval=max(n_val, 2))
    return DatasetSplits(splits.train, splits.validation.subset(range(n_val)), splits.test)


def _cfg(path: Path, **sections: dict) -> object:
    raw: dict = {"model": {"name": str(path), "max_length": 32}, "train": {"threads": 1, "precision": "fp32"}}
    for key, value in sections.items():
        raw.setdefault(key, {}).update(value)
    return config_from_dict(raw)


def test_auto_method_goes_by_rows_per_class_and_family(tiny: dict[str, Path]) -> None:
    bert, llama = resolve(str(tiny["bert"])), resolve(str(tiny["llama"]))
    small, large = _k_splits(8), _k_splits(100)
    assert choose_method(_cfg(tiny["bert"]), bert, small)[0] == "fewshot"
    method, why = choose_method(_cfg(tiny["bert"]), bert, large)
    assert method == "lora" and "100 labelled rows per class (median) > 64" in why
    assert choose_method(_cfg(tiny["llama"]), llama, small)[0] == "lora"
    capped = _cfg(tiny["bert"], model={"fewshot": {"max_per_class": 4}})
    assert choose_method(capped, bert, small)[0] == "lora"
    with pytest.raises(ConfigError, match="model.method=fewshot needs an encoder model"):
        choose_method(_cfg(tiny["llama"], model={"method": "fewshot"}), llama, small)


def test_small_data_counts_steps_and_validation_only_reports() -> None:
    cfg = config_from_dict({"train": {"batch_size": 16}})  # the default 3 epochs
    steps, warmup, note = small_data_steps(cfg, 48)
    assert steps == MIN_STEPS and warmup >= 0.1 and "9 steps" in note
    assert small_data_steps(cfg, 5000)[0] is None  # enough steps: epochs as configured
    assert small_data_steps(config_from_dict({"train": {"max_steps": 7}}), 48)[0] == 7
    assert small_data_steps(config_from_dict({"train": {"epochs": 3}}), 48)[0] is None  # asked for: kept
    assert select_on_validation(cfg, _k_splits(8, n_val=6)) == (
        False, "fixed schedule: 6 validation texts (< 100) are reported on, not used to choose",
    )  # fmt: skip
    assert select_on_validation(cfg, _k_splits(8, n_val=120))[0]
    forced = config_from_dict({"train": {"selection": "validation"}})
    assert select_on_validation(forced, _k_splits(8, n_val=6))[0]


def test_fewshot_plan_resolves_every_auto(tiny: dict[str, Path]) -> None:
    splits = _k_splits(8)
    plan = make_plan(_cfg(tiny["bert"]), splits)
    assert plan.method == "fewshot" and plan.fewshot is not None
    assert plan.fewshot.steps == plan.max_steps == 200  # SetFit's pairs of 16 rows: 2 x 64 / 16, floor 200
    assert plan.fewshot.loss == "cosine" and plan.learning_rate == 2e-5
    assert not plan.selection.on_validation and plan.selection.patience is None
    flat = yaml.safe_dump(plan.config.model_dump(mode="json"))
    resolved = plan.config
    assert resolved.model.method == "fewshot" and resolved.train.selection == "fixed"
    assert resolved.train.max_steps == 200 and "auto" not in {resolved.model.long_text, resolved.train.loss}
    assert "method: auto" not in flat
    # 8 validation texts choose nothing: the encoder trains on them too (24 rows); passes are over those
    assert plan.fewshot.rows == resolved.model.fewshot.encoder_rows == "all"
    assert "all 24 labelled" in plan.schedule
    assert resolved.model.fewshot.passes == round(200 * 16 / 24, 3)
    held = make_plan(_cfg(tiny["bert"], model={"fewshot": {"encoder_rows": "train"}}), splits)
    assert held.fewshot is not None and held.fewshot.rows == "train"
    assert held.config.model.fewshot.passes == 200 * 16 / 16  # over the 16 training rows
    large_val = make_plan(_cfg(tiny["bert"]), _k_splits(8, n_val=120))  # enough to choose on: held out
    assert large_val.fewshot is not None and large_val.fewshot.rows == "train"
    lora = make_plan(_cfg(tiny["bert"], model={"method": "lora"}), splits)
    assert lora.max_steps == MIN_STEPS and lora.fewshot is None and "raised to 100" in lora.schedule


def test_head_is_logistic_regression_as_a_linear_layer() -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 5))
    y = (x[:, 0] > 0).astype(int)
    weight, bias = fit_head(x, y, multi_label=False, n_labels=2, c=3.0)
    lr = LogisticRegression(C=3.0, max_iter=2000, random_state=42).fit(x, y)
    probs = head_probabilities(x, np.arange(40), 40, weight, bias, multi_label=False)
    np.testing.assert_allclose(probs, lr.predict_proba(x), atol=1e-6)
    # three labels, one never seen in training: it never wins
    w3, b3 = fit_head(x, y, multi_label=False, n_labels=3, c=1.0)
    assert (head_probabilities(x, np.arange(40), 40, w3, b3, False).argmax(1) != 2).all()
    # multi-label: one regression per label; a label never present is a constant "no"
    ym = np.stack([y, 1 - y, np.zeros(40, dtype=int)], axis=1)
    wm, bm = fit_head(x, ym, multi_label=True, n_labels=3, c=1.0)
    pm = head_probabilities(x, np.arange(40), 40, wm, bm, multi_label=True)
    assert pm[:, 2].max() < 0.01 and ((pm[:, 0] > 0.5) == y.astype(bool)).mean() > 0.9


def test_cross_validated_c_prefers_what_generalises() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 20))
    y = (x[:, 0] + 0.3 * rng.normal(size=60) > 0).astype(int)
    c, scores = cross_validated_c(x, np.arange(60), y, multi_label=False, grid=(1e-4, 1.0, 100.0))
    assert c in (1.0, 100.0) and scores["0.0001"] < scores[str(c)]
    assert cross_validated_c(x[:3], np.arange(3), np.array([0, 1, 1]), multi_label=False, grid=(1.0,)) == (
        1.0,
        {},
    )


def test_hybrid_on_a_small_validation_split_is_fixed_but_scored() -> None:
    y = np.array([0, 1, 1, 0])
    model = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3]])
    tfidf = np.array([[0.8, 0.2], [0.3, 0.7], [0.1, 0.9], [0.6, 0.4]])
    chosen = decide("auto", y, model, tfidf, multi_label=False, metric="accuracy")
    fixed = decide("auto", y, model, tfidf, multi_label=False, metric="accuracy", choose=False)
    forced = decide("on", y, model, tfidf, multi_label=False, metric="accuracy", choose=False)
    assert chosen.kept and not fixed.kept and forced.weight == FIXED_WEIGHT
    assert fixed.scores["transformer"] == 0.75 and fixed.scores["tfidf"] == 1.0
    check = baseline_check(fixed, 4)
    assert check is not None and check["worse"] and check["served"] == 0.75
    warning = baseline_warning(check)
    assert warning is not None and "worse than the TF-IDF baseline" in warning and "only 4 texts" in warning
    assert baseline_warning(baseline_check(chosen, 4)) is None
    off = decide("off", y, model, tfidf, multi_label=False, metric="accuracy")
    assert off.weight == 0 and off.scores["tfidf"] == 1.0  # scored even when the mix is off


def test_a_cross_validated_check_never_calls_the_unscored_model_worse() -> None:
    # The encoder trained on every row: only its starting point (the frozen head) is scored out-of-fold.
    below = cross_validated_check("macro_f1", 0.48, 0.57, 48, 5)
    assert below["worse"] is None and below["starting_point_worse"] is True
    warning = baseline_warning(below)
    assert warning is not None and warning.startswith("the served model could not be checked against TF-IDF")
    assert "macro_f1 0.4800 vs TF-IDF 0.5700" in warning and "5-fold" in warning and "WORSE" not in warning
    above = cross_validated_check("macro_f1", 0.62, 0.44, 48, 5)
    assert above["worse"] is None and above["starting_point_worse"] is False
    assert baseline_warning(above) is None
    notes = describe_cross_validated(above)
    assert notes is not None and "frozen encoder + head macro_f1 0.6200 vs TF-IDF 0.4400" in notes


@pytest.mark.parametrize("written", ["now", "before starting_point_worse"])
def test_the_report_never_calls_an_unscored_few_shot_model_worse(tmp_path: Path, written: str) -> None:
    from classifine.evaluation.evaluate import training_notes

    check = cross_validated_check("macro_f1", 0.48, 0.57, 48, 5)
    if written != "now":  # runs written before recorded the starting point's comparison as "worse"
        check = {k: v for k, v in check.items() if k != "starting_point_worse"} | {"worse": True}
    (tmp_path / "metrics.json").write_text(json.dumps({"baseline_check": check}))
    (note,) = training_notes(tmp_path)
    assert note.startswith("the served model could not be checked against TF-IDF") and "WORSE" not in note


def _fit(splits: DatasetSplits, cfg: object, run: Path) -> dict:
    from classifine.training.fit import fit

    fit(splits, cfg, run, progress=False)
    return json.loads((run / "metrics.json").read_text())


def _count_base_model_loads(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count the calls that load a base model from disk (as a sentence encoder, or a plain encoder)."""
    from classifine.models import build
    from classifine.training import contrastive

    counts = {"sentence_encoder": 0, "load_encoder": 0}
    for module, name in ((contrastive, "sentence_encoder"), (build, "load_encoder")):
        original = getattr(module, name)

        def counted(*args: object, _name: str = name, _original: object = original) -> object:
            counts[_name] += 1
            return _original(*args)  # type: ignore[operator]

        monkeypatch.setattr(module, name, counted)
    return counts


@pytest.mark.parametrize(
    ("method", "loss"),
    [("fewshot", "cosine"), ("fewshot", "cosent"), ("fewshot", "batch_all"), ("head", "none")],
)
def test_tiny_embedding_runs_are_ordinary_artifacts(
    tiny: dict[str, Path], tmp_path: Path, method: str, loss: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from classifine.inference.predictor import Classifier

    splits = toy_splits(n_train=48, n_eval=24)
    # batch_all also covers the held-out encoder (encoder_rows: train); cosine trains on every row
    rows = "train" if loss == "batch_all" else "auto"
    model = {"method": method, "hybrid": "auto"} | (
        {"fewshot": {"loss": loss, "encoder_rows": rows}} if method == "fewshot" else {}
    )
    cfg = _cfg(tiny["bert"], model=model, train={"learning_rate": 1e-3})
    loads = _count_base_model_loads(monkeypatch)
    metrics = _fit(splits, cfg, tmp_path / method)
    if method == "fewshot":  # one load of the base model, also for the cross-validated check (cosine)
        assert loads == {"sentence_encoder": 1, "load_encoder": 0}
    assert metrics["fewshot"]["contrastive_loss"].split(" ")[0] == loss
    first = metrics["fewshot"]["first_loss"]
    if loss == "cosine":  # the loss actually used, not only its name: a squared error of cosines vs 0/1
        assert first < 1.0
    elif loss == "cosent":  # log(1 + sum over (negative, positive) pairs): ~log(65) before training
        assert first > 2.0
    meta = json.loads((tmp_path / method / "model" / "classifine.json").read_text())
    assert meta["method"] == method and meta["embedding"]["pooling"] == "mean"
    assert meta["hybrid_weight"] == 0.0  # 24 validation texts: the hybrid is not chosen on them
    fs = metrics["fewshot"]
    assert fs["head_fit_on"] == "train+validation"
    check = metrics["baseline_check"]
    # pairs: 24 validation texts choose nothing, so they are trained on and the check is cross-validated
    if loss in ("cosine", "cosent"):
        assert fs["encoder_trained_on"] == "train+validation" and metrics["validation"] == {}
        assert check["estimate"] == "cross-validation" and check["validation_texts"] == 72
        assert check["folds"] == 5 and 0 <= check["served"] <= 1 and check["tfidf"] > 0.6  # the task is easy
    else:
        assert fs["encoder_trained_on"] == "train" and check["validation_texts"] == 24
        assert "estimate" not in check and metrics["validation"]["accuracy"] >= 0
    assert (fs["contrastive_steps"] > 0) == (method == "fewshot")
    if method == "head":
        assert fs["head_c_cross_validation"]  # C chosen by cross-validation on the training rows
    resolved = yaml.safe_load((tmp_path / method / "config.yaml").read_text())
    assert resolved["model"]["method"] == method and resolved["model"]["fewshot"]["head_c"] == fs["head_c"]
    clf = Classifier.load(tmp_path / method)
    probs = clf.predict_proba(splits.test.texts)
    assert probs.shape == (24, 2) and np.allclose(probs.sum(1), 1.0)
    assert (probs.argmax(1) == splits.test.y()).mean() >= 0.6  # random tiny encoder, but the task is easy


@pytest.mark.parametrize("freeze", [True, False])
def test_contrastive_training_keeps_the_embedding_layer_as_pretrained_by_default(
    tiny: dict[str, Path], tmp_path: Path, freeze: bool
) -> None:
    from classifine.models.build import load_encoder

    splits = toy_splits(n_train=24, n_eval=8)
    # the run that trains every weight also samples SetFit's pairs (model.fewshot.pairs: cover)
    fewshot = {"loss": "cosine"} | ({} if freeze else {"freeze_embeddings": False, "pairs": "cover"})
    cfg = _cfg(tiny["bert"], model={"method": "fewshot", "fewshot": fewshot}, train={"learning_rate": 1e-3})
    metrics = _fit(splits, cfg, tmp_path / "run")
    base = load_encoder(str(tiny["bert"])).state_dict()
    tuned = load_encoder(str(tmp_path / "run" / "model")).state_dict()
    moved = {name: not torch.equal(w, tuned[name]) for name, w in base.items() if w.is_floating_point()}
    embedding = [name for name in moved if "embeddings." in name]
    assert embedding and any(moved[name] for name in moved if ".layer." in name)  # the layers trained
    embedding_moved = any(moved[name] for name in embedding)
    frozen = metrics["fewshot"]["frozen_embedding_weights"]
    if freeze:
        assert not embedding_moved and frozen == sum(base[name].numel() for name in embedding)
    else:
        assert embedding_moved and frozen == 0
    resolved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert resolved["model"]["fewshot"]["freeze_embeddings"] is freeze
    pairs = "draw" if freeze else "cover"
    assert resolved["model"]["fewshot"]["pairs"] == metrics["fewshot"]["contrastive_pairs"] == pairs


def test_tiny_multilabel_fewshot_uses_pairs_and_sigmoid(tiny: dict[str, Path], tmp_path: Path) -> None:
    from classifine.inference.predictor import Classifier

    splits = toy_multilabel_splits(n_train=48, n_eval=16)
    model = {"method": "fewshot", "fewshot": {"loss": "batch_all"}, "hybrid": "on"}
    cfg = _cfg(tiny["bert"], model=model, train={"learning_rate": 1e-3})
    metrics = _fit(splits, cfg, tmp_path / "ml")
    assert metrics["fewshot"]["contrastive_loss"] == "cosine"  # triplets need single labels: pairs
    assert metrics["fewshot"]["contrastive_pairs"] == "draw"
    assert metrics["thresholds"] == [0.5, 0.5, 0.5]  # 16 validation texts do not tune thresholds
    # trained on every row (16 validation texts choose nothing): "on" serves the fixed share of TF-IDF
    assert metrics["fewshot"]["encoder_trained_on"] == "train+validation"
    assert metrics["hybrid"]["weight"] == FIXED_WEIGHT and metrics["hybrid"]["setting"] == "on"
    meta = json.loads((tmp_path / "ml" / "model" / "classifine.json").read_text())
    assert meta["hybrid_weight"] == FIXED_WEIGHT
    clf = Classifier.load(tmp_path / "ml")
    probs = clf.predict_proba(splits.test.texts)
    assert probs.shape == (16, 3) and not np.allclose(probs.sum(1), 1.0)
    assert isinstance(clf.predict(["the movie was good"])[0].label, list)


def test_small_fine_tuning_run_trains_the_step_floor_without_choosing(
    tiny: dict[str, Path], tmp_path: Path
) -> None:
    splits = _k_splits(8, n_val=8)
    cfg = _cfg(tiny["bert"], model={"method": "full"}, train={"learning_rate": 1e-3})  # default 3 epochs
    metrics = _fit(splits, cfg, tmp_path / "full")
    assert metrics["train"]["global_step"] == MIN_STEPS and metrics["best_checkpoint"] is None
    # validation is evaluated and reported as training goes; 8 texts choose nothing: the last step is served
    assert metrics["history"] and metrics["history"][-1]["step"] == MIN_STEPS
    assert metrics["baseline_check"]["validation_texts"] == 8
    assert "fixed schedule" in metrics["train"]["selection"]


def test_step_floor_is_redecided_on_the_encoded_split_and_never_shortens_a_run(tiny: dict[str, Path]) -> None:
    lora = make_plan(_cfg(tiny["bert"], model={"method": "lora"}), _k_splits(8))
    assert lora.max_steps == MIN_STEPS  # estimated from 16 rows
    long_texts = with_step_floor(lora, 2000, lambda: pytest.fail("rows alone settle it"))  # many windows
    assert long_texts.max_steps is None and long_texts.config.train.max_steps is None
    assert long_texts.warmup_ratio == long_texts.config.train.warmup_ratio == lora.requested_steps[1]
    few = with_step_floor(lora, 16, lambda: 1)
    assert few.max_steps == few.config.train.max_steps == MIN_STEPS and "raised to 100" in few.schedule
    fixed = make_plan(_cfg(tiny["bert"], model={"method": "lora"}, train={"max_steps": 7}), _k_splits(8))
    assert with_step_floor(fixed, 16, lambda: 1).max_steps == 7


def test_auto_gives_fine_tuning_up_for_the_head_when_the_budget_fits_too_little(
    tiny: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    fit_module = importlib.import_module("classifine.training.fit")  # the package exports fit()
    # The rule (fine-tune only if the budget covers FINE_TUNE_MIN_EPOCHS) with a threshold no
    # budget meets, so the tiny run takes the fallback path deterministically.
    monkeypatch.setattr(fit_module, "FINE_TUNE_MIN_EPOCHS", 1e6)
    splits = _k_splits(100, n_val=16)
    model = {"fewshot": {"max_per_class": 4}, "hybrid": "auto"}
    cfg = _cfg(tiny["bert"], model=model, train={"max_train_minutes": 0.2, "epochs": 1000})
    metrics = _fit(splits, cfg, tmp_path / "run")  # the budget, not the epochs, would end it
    train = metrics["train"]
    assert train["method"] == "head" and train["method_reason"].startswith("auto: the time budget fits ")
    assert "of an epoch of fine-tuning" in train["method_reason"]
    meta = json.loads((tmp_path / "run" / "model" / "classifine.json").read_text())
    assert meta["method"] == "head" and meta["embedding"]["head"] == "head.safetensors"
    assert not list(tmp_path.glob(".*.work"))  # no checkpoints left over
    resolved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert resolved["model"]["method"] == "head"
    # A fine-tuning method set in the config is never given up (a short budget ends it instead).
    short = {"max_train_minutes": 0.1, "epochs": 1000}
    lora = _cfg(tiny["bert"], model={**model, "method": "lora"}, train=short)
    assert _fit(splits, lora, tmp_path / "lora")["train"]["method"] == "lora"


def test_auto_contrastive_steps_follow_setfits_pair_count() -> None:
    from classifine.training.schedule import fewshot_settings, pair_counts

    cfg = config_from_dict({})
    small, larger = _k_splits(8).train, _k_splits(40).train
    assert pair_counts(small) == (2 * 28, 64)  # two classes of 8: 28 pairs within each, 8 x 8 across
    assert fewshot_settings(cfg, "fewshot", small).steps == 200  # 2 x 64 pairs / 16: the floor
    assert fewshot_settings(cfg, "fewshot", larger).steps == 2 * 40 * 40 // 16  # grows with rows squared
    capped = config_from_dict({"model": {"fewshot": {"max_steps": 150, "min_steps": 10}}})
    assert fewshot_settings(capped, "fewshot", larger).steps == 150
    passes = config_from_dict({"model": {"fewshot": {"passes": 4, "min_steps": 1}}})
    assert fewshot_settings(passes, "fewshot", larger).steps == 4 * 80 // 16
    assert fewshot_settings(config_from_dict({"train": {"max_steps": 7}}), "fewshot", larger).steps == 7
    multi = toy_multilabel_splits().train
    positive, negative = pair_counts(multi)
    sets = [set(row) for row in multi.labels]
    shared = sum(bool(a & b) for i, a in enumerate(sets) for b in sets[i + 1 :])
    assert (positive, positive + negative) == (shared, len(multi) * (len(multi) - 1) // 2)


def test_covering_pairs_read_every_pair_before_any_twice() -> None:
    from classifine.training.contrastive import covering_pairs

    y = np.repeat(np.arange(6), 16)  # trec-6 at K = 16: SetFit's 816 positive and 3,840 negative pairs
    texts = [f"t{i}" for i in range(96)]
    pairs = covering_pairs(texts, y, 7680, multi_label=False, seed=3)
    index = {t: i for i, t in enumerate(texts)}
    got = Counter((index[a], index[b], lab) for a, b, lab in zip(*pairs.values(), strict=True))
    assert pairs["label"][:4] == [1.0, 0.0, 1.0, 0.0] and sum(pairs["label"]) == 3840
    assert all((y[i] == y[j]) == (lab == 1.0) and i <= j for i, j, lab in got)
    negative = [c for (*_, lab), c in got.items() if lab == 0.0]
    positive = [c for (*_, lab), c in got.items() if lab == 1.0]
    assert len(negative) == 3840 and set(negative) == {1}  # every negative pair exactly once
    assert len(positive) == 6 * 16 * 17 // 2 and set(positive) == {4, 5}  # self-pairs too, evenly
    assert covering_pairs(texts, y, 7680, multi_label=False, seed=4) != pairs  # the order is seeded
    # multi-label: sharing a label is positive; a text with no label still pairs with itself
    multi = np.array([[1, 0], [1, 1], [0, 1], [0, 0]])
    m = covering_pairs(["a", "b", "c", "d"], multi, 40, multi_label=True, seed=1)
    shared = {("a", "b"), ("b", "c"), ("a", "a"), ("b", "b"), ("c", "c"), ("d", "d")}
    assert all(((a, b) in shared) == (lab == 1.0) for a, b, lab in zip(*m.values(), strict=True))
    assert covering_pairs(["a", "b"], np.array([0, 0]), 4, multi_label=False, seed=0)["label"] == [1.0] * 4


def test_auto_pairs_cover_three_classes_or_more_and_draw_otherwise() -> None:
    from classifine.data.dataset import Dataset, LabelSet
    from classifine.training.schedule import MAX_COVERED_PAIRS, fewshot_pairs, fewshot_settings

    names = LabelSet(("a", "b", "c"))
    three = Dataset([f"t{i}" for i in range(12)], [(names.names[i % 3],) for i in range(12)], names)
    two = Dataset([t for t, (y,) in three if y != "c"], [row for row in three.labels if row != ("c",)], names)
    got = [fewshot_pairs("auto", ds) for ds in (three, two, toy_multilabel_splits().train)]
    assert got == ["cover", "draw", "draw"]  # a declared label with no rows is not a class to pair
    assert [fewshot_pairs(wanted, two) for wanted in ("cover", "draw")] == ["cover", "draw"]  # as set
    fewshot = fewshot_settings(config_from_dict({}), "fewshot", three)
    assert fewshot is not None and fewshot.pairs == "cover"  # the plan carries the decision
    # more pairs than a run reads: drawn instead (hardly any would repeat), and the plan says so
    n = next(n for n in range(2, 10_000) if n * (n + 1) // 2 > MAX_COVERED_PAIRS)
    size = [
        Dataset([f"t{i}" for i in range(m)], [(names.names[i % 3],) for i in range(m)], names)
        for m in (n - 1, n)
    ]
    assert [fewshot_pairs(wanted, ds) for wanted in ("cover", "auto") for ds in size] == ["cover", "draw"] * 2


def test_balanced_pairs_alternate_true_positives_and_negatives() -> None:
    from classifine.training.contrastive import balanced_pairs

    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, size=30)
    texts = [f"t{i}" for i in range(30)]
    pairs = balanced_pairs(texts, y, 120, multi_label=False, seed=0)
    index = {t: i for i, t in enumerate(texts)}
    got = [(index[a], index[b], lab) for a, b, lab in zip(*pairs.values(), strict=True)]
    assert len(got) == 120 and [lab for *_, lab in got] == [1.0, 0.0] * 60
    assert all(i != j and (y[i] == y[j]) == (lab == 1.0) for i, j, lab in got)
    assert {i for i, _, _ in got} == set(range(30))  # every row anchors
    # ... as many positive as negative pairs each (not one kind per row: with an even number of rows,
    # anchoring rows in turn while the kinds alternated gave each row a single kind)
    anchored = Counter((i, lab) for i, _, lab in got)
    assert all(anchored[(i, 1.0)] == anchored[(i, 0.0)] == 2 for i in range(30))
    multi = np.array([[1, 0], [1, 1], [0, 1], [0, 1]])
    m = balanced_pairs(["a", "b", "c", "d"], multi, 40, multi_label=True, seed=1)
    shared = {("a", "b"), ("b", "a"), ("b", "c"), ("c", "b"), ("b", "d"), ("d", "b"), ("c", "d"), ("d", "c")}
    assert all(((a, b) in shared) == (lab == 1.0) for a, b, lab in zip(*m.values(), strict=True))
    # a row with no partner of the other kind anchors its own kind instead
    lone = balanced_pairs(["a", "b"], np.array([0, 0]), 4, multi_label=False, seed=0)
    assert lone["label"] == [1.0] * 4


def test_name_pairs_anchor_every_text_on_its_name_and_another_class_name() -> None:
    from classifine.training.contrastive import name_pairs

    y = np.array([i % 3 for i in range(12)] + [0, 1, 2])  # 12 texts, then the three class names
    texts = [f"t{i}" for i in range(12)] + ["sport", "world", "tech"]
    pairs = name_pairs(texts, y, 3, 48, seed=0)
    index = {t: i for i, t in enumerate(texts)}
    got = [(index[a], index[b], lab) for a, b, lab in zip(*pairs.values(), strict=True)]
    assert [lab for *_, lab in got] == [1.0, 0.0] * 24
    assert all(i < 12 and j >= 12 for i, j, _ in got)  # a labelled text against a name, never name-name
    assert all((y[j] == y[i]) == (lab == 1.0) for i, j, lab in got)  # its own name, or another class's
    assert Counter(i for i, _, _ in got) == {i: 4 for i in range(12)}  # every text in turn, twice a pass
    assert {j for i, j, lab in got if lab == 0.0 and y[i] == 0} == {13, 14}  # the other names are drawn
    assert name_pairs(texts, y, 3, 48, seed=1) != pairs  # the order is seeded


def test_name_agreement_is_cohens_kappa_with_its_z_against_chance() -> None:
    from classifine.training.names_as_texts import kappa_and_z

    y = np.array([0] * 8 + [1] * 8)
    assert kappa_and_z(y, y, 2) == (1.0, 4.0)  # chance agreement 0.5, standard error sqrt(0.5 / 8) = 0.25
    kappa, z = kappa_and_z(y, np.array([0, 0, 0, 0, 0, 0, 1, 1] + [1, 1, 1, 1, 1, 1, 1, 0]), 2)  # 13 of 16
    assert (round(kappa, 3), round(z, 3)) == (0.625, 2.5)
    assert kappa_and_z(y, np.zeros(16, dtype=int), 2)[0] == 0.0  # one answer for every text: no agreement
    assert kappa_and_z(np.zeros(4, dtype=int), np.zeros(4, dtype=int), 2) == (0.0, 0.0)  # nothing to tell
    swapped = kappa_and_z(y, 1 - y, 2)
    assert swapped[0] == -1.0 and swapped[1] < 0  # the names the wrong way round
