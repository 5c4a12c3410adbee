"""The ``wandb`` tracker: Weights & Biases runs, offline unless the user is logged in.

Offline runs are written under ``<dir>/wandb/offline-run-*`` (``dir`` = ``track.uri`` or
``output.dir``) and can be uploaded later with ``wandb sync``. ``WANDB_MODE`` set by the user wins.

Example:
    >>> tracker = WandbTracker(TrackSettings(root=Path("runs")))
    >>> tracker.start("trec-6-minilm", {"kind": "train"})
"""

from __future__ import annotations

import logging
import netrc
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from classifine.experiments.tracking import TrackSettings, missing_dependency

logger = logging.getLogger(__name__)


def _logged_in() -> bool:
    """An API key in the environment, or a netrc entry for the W&B host the user points at."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = re.sub(r"^https?://", "", os.environ.get("WANDB_BASE_URL", "api.wandb.ai")).split("/")[0]
    try:
        return netrc.netrc(os.environ.get("NETRC")).authenticators(host) is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def wandb_mode() -> str:
    """``WANDB_MODE`` when set, else ``online`` when logged in, else ``offline``.

    Example:
        >>> wandb_mode()  # no key, no netrc entry
        'offline'
    """
    return os.environ.get("WANDB_MODE") or ("online" if _logged_in() else "offline")


def _artifact_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "artifact"


class WandbTracker:
    """Logs the config, step metrics, a summary and artifacts to a W&B run."""

    name = "wandb"

    def __init__(self, settings: TrackSettings) -> None:
        self.settings = settings
        self.dir = Path(settings.uri) if settings.uri else settings.root
        self.run: Any = None

    def start(self, run_name: str, tags: Mapping[str, str]) -> None:
        try:
            import wandb
        except ImportError:
            raise missing_dependency("wandb", "wandb") from None
        self.dir.mkdir(parents=True, exist_ok=True)
        mode = wandb_mode()
        self.run = wandb.init(
            project=self.settings.experiment,
            name=run_name,
            dir=str(self.dir),
            mode=mode,  # type: ignore[arg-type]
            tags=[f"{k}:{v}"[:64] for k, v in tags.items()],
            reinit="create_new",
            settings=wandb.Settings(silent=True, console="off"),
        )
        logger.info("wandb: run %s (%s) under %s", self.run.id, mode, self.dir)

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.run.config.update(dict(params), allow_val_change=True)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        values = {k: float(v) for k, v in metrics.items()}
        if step is None:
            self.run.summary.update(values)
        else:
            self.run.log(values, step=step)

    def log_artifact(self, path: Path, name: str | None = None) -> None:
        import wandb

        kind = "model" if (path / "classifine.json").is_file() else "file"
        artifact = wandb.Artifact(_artifact_name(name or path.name), type=kind)
        if path.is_dir():
            artifact.add_dir(str(path))
        else:
            artifact.add_file(str(path))
        self.run.log_artifact(artifact)

    def end(self, status: str = "finished") -> None:
        if self.run is not None:
            self.run.finish(exit_code=0 if status == "finished" else 1)
            self.run = None
