"""The tune: and track: config sections: keys and values checked against the config before any trial."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml

from classifine.config import Config, SearchRange, config_from_dict, load_config
from classifine.errors import ConfigError
from classifine.experiments.space import (
    baseline_labels,
    check_key,
    config_keys,
    config_with,
    grid_points,
    parse_space,
    trial_budget,
)
from classifine.experiments.tracking import clean_key, flatten, make_tracker, tracker_names
from classifine.experiments.tracking.runs import trainer_metrics
from classifine.experiments.worker import PruningCallback

EXAMPLES = Path(__file__).parents[2] / "examples"


def _cfg(space: dict[str, Any], **tune: Any) -> Config:
    return config_from_dict({"data": {"source": "trec-6"}, "tune": {"space": space, **tune}})


def _error(space: dict[str, Any], **tune: Any) -> str:
    with pytest.raises(ConfigError) as info:
        _cfg(space, **tune)
    return str(info.value)


def test_a_space_over_any_dotted_key_parses_with_ranges_and_choices() -> None:
    cfg = _cfg(
        {
            "train.learning_rate": {"low": "1e-5", "high": 1e-3, "log": True},  # YAML reads 1e-5 as text
            "model.lora.r": [4, 8, 16],
            "model.lora.target_modules": ["attention", "all-linear", ["query", "value"]],
            "train.class_weights": ["none", "auto"],
            "model.name": ["minilm-l6", "mpnet-base"],
            "train.early_stopping.patience": {"low": 1, "high": 3},
        }
    )
    assert cfg.tune is not None and cfg.tune.resolved_direction() == "maximize"
    lr = cfg.tune.space["train.learning_rate"]
    assert isinstance(lr, SearchRange) and lr.low == 1e-5 and lr.log
    params = {p.key: p for p in parse_space(cfg.tune.space)}
    targets = params["model.lora.target_modules"]
    assert targets.labels == ("attention", "all-linear", '["query", "value"]')
    assert targets.decode("attention") == "auto"  # the family's attention projections
    assert targets.decode('["query", "value"]') == ["query", "value"]
    assert params["train.early_stopping.patience"].is_int and not params["train.learning_rate"].is_int
    trial_cfg = config_with(cfg, {"model.lora.target_modules": "auto", "model.lora.r": 16})
    assert trial_cfg.model.lora.r == 16 and trial_cfg.tune is None


def test_suggest_returns_config_values_inside_the_space() -> None:
    cfg = _cfg(
        {
            "train.learning_rate": {"low": 1e-4, "high": 1e-2, "log": True},
            "model.lora.r": {"low": 4, "high": 32, "step": 4},
            "model.lora.target_modules": ["attention", ["query", "key", "value"]],
        }
    )
    assert cfg.tune is not None
    params = parse_space(cfg.tune.space)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        values = {p.key: p.suggest(study.ask()) for p in params}
        assert 1e-4 <= values["train.learning_rate"] <= 1e-2
        assert values["model.lora.r"] in range(4, 33, 4) and isinstance(values["model.lora.r"], int)
        assert values["model.lora.target_modules"] in ("auto", ["query", "key", "value"])
        config_with(cfg, values)  # every sample is a valid config


def test_bad_keys_and_values_fail_with_the_nearest_key_or_the_reason() -> None:
    assert "did you mean 'train.learning_rate'" in _error({"train.learnig_rate": [0.1]})
    assert "did you mean 'model.lora.r'" in _error({"model.lora.rr": [4]})
    assert "cannot be searched" in _error({"output.name": ["a"]})
    assert "the value 0 is rejected" in _error({"model.lora.r": [0, 4]})
    assert "the value 'rnd' is rejected" in _error({"train.class_weights": ["none", "rnd"]})
    assert "the value 2.0 is rejected" in _error({"model.lora.dropout": {"low": 0.0, "high": 2.0}})
    assert "unknown range key 'hgh'" in _error({"model.lora.r": {"low": 4, "hgh": 8}})
    assert "low (8) must be below high (4)" in _error({"model.lora.r": {"low": 8, "high": 4}})
    assert "log-scaled or stepped" in _error(
        {"train.learning_rate": {"low": 1e-4, "high": 1e-2, "log": True, "step": 1e-4}}
    )
    assert "needs low > 0" in _error({"train.weight_decay": {"low": 0.0, "high": 0.1, "log": True}})
    assert "neither a list of choices nor a range" in _error({"model.lora.r": 8})
    assert "listed twice" in _error({"model.lora.r": [8, 8]})
    assert "is empty" in _error({"model.lora.r": []})
    assert "never on test" in _error({"model.lora.r": [8]}, metric="test_macro_f1")
    assert "did you mean 'macro_f1'" in _error({"model.lora.r": [8]}, metric="macro_f")
    with pytest.raises(ConfigError, match="is not a config key"):
        check_key("train")
        check_key("train.nope")


def test_the_baseline_is_the_configs_own_point_of_the_space_or_a_clear_error() -> None:
    space = {
        "train.learning_rate": {"low": 1e-4, "high": 1e-2, "log": True},
        "model.lora.r": {"low": 4, "high": 16, "step": 4},
        "model.lora.target_modules": ["all-linear", "attention"],
        "train.class_weights": ["auto", "none"],
    }

    def lora(space: dict[str, Any], **tune: Any) -> Config:
        raw = {"data": {"source": "trec-6"}, "model": {"method": "lora"}, "tune": {"space": space, **tune}}
        return config_from_dict(raw)

    # with method auto the default learning rate depends on the data: no baseline unless it is set
    assert baseline_labels(_cfg(space)) is None
    assert baseline_labels(lora(space)) == {
        "train.learning_rate": 1e-3,
        "model.lora.r": 8,
        "model.lora.target_modules": "attention",
        "train.class_weights": "none",
    }
    assert baseline_labels(lora(space, baseline=False)) is None
    outside = {**space, "model.lora.r": [4, 16]}
    assert baseline_labels(lora(outside)) is None  # unset: no baseline when the config is not in the space
    with pytest.raises(ConfigError, match=r"the config's own model.lora.r \(8\) is outside its space"):
        lora(outside, baseline=True)
    off_step = {**space, "model.lora.r": {"low": 3, "high": 15, "step": 4}}  # 3, 7, 11, 15
    with pytest.raises(ConfigError, match=r"model.lora.r \(8\) is outside"):
        lora(off_step, baseline=True)
    low_lr = {**space, "train.learning_rate": {"low": 1e-2, "high": 1e-1}}
    with pytest.raises(ConfigError, match=r"train.learning_rate \(0.001\) is outside"):
        lora(low_lr, baseline=True)


def test_the_trial_budget_sets_epochs_and_minutes_unless_searched() -> None:
    cfg = _cfg({"model.lora.r": [8]}, trial_epochs=2, trial_minutes=5)
    raw = trial_budget(cfg, {"train": {"epochs": 10}}, {})
    assert raw["train"] == {"epochs": 2, "max_train_minutes": 5}
    searched = trial_budget(cfg, {"train": {"epochs": 10}}, {"train.epochs": 4})
    assert searched["train"] == {"epochs": 10, "max_train_minutes": 5}  # the searched value is set later
    assert trial_budget(_cfg({"model.lora.r": [8]}), {"train": {}}, {}) == {"train": {}}


class _Step:
    global_step = 0


def test_the_baseline_trial_reports_every_score_but_is_never_pruned() -> None:
    study = optuna.create_study(
        direction="maximize", pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0)
    )
    good = study.ask()
    good.report(0.9, 1)
    study.tell(good, 0.9)
    state = _Step()
    for prune in (False, True):
        trial = study.ask()
        callback = PruningCallback(trial, "macro_f1", prune=prune)
        state.global_step += 1
        if prune:
            with pytest.raises(optuna.TrialPruned, match="validation macro_f1 0.1000"):
                callback.on_evaluate(None, state, None, metrics={"eval_macro_f1": 0.1})
        else:
            callback.on_evaluate(None, state, None, metrics={"eval_macro_f1": 0.1})
            assert trial.should_prune()  # the pruner would stop it; the baseline runs on
        assert study.trials[trial.number].intermediate_values == {1: 0.1}


def test_grid_enumerates_choices_and_stepped_ranges_in_a_seeded_order() -> None:
    cfg = _cfg({"model.lora.r": [4, 8], "train.weight_decay": {"low": 0.0, "high": 0.1, "step": 0.05}})
    assert cfg.tune is not None
    params = parse_space(cfg.tune.space)
    points = grid_points(params, seed=1)
    assert len(points) == 6 and points == grid_points(params, seed=1) != grid_points(params, seed=2)
    assert {p["train.weight_decay"] for p in points} == {0.0, 0.05, 0.1}
    no_step = parse_space(_cfg({"train.learning_rate": {"low": 1e-4, "high": 1e-3}}).tune.space)  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="grid search cannot enumerate"):
        grid_points(no_step, seed=0)


def test_space_keys_from_the_command_line_keep_their_dots(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump({"data": {"source": "trec-6"}, "tune": {"space": {"model.lora.r": [4]}}}))
    cfg = load_config(path, ["tune.space.model.lora.alpha=[8, 16]", "tune.pruner=hyperband"])
    assert (
        cfg.tune is not None
        and cfg.tune.space["model.lora.alpha"] == [8, 16]
        and cfg.tune.pruner == "hyperband"
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, ["tune.space.model.lora.alpa=[8]"])
    assert str(info.value).startswith(str(path)) and "did you mean 'model.lora.alpha'" in str(info.value)


def test_example_configs_validate_and_runs_keep_no_tune_section() -> None:
    cfg = load_config(EXAMPLES / "tune-trec-6.yaml")
    assert cfg.tune is not None and cfg.tune.trial_epochs and cfg.tune.trial_minutes and cfg.tune.baseline
    # outside tune: the study's config is the default trec-6 config, so its baseline trial measures it
    tuned, default = (
        cfg.model_dump(mode="json"),
        load_config(EXAMPLES / "trec-6.yaml").model_dump(mode="json"),
    )
    for section in ("data", "model", "train"):
        assert tuned[section] == default[section], section
    assert baseline_labels(cfg) == {
        "train.learning_rate": 1e-3,  # unset in the config: LoRA's default step
        "model.lora.target_modules": "attention",  # the config's auto
        "model.lora.r": 8,
        "model.lora.alpha": 16,
    }
    assert "tune" not in yaml.safe_load(Config().to_yaml())
    for path in sorted((EXAMPLES / "compare").glob("*.yaml")):
        compared = load_config(path)
        assert compared.data.source == "trec-6" and compared.output.name
    assert {"train.learning_rate", "model.lora.r", "model.name", "track.backend"} <= set(config_keys())


def test_trackers_are_registered_by_name_and_helpers_flatten() -> None:
    assert tracker_names() == ("none", "mlflow", "wandb", "tensorboard")
    with pytest.raises(ConfigError, match="did you mean 'tensorboard'"):
        config_from_dict({"track": {"backend": "tensorbord"}})
    with pytest.raises(ConfigError, match="did you mean 'wandb'"):
        from classifine.experiments.tracking import TrackSettings

        make_tracker("wandbb", TrackSettings())
    assert flatten({"train": {"epochs": 3, "early_stopping": {"patience": 2}}, "labels": ["a", "b"]}) == {
        "train.epochs": 3,
        "train.early_stopping.patience": 2,
        "labels": "['a', 'b']",
    }
    assert clean_key("test/f1/ABBR:abb?") == "test/f1/ABBR_abb_"
    logs = {"eval_macro_f1": 0.9, "eval_runtime": 1.2, "epoch": 1.0, "loss": 0.3, "train_loss": 0.2}
    assert trainer_metrics(logs) == {"validation/macro_f1": 0.9, "epoch": 1.0, "train/loss": 0.2}


def test_wandb_is_offline_unless_logged_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from classifine.experiments.tracking.wandb_backend import wandb_mode

    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    netrc = tmp_path / "netrc"
    netrc.write_text("")
    monkeypatch.setenv("NETRC", str(netrc))
    assert wandb_mode() == "offline"
    netrc.write_text("machine api.wandb.ai login user password abc\n")
    netrc.chmod(0o600)
    assert wandb_mode() == "online"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert wandb_mode() == "disabled"
