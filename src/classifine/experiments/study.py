"""An Optuna study on RDB storage that several processes and machines share safely.

The process that runs ``classifine tune CONFIG`` (the coordinator) creates the storage and the
study once, stores the config in the study, and enqueues one *ticket* (a waiting trial) per trial
still wanted. Workers, local or on other machines, only load the study and claim waiting trials:
a claim is an atomic WAITING -> RUNNING update in the database, so two workers never run the same
trial and the study never runs more trials than asked. Running trials send a heartbeat; a trial
whose process died (SIGKILL, power loss) stops beating and is marked FAIL, and the coordinator
enqueues a replacement.

Example:
    >>> storage = open_storage("sqlite:///runs/tune-trec-6/study.db", heartbeat=10)
    >>> study = create_or_load(storage, "tune-trec-6", spec, "maximize")
    >>> top_up(study, 12)
"""

from __future__ import annotations

import logging
import re
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.exceptions import ExperimentalWarning
from optuna.trial import TrialState

from classifine.errors import ConfigError

logger = logging.getLogger(__name__)

SPEC_ATTR = "classifine"
#: The user attribute that marks the baseline trial (the base config's own values).
BASELINE_ATTR = "baseline"
#: A baseline trial that failed this often (not died: failed) is not enqueued again.
BASELINE_TRIES = 2
SPEC_VERSION = 1
DONE = (TrialState.COMPLETE, TrialState.PRUNED)
# A trial counts as lost after this many missed heartbeats.
GRACE_BEATS = 3
_CREATE_FIRST = "a study is created by 'classifine tune CONFIG --storage URL --study NAME' before others join"


def redact(url: str) -> str:
    """A storage URL safe to print: the password replaced by ``***``.

    Example:
        >>> redact("postgresql+psycopg://me:secret@db:5432/optuna")
        'postgresql+psycopg://me:***@db:5432/optuna'
    """
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def default_storage(study_dir: Path) -> str:
    """A SQLite file in the study's folder."""
    return f"sqlite:///{(study_dir / 'study.db').resolve()}"


def _mark_lost(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    # A finished trial takes no more attributes: the reason is kept on the study, per trial.
    study.set_user_attr(f"lost_trial_{trial.number}", "no heartbeat: its process died or was killed")
    logger.warning("trial %d lost its heartbeat (its process died?): marked failed", trial.number)


def open_storage(url: str, *, heartbeat: int, create: bool = True) -> optuna.storages.RDBStorage:
    """Optuna RDB storage with heartbeats; ``create=False`` (workers) never creates tables.

    Example:
        >>> open_storage("postgresql+psycopg://optuna@db/optuna", heartbeat=10, create=False)
    """
    engine: dict[str, Any] = {}
    if url.startswith("sqlite:"):
        path = url.split(":///", 1)[-1]
        if create and path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        elif not create and not Path(path).is_file():
            raise ConfigError("no such study database file", where=redact(url), hint=_CREATE_FIRST)
        # Several processes write one file: wait for the lock instead of failing at once.
        engine = {"connect_args": {"timeout": 60}}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            return optuna.storages.RDBStorage(
                url,
                engine_kwargs=engine,
                heartbeat_interval=heartbeat,
                grace_period=heartbeat * GRACE_BEATS,
                failed_trial_callback=_mark_lost,
                skip_table_creation=not create,
            )
    except ImportError as exc:
        raise ConfigError(
            f"the storage driver is not installed ({exc})",
            where=redact(url),
            hint="PostgreSQL needs psycopg (pip install 'psycopg[binary]'); use postgresql+psycopg://",
        ) from None
    except Exception as exc:  # sqlalchemy: bad URL, refused connection, missing database or tables
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        hint = "check --storage (e.g. sqlite:///study.db, postgresql+psycopg://user:pass@host/db)"
        raise ConfigError(
            f"cannot open the study storage ({type(exc).__name__}: {first})",
            where=redact(url),
            hint=hint if create else f"{hint}; {_CREATE_FIRST}",
        ) from None


def create_or_load(
    storage: optuna.storages.RDBStorage,
    name: str,
    spec: dict[str, Any],
    direction: str,
    sampler: optuna.samplers.BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
) -> optuna.Study:
    """Create the study (or load it when it exists) and store ``spec``; called by ONE process.

    A study created from a different search space or direction is refused.
    """
    study = optuna.create_study(
        storage=storage,
        study_name=name,
        direction=direction,  # type: ignore[arg-type]
        sampler=sampler,
        pruner=pruner,
        load_if_exists=True,
    )
    if study.direction.name.lower() != direction:
        raise ConfigError(
            f"study '{name}' {study.direction.name.lower()}s its objective, this config wants to {direction}",
            hint="use another --study name",
        )
    old = study.user_attrs.get(SPEC_ATTR)
    if old is not None and old.get("space") != spec["space"]:
        raise ConfigError(
            f"study '{name}' was created with a different search space",
            hint="use another --study name, or the config the study was started with",
        )
    study.set_user_attr(SPEC_ATTR, spec)
    return study


def load(
    storage: optuna.storages.RDBStorage,
    name: str,
    sampler: optuna.samplers.BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
) -> tuple[optuna.Study, dict[str, Any]]:
    """Load an existing study and its stored spec (workers joining it)."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        study = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
    except SQLAlchemyError:  # no tables: nothing was ever created in this database
        raise ConfigError(
            f"no study named '{name}': the storage holds no study yet",
            hint=_CREATE_FIRST,
        ) from None
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        raise ConfigError(
            f"no study named '{name}' in this storage",
            hint=(f"known studies: {', '.join(names)}; " if names else "") + _CREATE_FIRST,
        ) from None
    spec = study.user_attrs.get(SPEC_ATTR)
    if not isinstance(spec, dict) or spec.get("version") != SPEC_VERSION:
        raise ConfigError(
            f"study '{name}' was not created by classifine tune", hint="join a classifine study"
        )
    return study, spec


def counts(study: optuna.Study) -> dict[str, int]:
    """Trials per state, e.g. ``{"COMPLETE": 5, "PRUNED": 2, "RUNNING": 1}``."""
    out: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        out[t.state.name] = out.get(t.state.name, 0) + 1
    return out


def fail_stale(study: optuna.Study) -> None:
    """Mark trials whose heartbeat stopped as FAIL (their process died)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def top_up(study: optuna.Study, target: int, grid: Sequence[Mapping[str, Any]] | None = None) -> int:
    """Enqueue waiting trials until done + running + waiting reaches ``target``; return how many.

    With ``grid`` (grid search), each new trial gets the next grid point not tried yet and the
    target is capped at the grid's size. Only the coordinator calls this (one writer).
    """
    trials = study.get_trials(deepcopy=False)
    live = [t for t in trials if t.state in (*DONE, TrialState.RUNNING, TrialState.WAITING)]
    wanted = target - len(live)
    if grid is None:
        for _ in range(max(0, wanted)):
            study.enqueue_trial({})
        return max(0, wanted)
    used = [_grid_params(t) for t in live]
    fresh = [dict(p) for p in grid if dict(p) not in used]
    for params in fresh[: max(0, wanted)]:
        study.enqueue_trial(params)
    return min(max(0, wanted), len(fresh))


def baseline_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    """The study's baseline trial that finished, else the one running or waiting, else None."""
    marked = [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get(BASELINE_ATTR)]
    for states in (DONE, (TrialState.RUNNING, TrialState.WAITING)):
        for t in marked:
            if t.state in states:
                return t
    return None


def ensure_baseline(study: optuna.Study, params: Mapping[str, Any], target: int) -> bool:
    """Enqueue the baseline trial (``params`` fixed) unless it exists; True when it was enqueued.

    On a fresh study it becomes trial 0. A baseline whose process died is enqueued again (the
    reference must be measured), at most ``BASELINE_TRIES`` times, and never beyond ``target``.
    """
    trials = study.get_trials(deepcopy=False)
    live = [t for t in trials if t.state in (*DONE, TrialState.RUNNING, TrialState.WAITING)]
    failed = [t for t in trials if t.user_attrs.get(BASELINE_ATTR) and t.state == TrialState.FAIL]
    if baseline_trial(study) is not None or len(failed) >= BASELINE_TRIES or len(live) >= target:
        return False
    study.enqueue_trial(dict(params), user_attrs={BASELINE_ATTR: True})
    return True


def _grid_params(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    return dict(trial.params) if trial.params else dict(trial.system_attrs.get("fixed_params", {}))


@dataclass(frozen=True)
class Claimed:
    """A trial this process owns: the Optuna trial and its storage id."""

    trial: optuna.Trial
    trial_id: int


def claim(study: optuna.Study, storage: optuna.storages.RDBStorage) -> Claimed | None:
    """Atomically take one waiting trial (WAITING -> RUNNING); None when none is left.

    The claim is one conditional ``UPDATE ... WHERE state = WAITING`` whose row count says who won.
    Optuna's own state change reads the row first and relies on ``SELECT ... FOR UPDATE``, which
    SQLite ignores: two workers on one SQLite study could both claim the same trial.
    """
    study_id = storage.get_study_id_from_name(study.study_name)
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, frozen.number)
        if _take_waiting(storage, trial_id):
            return Claimed(optuna.Trial(study, trial_id), trial_id)
    return None


def _take_waiting(storage: optuna.storages.RDBStorage, trial_id: int) -> bool:
    """WAITING -> RUNNING for one trial in a single statement; True when this process changed it."""
    import datetime as dt

    from optuna.storages._rdb import models
    from sqlalchemy import update

    table = models.TrialModel
    statement = (
        update(table)
        .where(table.trial_id == trial_id, table.state == TrialState.WAITING)
        .values(state=TrialState.RUNNING, datetime_start=dt.datetime.now())
    )
    with storage.engine.begin() as connection:
        return connection.execute(statement).rowcount == 1


@contextmanager
def heartbeat(storage: optuna.storages.RDBStorage, claimed: Claimed, seconds: int) -> Iterator[None]:
    """Record a heartbeat for the claimed trial now and every ``seconds`` while the body runs."""
    stop = threading.Event()
    trial_id, number = claimed.trial_id, claimed.trial.number

    def beat() -> None:
        while not stop.wait(seconds):
            try:
                storage.record_heartbeat(trial_id)
            except Exception as exc:  # a busy database: the next beat retries
                logger.debug("heartbeat of trial %d failed: %s", number, exc)

    storage.record_heartbeat(trial_id)
    thread = threading.Thread(target=beat, name=f"heartbeat-{number}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=seconds + 5)


def make_sampler(kind: str, seed: int, startup: int) -> optuna.samplers.BaseSampler:
    """TPE (with a constant liar, for parallel workers) or random; grid points arrive fixed."""
    if kind == "tpe":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            return optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(1, startup), constant_liar=True)
    return optuna.samplers.RandomSampler(seed=seed)


def make_pruner(kind: str, startup: int, warmup_evals: int) -> optuna.pruners.BasePruner:
    """Median (after ``startup`` finished trials and ``warmup_evals`` evaluations), Hyperband, or none."""
    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=startup, n_warmup_steps=warmup_evals + 1)
    if kind == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=max(1, warmup_evals + 1))
    return optuna.pruners.NopPruner()
