"""Tracked runs: what ``train``, ``evaluate`` and ``tune`` log through a :class:`Tracker`.

A run logs the resolved config (flattened) as params, the Trainer's loss and per-epoch
validation metrics at their step (through :class:`TrackerCallback`), final validation, test and
TF-IDF metrics, and the report, plots, metrics and model folder as artifacts.

Example:
    >>> with tracked_run(cfg, "trec-6-minilm", "train") as tracked:
    ...     run = fit(splits, cfg, run_dir, callbacks=tracked.callbacks)
    ...     tracked.training(run)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transformers import TrainerCallback

from classifine.experiments.tracking import (
    DEFAULT_EXPERIMENT,
    Tracker,
    TrackSettings,
    flatten,
    make_tracker,
)

if TYPE_CHECKING:
    from classifine.config import Config
    from classifine.evaluation.report import EvalReport

logger = logging.getLogger(__name__)

_SKIP = ("runtime", "per_second", "total_flos")


def _metric_name(key: str) -> str:
    if key.startswith("eval_"):
        return "validation/" + key[5:]
    if key == "epoch":
        return "epoch"
    return "train/" + key.removeprefix("train_")


def trainer_metrics(logs: Mapping[str, Any]) -> dict[str, float]:
    """One Trainer log line as tracker metrics: ``eval_x`` -> ``validation/x``, others -> ``train/x``.

    Example:
        >>> trainer_metrics({"eval_macro_f1": 0.9, "epoch": 1.0, "loss": 0.3})
        {'validation/macro_f1': 0.9, 'epoch': 1.0, 'train/loss': 0.3}
    """
    return {
        _metric_name(k): float(v)
        for k, v in logs.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and not any(s in k for s in _SKIP)
    }


class Tracked:
    """A started tracker run, or nothing (tracking off). Logging errors mid-run warn and stop tracking
    instead of ending a long training run."""

    def __init__(self, tracker: Tracker | None) -> None:
        self.tracker = tracker
        self.status: str | None = None  # set to end the run with another status (e.g. "killed")

    @property
    def active(self) -> bool:
        return self.tracker is not None

    @property
    def callbacks(self) -> list[Any]:
        """Trainer callbacks that stream loss and validation metrics to the tracker."""
        return [TrackerCallback(self)] if self.tracker is not None else []

    def _guard(self, what: str, call: Any, *args: Any, **kwargs: Any) -> None:
        if self.tracker is None:
            return
        try:
            call(*args, **kwargs)
        except Exception as exc:  # a tracking store that fails must not cost the training run
            logger.warning(
                "%s tracking failed while logging %s (%s); continuing without it",
                self.tracker.name,
                what,
                exc,
            )
            self.tracker = None

    def metrics(self, values: Mapping[str, float], step: int | None = None) -> None:
        """Log numbers (``step=None``: final values)."""
        if self.tracker is not None and values:
            self._guard("metrics", self.tracker.log_metrics, values, step)

    def artifact(self, path: Path, name: str | None = None) -> None:
        """Keep a file or folder with the run (missing paths are skipped)."""
        if self.tracker is not None and path.exists():
            self._guard(path.name, self.tracker.log_artifact, path, name)

    def training(self, run_dir: Path, *, model: bool = True) -> None:
        """Final validation metrics, training time and the run's files (and its model folder)."""
        summary = _read_json(run_dir / "metrics.json")
        final = {f"validation/best_{k}": v for k, v in summary.get("validation", {}).items()}
        train = summary.get("train", {})
        final.update({f"train/{k}": v for k, v in train.items() if isinstance(v, (int, float))})
        self.metrics(final)
        for name in ("config.yaml", "metrics.json", "train_log.jsonl"):
            self.artifact(run_dir / name)
        if model:
            self.artifact(run_dir / "model", "model")

    def evaluation(self, report: EvalReport) -> None:
        """Test (or validation/file) metrics beside TF-IDF, per-class F1, the report and its plots."""
        prefix = report.split.replace(" ", "_")
        values = evaluation_metrics(report.metrics, prefix)
        if report.baseline is not None:
            values.update(evaluation_metrics(report.baseline, "tfidf", per_class=False))
        self.metrics(values)
        if report.run_dir is not None:
            for name in ("report.md", "report.html", "metrics.json"):
                self.artifact(report.run_dir / name)
            for plot in report.plots:
                self.artifact(report.run_dir / plot.filename)


def evaluation_metrics(
    metrics: Mapping[str, Any], prefix: str, *, per_class: bool = True
) -> dict[str, float]:
    """Headline numbers of :func:`compute_metrics` output (and per-class F1) under ``prefix/``."""
    keys = ("accuracy", "macro_f1", "micro_f1", "weighted_f1", "roc_auc", "ece", "hamming_loss")
    out = {f"{prefix}/{k}": float(metrics[k]) for k in keys if isinstance(metrics.get(k), (int, float))}
    if per_class:
        for label, scores in metrics.get("per_class", {}).items():
            out[f"{prefix}/f1/{label}"] = float(scores["f1"])
    return out


class TrackerCallback(TrainerCallback):
    """Streams every Trainer log line (loss, learning rate, per-epoch validation) to a tracker."""

    def __init__(self, tracked: Tracked) -> None:
        self.tracked = tracked

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        if logs and state.is_world_process_zero:
            self.tracked.metrics(trainer_metrics(logs), step=int(state.global_step))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def track_settings(cfg: Config, root: Path | None = None) -> tuple[str, TrackSettings]:
    """The backend name and settings of ``cfg.track`` (defaults live under ``output.dir``)."""
    settings = TrackSettings(
        root=Path(root) if root is not None else Path(cfg.output.dir),
        uri=cfg.track.uri,
        experiment=cfg.track.experiment or DEFAULT_EXPERIMENT,
    )
    return cfg.track.backend, settings


def run_params(cfg: Config) -> dict[str, Any]:
    """The resolved config flattened to ``section.key`` params (without the tune and track sections)."""
    raw = cfg.model_dump(mode="json")
    raw.pop("tune", None)
    raw.pop("track", None)
    return flatten(raw)


@contextmanager
def tracked_run(
    cfg: Config,
    name: str,
    kind: str,
    *,
    root: Path | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
) -> Iterator[Tracked]:
    """Open a tracker run for ``cfg`` (or a no-op when ``track.backend`` is ``none``); end it as
    ``finished`` or, when the body raises, ``failed``.

    Example:
        >>> with tracked_run(cfg, "trec-6-minilm", "evaluate") as tracked:
        ...     tracked.evaluation(report)
    """
    backend, settings = track_settings(cfg, root)
    if backend == "none":
        yield Tracked(None)
        return
    tracker = make_tracker(backend, settings)
    tracker.start(name, {"kind": kind, **(tags or {})})
    tracked = Tracked(tracker)
    tracked._guard("params", tracker.log_params, {**run_params(cfg), **(params or {})})
    status = "failed"
    try:
        yield tracked
        status = "finished"
    finally:
        if tracked.tracker is not None:
            tracked._guard("the run's end", tracked.tracker.end, tracked.status or status)


@contextmanager
def tracked_evaluation(run_dir: Path, backend: str | None = None) -> Iterator[Tracked]:
    """A tracker run for evaluating ``run_dir``: ``backend`` or the run's own ``track`` section.

    Example:
        >>> with tracked_evaluation(Path("runs/trec-6-minilm"), "mlflow") as tracked:
        ...     tracked.evaluation(report)
    """
    from classifine.artifact import model_dir
    from classifine.config import Config, load_config

    folder = model_dir(run_dir)
    run = folder.parent if folder.name == "model" else folder
    path = run / "config.yaml"
    cfg = load_config(path) if path.is_file() else Config()
    if backend is not None:
        cfg = cfg.model_copy(deep=True)
        _set_backend(cfg, backend)
    with tracked_run(cfg, f"{run.name}-evaluate", "evaluate", root=run.parent, tags={"run": run.name}) as t:
        yield t


def _set_backend(cfg: Config, backend: str) -> None:
    """Set ``cfg.track.backend`` with validation: an unknown name is a ConfigError naming the nearest."""
    from pydantic import ValidationError

    from classifine.errors import ConfigError

    try:
        cfg.track.backend = backend
    except ValidationError as exc:
        raise ConfigError(f"--track: {exc.errors()[0]['msg'].removeprefix('Value error, ')}") from None
