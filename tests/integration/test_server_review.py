"""The read-only review endpoints the web page uses (card, monitor, lowest-confidence, feedback
summary), called through the page's typed HTTP client on a real uvicorn server of a tiny run.

Versions and promotions: the run folder gets ``versions/N`` folders and a ``promotions.jsonl`` in the
documented on-disk format (the retraining code writes them; here they are written by hand, since this
test is about the reader), including a torn last line that must be skipped.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from classifine.server import ServerSettings, create_app
from classifine.server.settings import Limits
from classifine.ui.client import KeyRejected, ServerClient, ServerRefused, ServerUnreachable
from fixtures_models import build_tiny_run
from serving import free_port, live_server

KEY = "review-key-91ab"
TEXTS = ["goal match team", "score league", "the team won the match", "league goal", "team", "match"]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_run(tmp_path_factory.mktemp("review") / "tiny", ["food", "sport", "tech"])


@pytest.fixture(scope="module")
def server(run: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    store = tmp_path_factory.mktemp("review-store") / "serving.sqlite"
    settings = ServerSettings.for_runs(
        [f"tiny={run}"],
        store=f"sqlite:///{store}",
        store_texts=True,
        api_key=KEY,
        limits=Limits(max_texts=4),
    )
    with live_server(create_app(settings)) as url:
        yield url


@pytest.fixture(scope="module")
def client(server: str) -> ServerClient:
    return ServerClient(server, api_key=KEY, key_env="REVIEW_KEY")


def test_classify_all_splits_requests_under_the_server_limit(client: ServerClient) -> None:
    seen: list[tuple[int, int]] = []
    preds = client.classify_all(TEXTS, batch_size=10, on_progress=lambda d, t: seen.append((d, t)))
    assert len(preds) == len(TEXTS) and len({p.id for p in preds}) == len(TEXTS)
    assert seen[-1] == (6, 6) and all(d <= 6 for d, _ in seen)  # 10 > max_texts 4: halved, then sent
    for p in preds:
        assert set(p.scores) == {"food", "sport", "tech"}
        assert p.label == max(p.scores, key=p.scores.__getitem__)


def test_lowest_confidence_lists_unreviewed_predictions_least_confident_first(client: ServerClient) -> None:
    client.classify_all(TEXTS)
    review = client.lowest_confidence("tiny", limit=3)
    rows = review["predictions"]
    assert review["texts_stored"] is True and len(rows) == 3
    assert [r["confidence"] for r in rows] == sorted(r["confidence"] for r in rows)
    assert all(r["text"] in TEXTS for r in rows)

    before = client.feedback_summary("tiny")
    first = rows[0]
    other = next(label for label in ("food", "sport", "tech") if label != first["label"])
    done = client.feedback(other, prediction_id=first["id"])
    assert done.kind == "correct" and done.prediction_id == first["id"]
    after = client.feedback_summary("tiny")
    assert after["rows"] == before["rows"] + 1 and after["corrected"] == before["corrected"] + 1
    ids = [r["id"] for r in client.lowest_confidence("tiny", limit=50)["predictions"]]
    assert first["id"] not in ids  # reviewed predictions leave the list


def test_monitor_json_counts_what_was_served(client: ServerClient) -> None:
    client.classify_all(TEXTS[:2])
    section = client.monitor("tiny", low_confidence=0.99)
    assert section is not None and section["model"] == "tiny"
    assert section["predictions"] >= 2
    assert sum(b["count"] for b in section["over_time"]["buckets"]) == section["predictions"]
    assert section["confidence"]["low_share"] == 1.0  # a random 3-label model is never 99% sure


def test_card_without_evaluation_or_versions(client: ServerClient) -> None:
    card = client.card("tiny")
    assert card["model"]["labels"] == ["food", "sport", "tech"]
    assert card["evaluation"] is None
    assert card["versions"] == [] and card["promotions"] == []


def _version(run: Path, number: int, accuracy: float) -> None:
    folder = run / "versions" / str(number)
    shutil.copytree(run / "model", folder / "model")
    (folder / "metrics.json").write_text(json.dumps({"test": {"accuracy": accuracy, "macro_f1": accuracy}}))


def test_card_lists_versions_and_promotions_and_skips_a_torn_line(client: ServerClient, run: Path) -> None:
    _version(run, 1, 0.81)
    _version(run, 2, 0.86)
    (run / "versions" / "3").mkdir()  # a retrain that never finished: no model, not a version
    line = {
        "time": "2026-12-01T10:15:02Z",
        "action": "retrain",
        "version": 2,
        "previous_version": 1,
        "serving": 2,
        "decision": "promoted",
        "metric": "macro_f1",
        "new_score": 0.86,
        "old_score": 0.81,
        "min_delta": 0.0,
        "held_out": {"split": "test", "texts": 500, "fingerprint": "3f2a"},
        "reason": "macro_f1 0.8600 >= 0.8100 + 0.0000 on the same 500 test texts",
        "trigger": "classifine retrain --from-feedback",
        "user": "ana",
        "data": {"new_labels": 200},
    }
    log = run / "versions" / "promotions.jsonl"
    log.write_text(json.dumps(line) + "\n" + '{"time": "2026-12-01T11:00:00Z", "action": "rollb')
    try:
        card = client.card("tiny")
    finally:
        shutil.rmtree(run / "versions")
    assert [(v["version"], v["serving"], v["test_accuracy"]) for v in card["versions"]] == [
        (1, False, 0.81),
        (2, True, 0.86),
    ]
    assert len(card["promotions"]) == 1
    promotion = card["promotions"][0]
    assert (promotion["decision"], promotion["new_score"], promotion["old_score"]) == ("promoted", 0.86, 0.81)
    assert "data" not in promotion and promotion["reason"].startswith("macro_f1 0.8600")


def test_errors_the_page_turns_into_messages(server: str) -> None:
    with pytest.raises(KeyRejected, match="no API key was sent") as no_key:
        ServerClient(server, key_env="REVIEW_KEY").models()
    assert "REVIEW_KEY" in (no_key.value.hint or "")
    with pytest.raises(KeyRejected, match="the API key was refused"):
        ServerClient(server, api_key="wrong").models()
    with pytest.raises(ServerRefused, match="404") as unknown:
        ServerClient(server, api_key=KEY).card("nope")
    assert unknown.value.status == 404 and "tiny" in unknown.value.message  # names the served models
    with pytest.raises(ServerUnreachable, match="cannot reach the classifine server"):
        ServerClient(f"http://127.0.0.1:{free_port()}", timeout=5).models()


def test_review_endpoints_need_a_store(run: Path) -> None:
    from fastapi.testclient import TestClient

    settings = ServerSettings.for_runs([f"tiny={run}"], store_enabled=False)
    with TestClient(create_app(settings)) as http:
        r = http.get("/v1/monitor/lowest-confidence")
        assert r.status_code == 409 and "--no-store" in r.json()["error"]
        assert http.get("/v1/models/tiny/card").status_code == 200  # the card needs no store
    assert not os.path.exists(run / "serving.sqlite")
