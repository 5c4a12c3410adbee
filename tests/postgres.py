"""A throwaway PostgreSQL cluster on a free loopback port, for tests of real database storage.

PostgreSQL refuses to run as root, so as root the cluster belongs to the ``postgres`` user and
its commands run through ``runuser``; as any other user it runs as that user.

Example:
    >>> with postgres_cluster(tmp_path) as url:
    ...     sqlalchemy.create_engine(url).connect()
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_owner(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextmanager
def postgres_cluster(root: Path, bindir: Path) -> Iterator[str]:
    """Start a fresh cluster under ``root``; yield a SQLAlchemy URL (psycopg 3); stop and delete it."""
    data = root / "pgdata"
    data.mkdir(parents=True)
    if os.geteuid() == 0:
        root.chmod(0o755)
        shutil.chown(root, "postgres")
        shutil.chown(data, "postgres")
    port = _free_port()
    run = {"check": True, "capture_output": True, "timeout": 120}
    subprocess.run(
        _as_owner([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]), **run
    )
    opts = f"-k {data} -p {port} -c listen_addresses=127.0.0.1 -c max_connections=100 -c fsync=off"
    log = data / "server.log"
    subprocess.run(
        _as_owner([str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(log), "-w", "start"]), **run
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_owner([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)
