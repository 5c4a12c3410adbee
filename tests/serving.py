"""Test helpers for the HTTP server: a real uvicorn server in a thread, and `classifine serve` processes.

Example:
    >>> with live_server(create_app(settings)) as url:
    ...     httpx.get(url + "/ready")
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

SRC = Path(__file__).resolve().parents[1] / "src"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def live_server(app: Any, timeout: float = 120.0) -> Iterator[str]:
    """Run ``app`` on a real uvicorn server (loopback, free port) in a thread; yield its base URL."""
    import uvicorn

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the server thread stopped during startup")
        if time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(60)


def serve_process(
    args: list[str], env: dict[str, str] | None = None, log: Path | None = None, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start ``classifine serve ARGS`` from these sources as a subprocess (stdout/stderr to ``log``)."""
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = str(SRC) + os.pathsep + full_env.get("PYTHONPATH", "")
    out = open(log, "wb") if log is not None else subprocess.DEVNULL  # noqa: SIM115 (closed with the process)
    return subprocess.Popen(
        [sys.executable, "-m", "classifine.cli.main", "serve", *args],
        env=full_env,
        stdout=out,
        stderr=out,
        cwd=cwd,
    )


def wait_ready(url: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 120.0) -> None:
    """Poll ``url/ready`` until it answers 200 (fail early if the process died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode}")
        try:
            if httpx.get(url + "/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server at {url} not ready after {timeout} s")


GRACEFUL = (0, -signal.SIGTERM)  # uvicorn re-raises the SIGTERM it handled once it has shut down


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 60.0) -> int:
    """SIGTERM (graceful), then SIGKILL if it does not exit; the exit code (see GRACEFUL)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return int(proc.returncode)


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one Prometheus sample (0 when absent)."""
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        sample, _, rest = head.partition("{")
        if sample != name:
            continue
        got = dict(part.split("=", 1) for part in rest.rstrip("}").split(",") if "=" in part)
        if all(got.get(k, "").strip('"') == v for k, v in labels.items()):
            return float(value)
    return 0.0
