"""Refits: retrain a trial's config on the training split and score it once on the test split.

``refit_best`` retrains the best trial's config; ``refit_baseline`` retrains the baseline trial's
(the config the study started from), with the same per-trial budget, so the two test scores
stand side by side like for like. A refit that exists already is reported, not repeated.

Example:
    >>> refit_best(study, cfg, Path("runs/tune-trec-6"))["test"]["macro_f1"]  # doctest: +SKIP
    0.94
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from classifine.config import Config
from classifine.errors import ModelError
from classifine.experiments import study as studies
from classifine.experiments.space import decode_params, parse_space
from classifine.experiments.tune_report import best_config

logger = logging.getLogger(__name__)


def refit_trial(
    trial: optuna.trial.FrozenTrial, cfg: Config, study_dir: Path, *, progress: bool = False
) -> dict[str, Any]:
    """Retrain ``trial``'s config into ``<study>/refit-trial-<n>``; score it once on the test split.

    Example:
        >>> refit_trial(study.best_trial, cfg, Path("runs/tune-trec-6"))["trial"]  # doctest: +SKIP
        7
    """
    from classifine.api import train_and_evaluate

    assert cfg.tune is not None
    values = decode_params(parse_space(cfg.tune.space), trial.params)
    chosen = best_config(cfg, values, f"refit-trial-{trial.number}")
    chosen.output.dir = str(study_dir)
    run_dir = study_dir / f"refit-trial-{trial.number}"
    metrics_file = run_dir / "metrics.json"
    if metrics_file.is_file():
        logger.info("trial %d was refit before: %s (delete it to refit again)", trial.number, run_dir)
    else:
        train_and_evaluate(chosen, progress=progress)
    metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
    return {
        "trial": trial.number,
        "run": str(run_dir),
        "validation": metrics.get("validation", {}),
        "test": metrics.get("test"),
        "train_seconds": metrics.get("train", {}).get("seconds"),
        "epochs": metrics.get("train", {}).get("epochs"),
    }


def refit_best(
    study: optuna.Study, cfg: Config, study_dir: Path, *, progress: bool = False
) -> dict[str, Any]:
    """Retrain the best config into ``<study>/refit-trial-<n>`` and score it once on the test split.

    Example:
        >>> refit_best(study, cfg, Path("runs/tune-trec-6"))["trial"]  # doctest: +SKIP
        7
    """
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        raise ModelError("no trial completed: nothing to refit", hint="run more trials")
    return refit_trial(study.best_trial, cfg, study_dir, progress=progress)


def refit_baseline(
    study: optuna.Study, cfg: Config, study_dir: Path, *, progress: bool = False
) -> dict[str, Any] | None:
    """Refit the baseline trial beside the best one; None without a completed baseline.

    When the baseline is itself the best trial, its refit is the best's (nothing runs twice).

    Example:
        >>> refit_baseline(study, cfg, Path("runs/tune-trec-6"))["trial"]  # doctest: +SKIP
        0
    """
    base = studies.baseline_trial(study)
    if base is None or base.state != TrialState.COMPLETE:
        return None
    return refit_trial(base, cfg, study_dir, progress=progress)
