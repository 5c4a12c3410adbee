"""Feedback -> retrain -> promotion -> reload, with a real ``classifine serve`` process and its store.

The served version changes while requests keep flowing, and none of them fails.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import httpx
import pytest

from classifine.cli.main import main
from classifine.loop.versions import read_promotions, serving_version
from fixtures_models import toy_texts
from serving import GRACEFUL, free_port, serve_process, stop_process, wait_ready


@pytest.fixture(scope="module")
def run(toy_run: Path) -> Path:
    return toy_run


def test_feedback_store_retrain_reloads_the_server(run: Path, tmp_path: Path) -> None:
    run = Path(shutil.copytree(run, tmp_path / "toy"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {"CF_TEST_KEY": "s3cret"}
    proc = serve_process(
        [str(run), "--port", str(port), "--store-texts", "--api-key-env", "CF_TEST_KEY"],
        env=env, log=tmp_path / "serve.log",
    )  # fmt: skip
    auth = {"Authorization": "Bearer s3cret"}
    try:
        wait_ready(url, proc)
        texts, labels = toy_texts(120, seed=31)
        first = httpx.post(url + "/v1/classify", json={"texts": texts[:4]}, headers=auth).json()
        old_version = first["model_version"]
        for text, label in zip(texts, labels, strict=True):
            answer = httpx.post(url + "/v1/feedback", json={"text": text, "label": label[0]}, headers=auth)
            assert answer.status_code == 201, answer.text

        statuses: list[int] = []
        versions: set[str] = set()
        stop = threading.Event()

        def traffic() -> None:
            with httpx.Client(headers=auth, timeout=60) as client:
                while not stop.is_set():
                    r = client.post(url + "/v1/classify", json={"texts": [texts[0]]})
                    statuses.append(r.status_code)
                    if r.status_code == 200:
                        versions.add(r.json()["model_version"])

        thread = threading.Thread(target=traffic)
        thread.start()
        os.environ["CF_TEST_KEY"] = "s3cret"
        try:
            code = main(
                ["retrain", str(run), "--from-feedback", str(run), "--metric", "accuracy",
                 "--server", url, "--api-key-env", "CF_TEST_KEY"]
            )  # fmt: skip
            after = httpx.post(url + "/v1/classify", json={"texts": [texts[0]]}, headers=auth).json()
        finally:
            del os.environ["CF_TEST_KEY"]
            stop.set()
            thread.join(60)
        assert code == 0
        entry = read_promotions(run)[-1]
        assert entry.data["new_labels"] == 120 and entry.data["source"].startswith("feedback store")
        assert entry.decision == "promoted", entry.reason  # 8 -> 128 training rows
        assert serving_version(run) == 2
        assert after["model_version"] != old_version
        assert statuses and set(statuses) == {200}  # no request failed across the swap
        assert old_version in versions
        models = httpx.get(url + "/v1/models", headers=auth).json()["models"]
        assert models[0]["version"] == after["model_version"]
    finally:
        assert stop_process(proc) in GRACEFUL


def test_feedback_without_stored_texts_is_a_clear_error(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = Path(shutil.copytree(run, tmp_path / "toy"))
    from fastapi.testclient import TestClient

    from classifine.server import ServerSettings, create_app

    texts, labels = toy_texts(4, seed=32)
    with TestClient(create_app(ServerSettings.for_runs([run]))) as client:
        for text, label in zip(texts, labels, strict=True):
            assert client.post("/v1/feedback", json={"text": text, "label": label[0]}).status_code == 201
    assert main(["retrain", str(run), "--from-feedback", str(run)]) == 2
    assert "--store-texts" in capsys.readouterr().err
    assert read_promotions(run) == []
