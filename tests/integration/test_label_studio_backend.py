"""The Label Studio loop against a recorded-contract double of Label Studio's REST API.

The double (tests/label_studio_double.py) is a small real HTTP server: the real Label Studio needs
about 4 minutes to install and 3.5 to start, too slow for the default suite. ``make
test-label-studio`` runs the same flow against the real Label Studio 1.23.2.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest

from classifine.cli.main import main
from classifine.errors import ConfigError
from classifine.integrations.label_studio import parse_label_config, to_predictions
from classifine.integrations.label_studio_backend import BackendSettings, create_backend_app
from classifine.loop.versions import read_promotions
from fixtures_models import toy_texts
from label_studio_double import CONFIG, LabelStudioDouble
from serving import SRC, live_server


@pytest.fixture(scope="module")
def run(toy_run: Path) -> Path:
    return toy_run


def _wait_training(url: str, timeout: float = 300) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        training = httpx.get(url + "/health").json()["training"]
        if not training["running"]:
            return training  # type: ignore[no-any-return]
        time.sleep(0.5)
    raise AssertionError("the retrain job did not finish")


def test_label_config_and_multi_label_predictions() -> None:
    config = parse_label_config(CONFIG.replace('choice="single"', 'choice="multiple"'))
    assert (config.from_name, config.to_name, config.field, config.multiple) == (
        "sentiment",
        "text",
        "text",
        True,
    )
    probs = np.array([[0.9, 0.7], [0.2, 0.4]])
    out = to_predictions(probs, ["neg", "pos"], [0.5, 0.5], config, "toy-v1")
    assert out[0]["result"][0]["value"]["choices"] == ["neg", "pos"] and out[0]["score"] == pytest.approx(0.8)
    assert out[1]["result"][0]["value"]["choices"] == ["pos"]  # none passes: the top label alone
    assert all(p["model_version"] == "toy-v1" for p in out)
    with pytest.raises(ConfigError, match="no <Choices> tag"):
        parse_label_config('<View><Text name="t" value="$text"/></View>')


def test_label_studio_command_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["label-studio", str(tmp_path / "no-run"), "--port", "9"]) == 2  # RUN alone means serve
    assert "no-run" in capsys.readouterr().err


def test_backend_prelabel_webhook_retrain(run: Path, tmp_path: Path) -> None:
    run = Path(shutil.copytree(run, tmp_path / "toy"))
    texts, labels = toy_texts(60, seed=21)
    ls = LabelStudioDouble(prediction_delay=0.05)
    ls.add_tasks(texts)
    settings = BackendSettings(run=run, retrain_every=20, metric="accuracy")
    with live_server(ls.app()) as ls_url, live_server(create_backend_app(settings)) as url:
        assert httpx.get(url + "/health").json()["status"] == "UP"
        wrong = CONFIG.replace('"pos"', '"positive"')
        bad = httpx.post(url + "/setup", json={"project": "1.1700000000", "schema": wrong})
        assert bad.status_code == 422 and "missing: ['pos']" in bad.json()["error"]
        setup = httpx.post(
            url + "/setup",
            json={"project": "1.1700000000", "schema": CONFIG, "hostname": ls_url, "access_token": ls.token},
        )
        assert setup.status_code == 200 and setup.json() == {"model_version": "toy-v1"}

        # Label Studio sends one task per call: concurrent calls share the loaded model.
        def one(i: int) -> dict[str, object]:
            task = {"id": i, "data": {"text": texts[i]}}
            body = {"tasks": [task], "project": "1.1700000000", "label_config": CONFIG}
            return httpx.post(url + "/predict", json=body, timeout=60).json()  # type: ignore[no-any-return]

        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(one, range(8)))
        for answer in answers:
            (pred,) = answer["results"]  # type: ignore[misc]
            assert pred["model_version"] == "toy-v1" and 0.5 <= pred["score"] <= 1.0
            assert pred["result"][0]["from_name"] == "sentiment" and pred["result"][0]["to_name"] == "text"
            assert pred["result"][0]["value"]["choices"][0] in ("neg", "pos")
        no_tasks = httpx.post(url + "/predict", json={"label_config": CONFIG})
        assert no_tasks.status_code == 422 and "tasks" in no_tasks.json()["error"]
        no_text = httpx.post(
            url + "/predict", json={"tasks": [{"id": 1, "data": {}}], "label_config": CONFIG}
        )
        assert no_text.status_code == 422 and "data.text" in no_text.json()["error"]

        # Pre-label, killed midway, then resumed: every task ends with exactly one prediction.
        env = {**os.environ, "PYTHONPATH": str(SRC), "CLASSIFINE_LABEL_STUDIO_TOKEN": ls.token}
        args = ["label-studio", "prelabel", str(run), "--url", ls_url, "--project", "1", "--batch-size", "4"]
        proc = subprocess.Popen([sys.executable, "-m", "classifine.cli.main", *args], env=env)
        deadline = time.monotonic() + 120
        while len(ls.predictions()) < 10 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        proc.kill()
        proc.wait()
        done = len(ls.predictions())
        assert 10 <= done < 60
        os.environ["CLASSIFINE_LABEL_STUDIO_TOKEN"] = ls.token
        try:
            assert main(["label-studio", "prelabel", str(run), "--url", ls_url, "--project", "1"]) == 0
        finally:
            del os.environ["CLASSIFINE_LABEL_STUDIO_TOKEN"]
        assert sorted(p["task"] for p in ls.predictions()) == list(range(1, 61))
        assert {p["model_version"] for p in ls.predictions()} == {"toy-v1"}

        # 20 annotations, each announced by a webhook: the 20th starts a retrain job.
        for task_id in range(1, 21):
            annotation = ls.annotate(task_id, labels[task_id - 1][0])
            event = {"action": "ANNOTATION_CREATED", "project": {"id": 1}, "annotation": annotation}
            answer = httpx.post(url + "/webhook", json=event)
            assert answer.status_code == 201 and answer.json()["annotations"] == task_id
        assert answer.json()["training"]["started"] is True
        assert httpx.post(url + "/webhook", json={"action": "PROJECT_UPDATED"}).json() == {
            "status": "Unknown event"
        }
        training = _wait_training(url)
        assert training["last"]["exit_code"] == 0, Path(training["last"]["log"]).read_text()  # type: ignore[index]
        entry = read_promotions(run)[-1]
        assert entry.action == "retrain" and entry.version == 2 and entry.data["new_labels"] == 20
        assert entry.data["source"].startswith("Label Studio")
        assert entry.new_score is not None and entry.old_score is not None
        assert (entry.decision == "promoted") == (entry.new_score >= entry.old_score)
        expected = "toy-v2" if entry.decision == "promoted" else "toy-v1"
        assert one(0)["results"][0]["model_version"] == expected  # type: ignore[index]

        # The legacy /train carries the annotations itself.
        tasks = [t for t in ls.tasks if t["annotations"]]
        legacy = httpx.post(
            url + "/train", json={"annotations": tasks, "project": "1.17", "label_config": CONFIG}
        )
        assert legacy.status_code == 201 and legacy.json()["training"]["started"] is True
        busy = httpx.post(url + "/webhook", json={"action": "START_TRAINING", "project": {"id": 1}})
        assert busy.status_code == 409 and "already running" in busy.json()["error"]
        training = _wait_training(url)
        assert training["last"]["exit_code"] == 0  # type: ignore[index]
        assert [p.version for p in read_promotions(run)] == [2, 3]
        log = json.loads((run / "versions" / "3" / "retrain.json").read_text())
        assert log["new_labels"] == 20 and log["source"].endswith("labels.jsonl")
