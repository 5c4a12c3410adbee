"""The HTTP API against a real app serving the real packaged MiniLM fine-tuned on SMS spam.

TestClient drives the app in process (its lifespan loads the run); batching, reload and
schemathesis use a real uvicorn server (test_server_live.py).
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from classifine.inference.predictor import Classifier
from classifine.server import ServerSettings, create_app
from classifine.server.settings import Limits

SPAM = (
    "WINNER!! As a valued network customer you have been selected to receive a £900 prize reward! "
    "Call 09061701461"
)
HAM = "Ok lar... I'll be home by 7, see you then"
SNAPSHOT = Path(__file__).resolve().parents[1] / "fixtures" / "openapi.json"


@pytest.fixture(scope="module")
def client(sms_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    store = tmp_path_factory.mktemp("store") / "serving.sqlite"
    settings = ServerSettings.for_runs(
        [f"spam={sms_run}"], store=f"sqlite:///{store}", limits=Limits(max_texts=8, max_text_chars=2000)
    )
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture(scope="module")
def clf(sms_run: Path) -> Classifier:
    return Classifier.load(sms_run)


def test_classify_shape_ids_and_scores_match_the_classifier(client: TestClient, clf: Classifier) -> None:
    r = client.post("/v1/classify", json={"texts": [SPAM, HAM], "top_k": 1})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "spam" and len(body["model_version"]) == 12
    assert [p["label"] for p in body["predictions"]] == ["spam", "ham"]
    expected = clf.predict_proba([SPAM, HAM])
    ids = set()
    for pred, row in zip(body["predictions"], expected, strict=True):
        ids.add(pred["id"])
        assert list(pred["scores"]) == ["ham", "spam"]
        np.testing.assert_allclose([pred["scores"]["ham"], pred["scores"]["spam"]], row, atol=5e-3)
        assert len(pred["top_k"]) == 1 and pred["top_k"][0]["label"] == pred["label"]
        assert pred["top_k"][0]["score"] == pytest.approx(max(pred["scores"].values()))
    assert len(ids) == 2
    full = client.post("/v1/classify", json={"texts": [HAM]}).json()["predictions"][0]
    assert [t["label"] for t in full["top_k"]] == ["ham", "spam"]  # default: every label, best first


def test_predict_speaks_text_embeddings_inference(client: TestClient) -> None:
    single = client.post("/predict", json={"inputs": SPAM})
    assert single.status_code == 200
    preds = single.json()
    assert [p["label"] for p in preds] == ["spam", "ham"]  # sorted by score
    assert preds[0]["score"] >= preds[1]["score"] and sum(p["score"] for p in preds) == pytest.approx(
        1, abs=1e-5
    )
    assert len(single.headers["x-prediction-ids"].split(",")) == 1

    batch = client.post(
        "/predict", json={"inputs": [[SPAM], [HAM]], "parameters": {"top_k": 1}}
    )  # extra: ignored
    assert batch.status_code == 200
    assert [[p["label"] for p in row][0] for row in batch.json()] == ["spam", "ham"]
    assert len(batch.headers["x-prediction-ids"].split(",")) == 2

    one = client.post("/predict", json={"inputs": [HAM]}).json()  # a one-string list is a single input
    assert isinstance(one[0], dict) and one[0]["label"] == "ham"

    raw = client.post("/predict", json={"inputs": HAM, "raw_scores": True}).json()
    soft = np.exp([p["score"] for p in raw]) / np.exp([p["score"] for p in raw]).sum()
    normal = client.post("/predict", json={"inputs": HAM}).json()
    np.testing.assert_allclose(soft, [p["score"] for p in normal], atol=1e-6)


@pytest.mark.parametrize(
    ("body", "status", "kind", "needle"),
    [
        ({"inputs": [SPAM, HAM]}, 422, "validation", "pairs are not supported"),
        ({"inputs": [[SPAM, HAM]]}, 422, "validation", "pairs are not supported"),
        ({"inputs": []}, 422, "validation", "empty list"),
        ({"inputs": ""}, 400, "empty", "cannot be empty"),
        ({"inputs": [[HAM]] * 9}, 413, "validation", "batch size 9 > maximum allowed batch size 8"),
        ({"inputs": "word " * 300}, 413, "validation", "must have less than 64 tokens"),
        ({"inputs": "x" * 2001, "truncate": True}, 413, "limit", "max_text_chars"),
        ({"inputs": 5}, 422, "validation", "inputs"),
    ],
)
def test_predict_errors_follow_tei(
    client: TestClient, body: dict[str, object], status: int, kind: str, needle: str
) -> None:
    r = client.post("/predict", json=body)
    assert r.status_code == status, r.text
    assert r.json()["error_type"] == kind and needle in r.json()["error"]


def test_predict_truncates_when_asked(client: TestClient) -> None:
    assert client.post("/predict", json={"inputs": "word " * 300, "truncate": True}).status_code == 200


@pytest.mark.parametrize(
    ("payload", "status", "needle"),
    [
        (b"{not json", 422, "not valid JSON"),
        (b"[]", 422, "body"),
        (b'{"texts": "one string"}', 422, "texts"),
        (b'{"texts": [1, 2]}', 422, "texts.0"),
        (b'{"texts": []}', 422, "at least one text"),
        (b'{"texts": ["a"], "top_k": 0}', 422, "top_k"),
        (b'{"texts": ["a"], "top_k": "two"}', 422, "top_k"),
        (b'{"texts": ["a"], "top_k": 1e400}', 422, "top_k"),
        (b'{"texts": ["a"], "model": 7}', 422, "model"),
        (b'{"texts": ["a"], "extra": 1}', 422, "extra"),
        (b'{"texts": ["a"], "model": "spma"}', 404, "did you mean 'spam'"),
        (b'{"texts": ["a","b","c","d","e","f","g","h","i"]}', 422, "limit of 8 per request (max_texts)"),
        (b'{"texts": ["' + b"y" * 2001 + b'"]}', 422, "limit of 2000 per text (max_text_chars)"),
    ],
)
def test_bad_client_input_gets_a_json_4xx(
    client: TestClient, payload: bytes, status: int, needle: str
) -> None:
    r = client.post("/v1/classify", content=payload, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    assert needle in r.json()["error"], r.json()


def test_odd_but_valid_input_is_classified(client: TestClient) -> None:
    weird = (
        '{"texts": ["\\ud800 lone surrogate", "nul \\u0000 char", "", "  ", '
        '"\\ud83d\\ude00 emoji", "\\u202e rtl"]}'
    )
    r = client.post("/v1/classify", content=weird.encode(), headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    assert len(r.json()["predictions"]) == 6
    big = client.post(
        "/v1/classify", json={"texts": ["a"], "top_k": 10**30}
    )  # more than the labels: all of them
    assert big.status_code == 200 and len(big.json()["predictions"][0]["top_k"]) == 2


def test_routing_errors_are_json(client: TestClient) -> None:
    missing = client.get("/nope")
    assert missing.status_code == 404 and missing.json()["error_type"] == "not_found"
    wrong = client.get("/v1/classify")
    assert wrong.status_code == 405 and "not allowed" in wrong.json()["error"]
    form = client.post("/v1/classify", data={"texts": "a"})
    assert form.status_code == 422 and "error" in form.json()


def test_body_limit_is_413_declared_or_streamed(sms_run: Path) -> None:
    settings = ServerSettings.for_runs([sms_run], store_enabled=False, limits=Limits(max_body_bytes=2048))
    with TestClient(create_app(settings)) as c:
        big = json.dumps({"texts": ["z" * 3000]}).encode()
        r = c.post("/v1/classify", content=big, headers={"content-type": "application/json"})
        assert r.status_code == 413 and "max_body_bytes" in r.json()["error"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit counts streamed bytes
            yield b'{"texts": ["'
            for _ in range(10):
                yield b"z" * 500
            yield b'"]}'

        streamed = c.post("/v1/classify", content=chunks(), headers={"content-type": "application/json"})
        assert streamed.status_code == 413
        assert c.post("/v1/classify", json={"texts": ["fine"]}).status_code == 200


def test_models_health_ready(client: TestClient, sms_run: Path) -> None:
    models = client.get("/v1/models").json()["models"]
    assert len(models) == 1
    info = models[0]
    meta = json.loads((sms_run / "model" / "classifine.json").read_text())
    assert info["name"] == "spam" and info["labels"] == ["ham", "spam"] and info["engine"] == "torch"
    assert info["metrics"]["accuracy"] == pytest.approx(meta["metrics"]["accuracy"])
    assert info["problem_type"] == "single_label" and info["max_length"] == 64
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"status": "ready", "models": ["spam"]}


def test_api_key_protects_everything_but_probes(sms_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_CLASSIFINE_KEY", "s3cret-key-0123456789")
    settings = ServerSettings.for_runs([sms_run], store_enabled=False, api_key_env="TEST_CLASSIFINE_KEY")
    with TestClient(create_app(settings.with_key_from_env())) as c:
        for method, path in (
            ("post", "/v1/classify"),
            ("post", "/predict"),
            ("get", "/v1/models"),
            ("get", "/metrics"),
        ):
            body = {"texts": ["hi"]} if path == "/v1/classify" else {"inputs": "hi"}
            kwargs = {"json": body} if method == "post" else {}
            none = getattr(c, method)(path, **kwargs)
            assert none.status_code == 401, path
            assert (
                none.json()["error_type"] == "unauthorized" and none.headers["www-authenticate"] == "Bearer"
            )
            wrong = getattr(c, method)(path, headers={"Authorization": "Bearer nope"}, **kwargs)
            assert wrong.status_code == 401 and wrong.json()["error"] == "invalid API key"
            basic = getattr(c, method)(path, headers={"Authorization": "Basic czNjcmV0"}, **kwargs)
            assert basic.status_code == 401
            ok = getattr(c, method)(path, headers={"Authorization": "Bearer s3cret-key-0123456789"}, **kwargs)
            assert ok.status_code == 200, (path, ok.text)
        assert c.get("/health").status_code == 200 and c.get("/ready").status_code == 200
        reload = c.post(
            "/v1/models/sms-demo/reload", headers={"Authorization": "Bearer s3cret-key-0123456789"}
        )
        assert reload.status_code == 200 and reload.json()["changed"] is False
        assert c.post("/v1/models/sms-demo/reload").status_code == 401


def test_reload_needs_a_configured_key(client: TestClient) -> None:
    r = client.post("/v1/models/spam/reload")
    assert r.status_code == 403 and "--api-key-env" in r.json()["error"]


def test_cors_is_off_unless_configured(client: TestClient, sms_run: Path) -> None:
    r = client.post("/v1/classify", json={"texts": ["hi"]}, headers={"Origin": "https://example.org"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    settings = ServerSettings.for_runs(
        [sms_run], store_enabled=False, cors_origins=["https://app.example.org"]
    )
    with TestClient(create_app(settings)) as c:
        pre = c.options(
            "/v1/classify",
            headers={"Origin": "https://app.example.org", "Access-Control-Request-Method": "POST"},
        )
        assert (
            pre.status_code == 200 and pre.headers["access-control-allow-origin"] == "https://app.example.org"
        )
        other = c.post("/v1/classify", json={"texts": ["hi"]}, headers={"Origin": "https://evil.example.org"})
        assert "access-control-allow-origin" not in other.headers


def test_texts_and_keys_never_reach_the_logs(
    sms_run: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret_text = "zebra-sentinel-text-4711"
    monkeypatch.setenv("TEST_CLASSIFINE_KEY", "key-sentinel-0815-abcdef")
    settings = ServerSettings.for_runs([sms_run], store_enabled=False, api_key_env="TEST_CLASSIFINE_KEY")
    caplog.set_level(logging.DEBUG)
    with TestClient(create_app(settings.with_key_from_env())) as c:
        auth = {"Authorization": "Bearer key-sentinel-0815-abcdef"}
        c.post("/v1/classify", json={"texts": [secret_text]}, headers=auth)
        c.post("/v1/classify", json={"texts": [secret_text], "top_k": -1}, headers=auth)
        c.post(
            "/v1/classify", json={"texts": [secret_text]}, headers={"Authorization": "Bearer " + secret_text}
        )
        c.post("/predict", json={"inputs": [secret_text, secret_text]}, headers=auth)
    assert caplog.records, "expected some log records"
    assert secret_text not in caplog.text and "key-sentinel" not in caplog.text


def test_openapi_snapshot(client: TestClient) -> None:
    """The schema is pinned. After an intended API change, update the snapshot with
    ``CLASSIFINE_UPDATE_SNAPSHOTS=1 pytest tests/integration/test_server_api.py -k openapi``
    and review the diff of tests/fixtures/openapi.json.
    """
    schema = client.get("/openapi.json").json()
    schema["info"].pop("version", None)
    if os.environ.get("CLASSIFINE_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
    expected = json.loads(SNAPSHOT.read_text())
    assert schema == expected, "OpenAPI schema changed: see this test's docstring to update the snapshot"
    paths = set(schema["paths"])
    assert paths == {
        "/v1/classify",
        "/predict",
        "/v1/feedback",
        "/v1/models",
        "/v1/models/{name}/reload",
        "/v1/models/{name}/card",
        "/v1/monitor",
        "/v1/monitor/lowest-confidence",
        "/v1/feedback/summary",
        "/health",
        "/ready",
        "/metrics",
    }


def test_confidence_and_labels_are_recorded_in_metrics(client: TestClient) -> None:
    from serving import metric

    before = metric(client.get("/metrics").text, "classifine_predictions_total", model="spam", label="spam")
    client.post("/v1/classify", json={"texts": [SPAM, SPAM]})
    text = client.get("/metrics").text
    assert metric(text, "classifine_predictions_total", model="spam", label="spam") == before + 2
    assert metric(text, "classifine_prediction_confidence_count", model="spam") >= 2
    assert metric(text, "classifine_requests_total", route="/v1/classify", method="POST", status="200") >= 1
    assert metric(text, "classifine_requests_total", route="unmatched", method="GET", status="404") >= 0
    assert not math.isnan(
        metric(
            text, "classifine_request_duration_seconds_sum", route="/v1/classify", method="POST", status="200"
        )
    )
