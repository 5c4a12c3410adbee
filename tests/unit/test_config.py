"""Config loading, overrides and the errors a misspelt key produces."""

from __future__ import annotations

from pathlib import Path

import pytest

from classifine.config import apply_overrides, load_config
from classifine.errors import ConfigError


def test_defaults_and_overrides_are_typed() -> None:
    cfg = load_config(None, ["train.epochs=2", "model.lora.r=4", "data.source=sms-spam", "data.split.seed=7"])
    assert cfg.train.epochs == 2
    assert cfg.model.lora.r == 4
    assert cfg.data.source == "sms-spam"
    assert cfg.data.split.seed == 7
    assert cfg.model.name == "minilm-l6"


def test_misspelt_key_names_nearest(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  source: sms-spam\ntrain:\n  epoch: 3\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    msg = str(info.value)
    assert "train.epoch" in msg and "'epochs'" in msg and str(path) in msg


def test_nested_misspelt_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="did you mean 'patience'"):
        load_config(None, ["train.early_stopping.patiense=3"])


def test_bad_value_reports_key() -> None:
    with pytest.raises(ConfigError, match="model.method"):
        load_config(None, ["model.method=sgd"])


def test_invalid_yaml_reports_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  source: [unclosed\n")
    with pytest.raises(ConfigError, match=r"c\.yaml:\d+"):
        load_config(path)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_override_syntax_error() -> None:
    with pytest.raises(ConfigError, match="section.key=value"):
        apply_overrides({}, ["train.epochs"])


def test_yaml_round_trip() -> None:
    cfg = load_config(None, ["train.class_weights={spam: 2.0, ham: 1.0}"])
    assert cfg.train.class_weights == {"spam": 2.0, "ham": 1.0}
    import yaml

    again = load_config(None, [])
    assert yaml.safe_load(again.to_yaml())["model"]["name"] == "minilm-l6"
