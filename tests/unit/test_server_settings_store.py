"""Server settings, store URLs and rows, and the PSI statistic (no model, no server)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import sqlalchemy as sa

from classifine.errors import ConfigError
from classifine.server.monitor import psi
from classifine.server.settings import ServerSettings, model_source
from classifine.server.store import (
    PredictionRow,
    PredictionStore,
    decode_label,
    encode_label,
    make_engine,
    predictions,
    store_url,
    text_hash,
)


def test_model_names_default_to_the_run_folder(tmp_path: Path) -> None:
    assert model_source("runs/sms-spam-minilm").name == "sms-spam-minilm"
    assert model_source("runs/sms-spam-minilm/model").name == "sms-spam-minilm"
    assert model_source("spam=runs/x").name == "spam"
    assert model_source("runs/odd name!").name == "odd-name"


def test_settings_reject_duplicates_and_typos(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="share the name a"):
        ServerSettings.for_runs(["a=r1", "a=r2"])
    with pytest.raises(ConfigError, match="max_batch_size"):
        ServerSettings.for_runs(["r"], max_batch_size=0)
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    with pytest.raises(ConfigError, match="NO_SUCH_KEY_VAR"):
        ServerSettings.for_runs(["r"], api_key_env="NO_SUCH_KEY_VAR").with_key_from_env()


def test_settings_travel_to_workers_without_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_KEY", "the-secret-key")
    settings = ServerSettings.for_runs(
        ["runs/x"], api_key_env="WORKER_KEY", max_wait_ms=2
    ).with_key_from_env()
    assert settings.api_key is not None and settings.api_key.get_secret_value() == "the-secret-key"
    blob = settings.to_env()
    assert "the-secret-key" not in blob
    monkeypatch.setenv("CLASSIFINE_SERVE_SETTINGS", blob)
    again = ServerSettings.from_env()
    assert again.api_key is not None and again.api_key.get_secret_value() == "the-secret-key"
    assert again.max_wait_ms == 2 and again.models == settings.models


def test_store_urls(tmp_path: Path) -> None:
    assert store_url(tmp_path) == f"sqlite:///{tmp_path}/serving.sqlite"
    assert store_url(tmp_path / "x.db") == f"sqlite:///{tmp_path}/x.db"
    assert store_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    with pytest.raises(ConfigError, match="no database driver"):
        make_engine("nosuchdriver://x")


def test_labels_and_hashes() -> None:
    assert encode_label("spam") == "spam" and decode_label("spam", False) == "spam"
    assert encode_label(["b", "a"]) == '["a", "b"]' and decode_label('["a", "b"]', True) == ["a", "b"]
    assert text_hash("héllo") == text_hash("héllo") != text_hash("hello")
    assert len(text_hash("\ud800")) == 64  # lone surrogates hash instead of failing


def test_rows_round_trip_and_feedback(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    written: list[tuple[str, int]] = []
    store = PredictionStore(url, on_written=lambda table, n: written.append((table, n)))
    store.start()
    row = PredictionRow.make("m", "v1", "spam", False, 0.91, "free prize", keep_text=False)
    assert store.record(row) and store.flush(10)
    got = store.get_prediction(row.id)
    assert got == row and got.text is None
    assert store.latest_for_text(text_hash("free prize")) == row
    assert store.latest_for_text(text_hash("free prize"), model="other") is None
    fid = store.add_feedback(
        {
            "prediction_id": row.id,
            "text_sha256": row.text_sha256,
            "text": None,
            "model": "m",
            "label": "ham",
            "predicted_label": "spam",
            "kind": "correct",
        }
    )
    assert fid == 1
    store.close()
    assert ("predictions", 1) in written and ("feedback", 1) in written
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(predictions)).scalar() == 1
    engine.dispose()


def test_psi() -> None:
    same = {"a": 0.3, "b": 0.7}
    assert psi(same, same) == 0.0
    shifted = psi({"a": 0.5, "b": 0.5}, {"a": 0.9, "b": 0.1})
    expected = (0.9 - 0.5) * math.log(0.9 / 0.5) + (0.1 - 0.5) * math.log(0.1 / 0.5)
    assert shifted == pytest.approx(expected)
    assert psi({"a": 1.0}, {"a": 0.5, "new": 0.5}) > 0.25  # a label never seen in training


def test_worker_processes_build_their_app_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from classifine.server.app import app_from_env

    settings = ServerSettings.for_runs(["spam=runs/x"], max_batch_size=8)
    monkeypatch.setenv("CLASSIFINE_SERVE_SETTINGS", settings.to_env())
    app = app_from_env()  # what uvicorn calls in each --workers process (models load in its lifespan)
    assert "/v1/classify" in app.openapi()["paths"]
    monkeypatch.delenv("CLASSIFINE_SERVE_SETTINGS")
    with pytest.raises(ConfigError, match="CLASSIFINE_SERVE_SETTINGS"):
        app_from_env()
