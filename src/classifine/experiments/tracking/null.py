"""The ``none`` tracker: every call does nothing (the default)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from classifine.experiments.tracking import TrackSettings


class NullTracker:
    """Tracks nothing.

    Example:
        >>> NullTracker(TrackSettings()).log_metrics({"loss": 0.1})
    """

    name = "none"

    def __init__(self, settings: TrackSettings) -> None:
        self.settings = settings

    def start(self, run_name: str, tags: Mapping[str, str]) -> None:
        return None

    def log_params(self, params: Mapping[str, Any]) -> None:
        return None

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        return None

    def log_artifact(self, path: Path, name: str | None = None) -> None:
        return None

    def end(self, status: str = "finished") -> None:
        return None
