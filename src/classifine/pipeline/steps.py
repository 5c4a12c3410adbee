"""What each pipeline step does, as plain functions (the Kubeflow components only call these).

Every step reads and writes folders given to it (Kubeflow artifact paths), so a step never reaches
into another step's files except through its inputs.

Example:
    >>> check_data(config_json, Path("out/check"))["splits"]["train"]  # doctest: +SKIP
    3158
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from classifine.artifact import atomic_dir, write_json
from classifine.config import Config, config_from_dict
from classifine.errors import ConfigError, ModelError

logger = logging.getLogger(__name__)

DECISION = "decision.json"


def _config(config_json: str, **output: str) -> Config:
    raw = json.loads(config_json)
    raw.setdefault("output", {}).update(output)
    return config_from_dict(raw, source="the pipeline's config parameter")


def check_data(config_json: str, out: Path) -> dict[str, Any]:
    """Load and split the data, resolve the model (no weights); write ``check.json`` into ``out``.

    Example:
        >>> check_data(config_json, Path("out/check"))["labels"]  # doctest: +SKIP
        ['ham', 'spam']
    """
    from classifine.training.check import validate_config_data

    check = validate_config_data(_config(config_json))
    found = {
        "source": check.source,
        "splits": check.splits,
        "labels": check.labels,
        "multi_label": check.multi_label,
    }
    if not check.splits.get("train"):
        raise ConfigError("the data check found no training texts", where=check.source)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "check.json", found)
    return found


def train(config_json: str, run: Path) -> dict[str, Any]:
    """Train the config's model into the folder ``run`` (a full run folder); return its metrics.

    Example:
        >>> train(config_json, Path("out/run"))["validation"]  # doctest: +SKIP
        {'accuracy': 0.98, 'macro_f1': 0.96}
    """
    from classifine.api import run_training

    cfg = _config(config_json, dir=str(run.parent), name=run.name)
    result = run_training(cfg, evaluate=False, progress=False)
    return dict(result.metrics)


def tune(config_json: str, run: Path, trials: int, storage: str = "") -> dict[str, Any]:
    """Search the config's ``tune.space`` (``trials`` in total), refit the best config into ``run``.

    The study lives beside ``run`` (or in ``storage``, an Optuna RDB URL such as PostgreSQL, which
    other workers may join); the refit run folder is copied to ``run``.

    Example:
        >>> tune(config_json, Path("out/run"), trials=12)["trial"]  # doctest: +SKIP
        7
    """
    from classifine.experiments.tune import tune as run_study

    cfg = _config(config_json, dir=str(run.parent / f"{run.name}-study"))
    if cfg.tune is None:
        raise ConfigError("--tune needs a config with a tune: section", hint="see docs/experiments.md")
    result = run_study(cfg, trials=trials, storage=storage or None, refit=True)
    refit = result.summary["refit"]
    with atomic_dir(run) as tmp:
        shutil.copytree(refit["run"], tmp, dirs_exist_ok=True)
    return {"trial": refit["trial"], "validation": refit["validation"], "study": str(result.study_dir)}


def evaluate(run: Path, metric: str) -> dict[str, Any]:
    """Score the run on its test split beside TF-IDF (writes the run's report): both values of ``metric``.

    Example:
        >>> evaluate(Path("out/run"), "macro_f1")  # doctest: +SKIP
        {'metric': 'macro_f1', 'model': 0.96, 'tfidf': 0.93, ...}
    """
    from classifine.api import evaluate_run

    report = evaluate_run(run)
    if metric not in report.metrics:
        known = sorted(k for k, v in report.metrics.items() if isinstance(v, float))
        raise ConfigError(f"the evaluation has no metric '{metric}'", hint=f"pick one of {', '.join(known)}")
    baseline = (report.baseline or {}).get(metric)
    return {
        "metric": metric,
        "model": float(report.metrics[metric]),
        "tfidf": None if baseline is None else float(baseline),
        "split": report.split,
    }


def export(run: Path, out: Path, int8: bool = True) -> dict[str, Any]:
    """Copy the run to ``out`` and export it there to ONNX (and int8), parity-checked against torch.

    Example:
        >>> export(Path("out/run"), Path("out/exported"))["passed"]  # doctest: +SKIP
        True
    """
    from classifine.export import export_run

    with atomic_dir(out) as tmp:
        shutil.copytree(run, tmp, dirs_exist_ok=True)
    result = export_run(out, int8=int8)
    fp32 = result.records.get("onnx")
    if fp32 is None or not fp32.passed:  # a failed int8 graph is recorded and simply never served
        raise ModelError("the exported ONNX model does not match torch", where=str(out))
    return result.to_dict()


def current_score(current: str, metric: str) -> float | None:
    """The ``metric`` of the model serving now (a run folder's ``metrics.json``), None without one."""
    if not current:
        return None
    path = Path(current) / "metrics.json"
    if not path.is_file():
        logger.info("no current model at %s: the gate compares with the threshold only", current)
        return None
    scores = json.loads(path.read_text(encoding="utf-8")).get("test") or {}
    value = scores.get(metric)
    return None if value is None else float(value)


def gate(
    exported: Path, score: float, metric: str, threshold: float, current: str, promote_to: str
) -> dict[str, Any]:
    """Promote the exported run when ``score`` clears ``threshold`` or beats the current model.

    Promotion copies the exported run into ``promote_to`` (atomically) when that is set; the
    decision, with both scores and the reason, is returned and written beside the promoted run.

    Example:
        >>> gate(Path("out/exported"), 0.91, "macro_f1", 0.9, "", "")["promoted"]  # doctest: +SKIP
        True
    """
    now = current_score(current, metric)
    clears = score >= threshold
    beats = now is not None and score > now
    if clears or beats:
        reason = f"{metric} {score:.4f} " + (
            f"clears the threshold {threshold:.4f}" if clears else f"beats the current model's {now:.4f}"
        )
    else:
        versus = f" and does not beat the current model's {now:.4f}" if now is not None else ""
        reason = f"{metric} {score:.4f} is below the threshold {threshold:.4f}{versus}"
    decision = {
        "promoted": clears or beats,
        "reason": reason,
        "metric": metric,
        "score": score,
        "threshold": threshold,
        "current_score": now,
        "promoted_to": promote_to if (clears or beats) and promote_to else None,
    }
    if decision["promoted_to"]:
        with atomic_dir(Path(promote_to), overwrite=True) as tmp:
            shutil.copytree(exported, tmp, dirs_exist_ok=True)
            write_json(tmp / DECISION, decision)
    logger.info("promotion gate: %s", reason)
    return decision
