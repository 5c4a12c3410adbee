"""Feedback -> store -> monitor -> export round trip with the real SMS-spam run, and a multi-label run."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from classifine.cli.main import main
from classifine.data.catalog import load_catalog
from classifine.errors import DataError
from classifine.server import ServerSettings, create_app
from classifine.server.feedback import export_feedback
from classifine.server.monitor import monitor, psi
from classifine.server.store import text_hash


def _copy(run: Path, dest: Path) -> Path:
    shutil.copytree(run, dest)
    return dest


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return load_catalog("sms-spam").test.texts[:40]


@pytest.fixture(scope="module")
def served(sms_run: Path, tmp_path_factory: pytest.TempPathFactory, texts: list[str]) -> dict[str, object]:
    """Serve a copy of the run with --store-texts, classify 40 texts, send feedback; stop (flushes)."""
    run = _copy(sms_run, tmp_path_factory.mktemp("fb") / "sms-demo")
    settings = ServerSettings.for_runs([run], store_texts=True)
    new_text = "completely new text that was never classified"
    with TestClient(create_app(settings)) as c:
        preds = c.post("/v1/classify", json={"texts": texts[:20]}).json()["predictions"]
        preds += c.post("/v1/classify", json={"texts": texts[20:]}).json()["predictions"]
        other = {"ham": "spam", "spam": "ham"}
        kinds = []
        for p in preds[:10]:  # confirmations by id
            kinds.append(c.post("/v1/feedback", json={"id": p["id"], "label": p["label"]}).json()["kind"])
        for p in preds[10:15]:  # corrections by id
            kinds.append(
                c.post("/v1/feedback", json={"id": p["id"], "label": other[p["label"]]}).json()["kind"]
            )
        by_text = c.post("/v1/feedback", json={"text": texts[15], "label": other[preds[15]["label"]]})
        first = c.post("/v1/feedback", json={"text": new_text, "label": "spam"})
        latest = c.post("/v1/feedback", json={"text": new_text, "label": "ham"})  # the latest wins
        unknown = c.post("/v1/feedback", json={"id": "0000-not-an-id", "label": "ham"})
        both = c.post("/v1/feedback", json={"id": preds[0]["id"], "text": "x", "label": "ham"})
        bad_label = c.post("/v1/feedback", json={"id": preds[0]["id"], "label": "spma"})
    return {
        "run": run,
        "preds": preds,
        "kinds": kinds,
        "by_text": by_text,
        "first": first,
        "latest": latest,
        "unknown": unknown,
        "both": both,
        "bad_label": bad_label,
        "new_text": new_text,
    }


def test_feedback_answers(served: dict) -> None:
    assert served["kinds"] == ["confirm"] * 10 + ["correct"] * 5
    by_text = served["by_text"]
    assert by_text.status_code == 201 and by_text.json()["kind"] == "correct"
    assert by_text.json()["prediction_id"] == served["preds"][15]["id"]  # found by the text's hash
    assert served["first"].status_code == 201 and served["first"].json()["prediction_id"] is None
    assert (
        served["unknown"].status_code == 404 and "unknown prediction id" in served["unknown"].json()["error"]
    )
    assert served["both"].status_code == 422 and "exactly one" in served["both"].json()["error"]
    assert (
        served["bad_label"].status_code == 422
        and "did you mean 'spam'" in served["bad_label"].json()["error"]
    )


def test_store_rows_in_the_run_folder(served: dict, texts: list[str]) -> None:
    db = served["run"] / "serving.sqlite"
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        rows = conn.execute(
            "SELECT id, text, text_sha256, model, label, confidence FROM predictions"
        ).fetchall()
        fb = conn.execute("SELECT kind FROM feedback").fetchall()
    assert len(rows) == 40 and {r[0] for r in rows} == {p["id"] for p in served["preds"]}
    assert {r[1] for r in rows} == set(texts) and all(r[2] == text_hash(r[1]) for r in rows)
    assert {r[3] for r in rows} == {"sms-demo"} and all(0.5 <= r[5] <= 1.0 for r in rows)
    assert len(fb) == 18


def test_monitor_reports_volume_drift_and_feedback_accuracy(served: dict, tmp_path: Path) -> None:
    report = monitor(served["run"], low_confidence=0.9)
    assert len(report.models) == 1
    m = report.models[0]
    assert m["model"] == "sms-demo" and m["predictions"] == 40 and len(m["versions"]) == 1
    labels = [p["label"] for p in served["preds"]]
    assert m["label_counts"] == {
        k: labels.count(k) for k in sorted(set(labels), key=lambda k: -labels.count(k))
    }
    fb = m["feedback"]
    # 16 judged predictions (15 by id + 1 by text): 10 confirmed; the new text has no prediction
    assert (fb["judged"], fb["confirmed"], fb["corrected"]) == (16, 10, 6)
    assert fb["accuracy"] == pytest.approx(10 / 16, abs=1e-4) and fb["labels_without_prediction"] == 1
    drift = m["drift"]
    train = load_catalog("sms-spam").train.class_counts()
    shares = {k: v / sum(train.values()) for k, v in train.items()}
    served_shares = {k: v / 40 for k, v in m["label_counts"].items()}
    assert drift["statistic"] == "psi" and drift["psi"] == pytest.approx(psi(shares, served_shares), abs=1e-4)
    assert "approximate" in drift["note"]  # the fixture trained on a subset of the split
    assert sum(b["count"] for b in m["over_time"]["buckets"]) == 40
    assert sum(m["confidence_histogram"]["counts"]) == 40

    out = tmp_path / "monitor.html"
    assert main(["monitor", str(served["run"]), "--html", str(out), "--low-confidence", "0.9"]) == 0
    page = out.read_text()
    assert (
        page.count("data:image/png;base64,") == 4 and "PSI" in page and "http" not in page.split("<body>")[1]
    )


def test_monitor_json_cli(served: dict, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["monitor", str(served["run"]), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["models"][0]["predictions"] == 40 and data["low_confidence_threshold"] == 0.6


def test_export_latest_feedback_wins_and_train_reads_it(
    served: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "corrections.csv"
    assert main(["feedback", "export", str(served["run"]), "--output", str(out)]) == 0
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["text", "label"] and len(frame) == 17  # 16 predicted texts + 1 new text
    assert frame.loc[frame["text"] == served["new_text"], "label"].tolist() == ["ham"]
    fixes = export_feedback(served["run"], tmp_path / "fixes.csv", only_corrections=True)
    assert (fixes.rows, fixes.corrections) == (7, 7)
    capsys.readouterr()
    assert main(["data", "inspect", str(out), "--json"]) == 0  # the training data layer reads the file
    inspected = json.loads(capsys.readouterr().out)
    assert inspected["rows"] == 17 and inspected["missing_labels"] == 0
    assert sum(inspected["classes"].values()) == 17 and set(inspected["classes"]) <= {"ham", "spam"}


def test_export_without_stored_texts_says_so_and_texts_file_recovers(
    sms_run: Path, tmp_path: Path, texts: list[str]
) -> None:
    run = _copy(sms_run, tmp_path / "plain")
    with TestClient(create_app(ServerSettings.for_runs([run]))) as c:
        preds = c.post("/v1/classify", json={"texts": texts[:3]}).json()["predictions"]
        for p in preds:
            assert c.post("/v1/feedback", json={"id": p["id"], "label": "spam"}).status_code == 201
    with sqlite3.connect(run / "serving.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM predictions WHERE text IS NOT NULL").fetchone()[0] == 0
    with pytest.raises(DataError, match="without --store-texts"):
        export_feedback(run, tmp_path / "none.csv")
    source = tmp_path / "originals.csv"
    pd.DataFrame({"text": texts}).to_csv(source, index=False)
    result = export_feedback(run, tmp_path / "ok.csv", texts=source)
    assert result.rows == 3 and set(pd.read_csv(tmp_path / "ok.csv")["text"]) == set(texts[:3])


def test_multi_label_run_serves_label_lists(tmp_path: Path) -> None:
    from unit.test_predictor import build_tiny_run

    run = build_tiny_run(
        tmp_path / "tags", ["billing", "bug", "praise"], multi_label=True, thresholds=[0.3, 0.5, 0.7]
    )
    with TestClient(create_app(ServerSettings.for_runs([run], store_texts=True))) as c:
        r = c.post("/v1/classify", json={"texts": ["refund invoice crash", "great work"]})
        assert r.status_code == 200, r.text
        for p in r.json()["predictions"]:
            assert isinstance(p["label"], list)
            expected = [
                n
                for n, t in zip(["billing", "bug", "praise"], [0.3, 0.5, 0.7], strict=True)
                if p["scores"][n] >= t
            ]
            assert p["label"] == expected
        pid = r.json()["predictions"][0]["id"]
        fb = c.post("/v1/feedback", json={"id": pid, "label": ["bug", "billing"]})
        assert fb.status_code == 201
        unknown = c.post("/v1/feedback", json={"id": pid, "label": ["bug", "nope"]})
        assert unknown.status_code == 422 and "'nope' is not a label" in unknown.json()["error"]
    report = monitor(run)
    assert report.models[0]["predictions"] == 2
    out = tmp_path / "tags.csv"
    export_feedback(run, out)
    assert json.loads(pd.read_csv(out)["label"][0]) == ["billing", "bug"]


def test_postgres_store_serves_monitors_and_exports(sms_run: Path, postgres_url: str, tmp_path: Path) -> None:
    import uuid

    import sqlalchemy as sa

    name = f"serving_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    url = postgres_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        settings = ServerSettings.for_runs([f"spam={sms_run}"], store=url, store_texts=True)
        with TestClient(create_app(settings)) as c:
            preds = c.post("/v1/classify", json={"texts": ["nul \x00 in a text", "see you at 5"]}).json()
            pid = preds["predictions"][1]["id"]
            assert c.post("/v1/feedback", json={"id": pid, "label": "ham"}).status_code == 201
        report = monitor(url, run=sms_run)
        m = report.models[0]
        assert m["model"] == "spam" and m["predictions"] == 2 and m["feedback"]["judged"] == 1
        assert m["drift"]["psi"] is not None
        result = export_feedback(url, tmp_path / "pg.csv")
        assert result.rows == 1 and pd.read_csv(tmp_path / "pg.csv")["text"].tolist() == ["see you at 5"]
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()
