"""The web page in a real browser: Debian's Chromium, driven by Playwright, on a real ``classifine ui``
talking to a real ``classifine serve`` of a real (small) fine-tuned run, all on free loopback ports.

Checked as a user would: type a text and see its label; correct it and see the feedback counted (and
in the server's store and metrics); upload a file, choose its text column and download the
predictions (and check the downloaded rows); a malformed upload; the Monitor and Model tabs; the
messages for a wrong API key and a server that is down. Screenshots are kept in
``test-output/ui/`` at the repository root (ignored by git).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from serving import SRC, free_port, metric, serve_process, stop_process, wait_ready
from system import chromium_path, require_system

KEY = "ui-test-key-7c2d"
AUTH = {"Authorization": f"Bearer {KEY}"}
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "ui"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SPAM = "WINNER!! You have been selected for a 1000 GBP cash prize. Call 09061701461 to claim now"
WAIT_MS = 45_000  # a rerun of the page on 2 busy shared cores


@pytest.fixture(scope="module")
def chromium() -> str:
    path = chromium_path()
    require_system("Chromium (the browser of the web page test)", path is not None, "chromium")
    assert path is not None
    return path


@pytest.fixture(scope="module")
def run(sms_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the session's run (the stack records a test evaluation into it for the model card)."""
    folder = tmp_path_factory.mktemp("ui") / "sms-demo"
    shutil.copytree(sms_run, folder)
    return folder


def _ui_process(
    server: str, port: int, log: Path, key_env: str, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    full_env = {**os.environ, **env, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    args = ["ui", "--server", server, "--port", str(port), "--api-key-env", key_env]
    out = open(log, "wb")  # noqa: SIM115 (closed with the process)
    return subprocess.Popen(
        [sys.executable, "-m", "classifine.cli.main", *args], env=full_env, stdout=out, stderr=out
    )


def _wait_page(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"classifine ui exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url + "/_stcore/health", timeout=2).text == "ok":
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the page at {url} did not start: {log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def stack(run: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """``classifine serve`` (API key, SQLite store with texts) and three ``classifine ui`` pages: the
    right key, a wrong key, and a server address where nothing listens."""
    tmp = tmp_path_factory.mktemp("ui-stack")
    store = tmp / "serving.sqlite"
    port = free_port()
    server = f"http://127.0.0.1:{port}"
    env = {"UI_TEST_KEY": KEY, "UI_WRONG_KEY": "not-the-key"}
    serve = serve_process(
        [str(run), "--port", str(port), "--api-key-env", "UI_TEST_KEY", "--store", f"sqlite:///{store}"]
        + ["--store-texts"],
        env=env,
        log=tmp / "serve.log",
    )
    pages = {
        "ok": (server, "UI_TEST_KEY"),
        "wrong_key": (server, "UI_WRONG_KEY"),
        "down": (f"http://127.0.0.1:{free_port()}", "UI_TEST_KEY"),
    }
    procs: dict[str, tuple[subprocess.Popen[bytes], str, Path]] = {}
    try:
        for name, (target, key_env) in pages.items():
            ui_port, log = free_port(), tmp / f"ui-{name}.log"
            procs[name] = (
                _ui_process(target, ui_port, log, key_env, env),
                f"http://127.0.0.1:{ui_port}",
                log,
            )
        # While the processes start: a real evaluation (model beside TF-IDF, same 60 test texts) for
        # the Model tab; the server reads metrics.json per request, never at start.
        from classifine.evaluation.evaluate import evaluate_run

        evaluate_run(run, limit=60)
        wait_ready(server, serve)
        for proc, url, log in procs.values():
            _wait_page(url, proc, log)
        yield {"server": server, "store": store, **{name: url for name, (_, url, _) in procs.items()}}
    finally:
        for proc, _, _ in procs.values():
            stop_process(proc, timeout=20)
        stop_process(serve)


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    profile = tempfile.mkdtemp(prefix="classifine-chromium-")
    try:
        with sync_playwright() as p:
            context = p.chromium.launch_persistent_context(
                profile,
                executable_path=chromium,
                args=CHROMIUM_FLAGS,
                headless=True,
                accept_downloads=True,
                viewport={"width": 1280, "height": 1100},
            )
            context.set_default_timeout(WAIT_MS)
            yield context
            context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture()
def page(browser: Any, stack: dict[str, Any]) -> Iterator[Any]:
    tab = browser.new_page()
    tab.goto(stack["ok"])
    tab.get_by_role("tab", name="Predict").wait_for()
    yield tab
    tab.close()


def _tab(page: Any, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def _classify(server: str, texts: list[str]) -> list[dict[str, Any]]:
    r = httpx.post(server + "/v1/classify", json={"texts": texts}, headers=AUTH, timeout=60)
    r.raise_for_status()
    return list(r.json()["predictions"])


def _feedback_counts(server: str) -> tuple[dict[str, Any], float]:
    summary = httpx.get(server + "/v1/feedback/summary", headers=AUTH).json()
    text = httpx.get(server + "/metrics", headers=AUTH).text
    posted = metric(text, "classifine_requests_total", route="/v1/feedback", method="POST", status="201")
    return summary, posted


def test_type_a_text_see_its_label_correct_it_and_see_the_feedback_counted(
    page: Any, stack: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    before, posted = _feedback_counts(stack["server"])
    page.get_by_label("Text to classify").fill(SPAM)
    page.get_by_role("button", name="Classify", exact=True).click()
    heading = page.get_by_role("heading", name="Label:")
    expect(heading).to_be_visible()
    shown = heading.inner_text().split(":", 1)[1].strip()
    expected = _classify(stack["server"], [SPAM])[0]["label"]
    assert shown == expected
    page.screenshot(path=str(SHOTS / "predict.png"))

    other = "ham" if shown == "spam" else "spam"
    page.get_by_role("button", name="Send correction").click()  # the selector offers the other label
    note = page.get_by_text("Corrected to")
    expect(note).to_be_visible()
    page.screenshot(path=str(SHOTS / "feedback.png"))

    after, posted_after = _feedback_counts(stack["server"])
    assert (after["rows"], after["corrected"]) == (before["rows"] + 1, before["corrected"] + 1)
    assert posted_after == posted + 1  # the server's /metrics counted one feedback request
    shown_note = note.inner_text()
    assert f"Corrected to '{other}'" in shown_note
    assert f"now has {after['rows']} feedback" in shown_note
    assert f"{after['corrected']} corrected" in shown_note
    with sqlite3.connect(stack["store"]) as db:
        newest = db.execute(
            "SELECT f.label, f.predicted_label, f.kind, p.text FROM feedback f"
            " JOIN predictions p ON p.id = f.prediction_id ORDER BY f.id DESC LIMIT 1"
        ).fetchone()
    assert newest == (other, shown, "correct", SPAM)  # the correction names the page's prediction


def _upload_csv(texts: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "text", "sms"])  # "text" is a folder name here: the guess is wrong on purpose
    for i, t in enumerate(texts):
        writer.writerow([i, "inbox" if i % 2 else "archive", t])
    return out.getvalue().encode("utf-8")


def test_upload_a_file_choose_the_column_and_download_its_predictions(
    page: Any, stack: dict[str, Any], tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    from classifine.data.catalog import load_catalog

    texts = load_catalog("sms-spam").test.texts[:25] + [""]
    _tab(page, "Batch")
    page.locator("input[type=file]").set_input_files(
        {"name": "messages.csv", "mimeType": "text/csv", "buffer": _upload_csv(texts)}
    )
    expect(page.get_by_text("26 rows · columns: id, text, sms")).to_be_visible()
    page.get_by_label("Text column", exact=True).click()  # opens the select box (Streamlit's combobox)
    page.get_by_role("option", name="sms", exact=True).click()
    page.get_by_role("button", name="Classify all rows").click()
    expect(page.get_by_text("Classified 25 rows (1 empty texts skipped)")).to_be_visible()
    page.screenshot(path=str(SHOTS / "batch.png"))
    with page.expect_download() as info:
        page.get_by_role("button", name="Download predictions (CSV)").click()
    file = tmp_path / info.value.suggested_filename
    info.value.save_as(file)
    assert file.name == "messages-predictions.csv"
    with open(file, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["sms"] for r in rows] == texts and len(rows) == 26
    assert {"label", "confidence", "score_ham", "score_spam", "prediction_id"} <= set(rows[0])
    expected = [p["label"] for p in _classify(stack["server"], texts[:25])]
    assert [r["label"] for r in rows[:25]] == expected
    assert rows[25]["label"] == "" and rows[25]["prediction_id"] == ""
    for r in rows[:25]:
        assert abs(float(r["score_ham"]) + float(r["score_spam"]) - 1) < 2e-3
        assert float(r["confidence"]) == max(float(r["score_ham"]), float(r["score_spam"]))


def test_malformed_uploads_get_a_message_not_a_traceback(page: Any) -> None:
    from playwright.sync_api import expect

    _tab(page, "Batch")
    upload = page.locator("input[type=file]")
    upload.set_input_files(
        {"name": "latin1.csv", "mimeType": "text/csv", "buffer": "text\ncafé\n".encode("latin-1")}
    )
    expect(page.get_by_text("not UTF-8 text")).to_be_visible()
    page.screenshot(path=str(SHOTS / "bad-upload.png"))
    upload.set_input_files({"name": "empty.csv", "mimeType": "text/csv", "buffer": b"text,label\n"})
    expect(page.get_by_text("the file has no rows")).to_be_visible()
    upload.set_input_files(
        {"name": "broken.jsonl", "mimeType": "application/json", "buffer": b'{"text": "a"}\n{oops\n'}
    )
    expect(page.get_by_text("line 2 is not valid JSON")).to_be_visible()
    assert page.get_by_text("Traceback").count() == 0


def test_monitor_and_model_tabs(page: Any, stack: dict[str, Any], run: Path) -> None:
    from playwright.sync_api import expect

    _classify(stack["server"], ["Are you coming to dinner tonight?", SPAM])
    _tab(page, "Monitor")
    expect(page.get_by_text("Volume")).to_be_visible()
    expect(page.get_by_text("Lowest-confidence recent predictions")).to_be_visible()
    expect(page.get_by_text("Label drift (PSI)")).to_be_visible()
    review = httpx.get(
        stack["server"] + "/v1/monitor/lowest-confidence", params={"limit": 8}, headers=AUTH
    ).json()
    assert review["predictions"], "the server lists predictions to review"
    first = review["predictions"][0]
    expect(page.get_by_text(first["text"]).first).to_be_visible()
    page.screenshot(path=str(SHOTS / "monitor.png"), full_page=True)
    before = httpx.get(stack["server"] + "/v1/feedback/summary", headers=AUTH).json()
    page.locator(f".st-key-review-{first['id']}").get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved: confirmed")).to_be_visible()  # the picker starts at the predicted label
    after = httpx.get(stack["server"] + "/v1/feedback/summary", headers=AUTH).json()
    assert (after["rows"], after["confirmed"]) == (before["rows"] + 1, before["confirmed"] + 1)
    assert page.locator(f".st-key-review-{first['id']}").count() == 0  # reviewed: off the list

    _tab(page, "Model")
    expect(page.get_by_text("Confusion matrix")).to_be_visible()
    expect(page.get_by_role("cell", name="tf-idf", exact=True)).to_be_visible()
    card = httpx.get(stack["server"] + "/v1/models/sms-demo/card", headers=AUTH).json()
    model_row = next(r for r in card["evaluation"]["leaderboard"] if r["name"] == card["evaluation"]["model"])
    expect(page.get_by_role("cell", name=f"{model_row['accuracy']:.4f}").first).to_be_visible()
    expect(page.get_by_text("No versions yet")).to_be_visible()
    page.screenshot(path=str(SHOTS / "model.png"), full_page=True)

    _retrained(run)  # a second version and its promotion, in the on-disk format retraining writes
    page.reload()
    _tab(page, "Model")
    expect(page.get_by_text("Promotions log")).to_be_visible()
    expect(page.get_by_role("cell", name="on the same 60 test texts")).to_be_visible()  # (>= shows as ≥)
    expect(page.get_by_role("cell", name="serving", exact=True)).to_be_visible()
    page.screenshot(path=str(SHOTS / "model-versions.png"), full_page=True)


PROMOTION = {
    "time": "2026-12-01T10:15:02Z",
    "action": "retrain",
    "version": 2,
    "previous_version": 1,
    "serving": 2,
    "decision": "promoted",
    "metric": "macro_f1",
    "new_score": 0.95,
    "old_score": 0.92,
    "reason": "macro_f1 0.9500 >= 0.9200 + 0.0000 on the same 60 test texts",
    "trigger": "classifine retrain --from-feedback",
    "user": "test",
}


def _retrained(run: Path) -> None:
    """``versions/1`` and ``versions/2`` (hard links of the run) and a promotions line naming 2 as serving."""
    for number in (1, 2):
        folder = run / "versions" / str(number)
        shutil.copytree(run / "model", folder / "model", copy_function=os.link)
        shutil.copy2(run / "metrics.json", folder / "metrics.json")
    (run / "versions" / "promotions.jsonl").write_text(json.dumps(PROMOTION) + "\n", encoding="utf-8")


def test_wrong_key_and_server_down_are_explained(browser: Any, stack: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    tab = browser.new_page()
    try:
        tab.goto(stack["wrong_key"])
        expect(tab.get_by_text("the API key was refused")).to_be_visible()
        expect(tab.get_by_text("UI_WRONG_KEY")).to_be_visible()  # the hint names the variable to fix
        tab.screenshot(path=str(SHOTS / "wrong-key.png"))
        tab.goto(stack["down"])
        expect(tab.get_by_text("cannot reach the classifine server")).to_be_visible()
        expect(tab.get_by_role("button", name="Try again")).to_be_visible()
        tab.screenshot(path=str(SHOTS / "server-down.png"))
        assert tab.get_by_text("Traceback").count() == 0
    finally:
        tab.close()
