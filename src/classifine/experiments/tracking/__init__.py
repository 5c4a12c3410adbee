"""Experiment tracking: one small :class:`Tracker` protocol and its backends, registered by name.

Backends: ``none`` (default), ``mlflow`` (a SQLite store by default), ``wandb`` (offline unless
logged in) and ``tensorboard`` (event files). Importing this package loads none of them; a
backend's library is imported when a tracker is made, and a missing one names its extra.

Example:
    >>> tracker = make_tracker("mlflow", TrackSettings(root=Path("runs")))
    >>> tracker.start("trec-6-minilm", tags={"kind": "train"})
    >>> tracker.log_metrics({"validation/macro_f1": 0.91}, step=240)
    >>> tracker.end()
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from classifine.errors import ConfigError, suggestion

DEFAULT_EXPERIMENT = "classifine"


@dataclass(frozen=True)
class TrackSettings:
    """Where a tracker writes: ``uri`` (backend-specific; None = a default under ``root``) and the
    experiment (MLflow experiment, W&B project) runs are grouped under."""

    root: Path = Path("runs")
    uri: str | None = None
    experiment: str = DEFAULT_EXPERIMENT


class Tracker(Protocol):
    """What every tracking backend implements; calls arrive in the order start, ..., end."""

    name: str

    def start(self, run_name: str, tags: Mapping[str, str]) -> None:
        """Open a run."""

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record flat ``key -> value`` parameters (the resolved config, flattened)."""

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Record numbers at a training step; ``step=None`` records final values."""

    def log_artifact(self, path: Path, name: str | None = None) -> None:
        """Keep a file or a folder (a report, a plot, the model) with the run."""

    def end(self, status: str = "finished") -> None:
        """Close the run as ``finished`` or ``failed``."""


@dataclass(frozen=True)
class _Entry:
    module: str
    cls: str
    extra: str
    prepare: str | None = None


# name -> where the backend lives; the modules import their library only when used.
_BACKENDS: dict[str, _Entry] = {
    "none": _Entry("classifine.experiments.tracking.null", "NullTracker", ""),
    "mlflow": _Entry("classifine.experiments.tracking.mlflow_backend", "MlflowTracker", "track", "prepare"),
    "wandb": _Entry("classifine.experiments.tracking.wandb_backend", "WandbTracker", "track"),
    "tensorboard": _Entry(
        "classifine.experiments.tracking.tensorboard_backend", "TensorBoardTracker", "track"
    ),
}


def tracker_names() -> tuple[str, ...]:
    """Registered backend names.

    Example:
        >>> tracker_names()
        ('none', 'mlflow', 'wandb', 'tensorboard')
    """
    return tuple(_BACKENDS)


def _entry(name: str) -> _Entry:
    if name not in _BACKENDS:
        raise ConfigError(f"unknown tracker '{name}'", hint=suggestion(name, _BACKENDS, "tracker"))
    return _BACKENDS[name]


def missing_dependency(package: str, backend: str) -> ConfigError:
    """The error for a backend whose library is not installed: it names the extra to install."""
    return ConfigError(
        f"the {backend} tracker needs the '{package}' package, which is not installed",
        hint="pip install 'classifine[track]'",
    )


def make_tracker(name: str, settings: TrackSettings) -> Tracker:
    """Build the tracker registered as ``name`` (an unknown name suggests the nearest).

    Example:
        >>> make_tracker("tensorboard", TrackSettings(root=Path("runs"))).name
        'tensorboard'
    """
    entry = _entry(name)
    module = importlib.import_module(entry.module)
    factory: Callable[[TrackSettings], Tracker] = getattr(module, entry.cls)
    return factory(settings)


def prepare_backend(name: str, settings: TrackSettings) -> None:
    """One-time setup before several processes log at once (e.g. create the MLflow database).

    Example:
        >>> prepare_backend("mlflow", TrackSettings(root=Path("runs")))
    """
    entry = _entry(name)
    if entry.prepare:
        getattr(importlib.import_module(entry.module), entry.prepare)(settings)


_UNSAFE = re.compile(r"[^A-Za-z0-9_\-./ ]+")


def clean_key(key: str) -> str:
    """A metric or parameter name every backend accepts (letters, digits, ``_-./`` and spaces).

    Example:
        >>> clean_key("test/f1/ABBR:abb")
        'test/f1/ABBR_abb'
    """
    return _UNSAFE.sub("_", key).strip() or "_"


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mapping -> ``{"a.b": value}``; lists become JSON-like strings, None stays None.

    Example:
        >>> flatten({"train": {"epochs": 3, "early_stopping": {"patience": 2}}})
        {'train.epochs': 3, 'train.early_stopping.patience': 2}
    """
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, dotted + "."))
        elif isinstance(value, (list, tuple)):
            out[dotted] = str(list(value))
        else:
            out[dotted] = value
    return out


__all__ = [
    "DEFAULT_EXPERIMENT",
    "TrackSettings",
    "Tracker",
    "clean_key",
    "flatten",
    "make_tracker",
    "missing_dependency",
    "prepare_backend",
    "tracker_names",
]
