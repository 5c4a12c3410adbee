"""Versions of a run and its promotions log: the on-disk format, and the one place that says what serves.

A run that is retrained keeps every version side by side::

    runs/<name>/
      model/ config.yaml metrics.json ...   the run as trained (what serves while it has no versions/)
      versions/
        1/                 the original run's Artifact (hard-linked copy, made at the first retrain)
        2/                 a retrained version: a full Artifact (model/, config.yaml, metrics.json,
                           data/ with the exact training rows, retrain.json saying how it was made)
        promotions.jsonl   append-only log, one JSON object (:class:`Promotion`) per line
        .retrain.lock      held (flock) while a retrain of the run is running

Every decision is one line of ``promotions.jsonl``: a retrain that was promoted or refused, a manual
promotion, a rollback. Each line carries ``serving``, the version that serves AFTER the decision, so
the last complete line of the log says which version serves; a run with no log serves its own
Artifact (version 1). Lines are appended with one ``write`` under a lock and fsynced; a line torn by a
killed writer is skipped by readers and terminated before the next append, so the log never
changes meaning after the fact.

Which folder serves is resolved in ONE place, :func:`serving_dir`, used by
:func:`classifine.artifact.model_dir`: ``Classifier.load(run)``, ``classifine serve run`` and the
server's reload endpoint all load the promoted version. A version folder passed explicitly
(``runs/<name>/versions/2``) loads that version.

A promotions line (``versions/promotions.jsonl``)::

    {"time": "2026-12-01T10:15:02Z", "action": "retrain", "version": 2, "previous_version": 1,
     "serving": 2, "decision": "promoted", "metric": "macro_f1", "new_score": 0.912, "old_score": 0.887,
     "min_delta": 0.0, "held_out": {"split": "test", "texts": 500, "fingerprint": "3f2a..."},
     "reason": "macro_f1 0.9120 >= 0.8870 + 0.0000 on the same 500 test texts",
     "trigger": "classifine retrain --from-feedback", "user": "ana", "data": {"new_labels": 200, ...}}

Only this module's light imports are needed to read the format (no torch): the web page and the
server read it with :func:`read_promotions`, :func:`list_versions` and :func:`serving_version`.

Example:
    >>> serving_version("runs/trec-6")
    2
    >>> [p.decision for p in read_promotions("runs/trec-6")]
    ['promoted']
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import json
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from classifine.errors import ModelError

logger = logging.getLogger(__name__)

VERSIONS_DIR = "versions"
PROMOTIONS_FILE = "promotions.jsonl"
LOCK_FILE = ".retrain.lock"
RETRAIN_FILE = "retrain.json"  # inside a retrained version: sources, counts, scores
META_FILE = "classifine.json"  # the Artifact's metadata file (kept in sync with classifine.artifact)
# What the original run's Artifact consists of (copied into versions/1 at the first retrain).
_ARTIFACT_PARTS = (
    "model", "config.yaml", "metrics.json", "report.md", "report.html", "data", "train_log.jsonl",
)  # fmt: skip

Action = Literal["retrain", "promote", "rollback"]
Decision = Literal["promoted", "refused", "rolled_back"]


class HeldOut(BaseModel):
    """The held-out texts both versions were scored on (the original run's test split)."""

    model_config = ConfigDict(extra="allow")

    split: str = "test"
    texts: int
    fingerprint: str = ""


class Promotion(BaseModel):
    """One line of the promotions log: a decision about which version of a run serves, and why.

    ``version`` is the version the decision is about (the retrained candidate, or a rollback's
    target); ``previous_version`` served before it and ``serving`` serves after it. The scores are
    the chosen ``metric`` of ``version`` (``new_score``) and of ``previous_version`` (``old_score``),
    measured in the same process on the same held-out texts (``held_out``); a rollback has none.
    """

    model_config = ConfigDict(extra="allow")

    time: str = Field(default_factory=lambda: utc_now())
    action: Action
    version: int = Field(ge=1)
    previous_version: int = Field(ge=1)
    serving: int = Field(ge=1)
    decision: Decision
    metric: str | None = None
    new_score: float | None = None
    old_score: float | None = None
    min_delta: float | None = None
    held_out: HeldOut | None = None
    reason: str = ""
    trigger: str = ""
    user: str = Field(default_factory=lambda: current_user())
    data: dict[str, Any] = Field(default_factory=dict)


class VersionInfo(BaseModel):
    """One version of a run, as listed by :func:`list_versions`."""

    version: int
    path: Path
    serving: bool
    created: str
    test_metrics: dict[str, float] = Field(default_factory=dict)  # from the version's metrics.json
    retrain: dict[str, Any] = Field(default_factory=dict)  # the version's retrain.json (none for 1)


def utc_now() -> str:
    """The current time as ISO-8601 UTC with a ``Z`` (``2026-12-01T10:15:02Z``)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def current_user() -> str:
    """Who runs this process (the log's ``user``), or ``unknown``."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def versions_dir(run: str | Path) -> Path:
    """``runs/<name>/versions``."""
    return Path(run) / VERSIONS_DIR


def promotions_file(run: str | Path) -> Path:
    """``runs/<name>/versions/promotions.jsonl``."""
    return versions_dir(run) / PROMOTIONS_FILE


def version_dir(run: str | Path, version: int) -> Path:
    """``runs/<name>/versions/<version>``."""
    return versions_dir(run) / str(int(version))


def run_root(path: str | Path) -> Path:
    """The run folder of ``path``: the run itself, or the run a ``versions/N`` folder belongs to.

    Example:
        >>> run_root("runs/trec-6/versions/2")
        PosixPath('runs/trec-6')
    """
    p = Path(path)
    if p.name == "model" and (p / META_FILE).is_file():
        p = p.parent
    if p.name.isdigit() and p.parent.name == VERSIONS_DIR:
        return p.parent.parent
    return p


def version_of(path: str | Path) -> int | None:
    """The version number a ``versions/N`` folder (or its ``model/``) names, else None."""
    p = Path(path)
    if p.name == "model":
        p = p.parent
    return int(p.name) if p.name.isdigit() and p.parent.name == VERSIONS_DIR else None


def read_promotions(run: str | Path) -> list[Promotion]:
    """Every complete line of the run's promotions log, oldest first ([] when it has none).

    A line a killed writer left incomplete is skipped (with a warning); it never counts.

    Example:
        >>> read_promotions("runs/trec-6")[-1].serving
        2
    """
    file = promotions_file(run)
    if not file.is_file():
        return []
    out: list[Promotion] = []
    with open(file, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                out.append(Promotion.model_validate(json.loads(line)))
            except (json.JSONDecodeError, ValidationError):
                logger.warning("%s:%d: skipping an incomplete or unreadable log line", file, number)
    return out


def serving_version(run: str | Path) -> int:
    """The version of ``run`` that serves: the last promotions line's ``serving``, else 1.

    Example:
        >>> serving_version("runs/never-retrained")
        1
    """
    log = read_promotions(run)
    return log[-1].serving if log else 1


def serving_dir(run: str | Path) -> Path | None:
    """The folder of the serving version (``versions/N``), or None when the run has no promotions log.

    The one resolver of "what serves": :func:`classifine.artifact.model_dir` calls it for a run
    folder. A serving version whose folder is gone is a clear ModelError naming the fix.

    Example:
        >>> serving_dir("runs/trec-6")
        PosixPath('runs/trec-6/versions/2')
    """
    log = read_promotions(run)
    if not log:
        return None
    version = log[-1].serving
    folder = version_dir(run, version)
    if not (folder / "model" / META_FILE).is_file():
        raise ModelError(
            f"the promotions log says version {version} serves, but {folder} holds no model",
            where=str(promotions_file(run)),
            hint=f"restore the folder, or roll back: classifine rollback {run} --to N",
        )
    return folder


def existing_versions(run: str | Path) -> list[int]:
    """Version numbers with a complete Artifact under ``versions/`` (ascending)."""
    folder = versions_dir(run)
    if not folder.is_dir():
        return []
    return sorted(
        int(p.name) for p in folder.iterdir() if p.name.isdigit() and (p / "model" / META_FILE).is_file()
    )


def _created(folder: Path) -> str:
    stamp = (folder / "model" / META_FILE).stat().st_mtime
    return dt.datetime.fromtimestamp(stamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def list_versions(run: str | Path) -> list[VersionInfo]:
    """Every version of ``run`` with its test metrics, how it was made, and which one serves.

    A run that was never retrained lists one version: itself (version 1).

    Example:
        >>> [(v.version, v.serving) for v in list_versions("runs/trec-6")]
        [(1, False), (2, True)]
    """
    run = Path(run)
    serving = serving_version(run)
    numbers = existing_versions(run)
    folders = {n: version_dir(run, n) for n in numbers}
    if 1 not in folders and (run / "model" / META_FILE).is_file():
        folders[1] = run
    out = []
    for number in sorted(folders):
        folder = folders[number]
        test = _read_json(folder / "metrics.json").get("test", {})
        scores = {k: float(v) for k, v in test.items() if isinstance(v, int | float)}
        out.append(
            VersionInfo(
                version=number,
                path=folder,
                serving=number == serving,
                created=_created(folder),
                test_metrics=scores,
                retrain=_read_json(folder / RETRAIN_FILE),
            )
        )
    return out


def append_promotion(run: str | Path, entry: Promotion) -> Promotion:
    """Append one decision to the run's promotions log: one write under an exclusive lock, fsynced.

    A trailing line left incomplete by a killed writer is terminated first, so it stays one
    (skipped) line and never merges with this one.

    Example:
        >>> append_promotion("runs/trec-6", Promotion(action="rollback", version=1, previous_version=2,
        ...     serving=1, decision="rolled_back", reason="manual", trigger="classifine rollback"))
    """
    import fcntl

    file = promotions_file(run)
    file.parent.mkdir(parents=True, exist_ok=True)
    line = (entry.model_dump_json(exclude_none=False) + "\n").encode("utf-8")
    fd = os.open(file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size:
            with open(file, "rb") as fh:
                fh.seek(size - 1)
                if fh.read(1) != b"\n":
                    line = b"\n" + line
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)  # closing releases the lock
    return entry


@contextlib.contextmanager
def retrain_lock(run: str | Path) -> Iterator[None]:
    """Hold the run's retrain lock; a second retrain of the same run is refused, never interleaved.

    The lock is an ``flock`` on ``versions/.retrain.lock``: the kernel releases it when the holder
    exits, even when killed, so a crashed retrain never blocks the next one.

    Example:
        >>> with retrain_lock("runs/trec-6"):
        ...     train_next_version()
    """
    import fcntl

    folder = versions_dir(run)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = path.read_text(encoding="utf-8", errors="replace").strip() or "another process"
            raise ModelError(
                f"a retrain of this run is already running ({holder})",
                where=str(run),
                hint="wait for it to finish; concurrent retrains of one run are refused",
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}, started {utc_now()}".encode())
        yield
    finally:
        os.close(fd)


def next_version(run: str | Path) -> int:
    """The number the next retrained version gets (call it while holding :func:`retrain_lock`)."""
    return max([1, *existing_versions(run)]) + 1


def _link_or_copy(src: Path, dst: Path) -> None:
    if src.is_dir():
        shutil.copytree(src, dst, copy_function=_link_file)
    else:
        _link_file(str(src), str(dst))


def _link_file(src: str, dst: str) -> None:
    # Artifacts are immutable (every writer replaces files by rename), so a hard link is a safe copy.
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def ensure_version_one(run: str | Path) -> Path:
    """Make ``versions/1`` the original run's Artifact (hard links, atomically) if it is not there yet.

    Example:
        >>> ensure_version_one("runs/trec-6")
        PosixPath('runs/trec-6/versions/1')
    """
    from classifine.artifact import atomic_dir

    run = Path(run)
    target = version_dir(run, 1)
    if (target / "model" / META_FILE).is_file():
        return target
    if not (run / "model" / META_FILE).is_file():
        raise ModelError(
            "not a run folder (no model/classifine.json)",
            where=str(run),
            hint="pass a run folder written by 'classifine train'",
        )
    with atomic_dir(target, overwrite=True) as tmp:
        for part in _ARTIFACT_PARTS:
            if (run / part).exists():
                _link_or_copy(run / part, tmp / part)
        for plot in run.glob("*.png"):
            _link_or_copy(plot, tmp / plot.name)
    return target
