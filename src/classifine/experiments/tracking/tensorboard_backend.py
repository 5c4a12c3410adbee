"""The ``tensorboard`` tracker: one event-file folder per run (``<output.dir>/tensorboard/<run>``).

Scalars are written at their training step; parameters as a Markdown table; PNG artifacts as
images; other artifacts as their path (TensorBoard has no file store).

Example:
    >>> tracker = TensorBoardTracker(TrackSettings(root=Path("runs")))
    >>> tracker.start("trec-6-minilm", {"kind": "train"})
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from classifine.experiments.tracking import TrackSettings, clean_key, missing_dependency

logger = logging.getLogger(__name__)


class TensorBoardTracker:
    """Writes TensorBoard event files with a ``SummaryWriter``."""

    name = "tensorboard"

    def __init__(self, settings: TrackSettings) -> None:
        self.settings = settings
        self.root = Path(settings.uri) if settings.uri else settings.root / "tensorboard"
        self.writer: Any = None
        self.log_dir: Path | None = None
        self.last_step = 0

    def start(self, run_name: str, tags: Mapping[str, str]) -> None:
        try:
            import tensorboard  # noqa: F401  (torch's writer needs it)
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise missing_dependency("tensorboard", "tensorboard") from None
        self.log_dir = self.root / re.sub(r"[^A-Za-z0-9_.-]+", "_", run_name)
        self.writer = SummaryWriter(log_dir=str(self.log_dir))
        if tags:
            self.writer.add_text("tags", _table(tags), 0)
        logger.info("tensorboard: writing %s", self.log_dir)

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.writer.add_text("params", _table(params), 0)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        at = self.last_step if step is None else step
        self.last_step = max(self.last_step, at)
        for key, value in metrics.items():
            self.writer.add_scalar(clean_key(key), float(value), at)

    def log_artifact(self, path: Path, name: str | None = None) -> None:
        if path.suffix.lower() == ".png" and path.is_file():
            from matplotlib.image import imread

            self.writer.add_image(
                clean_key(name or path.stem), imread(str(path))[..., :3], 0, dataformats="HWC"
            )
        else:
            self.writer.add_text("artifacts", f"{name or path.name}: `{path.resolve()}`", 0)

    def end(self, status: str = "finished") -> None:
        if self.writer is not None:
            self.writer.add_text("status", status, self.last_step)
            self.writer.close()
            self.writer = None


def _table(values: Mapping[str, Any]) -> str:
    rows = "\n".join(f"| {k} | {v} |" for k, v in values.items())
    return f"| key | value |\n|---|---|\n{rows}"
