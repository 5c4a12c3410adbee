"""Hyperparameter search over any config key: ``tune(config)`` runs a study, ``join(...)`` helps one.

The calling process coordinates: it creates the study once on Optuna's RDB storage (a SQLite file
in ``<output.dir>/<study>/`` by default, or any database URL), enqueues the trials still wanted,
runs them (in-process, or in ``workers`` local processes sharing the cores), replaces trials
whose process died, and writes ``summary.json``, ``report.html`` and ``best.yaml``. The same call
on the same storage continues the study. ``refit`` retrains the best config and scores it once
on the test split.

Example:
    >>> result = tune("examples/tune-trec-6.yaml", trials=12, workers=2)
    >>> result.summary["best"]["value"]  # doctest: +SKIP
    0.95
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from classifine.config import Config, config_from_dict, load_config
from classifine.errors import ConfigError, ModelError
from classifine.experiments import study as studies
from classifine.experiments.refit import refit_baseline, refit_best
from classifine.experiments.space import (
    Param,
    baseline_labels,
    grid_points,
    parse_space,
)
from classifine.experiments.tune_report import TuneResult, finish, write_study
from classifine.experiments.worker import Worker, WorkerOptions

logger = logging.getLogger(__name__)

POLL_SECONDS = 2.0
#: ``--join`` reads the storage URL from here when ``--storage`` is not given.
STORAGE_ENV = "CLASSIFINE_TUNE_STORAGE"


def _load(config: Config | str | Path, overrides: Sequence[str] | None) -> tuple[Config, str]:
    if isinstance(config, Config):
        if overrides:
            from classifine.config import apply_overrides

            config = config_from_dict(apply_overrides(config.model_dump(mode="json"), list(overrides)))
        return config, "tune"
    return load_config(config, list(overrides or [])), Path(config).stem


def _set(cfg: Config, key: str, value: Any) -> None:
    from pydantic import ValidationError

    try:
        setattr(cfg.tune, key, value)
    except ValidationError as exc:
        msg = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise ConfigError(f"bad value {value!r} for tune.{key}: {msg}") from None


def _study_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise ConfigError(
            f"study name '{name}' is not a plain name", hint="use letters, digits, '-', '_', '.'"
        )
    return name


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _precheck(cfg: Config, params: Sequence[Param]) -> Any:
    """Fail before any trial: unknown models, no validation split. Returns the base splits."""
    from classifine.data.loading import load_splits
    from classifine.models import zoo

    names = {cfg.model.name}
    for p in params:
        if p.key == "model.name":
            names.update(str(v) for v in p.candidates())
    for name in sorted(names):
        zoo.resolve(name, fetch=False)
    splits = load_splits(cfg.data)
    if len(splits.validation) == 0:
        raise ConfigError(
            "tuning needs a validation split (the objective is never measured on test)",
            hint="set data.split.validation > 0 or data.validation FILE",
        )
    return splits


class _Queue:
    """The coordinator's top-up: keeps ``target`` trials queued, replaces failed ones, within limits."""

    def __init__(
        self,
        study: optuna.Study,
        target: int,
        grid: list[dict[str, Any]] | None,
        deadline: float | None,
        baseline: dict[str, Any] | None = None,
    ):
        self.study, self.target, self.grid, self.deadline = study, target, grid, deadline
        self.baseline = baseline  # the base config's parameters: trial 0, the reference
        self.fails_at_start = self._fails()
        self.max_new_fails = max(3, target // 4)
        self.stopped = False

    def _fails(self) -> int:
        return len(self.study.get_trials(deepcopy=False, states=(TrialState.FAIL,)))

    def __call__(self) -> None:
        if self.stopped or (self.deadline is not None and time.time() >= self.deadline):
            return
        if self._fails() - self.fails_at_start > self.max_new_fails:
            logger.error("more than %d trials failed: no replacements are queued", self.max_new_fails)
            self.stopped = True
            return
        if self.baseline is not None and studies.ensure_baseline(self.study, self.baseline, self.target):
            logger.info("queued the baseline trial: the config's own values, under the same budget")
        added = studies.top_up(self.study, self.target, self.grid)
        if added:
            logger.info("queued %d trial(s) (target %d)", added, self.target)


def _spec(cfg: Config) -> dict[str, Any]:
    assert cfg.tune is not None
    raw = cfg.model_dump(mode="json")
    return {"version": studies.SPEC_VERSION, "config": raw, "space": raw["tune"]["space"]}


def _open(cfg: Config, name: str, url: str, seed: int, create: bool) -> tuple[optuna.Study, Any]:
    assert cfg.tune is not None
    t = cfg.tune
    storage = studies.open_storage(url, heartbeat=t.heartbeat_seconds, create=create)
    pruner = studies.make_pruner(t.pruner, t.startup_trials, t.warmup_evals)
    if create:
        study = studies.create_or_load(storage, name, _spec(cfg), t.resolved_direction(), pruner=pruner)
    else:
        study, _ = studies.load(storage, name, pruner=pruner)
    # A continued study must not replay the samples of its first run: the seed moves on with it.
    study.sampler = studies.make_sampler(
        t.sampler, seed + len(study.get_trials(deepcopy=False)), t.startup_trials
    )
    return study, storage


def tune(
    config: Config | str | Path,
    overrides: Sequence[str] | None = None,
    *,
    trials: int | None = None,
    sampler: str | None = None,
    timeout_minutes: float | None = None,
    storage: str | None = None,
    study: str | None = None,
    workers: int = 1,
    refit: bool = False,
    progress: bool = False,
) -> TuneResult:
    """Run (or continue) a study of ``config``'s ``tune`` section until ``trials`` trials finished.

    Args:
        config: a Config or YAML path with a ``tune:`` section; ``overrides`` as for ``train``.
        trials: trials the study should have finished (completed or pruned) in total.
        sampler: ``tpe``, ``random`` or ``grid`` (default: ``tune.sampler``).
        timeout_minutes: start no new trial after this long.
        storage: an RDB URL (default: ``sqlite:///<output.dir>/<study>/study.db``).
        study: the study name (default: ``tune.study`` or the config file's name).
        workers: local worker processes; each gets ``cores // workers`` torch threads.
        refit: retrain the best config and score it once on the test split.

    Example:
        >>> tune("examples/tune-trec-6.yaml", trials=12, workers=2, refit=True).summary["refit"]["test"]
    """
    cfg, stem = _load(config, overrides)
    if cfg.tune is None:
        raise ConfigError("the config has no tune: section", hint="add tune.space (see docs/experiments.md)")
    updates = {"trials": trials, "sampler": sampler, "timeout_minutes": timeout_minutes}
    for key, value in updates.items():
        if value is not None:
            _set(cfg, key, value)
    name = _study_name(study or cfg.tune.study or stem)
    study_dir = Path(cfg.output.dir) / name
    url = storage or cfg.tune.storage or studies.default_storage(study_dir)
    plan = _plan(cfg, name, url, study_dir)
    if workers <= 1:
        options = WorkerOptions(
            study_dir=study_dir, deadline=plan.deadline, top_up=plan.queue, splits=plan.splits
        )
        Worker(plan.study, plan.storage, _spec(cfg), options).loop()
    else:
        _run_workers(plan.study, url, name, study_dir, workers, plan.deadline, plan.queue, progress)
    result = finish(plan.study, cfg, url, study_dir, plan.queue.target)
    if refit:
        result.summary["refit"] = refit_best(plan.study, cfg, study_dir, progress=progress)
        result.summary["refit_baseline"] = refit_baseline(plan.study, cfg, study_dir, progress=progress)
        write_study(plan.study, study_dir, result.summary)
    _track_study(cfg, result)
    return result


def _track_study(cfg: Config, result: TuneResult) -> None:
    """One tracker run for the study as a whole: its settings, best score, report and best config."""
    from classifine.experiments.tracking import flatten
    from classifine.experiments.tracking.runs import tracked_run

    summary, folder = result.summary, result.study_dir
    params = flatten({"tune": cfg.model_dump(mode="json")["tune"]})
    with tracked_run(cfg, summary["study"], "tune", root=folder.parent, params=params) as tracked:
        best = summary.get("best") or {}
        values = {f"trials/{k.lower()}": float(v) for k, v in summary["counts"].items()}
        if best:
            values[f"best/validation_{summary['metric']}"] = float(best["value"])
        refit_test = (summary.get("refit") or {}).get("test") or {}
        values.update(
            {f"refit/test_{k}": float(v) for k, v in refit_test.items() if isinstance(v, (int, float))}
        )
        tracked.metrics(values)
        for name in (
            "summary.json",
            "report.html",
            "best.yaml",
            *(f"{p.name}" for p in folder.glob("*.png")),
        ):
            tracked.artifact(folder / name)


@dataclass
class _Plan:
    study: optuna.Study
    storage: optuna.storages.RDBStorage
    queue: _Queue
    deadline: float | None
    splits: Any


def _plan(cfg: Config, name: str, url: str, study_dir: Path) -> _Plan:
    """Check everything, create or load the study once, prepare tracking, queue the wanted trials."""
    assert cfg.tune is not None
    t = cfg.tune
    params = parse_space(t.space)
    if not params:
        raise ConfigError("tune.space is empty", hint="add keys to search, e.g. train.learning_rate")
    grid = grid_points(params, t.seed) if t.sampler == "grid" else None
    target = min(t.trials, len(grid)) if grid is not None else t.trials
    if grid is not None and t.trials > len(grid):
        logger.info("the grid has %d points: running %d trials", len(grid), len(grid))
    splits = _precheck(cfg, params)
    opened, rdb = _open(cfg, name, url, t.seed, create=True)
    if cfg.track.backend != "none":
        from classifine.experiments.tracking import prepare_backend
        from classifine.experiments.tracking.runs import track_settings

        prepare_backend(*track_settings(cfg, study_dir.parent))
    logger.info(
        "study %s on %s: %d trials wanted, %s", name, studies.redact(url), target, studies.counts(opened)
    )
    deadline = time.time() + t.timeout_minutes * 60 if t.timeout_minutes else None
    queue = _Queue(opened, target, grid, deadline, baseline_labels(cfg))
    studies.fail_stale(opened)
    queue()
    return _Plan(opened, rdb, queue, deadline, splits)


def _worker_command(name: str, index: int, threads: int, deadline: float | None) -> list[str]:
    # The storage URL (it may hold a password) travels in the environment, not on the command line.
    cmd = [sys.executable, "-m", "classifine.cli.main", "tune", "--join", "--study", name]
    cmd += ["--worker-index", str(index), "--threads", str(threads)]
    return cmd + (["--deadline", f"{deadline:.0f}"] if deadline else [])


def _start_workers(url: str, name: str, study_dir: Path, k: int, deadline: float | None) -> list[Any]:
    """Start ``k`` local ``--join`` workers, ``cores // k`` torch threads each: ``(process, log)`` pairs."""
    threads = max(1, _cores() // k)
    env = {
        **os.environ,
        STORAGE_ENV: url,
        "OMP_WAIT_POLICY": "PASSIVE",
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
    }
    study_dir.mkdir(parents=True, exist_ok=True)
    procs = []
    for i in range(k):
        log = open(study_dir / f"worker-{i}.log", "w", encoding="utf-8")  # noqa: SIM115  (closed by the caller)
        cmd = _worker_command(name, i, threads, deadline)
        procs.append((subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env), log))
    logger.info("%d workers started (%d torch threads each); logs in %s/worker-*.log", k, threads, study_dir)
    return procs


def _stop(procs: list[Any]) -> None:
    for p, _ in procs:
        p.send_signal(signal.SIGINT)  # each worker marks its running trial failed and stops
    for p, _ in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()


def _run_workers(
    study: optuna.Study,
    url: str,
    name: str,
    study_dir: Path,
    k: int,
    deadline: float | None,
    queue: _Queue,
    progress: bool,
) -> None:
    """Run ``k`` local workers; meanwhile keep the queue full and replace lost trials; wait for them."""
    procs = _start_workers(url, name, study_dir, k, deadline)
    bar = _progress_bar(study, queue.target) if progress else None
    try:
        while any(p.poll() is None for p, _ in procs):
            time.sleep(POLL_SECONDS)
            studies.fail_stale(study)
            queue()
            if bar is not None:
                bar.update(_done(study) - bar.n)
    except KeyboardInterrupt:
        _stop(procs)
        raise
    finally:
        if bar is not None:
            bar.close()
        for _, log in procs:
            log.close()
    bad = [(i, p.returncode) for i, (p, _) in enumerate(procs) if p.returncode != 0]
    for i, code in bad:
        tail = (study_dir / f"worker-{i}.log").read_text(encoding="utf-8", errors="replace").strip()
        logger.error("worker %d exited with code %s: %s", i, code, tail.splitlines()[-1] if tail else "")
    if bad and _done(study) == 0:
        raise ModelError(
            "every worker failed before any trial finished", where=str(study_dir / "worker-0.log")
        )


def _done(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=studies.DONE))


def _progress_bar(study: optuna.Study, total: int) -> Any:
    from tqdm.auto import tqdm

    return tqdm(
        total=total, initial=_done(study), desc="trials", unit="trial", dynamic_ncols=True, leave=False
    )


def join(
    storage: str,
    study: str,
    *,
    worker_index: int | None = None,
    threads: int | None = None,
    deadline: float | None = None,
) -> int:
    """Run waiting trials of an existing study (another machine, or a local worker); return how many.

    Example:
        >>> join("postgresql+psycopg://optuna:pw@db/optuna", "tune-trec-6")
        3
    """
    probe = studies.open_storage(storage, heartbeat=10, create=False)
    _, spec = studies.load(probe, study)
    cfg = config_from_dict(spec["config"], f"study {study}")
    assert cfg.tune is not None
    offset = worker_index + 1 if worker_index is not None else os.getpid()
    opened, rdb = _open(cfg, study, storage, cfg.tune.seed + offset, create=False)
    options = WorkerOptions(study_dir=Path(cfg.output.dir) / study, threads=threads, deadline=deadline)
    return Worker(opened, rdb, spec, options).loop()
