"""A tuning worker: claims waiting trials of a shared study and trains one run per trial.

Each trial trains ``config + sampled values`` with :func:`classifine.training.fit.fit` into
``<output.dir>/<study>/trial-<n>``, is pruned from its per-epoch validation scores by
:class:`PruningCallback`, and reports the final validation metric (never a test score). Weights of
finished trials that are not the best so far are deleted to save disk; their metrics stay.

Example:
    >>> worker = Worker(study, storage, spec, WorkerOptions(study_dir=Path("runs/tune-trec-6")))
    >>> worker.loop()
    6
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState
from transformers import TrainerCallback

from classifine.artifact import write_json
from classifine.config import Config, config_from_dict
from classifine.data.dataset import DatasetSplits
from classifine.errors import ModelError
from classifine.experiments import study as studies
from classifine.experiments.space import Param, base_mapping, parse_space, set_dotted, trial_budget

logger = logging.getLogger(__name__)


class PruningCallback(TrainerCallback):
    """Report each validation score to the trial and stop the run when the pruner says so.

    Steps are evaluation counts (1 = after the first epoch), so trials with different batch
    sizes are compared at the same epoch. The baseline trial is never stopped: it is the reference.
    """

    def __init__(self, trial: optuna.Trial, metric: str, *, prune: bool = True) -> None:
        self.trial = trial
        self.metric = metric
        self.prune = prune  # False: report the scores (the pruner compares others to them), never stop
        self.evals = 0
        self.last_step = -1

    def on_evaluate(
        self, args: Any, state: Any, control: Any, metrics: dict[str, float] | None = None, **kwargs: Any
    ) -> None:
        key = f"eval_{self.metric}"
        # A time budget can end on an epoch boundary: the same step evaluated twice counts once.
        if not metrics or key not in metrics or state.global_step == self.last_step:
            return
        self.last_step = state.global_step
        self.evals += 1
        value = float(metrics[key])
        self.trial.report(value, self.evals)
        if self.prune and self.trial.should_prune():
            raise optuna.TrialPruned(
                f"pruned after evaluation {self.evals}: validation {self.metric} {value:.4f}"
            )


@dataclass
class WorkerOptions:
    """How a worker runs: where trials go, torch threads, when to stop, and who it is."""

    study_dir: Path
    threads: int | None = None
    deadline: float | None = None  # wall-clock time after which no new trial starts
    name: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    top_up: Callable[[], None] | None = None  # the coordinator's own worker tops up the queue
    max_failures: int = 3
    splits: DatasetSplits | None = None  # already loaded by the caller for the base config


def trial_config(base: Config, values: dict[str, Any], options: WorkerOptions, number: int) -> Config:
    """The config one trial trains: base + sampled values + budget, into ``<study_dir>/trial-<n>``."""
    assert base.tune is not None
    raw = base_mapping(base)
    for key, value in values.items():
        set_dotted(raw, key, value)
    trial_budget(base, raw, values)
    set_dotted(raw, "output.dir", str(options.study_dir))
    set_dotted(raw, "output.name", f"trial-{number}")
    set_dotted(raw, "output.overwrite", True)
    if options.threads is not None:
        set_dotted(raw, "train.threads", options.threads)
    return config_from_dict(raw, f"trial {number}")


def prune_weights(study: optuna.Study, study_dir: Path) -> list[int]:
    """Delete ``model/`` of every finished trial except the best one; return their numbers."""
    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.value is not None]
    if not done:
        return []
    pick = max if study.direction == optuna.study.StudyDirection.MAXIMIZE else min
    best = pick(done, key=lambda t: float(t.value or 0.0)).number  # from this one snapshot
    removed = []
    for t in done:
        model = study_dir / f"trial-{t.number}" / "model"
        if t.number != best and model.is_dir():
            shutil.rmtree(model, ignore_errors=True)
            removed.append(t.number)
    return removed


class Worker:
    """Claims and runs trials of one study until none is left (or the deadline passes)."""

    def __init__(
        self,
        study: optuna.Study,
        storage: optuna.storages.RDBStorage,
        spec: dict[str, Any],
        options: WorkerOptions,
    ) -> None:
        self.study = study
        self.storage = storage
        self.base = config_from_dict(spec["config"], f"study {study.study_name}")
        assert self.base.tune is not None
        self.tune = self.base.tune
        self.params: list[Param] = parse_space(self.tune.space)
        self.options = options
        self._splits: dict[str, DatasetSplits] = {}
        if options.splits is not None:
            self._splits[self._data_key(self.base)] = options.splits

    @staticmethod
    def _data_key(cfg: Config) -> str:
        return json.dumps(cfg.data.model_dump(mode="json"), sort_keys=True)

    def splits_for(self, cfg: Config) -> DatasetSplits:
        """The splits of ``cfg.data``, loaded once per distinct data section."""
        from classifine.data.loading import load_splits

        key = self._data_key(cfg)
        if key not in self._splits:
            self._splits[key] = load_splits(cfg.data)
        return self._splits[key]

    def run_trial(self, trial: optuna.Trial) -> float:
        """Train one trial; return its final validation metric (raises TrialPruned when pruned)."""
        from classifine.experiments.tracking.runs import tracked_run
        from classifine.training.fit import fit, work_dir_for

        values = {p.key: p.suggest(trial) for p in self.params}
        cfg = trial_config(self.base, values, self.options, trial.number)
        run_dir = Path(cfg.output.dir) / f"trial-{trial.number}"
        baseline = bool(trial.user_attrs.get(studies.BASELINE_ATTR))
        trial.set_user_attr("worker", self.options.name)
        trial.set_user_attr("run_dir", str(run_dir))
        metric = self.tune.metric
        name = f"{self.study.study_name}-trial-{trial.number}"
        tags = {"study": self.study.study_name, "trial": str(trial.number)}
        try:
            with tracked_run(
                cfg, name, "tune-trial", root=self.options.study_dir.parent, tags=tags
            ) as tracked:
                try:
                    fit(
                        self.splits_for(cfg),
                        cfg,
                        run_dir,
                        progress=False,
                        callbacks=[PruningCallback(trial, metric, prune=not baseline), *tracked.callbacks],
                    )
                except optuna.TrialPruned:
                    tracked.status = "killed"
                    raise
                tracked.training(run_dir, model=False)
                summary = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
                value = summary.get("validation", {}).get(metric)
                if value is None:
                    raise ModelError(f"trial {trial.number} has no validation {metric}", where=str(run_dir))
                tracked.metrics({f"objective/{metric}": float(value)})
                return float(value)
        finally:
            shutil.rmtree(work_dir_for(run_dir), ignore_errors=True)

    def _record(self, frozen: optuna.trial.FrozenTrial, error: str | None, seconds: float) -> None:
        from classifine.experiments.space import decode_params

        run_dir = self.options.study_dir / f"trial-{frozen.number}"
        record = {
            "study": self.study.study_name,
            "trial": frozen.number,
            "state": frozen.state.name.lower(),
            "value": frozen.value,
            "metric": f"validation {self.tune.metric}",
            "params": decode_params(self.params, frozen.params),
            "baseline": bool(frozen.user_attrs.get(studies.BASELINE_ATTR)),
            "intermediate": {str(k): v for k, v in sorted(frozen.intermediate_values.items())},
            "seconds": round(seconds, 2),
            "worker": self.options.name,
            "error": error,
        }
        write_json(run_dir / "trial.json", record)

    def _finish(self, trial: optuna.Trial) -> tuple[TrialState, str | None]:
        started = time.perf_counter()
        error: str | None = None
        try:
            frozen = self.study.tell(trial, self.run_trial(trial))
        except optuna.TrialPruned as exc:
            logger.info("trial %d: %s", trial.number, exc)
            frozen = self.study.tell(trial, state=TrialState.PRUNED)
        except KeyboardInterrupt:
            trial.set_user_attr("error", "interrupted")
            self.study.tell(trial, state=TrialState.FAIL)
            raise
        except Exception as exc:  # one failed trial must not end the study; the cause is kept
            error = f"{type(exc).__name__}: {exc}"[:1000]
            logger.error("trial %d failed: %s", trial.number, error)
            logger.debug("trial %d traceback", trial.number, exc_info=True)
            trial.set_user_attr("error", error)
            frozen = self.study.tell(trial, state=TrialState.FAIL)
        seconds = time.perf_counter() - started
        self._record(frozen, error, seconds)
        if frozen.state == TrialState.COMPLETE:
            logger.info(
                "trial %d: validation %s %.4f (%.0f s)",
                frozen.number,
                self.tune.metric,
                frozen.value,
                seconds,
            )
            prune_weights(self.study, self.options.study_dir)
        return frozen.state, error

    def _others_running(self) -> bool:
        return bool(self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))

    def loop(self) -> int:
        """Run trials until the queue is empty and no trial is running elsewhere; return how many ran.

        While other trials still run this worker waits: a trial whose process died is marked
        failed after its heartbeat lapses, and its replacement is picked up here.
        """
        ran = failures = 0
        beat = self.tune.heartbeat_seconds
        while self.options.deadline is None or time.time() < self.options.deadline:
            studies.fail_stale(self.study)
            if self.options.top_up is not None:
                self.options.top_up()
            claimed = studies.claim(self.study, self.storage)
            if claimed is None:
                if not self._others_running():
                    break
                time.sleep(min(beat, 5))
                continue
            with studies.heartbeat(self.storage, claimed, beat):
                state, error = self._finish(claimed.trial)
            ran += 1
            failures = failures + 1 if state == TrialState.FAIL else 0
            if failures >= self.options.max_failures:
                raise ModelError(
                    f"{failures} trials in a row failed; the last one: {error}",
                    hint="see the trial.json files of the failed trials",
                )
        return ran
