"""The Label Studio loop against a REAL Label Studio 1.23.2 on loopback.

Opt-in: ``bash scripts/test-label-studio.sh`` (``make test-label-studio``) installs Label Studio in
its own venv, starts it and sets ``CLASSIFINE_LABEL_STUDIO_URL`` and ``CLASSIFINE_LABEL_STUDIO_LEGACY``
(the admin's legacy token; the test makes a personal access token from it and uses that too).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from classifine.cli.main import main
from classifine.integrations.label_studio_backend import BackendSettings, create_backend_app
from classifine.loop.versions import read_promotions
from fixtures_models import toy_texts
from label_studio_double import CONFIG
from loop_helpers import train_toy_run
from serving import live_server

pytestmark = [
    pytest.mark.label_studio,
    pytest.mark.skipif(
        not os.environ.get("CLASSIFINE_LABEL_STUDIO_URL"), reason="run scripts/test-label-studio.sh"
    ),
]

URL = os.environ.get("CLASSIFINE_LABEL_STUDIO_URL", "").rstrip("/")
LEGACY = os.environ.get("CLASSIFINE_LABEL_STUDIO_LEGACY", "")


def _api(method: str, path: str, **kwargs: Any) -> Any:
    response = httpx.request(
        method, URL + path, headers={"Authorization": f"Token {LEGACY}"}, timeout=300, **kwargs
    )
    assert response.status_code < 400, f"{method} {path}: {response.status_code} {response.text[:500]}"
    return response.json() if response.content else None


def _personal_access_token() -> str:
    listed = _api("GET", "/api/token/")
    if listed:
        for token in listed:
            _api("POST", "/api/token/blacklist/", json={"refresh": token["token"]})
    created = _api("POST", "/api/token/")
    return str(created["token"])


def test_real_label_studio_loop(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = train_toy_run(tmp_path, "toy", n_train=8)
    texts, labels = toy_texts(50, seed=41)
    pat = _personal_access_token()
    assert pat.count(".") == 2  # a JWT: the client exchanges it at /api/token/refresh/
    project = _api(
        "POST", "/api/projects/", json={"title": f"classifine {time.time():.0f}", "label_config": CONFIG}
    )
    pid = project["id"]
    settings = BackendSettings(run=run, retrain_every=0, metric="accuracy")
    with live_server(create_backend_app(settings)) as backend:
        ml = _api("POST", "/api/ml/", json={"url": backend, "project": pid, "title": "classifine"})
        assert httpx.get(backend + "/health").json()["status"] == "UP"
        _api("POST", f"/api/projects/{pid}/import", json=[{"text": t} for t in texts])
        tasks = _api("GET", "/api/tasks/", params={"project": pid, "page_size": 100})["tasks"]
        assert len(tasks) == 50

        # Label Studio itself asks the backend (/setup, then /predict) for the first 5 tasks.
        first = [t["id"] for t in tasks[:5]]
        _api(
            "POST", "/api/dm/actions", params={"id": "retrieve_tasks_predictions", "project": pid},
            json={"selectedItems": {"all": False, "included": first}},
        )  # fmt: skip
        os.environ["CLASSIFINE_LABEL_STUDIO_TOKEN"] = pat
        try:
            args = ["label-studio", "prelabel", str(run), "--url", URL, "--project", str(pid), "--json"]
            assert main(args) == 0
            assert json.loads(capsys.readouterr().out)["predicted"] == 45  # the 5 above are skipped
            assert main(args) == 0  # resumable: the second pass finds nothing to do
            assert json.loads(capsys.readouterr().out)["skipped"] == 50
        finally:
            del os.environ["CLASSIFINE_LABEL_STUDIO_TOKEN"]
        tasks = _api("GET", "/api/tasks/", params={"project": pid, "page_size": 100, "fields": "all"})[
            "tasks"
        ]
        versions = [[p["model_version"] for p in t["predictions"]] for t in tasks]
        assert all(v == ["toy-v1"] for v in versions), versions
        assert all(0.5 <= t["predictions"][0]["score"] <= 1.0 for t in tasks)

        by_text = {t: y[0] for t, y in zip(texts, labels, strict=True)}
        for task in tasks[:20]:
            result = [{"from_name": "sentiment", "to_name": "text", "type": "choices",
                       "value": {"choices": [by_text[task["data"]["text"]]]}}]  # fmt: skip
            _api("POST", f"/api/tasks/{task['id']}/annotations/", json={"result": result})

        _api("POST", f"/api/ml/{ml['id']}/train", json={"use_ground_truth": True})
        deadline = time.monotonic() + 600
        while True:
            training = httpx.get(backend + "/health").json()["training"]
            if not training["running"] and training.get("last"):
                break
            assert time.monotonic() < deadline, "the retrain did not finish"
            time.sleep(1)
        log = Path(training["last"]["log"]).read_text()
        assert training["last"]["exit_code"] == 0, log
    entry = read_promotions(run)[-1]
    assert entry.action == "retrain" and entry.version == 2 and entry.data["new_labels"] == 20
    assert entry.new_score is not None and entry.old_score is not None and entry.held_out is not None
    assert (entry.decision == "promoted") == (entry.new_score >= entry.old_score)
    shutil.rmtree(run / "versions" / "jobs", ignore_errors=True)
