"""16 writer processes into one store (SQLite in WAL mode, and a real PostgreSQL), one SIGKILLed midway:
every row a writer acknowledged (committed) is present, and the database opens cleanly afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from classifine.server.store import PredictionRow, PredictionStore, make_engine, predictions

WRITERS = 16
ROWS = 300
VICTIM = 5
SCRIPT = Path(__file__).resolve().parents[1] / "store_writer.py"
SRC = Path(__file__).resolve().parents[2] / "src"


def _run_writers(url: str) -> tuple[dict[int, list[str]], int]:
    env = {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    procs = [
        subprocess.Popen(
            [sys.executable, str(SCRIPT), url, str(w), str(ROWS)], stdout=subprocess.PIPE, text=True, env=env
        )
        for w in range(WRITERS)
    ]
    victim = procs[VICTIM]
    assert victim.stdout is not None
    acked: dict[int, list[str]] = {w: [] for w in range(WRITERS)}
    deadline = time.monotonic() + 120
    while len(acked[VICTIM]) < 40:  # kill it once it has acknowledged some rows, well before its end
        line = victim.stdout.readline()
        assert line, "the victim writer ended before it could be killed"
        if line.strip() not in ("READY", "DONE"):
            acked[VICTIM].append(line.strip())
        assert time.monotonic() < deadline
    victim.send_signal(signal.SIGKILL)
    for w, proc in enumerate(procs):
        out, _ = proc.communicate(timeout=300)
        acked[w] += [x for x in out.split() if x not in ("READY", "DONE")]
        if w != VICTIM:
            assert proc.returncode == 0 and out.rstrip().endswith("DONE"), (w, proc.returncode)
    assert victim.returncode == -signal.SIGKILL
    return acked, len(acked[VICTIM])


def _check(url: str) -> None:
    acked, victim_rows = _run_writers(url)
    assert victim_rows < ROWS  # killed midway
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            stored = set(conn.execute(sa.select(predictions.c.id)).scalars())
            counts = dict(
                conn.execute(
                    sa.select(predictions.c.model, sa.func.count()).group_by(predictions.c.model)
                ).all()
            )
        for w in range(WRITERS):
            missing = set(acked[w]) - stored
            assert not missing, f"writer {w}: {len(missing)} acknowledged rows are missing"
            if w != VICTIM:
                assert counts[f"writer-{w}"] == ROWS
        assert counts.get(f"writer-{VICTIM}", 0) >= victim_rows
        if engine.dialect.name == "sqlite":
            with engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        engine.dispose()
    store = PredictionStore(url)  # opens cleanly and takes new writes
    store.start()
    assert store.record(PredictionRow.make("after", "v1", "ham", False, 0.7, "after the kill"))
    store.close()
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).where(predictions.c.model == "after")).scalar() == 1
    engine.dispose()


def test_sixteen_sqlite_writers_one_killed(tmp_path: Path) -> None:
    _check(f"sqlite:///{tmp_path / 'serving.sqlite'}")


def test_sixteen_postgres_writers_one_killed(postgres_url: str) -> None:
    name = f"writers_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.dispose()
    try:
        _check(postgres_url.rsplit("/", 1)[0] + f"/{name}")
    finally:
        admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


@pytest.mark.parametrize("queue_size", [1])
def test_a_full_queue_drops_and_counts_instead_of_blocking(tmp_path: Path, queue_size: int) -> None:
    dropped: list[int] = []
    store = PredictionStore(
        f"sqlite:///{tmp_path / 's.sqlite'}", queue_size=queue_size, on_dropped=dropped.append
    )
    # writer not started: the queue fills at once
    rows = [PredictionRow.make("m", "v", "a", False, 0.5, f"t{i}") for i in range(5)]
    started = time.perf_counter()
    results = [store.record(r) for r in rows]
    assert time.perf_counter() - started < 1.0  # never blocks
    assert results == [True, False, False, False, False] and store.dropped == 4 and dropped == [1, 1, 1, 1]
    store.start()
    store.close()
    engine = make_engine(f"sqlite:///{tmp_path / 's.sqlite'}")
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(predictions)).scalar() == 1
    engine.dispose()
