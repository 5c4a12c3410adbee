"""``classifine serve`` as a user runs it: the curl examples of docs/serving.md against real server
processes, graceful shutdown under load, and one-line errors for bad options.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from classifine.cli.main import main
from serving import GRACEFUL, SRC, free_port, metric, serve_process, stop_process, wait_ready

DOCS = Path(__file__).resolve().parents[2] / "docs" / "serving.md"
KEY = "docs-test-key-9f8e7d6c5b4a"


def doc_commands() -> list[str]:
    """Shell commands of the doc's ``bash`` blocks, backslash continuations joined, comments dropped."""
    blocks = re.findall(r"```bash\n(.*?)```", DOCS.read_text(encoding="utf-8"), flags=re.S)
    commands = []
    for block in blocks:
        for command in block.replace("\\\n", " ").splitlines():
            command = re.sub(r"\s+#.*$", "", command).strip()
            commands += [part.strip() for part in command.split(" && ") if part.strip()]
    return commands


@pytest.fixture(scope="module")
def workdir(sms_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding runs/demo (a copy of the session's real SMS-spam run), as after `make demo`."""
    root = tmp_path_factory.mktemp("docs")
    shutil.copytree(sms_run, root / "runs" / "demo")
    return root


def _start(command: str, workdir: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    args = shlex.split(command)
    assert args[:2] == ["classifine", "serve"], command
    port = free_port()
    proc = serve_process(
        [*args[2:], "--port", str(port)], env={"CLASSIFINE_API_KEY": KEY}, log=log, cwd=workdir
    )
    return proc, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def servers(workdir: Path) -> Iterator[dict[str, object]]:
    """The doc's first `classifine serve` command, and its first one with --api-key-env."""
    exports = [c for c in doc_commands() if c.startswith("classifine export runs/demo")]
    assert exports, "the doc shows exporting before serving"
    for command in exports:  # as a user: export into runs/demo, then serve it (engine auto: int8)
        out = subprocess.run(
            [sys.executable, "-m", "classifine.cli.main", *shlex.split(command)[1:]],
            cwd=workdir,
            env={**os.environ, "PYTHONPATH": str(SRC)},
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert out.returncode == 0, out.stderr[-2000:]
    serves = [c for c in doc_commands() if c.startswith("classifine serve runs/")]
    plain_cmd = serves[0]
    keyed_cmd = next(c for c in serves if "--api-key-env" in c)
    # The doc's commands use runs/demo relative to the project folder: they run in workdir.
    plain, plain_url = _start(plain_cmd, workdir, workdir / "plain.log")
    keyed, keyed_url = _start(keyed_cmd, workdir, workdir / "keyed.log")
    try:
        wait_ready(plain_url, plain)
        wait_ready(keyed_url, keyed)
        yield {"plain": plain_url, "keyed": keyed_url, "procs": (plain, keyed)}
    finally:
        codes = [stop_process(p) for p in (plain, keyed)]
        assert all(code in GRACEFUL for code in codes), codes


def _run_curl(command: str, url: str) -> tuple[int, str]:
    command = command.replace("http://localhost:8000", url)
    out = subprocess.run(
        ["bash", "-c", command + " -w '\\n%{http_code}'"],
        capture_output=True,
        text=True,
        env={**os.environ, "CLASSIFINE_API_KEY": KEY},
        timeout=120,
    )
    assert out.returncode == 0, (command, out.stderr)
    body, _, status = out.stdout.rpartition("\n")
    return int(status), body


def test_the_docs_curl_examples_work(servers: dict[str, object]) -> None:
    curls = [c for c in doc_commands() if c.startswith("curl ")]
    assert len(curls) >= 10
    seen = set()
    for command in curls:
        url = servers["keyed"] if "$CLASSIFINE_API_KEY" in command else servers["plain"]
        status, body = _run_curl(command, str(url))
        assert 200 <= status < 300, (command, status, body)
        path = re.search(r"localhost:8000(/[\w/{}.-]*)", command)
        assert path is not None
        seen.add(path.group(1))
        if path.group(1) == "/metrics":
            assert "classifine_forward_passes_total" in body
            continue
        data = json.loads(body)
        if path.group(1) == "/v1/classify" and "top_k" in command:
            assert [p["label"] for p in data["predictions"]] == ["spam", "ham"]
        if path.group(1) == "/predict" and '"inputs": "' in command:
            assert data[0]["label"] == "spam" and data[0]["score"] > data[1]["score"]
        if path.group(1) == "/v1/feedback":
            assert data["kind"] == "confirm" and data["prediction_id"]  # the /predict example classified it
        if path.group(1) == "/v1/models":
            assert data["models"][0]["engine"] == "onnx-int8"  # auto picked the exported int8 model
        if path.group(1).endswith("/reload"):
            assert data == {**data, "model": "demo", "changed": False}
    assert {"/v1/classify", "/predict", "/v1/models", "/health", "/ready", "/metrics", "/v1/feedback"} <= seen
    assert "/v1/models/demo/reload" in seen


def test_the_docs_monitor_commands_work(
    servers: dict[str, object], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(workdir)
    commands = [c for c in doc_commands() if c.startswith("classifine monitor runs/demo")]
    assert len(commands) == 2
    for command in commands:
        assert main(shlex.split(command)[1:]) == 0, command
    assert (workdir / "monitor.html").read_text().count("data:image/png") == 4


async def _slow_requests(url: str, texts: list[str], n: int) -> list[httpx.Response]:
    auth = {"Authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(base_url=url, timeout=120, headers=auth) as client:
        return list(
            await asyncio.gather(*(client.post("/v1/classify", json={"texts": texts}) for _ in range(n)))
        )


def _send_secrets(url: str, secret: str) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    assert httpx.post(url + "/v1/classify", json={"texts": [secret]}, headers=auth).status_code == 200
    assert (
        httpx.post(url + "/v1/classify", json={"texts": [secret], "top_k": "x"}, headers=auth).status_code
        == 422
    )
    assert httpx.post(url + "/predict", json={"inputs": [secret, secret]}, headers=auth).status_code == 422
    wrong = {"Authorization": f"Bearer {secret}"}
    assert httpx.post(url + "/v1/classify", json={"texts": [secret]}, headers=wrong).status_code == 401


def test_sigterm_drains_requests_in_flight_and_logs_no_texts_or_keys(sms_run: Path, tmp_path: Path) -> None:
    from classifine.data.catalog import load_catalog

    texts = load_catalog("sms-spam").test.texts[:32]
    store, log = tmp_path / "serving.sqlite", tmp_path / "server.log"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [str(sms_run), "--port", str(port), "--store", f"sqlite:///{store}", "--access-log"]
    proc = serve_process([*args, "--api-key-env", "SERVE_KEY"], env={"SERVE_KEY": KEY}, log=log)
    wait_ready(url, proc)
    secret = "sentinel-text-quokka-31337"
    _send_secrets(url, secret)

    async def scenario() -> list[httpx.Response]:
        task = asyncio.create_task(_slow_requests(url, texts, 24))  # 768 texts: seconds of work
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {KEY}"}) as probe:
            for _ in range(600):  # SIGTERM only once all 24 are inside the server
                in_flight = metric((await probe.get("/metrics")).text, "classifine_requests_in_flight")
                if in_flight >= 25:  # 24 + this scrape
                    break
                await asyncio.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        return await task

    responses = asyncio.run(scenario())
    assert proc.wait(60) in GRACEFUL
    assert [r.status_code for r in responses] == [200] * 24, "a request in flight was dropped at shutdown"
    with sqlite3.connect(store) as conn:  # the queued store rows were written before exit
        assert conn.execute("SELECT COUNT(*) FROM predictions").fetchone()[0] == 24 * 32 + 1
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/health", timeout=2)
    text = log.read_text()
    assert "stopped" in text  # the lifespan finished: batchers and store writer drained
    assert "POST /v1/classify" in text and "401" in text  # the access log was on
    assert secret not in text and KEY not in text


@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [
        (["serve", "/nonexistent/run"], {}, "artifact not found"),
        (["serve", "{run}", "--api-key-env", "CLASSIFINE_UNSET_KEY_VAR"], {}, "CLASSIFINE_UNSET_KEY_VAR"),
        (["serve", "{run}", "--engine", "onxx"], {}, "did you mean 'onnx'"),
        (["serve", "{run}", "--store", "nosuchdb://x"], {}, "no database driver"),
        (["serve", "{run}", "--store", "sqlite:////proc/no/such/dir/x.sqlite"], {}, "cannot open the store"),
        (["serve", "a={run}", "a={run}"], {}, "share the name a"),
        (["monitor", "/nonexistent/run"], {}, "store not found"),
        (["feedback", "export", "{empty}", "--output", "x.csv"], {}, "no serving.sqlite"),
    ],
)
def test_bad_options_fail_with_one_line(
    args: list[str],
    env: dict[str, str],
    needle: str,
    sms_run: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = [a.replace("{run}", str(sms_run)).replace("{empty}", str(tmp_path)) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and needle in err[0], err
