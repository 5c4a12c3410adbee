"""A real uvicorn server with the real SMS-spam run: batching proven from /metrics, reload under load,
and a bounded schemathesis run against the app's OpenAPI schema finding no 5xx.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from safetensors.torch import load_file, save_file

from classifine.artifact import atomic_dir
from classifine.data.catalog import load_catalog
from classifine.inference.predictor import Classifier
from classifine.server import ServerSettings, create_app
from serving import live_server, metric

KEY = "live-test-key-5b1f0c"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return load_catalog("sms-spam").test.texts[:48]


async def _classify_all(url: str, texts: list[str]) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        return list(await asyncio.gather(*(client.post("/v1/classify", json={"texts": [t]}) for t in texts)))


def test_concurrent_requests_share_forward_passes_and_match_unbatched(
    sms_run: Path, tmp_path: Path, texts: list[str]
) -> None:
    settings = ServerSettings.for_runs(
        [sms_run], store=f"sqlite:///{tmp_path / 's.sqlite'}"
    )  # default batching
    with live_server(create_app(settings)) as url:
        before = httpx.get(url + "/metrics").text
        responses = asyncio.run(_classify_all(url, texts))
        after = httpx.get(url + "/metrics").text
    assert [r.status_code for r in responses] == [200] * len(texts)

    def delta(name: str) -> float:
        return metric(after, name, model="sms-demo") - metric(before, name, model="sms-demo")

    passes = delta("classifine_forward_passes_total")  # model calls
    batches = delta("classifine_batches_total")  # gathered batches (each one or more model calls)
    assert delta("classifine_batch_size_sum") == len(texts)  # every text went through a batch
    assert delta("classifine_batch_requests_sum") == len(texts)
    assert 1 <= batches <= passes < len(texts) / 2, f"{len(texts)} requests took {passes} forward passes"
    shared = delta("classifine_batch_requests_count") - (
        metric(after, "classifine_batch_requests_bucket", model="sms-demo", le="1.0")
        - metric(before, "classifine_batch_requests_bucket", model="sms-demo", le="1.0")
    )
    assert shared >= 1  # at least one pass answered several requests

    clf = Classifier.load(sms_run)
    for text, response in zip(texts, responses, strict=True):
        pred = response.json()["predictions"][0]
        alone = clf.predict_proba([text])[0]  # unbatched: one text, one forward pass
        np.testing.assert_allclose([pred["scores"]["ham"], pred["scores"]["spam"]], alone, atol=5e-3)
        if abs(alone[1] - 0.5) > 0.01:
            assert pred["label"] == ["ham", "spam"][int(alone.argmax())]


def _new_version(run: Path, spam_bias: float) -> None:
    """Write a second model version into the run folder (atomically): the head's spam bias moved."""
    model = run / "model"
    with atomic_dir(model, overwrite=True) as tmp:
        shutil.copytree(model, tmp, dirs_exist_ok=True)
        weights = load_file(tmp / "model.safetensors")
        weights["classifier.bias"][1] += spam_bias
        save_file(weights, tmp / "model.safetensors", metadata={"format": "pt"})


async def _load_while_reloading(url: str, text: str, n: int) -> tuple[list[dict], httpx.Response, list[dict]]:
    async with httpx.AsyncClient(base_url=url, timeout=60, headers=AUTH) as client:

        async def one() -> dict:
            r = await client.post("/v1/classify", json={"texts": [text]})
            assert r.status_code == 200, r.text
            return r.json()

        during = [asyncio.create_task(one()) for _ in range(n)]
        await asyncio.sleep(0.05)  # requests are queued or running on the old version
        reload = await client.post("/v1/models/sms-demo/reload")
        after = await asyncio.gather(*(one() for _ in range(8)))
        return list(await asyncio.gather(*during)), reload, list(after)


def test_reload_swaps_atomically_under_load(
    sms_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "sms-demo"
    shutil.copytree(sms_run, run)
    text = "Free entry in 2 a wkly comp to win FA Cup final tkts 21st May 2005. Text FA to 87121"
    old_p = float(Classifier.load(run).predict_proba([text])[0][1])
    monkeypatch.setenv("LIVE_KEY", KEY)
    settings = ServerSettings.for_runs([run], store_enabled=False, api_key_env="LIVE_KEY").with_key_from_env()
    with live_server(create_app(settings)) as url:
        v1 = httpx.get(url + "/v1/models", headers=AUTH).json()["models"][0]["version"]
        _new_version(run, spam_bias=-3.0)
        new_p = float(Classifier.load(run).predict_proba([text])[0][1])
        assert abs(new_p - old_p) > 0.05
        during, reload, after = asyncio.run(_load_while_reloading(url, text, 64))
        assert reload.status_code == 200, reload.text
        body = reload.json()
        assert body["changed"] is True and body["previous_version"] == v1 and body["version"] != v1
        for r in during + after:  # every answer is wholly one version: its scores match its version
            expected = old_p if r["model_version"] == v1 else new_p
            assert r["model_version"] in (v1, body["version"])
            assert r["predictions"][0]["scores"]["spam"] == pytest.approx(expected, abs=5e-3)
        assert {r["model_version"] for r in after} == {body["version"]}
        assert any(r["model_version"] == v1 for r in during)  # requests in flight finished on the old one

        (run / "model" / "classifine.json").write_text("{broken")  # a broken new version: keep serving
        failed = httpx.post(url + "/v1/models/sms-demo/reload", headers=AUTH)
        assert failed.status_code == 409 and body["version"] in failed.json()["error"]
        ok = httpx.post(url + "/v1/classify", json={"texts": [text]}, headers=AUTH)
        assert ok.status_code == 200 and ok.json()["model_version"] == body["version"]
        text_metrics = httpx.get(url + "/metrics", headers=AUTH).text
    assert metric(text_metrics, "classifine_model_info", model="sms-demo", version=v1) == 0
    assert metric(text_metrics, "classifine_model_info", model="sms-demo", version=body["version"]) == 1
    assert metric(text_metrics, "classifine_model_reloads_total", model="sms-demo", outcome="failed") == 1


@pytest.fixture(scope="module")
def api_url(sms_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import os

    os.environ["SCHEMA_TEST_KEY"] = KEY
    store = tmp_path_factory.mktemp("schema") / "s.sqlite"
    settings = ServerSettings.for_runs(
        [sms_run], store=f"sqlite:///{store}", api_key_env="SCHEMA_TEST_KEY"
    ).with_key_from_env()
    with live_server(create_app(settings)) as url:
        yield url


def _fuzz(operation: Any, mode: str, api_url: str, statuses: dict[str, set[int]]) -> None:
    from schemathesis.checks import not_a_server_error

    strategy = operation.as_strategy(generation_mode=schemathesis.GenerationMode(mode))

    @given(case=strategy)
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    def check(case: schemathesis.Case) -> None:
        response = case.call(base_url=api_url, headers=AUTH, timeout=60)
        case.validate_response(response, checks=[not_a_server_error])
        statuses.setdefault(operation.label, set()).add(response.status_code)
        if response.status_code >= 400 and "json" in response.headers.get("content-type", ""):
            assert "error" in json.loads(response.text), response.text

    try:
        check()
    except Unsatisfiable:  # no invalid request exists for an operation without parameters
        assert mode == "negative" and operation.label.startswith("GET"), operation.label


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_openapi_fuzzing_finds_no_server_error(api_url: str, mode: str) -> None:
    """Every operation of the served OpenAPI schema, with generated valid (positive) and invalid
    (negative) requests, 25 examples each: no 5xx, and every JSON error has an ``error`` message.
    """
    schema = schemathesis.openapi.from_url(api_url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 12  # 8 serving + 4 read-only review operations
    statuses: dict[str, set[int]] = {}
    for operation in operations:
        _fuzz(operation, mode, api_url, statuses)
    assert all(code < 500 for codes in statuses.values() for code in codes)
    if mode == "positive":
        assert 200 in statuses["POST /v1/classify"] and 200 in statuses["POST /predict"]
    else:
        assert {422} <= statuses["POST /v1/classify"] and {422} <= statuses["POST /v1/feedback"]
