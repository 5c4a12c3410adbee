"""The ``mlflow`` tracker: runs in an MLflow tracking store through ``MlflowClient`` (no global state).

By default the store is a SQLite file beside the runs (``sqlite:///<output.dir>/mlflow.db``;
MLflow's ``./mlruns`` file store is deprecated and errors) and artifacts go to
``<output.dir>/mlartifacts``. Any tracking URI works (``http://host:5000``, ``postgresql://...``).

Example:
    >>> tracker = MlflowTracker(TrackSettings(root=Path("runs")))
    >>> tracker.start("trec-6-minilm", {"kind": "train"})
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from classifine.errors import ConfigError
from classifine.experiments.tracking import TrackSettings, clean_key, missing_dependency

logger = logging.getLogger(__name__)

_BATCH = 100  # MLflow accepts at most 100 params per log_batch call
_PARAM_MAX = 6000
_STATUS = {"finished": "FINISHED", "failed": "FAILED", "killed": "KILLED"}


def tracking_uri(settings: TrackSettings) -> str:
    """The tracking URI: ``settings.uri`` or a SQLite file under ``settings.root``."""
    if settings.uri:
        return settings.uri
    return f"sqlite:///{(settings.root / 'mlflow.db').resolve()}"


def _artifact_root(uri: str) -> str | None:
    if uri.startswith("sqlite:///"):
        return (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts").resolve().as_uri()
    return None


def _client(uri: str) -> Any:
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise missing_dependency("mlflow", "mlflow") from None
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return MlflowClient(tracking_uri=uri)


def _experiment_id(client: Any, name: str, uri: str) -> str:
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    try:
        return str(client.create_experiment(name, artifact_location=_artifact_root(uri)))
    except MlflowException:  # another process created it meanwhile
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return str(found.experiment_id)


def prepare(settings: TrackSettings) -> None:
    """Create the store (its tables) and the experiment once, before worker processes log to it."""
    uri = tracking_uri(settings)
    _experiment_id(_client(uri), settings.experiment, uri)


class MlflowTracker:
    """Logs params, metrics (with steps), artifacts and the run status to an MLflow store."""

    name = "mlflow"

    def __init__(self, settings: TrackSettings) -> None:
        self.settings = settings
        self.uri = tracking_uri(settings)
        self.client: Any = None
        self.run_id: str | None = None

    def start(self, run_name: str, tags: Mapping[str, str]) -> None:
        self.client = _client(self.uri)
        try:
            experiment = _experiment_id(self.client, self.settings.experiment, self.uri)
            run = self.client.create_run(experiment, run_name=run_name, tags=dict(tags))
        except Exception as exc:  # a bad URI or an unreachable server: say where
            raise ConfigError(f"cannot open an MLflow run ({exc})", where=self.uri) from None
        self.run_id = run.info.run_id
        logger.info(
            "mlflow: run %s in experiment '%s' at %s", self.run_id, self.settings.experiment, self.uri
        )

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(clean_key(k), str(v)[:_PARAM_MAX]) for k, v in params.items()]
        for start in range(0, len(items), _BATCH):
            self.client.log_batch(self.run_id, params=items[start : start + _BATCH])

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(clean_key(k), float(v), now, step or 0) for k, v in metrics.items()]
        for start in range(0, len(items), _BATCH):
            self.client.log_batch(self.run_id, metrics=items[start : start + _BATCH])

    def log_artifact(self, path: Path, name: str | None = None) -> None:
        if path.is_dir():
            self.client.log_artifacts(self.run_id, str(path), artifact_path=name or path.name)
        else:
            self.client.log_artifact(self.run_id, str(path), artifact_path=name)

    def end(self, status: str = "finished") -> None:
        if self.run_id is not None:
            self.client.set_terminated(self.run_id, status=_STATUS.get(status, "FINISHED"))
            self.run_id = None
