"""A persistent cache of LLM answers in SQLite, so re-running a labelling job costs nothing.

The key is a sha256 over everything that can change an answer: the backend identity (backend,
model, base URL, decoding options), the prompt-template hash, the labels, the mode parameters
(zero/few-shot, k, seed, similar, scoring options) and the text (via the rendered prompt, which
also covers the few-shot examples). WAL mode and a busy timeout make concurrent writers safe.

Example:
    >>> cache = LLMCache()
    >>> cache.get(key) is None
    True
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from classifine.llm.backends import LLMReply

logger = logging.getLogger(__name__)

_SCHEMA = """CREATE TABLE IF NOT EXISTS llm_cache (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created REAL NOT NULL
)"""


def default_cache_path() -> Path:
    """``<cache_dir>/llm_cache.sqlite`` (the asset cache folder; env ``CLASSIFINE_CACHE``)."""
    from classifine.assets import cache_dir

    return cache_dir() / "llm_cache.sqlite"


def _digest(obj: Any) -> str:
    blob = json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def cache_key(
    identity: Mapping[str, Any],
    template_hash: str,
    labels: Iterable[str],
    mode: Mapping[str, Any],
    prompt: str,
    text: str,
) -> str:
    """The sha256 cache key of one answer.

    Example:
        >>> len(cache_key({"backend": "ollama"}, "t1", ["a", "b"], {}, "prompt", "text"))
        64
    """
    text_hash = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    prompt_hash = hashlib.sha256(prompt.encode("utf-8", "surrogatepass")).hexdigest()
    return _digest(
        {
            "identity": dict(identity),
            "template": template_hash,
            "labels": list(labels),
            "mode": dict(mode),
            "prompt": prompt_hash,
            "text": text_hash,
        }
    )


class LLMCache:
    """SQLite-backed answer cache; one connection per thread, WAL journal, safe across processes."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._conn() as conn:
            conn.execute(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    def get(self, key: str) -> LLMReply | None:
        """The cached reply for ``key``, or None."""
        row = self._conn().execute("SELECT value FROM llm_cache WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            return LLMReply.from_dict(json.loads(row[0]))
        except (ValueError, TypeError, KeyError):
            logger.warning("ignoring an unreadable cache entry in %s", self.path)
            return None

    def get_many(self, keys: Iterable[str]) -> dict[str, LLMReply]:
        """Cached replies for the keys that have one."""
        out: dict[str, LLMReply] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._conn().execute(f"SELECT key, value FROM llm_cache WHERE key IN ({marks})", chunk)
            for key, value in rows:
                try:
                    out[key] = LLMReply.from_dict(json.loads(value))
                except (ValueError, TypeError, KeyError):
                    continue
        return out

    def put(self, key: str, reply: LLMReply) -> None:
        """Store one reply (last writer wins)."""
        value = json.dumps(reply.to_dict(), ensure_ascii=False)
        self._conn().execute(
            "INSERT OR REPLACE INTO llm_cache (key, value, created) VALUES (?, ?, ?)",
            (key, value, time.time()),
        )

    def __len__(self) -> int:
        return int(self._conn().execute("SELECT COUNT(*) FROM llm_cache").fetchone()[0])

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
