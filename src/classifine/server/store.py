"""The prediction and feedback store: SQLAlchemy, SQLite (WAL) by default, any URL with ``--store``.

Predictions are written by a background thread from a bounded queue, so the request path never
waits on the database: ``record`` puts a row and returns at once. When the queue is full the row
is DROPPED and counted (``classifine_store_rows_dropped_total``); the prediction is still
answered. Feedback is written synchronously (it is rare and its caller wants to know it landed).

Example:
    >>> store = PredictionStore("sqlite:///runs/demo/serving.sqlite")
    >>> store.start()
    >>> store.record(PredictionRow.make("demo", "a3f9c2e1b7d0", "spam", False, 0.98, "free prize"))
    >>> store.close()
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from classifine.errors import ConfigError

logger = logging.getLogger(__name__)

STORE_FILE = "serving.sqlite"
_BATCH_ROWS = 500

metadata = sa.MetaData()
predictions = sa.Table(
    "predictions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("created_at", sa.Float, nullable=False, index=True),  # unix seconds, UTC
    sa.Column("model", sa.String(128), nullable=False, index=True),
    sa.Column("model_version", sa.String(64), nullable=False),
    sa.Column("label", sa.Text, nullable=False),  # a name, or a JSON list for multi-label
    sa.Column("multi_label", sa.Boolean, nullable=False, default=False),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("text_sha256", sa.String(64), nullable=False, index=True),
    sa.Column("text", sa.Text, nullable=True),  # only with --store-texts
)
feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.Float, nullable=False, index=True),
    sa.Column("prediction_id", sa.String(36), nullable=True, index=True),
    sa.Column("text_sha256", sa.String(64), nullable=False, index=True),
    sa.Column("text", sa.Text, nullable=True),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("label", sa.Text, nullable=False),
    sa.Column("predicted_label", sa.Text, nullable=True),
    sa.Column("kind", sa.String(16), nullable=False),  # confirm | correct
)


def text_hash(text: str) -> str:
    """sha256 of the UTF-8 text (what the store keeps instead of the text by default)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def encode_label(label: str | Sequence[str]) -> str:
    """Store form of a label: the name, or a JSON list (sorted) for multi-label."""
    return label if isinstance(label, str) else json.dumps(sorted(label), ensure_ascii=False)


def decode_label(value: str, multi_label: bool) -> str | list[str]:
    return list(json.loads(value)) if multi_label else value


@dataclass(frozen=True)
class PredictionRow:
    """One served prediction as stored."""

    id: str
    created_at: float
    model: str
    model_version: str
    label: str
    multi_label: bool
    confidence: float
    text_sha256: str
    text: str | None

    @classmethod
    def make(
        cls,
        model: str,
        version: str,
        label: str | Sequence[str],
        multi_label: bool,
        confidence: float,
        text: str,
        *,
        keep_text: bool = False,
        id: str | None = None,
    ) -> PredictionRow:
        return cls(
            id=id or str(uuid.uuid4()),
            created_at=time.time(),
            model=model,
            model_version=version,
            label=encode_label(label),
            multi_label=multi_label,
            confidence=float(confidence),
            text_sha256=text_hash(text),
            text=text if keep_text else None,
        )


def store_url(target: str | Path) -> str:
    """A SQLAlchemy URL for a URL, a run folder (its ``serving.sqlite``) or a SQLite file path.

    Example:
        >>> store_url("runs/demo")
        'sqlite:///runs/demo/serving.sqlite'
    """
    text = str(target)
    if "://" in text:
        return text
    path = Path(text)
    if path.is_dir():
        path = path / STORE_FILE
    return f"sqlite:///{path}"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL: readers never block the writer; NORMAL sync is durable against a killed process.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def make_engine(url: str) -> Engine:
    """A SQLAlchemy engine; SQLite gets WAL mode, a busy timeout and its folder created."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        raise ConfigError(
            f"not a database URL: {url!r}", hint="e.g. sqlite:///serving.sqlite or postgresql+psycopg://..."
        ) from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            folder = Path(parsed.database).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(
                    f"cannot open the store: cannot create the folder {folder} ({exc.strerror})",
                    hint="choose a writable place with --store sqlite:///PATH",
                ) from None
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    try:
        return sa.create_engine(url, pool_pre_ping=True)
    except (ImportError, sa.exc.NoSuchModuleError) as exc:
        raise ConfigError(
            f"no database driver for {parsed.drivername}: {exc}",
            hint="install the server extra: pip install 'classifine[server]'",
        ) from None


def create_tables(engine: Engine, attempts: int = 8) -> None:
    """Create the tables if missing; safe when several processes start at once."""
    for attempt in range(attempts):
        try:
            metadata.create_all(engine, checkfirst=True)
            return
        except sa.exc.DBAPIError:
            # Another process created them between our check and our CREATE: look again.
            time.sleep(0.05 * (attempt + 1))
            if set(sa.inspect(engine).get_table_names()) >= set(metadata.tables):
                return
    metadata.create_all(engine, checkfirst=True)


class PredictionStore:
    """Predictions through a bounded queue and a writer thread; feedback and reads directly.

    Args:
        url: a SQLAlchemy URL (see :func:`store_url`).
        queue_size: rows that may wait for the writer; beyond that, rows are dropped and counted.
        on_commit: called in the writer thread with the ids of each committed batch.
        on_written / on_dropped / on_error: metric hooks (rows written, rows dropped, failed batch).
    """

    def __init__(
        self,
        url: str,
        *,
        queue_size: int = 10_000,
        on_commit: Callable[[list[str]], None] | None = None,
        on_written: Callable[[str, int], None] | None = None,
        on_dropped: Callable[[int], None] | None = None,
        on_error: Callable[[], None] | None = None,
    ) -> None:
        self.url = url
        self.engine = make_engine(url)
        create_tables(self.engine)
        self._queue: queue.Queue[PredictionRow | None] = queue.Queue(maxsize=queue_size)
        self._on_commit = on_commit
        self._on_written = on_written
        self._on_dropped = on_dropped
        self._on_error = on_error
        self._thread: threading.Thread | None = None
        self.dropped = 0

    def start(self) -> None:
        """Start the writer thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._writer, name="classifine-store", daemon=True)
            self._thread.start()

    @property
    def depth(self) -> int:
        """Rows waiting for the writer."""
        return self._queue.qsize()

    def record(self, row: PredictionRow) -> bool:
        """Queue a prediction row without blocking; False (and counted) when the queue is full."""
        try:
            self._queue.put_nowait(row)
            return True
        except queue.Full:
            self.dropped += 1
            if self._on_dropped is not None:
                self._on_dropped(1)
            return False

    def flush(self, timeout: float = 30.0) -> bool:
        """Block until every row queued so far is committed (False on timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.005)
        return False

    def close(self, timeout: float = 60.0) -> None:
        """Write everything queued, stop the writer and close the connections."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None
        self.engine.dispose()

    def _writer(self) -> None:
        while True:
            first = self._queue.get()
            rows: list[PredictionRow] = []
            stop = first is None
            if first is not None:
                rows.append(first)
            while not stop and len(rows) < _BATCH_ROWS:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                else:
                    rows.append(item)
            if rows:
                try:
                    self._write(rows)
                except Exception:  # a failing callback must not stop the writer
                    logger.exception("store writer callback failed")
            for _ in range(len(rows) + (1 if stop else 0)):
                self._queue.task_done()
            if stop:
                return

    def _write(self, rows: list[PredictionRow]) -> None:
        for attempt in range(3):
            try:
                with self.engine.begin() as conn:
                    conn.execute(predictions.insert(), [asdict(r) for r in rows])
                break
            except Exception as exc:  # the writer thread must survive any database failure
                logger.warning(
                    "store write of %d rows failed (attempt %d): %s",
                    len(rows),
                    attempt + 1,
                    type(exc).__name__,
                )
                if self._on_error is not None:
                    self._on_error()
                time.sleep(0.2 * (attempt + 1))
        else:
            return
        if self._on_written is not None:
            self._on_written("predictions", len(rows))
        if self._on_commit is not None:
            self._on_commit([r.id for r in rows])

    def get_prediction(self, prediction_id: str) -> PredictionRow | None:
        """The stored prediction with this id, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(predictions).where(predictions.c.id == prediction_id)).first()
        return PredictionRow(**row._mapping) if row is not None else None

    def latest_for_text(self, sha256: str, model: str | None = None) -> PredictionRow | None:
        """The most recent prediction of a text (by hash), optionally of one model."""
        query = sa.select(predictions).where(predictions.c.text_sha256 == sha256)
        if model is not None:
            query = query.where(predictions.c.model == model)
        with self.engine.connect() as conn:
            row = conn.execute(query.order_by(predictions.c.created_at.desc()).limit(1)).first()
        return PredictionRow(**row._mapping) if row is not None else None

    def add_feedback(self, values: dict[str, Any]) -> int:
        """Insert one feedback row (committed before returning); its id."""
        row = {"created_at": time.time(), **values}
        with self.engine.begin() as conn:
            result = conn.execute(feedback.insert().values(**row))
            key = result.inserted_primary_key
        if self._on_written is not None:
            self._on_written("feedback", 1)
        return int(key[0]) if key else 0
