"""Run folders and their checkpoints: naming, the work folder, and what makes a resume safe.

While a run trains, its checkpoints live in ``runs/.<name>.work/``; the finished Artifact is
renamed into ``runs/<name>/``. The work folder also records what the run was started with (the
resolved config and fingerprints of its data), so ``--resume`` refuses to continue a run whose
config or data changed since, instead of silently training a run that never happened.

Example:
    >>> run_folder(load_config("examples/sms-spam.yaml"))
    PosixPath('runs/sms-spam-minilm-l6-lora-20261129-101500')
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import time
from pathlib import Path
from typing import Any

from classifine.config import Config
from classifine.data.dataset import DatasetSplits
from classifine.errors import ModelError

logger = logging.getLogger(__name__)

START_FILE = "run-start.json"
STATE_FILE = "classifine-state.json"  # inside each checkpoint: seconds trained up to it
# Keys that may change between the start of a run and its resume without changing what it trains.
_FREE_TO_CHANGE = {
    ("output", "overwrite"),
    ("train", "threads"),
    ("train", "max_train_minutes"),
    ("track", "backend"),
    ("track", "uri"),
    ("track", "experiment"),
}


def _slug(text: str) -> str:
    name = Path(text).stem if ("/" in text or "\\" in text) and Path(text).suffix else text
    name = name.rstrip("/").rsplit("/", 1)[-1]
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "run"


def run_prefix(cfg: Config, dataset: str | None = None) -> str:
    """``<dataset>-<model>-<method>-``: the start of generated run names."""
    name = dataset or cfg.data.source or cfg.data.train or "data"
    return f"{_slug(name)}-{_slug(cfg.model.name)}-{cfg.model.method}-"


def work_dir_for(run_dir: Path) -> Path:
    """Where checkpoints of ``run_dir`` live while it trains."""
    return run_dir.parent / f".{run_dir.name}.work"


def run_folder(cfg: Config, *, resume: bool = False, dataset: str | None = None) -> Path:
    """The run folder: ``output.dir/output.name``, or a generated name.

    With ``resume`` and no ``output.name``, the most recent interrupted run of the same
    dataset, model and method is picked up.
    """
    out = Path(cfg.output.dir)
    if cfg.output.name:
        return out / cfg.output.name
    prefix = run_prefix(cfg, dataset)
    if resume and out.is_dir():
        works = sorted(out.glob(f".{prefix}*.work"), key=lambda p: p.stat().st_mtime)
        if works:
            return out / works[-1].name[1 : -len(".work")]
    return out / f"{prefix}{time.strftime('%Y%m%d-%H%M%S')}"


def latest_checkpoint(work: Path) -> Path | None:
    """The newest complete checkpoint in a work folder."""
    found = [p for p in work.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    complete = [p for p in found if (p / "trainer_state.json").is_file()]
    return max(complete, key=lambda p: int(p.name.split("-")[-1]), default=None)


def _identity(cfg: Config, splits: DatasetSplits) -> dict[str, Any]:
    raw = cfg.model_dump(mode="json")
    raw["output"].pop("name", None)
    return {
        "config": raw,
        "data": {name: ds.fingerprint() for name, ds in splits.items() if name != "test"},
    }


def _differences(old: Any, new: Any, path: tuple[str, ...] = ()) -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new)):
            if (*path, key)[-2:] not in _FREE_TO_CHANGE:
                out += _differences(old.get(key), new.get(key), (*path, key))
        return out
    return [] if old == new else [f"{'.'.join(path)}: {old!r} -> {new!r}"]


def start_point(work: Path, cfg: Config, splits: DatasetSplits, resume: bool) -> Path | None:
    """Prepare the work folder; the checkpoint to resume from (None: a fresh start).

    A fresh start discards an earlier interrupted run's checkpoints. A resume checks that the
    config and the training/validation data are those the run started with.
    """
    identity = _identity(cfg, splits)
    checkpoint = latest_checkpoint(work) if resume and work.is_dir() else None
    if resume and checkpoint is None:
        logger.warning("no checkpoint to resume from in %s: starting fresh", work)
    if checkpoint is not None and not (work / START_FILE).is_file():
        logger.warning("%s does not say what the run started with: resuming unchecked", work)
        return checkpoint
    if checkpoint is not None:
        started = json.loads((work / START_FILE).read_text(encoding="utf-8"))
        changed = _differences(started["config"], identity["config"])
        changed += [f"{k} data" for k in identity["data"] if started["data"].get(k) != identity["data"][k]]
        if changed:
            raise ModelError(
                f"cannot resume: the run changed since it started ({'; '.join(changed[:4])})",
                where=str(work),
                hint="restore the original config and data, or start a new run without --resume",
            )
        logger.info("resuming from %s", checkpoint)
        return checkpoint
    if work.exists():
        logger.warning("discarding checkpoints of an earlier interrupted run in %s (use --resume)", work)
        shutil.rmtree(work)
    work.mkdir(parents=True)
    (work / START_FILE).write_text(json.dumps(identity), encoding="utf-8")
    return None


def seconds_before(checkpoint: Path | None) -> float:
    """Training seconds spent up to ``checkpoint`` (0 for a fresh start)."""
    if checkpoint is None or not (checkpoint / STATE_FILE).is_file():
        return 0.0
    return float(json.loads((checkpoint / STATE_FILE).read_text(encoding="utf-8")).get("seconds", 0.0))
