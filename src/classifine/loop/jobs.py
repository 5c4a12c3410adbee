"""Retrains as background jobs: a ``classifine retrain`` subprocess, never work inside a request.

The Label Studio backend (and ``classifine retrain --detach``) start a job and return at once;
the job's output goes to ``runs/<name>/versions/jobs/<time>.log`` and its decision to the
promotions log. The run's retrain lock refuses a second job while one runs.

Example:
    >>> job = start_retrain_job("runs/trec-6", ["--from-feedback", "serving.sqlite"])
    >>> job.wait()
    0
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from classifine.loop.versions import versions_dir

JOBS_DIR = "jobs"


@dataclass
class RetrainJob:
    """A running (or finished) retrain subprocess and its log file."""

    process: subprocess.Popen[bytes]
    log: Path
    args: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the job; its exit code (0: a version was trained and a decision logged)."""
        return self.process.wait(timeout)

    def stop(self) -> None:
        """Terminate the job (the retrain lock is released by the kernel)."""
        if self.running():
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_retrain_job(run: str | Path, args: list[str], env: dict[str, str] | None = None) -> RetrainJob:
    """Start ``classifine retrain RUN ARGS`` in the background; return at once.

    Secrets (a Label Studio token, a server API key) go through ``env``, never the command line.

    Example:
        >>> start_retrain_job("runs/trec-6", ["--from-feedback", "serving.sqlite"]).log.name
        '20261201-101502-4242.log'
    """
    folder = versions_dir(run) / JOBS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{time.monotonic_ns() % 10**6}.log"
    full = [sys.executable, "-m", "classifine.cli.main", "retrain", str(run), *args]
    child_env = {**os.environ, **(env or {})}
    with open(log, "wb") as out:
        process = subprocess.Popen(full, stdout=out, stderr=subprocess.STDOUT, env=child_env)
    return RetrainJob(process, log, full)
