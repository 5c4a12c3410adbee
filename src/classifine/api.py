"""The public Python API: one function per action, used by the CLI verbs too.

Example:
    >>> import classifine
    >>> run = classifine.train("examples/sms-spam.yaml", ["train.epochs=1"])
    >>> classifine.Classifier.load(run).predict(["free prize, call now"])[0].label
    'spam'
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from classifine.config import Config, load_config

if TYPE_CHECKING:
    from classifine.evaluation.report import EvalReport
    from classifine.inference.predictor import Classifier, Prediction

log = logging.getLogger(__name__)


def _as_config(config: Config | str | Path | None, overrides: Sequence[str] | None) -> Config:
    if isinstance(config, Config):
        if overrides:
            from classifine.config import apply_overrides, config_from_dict

            return config_from_dict(apply_overrides(config.model_dump(mode="json"), list(overrides)))
        return config
    return load_config(config, list(overrides or []))


def train(
    config: Config | str | Path | None = None,
    overrides: Sequence[str] | None = None,
    *,
    resume: bool = False,
    evaluate: bool = True,
    progress: bool = True,
) -> Path:
    """Train a classifier from a config (object, YAML path, or defaults) and return its run folder.

    With ``evaluate=True`` the run is also scored on its held-out test split (when it has one),
    beside a TF-IDF baseline, and ``report.html`` is written into the run folder.

    Example:
        >>> run = train("examples/trec-6.yaml", ["train.epochs=1"])
    """
    return train_and_evaluate(config, overrides, resume=resume, evaluate=evaluate, progress=progress)[0]


def train_and_evaluate(
    config: Config | str | Path | None = None,
    overrides: Sequence[str] | None = None,
    *,
    resume: bool = False,
    evaluate: bool = True,
    progress: bool = True,
) -> tuple[Path, EvalReport | None]:
    """Train, then score the test split with the same in-memory splits; ``(run folder, report)``.

    The report is ``None`` when ``evaluate`` is off or the data has no test split.

    Example:
        >>> run, report = train_and_evaluate("examples/sms-spam.yaml")
    """
    from classifine.data.loading import load_splits
    from classifine.training.fit import fit, run_folder

    cfg = _as_config(config, overrides)
    splits = load_splits(cfg.data)
    run = fit(splits, cfg, run_folder(cfg, resume=resume), resume=resume, progress=progress)
    if not evaluate or len(splits.test) == 0:
        if evaluate:
            log.info("no test split to evaluate on; use 'classifine evaluate %s --data FILE'", run)
        return run, None
    return run, evaluate_run(run, splits=splits)


def evaluate_run(run: str | Path, **kwargs: object) -> EvalReport:
    """Score a run on its test split (or ``data_file=...``) beside the TF-IDF baseline; writes the report.

    Example:
        >>> report = evaluate_run("runs/trec-6-minilm")
    """
    from classifine.evaluation.evaluate import evaluate_run as _evaluate

    return _evaluate(Path(run), **kwargs)  # type: ignore[arg-type]


def load_artifact(path: str | Path) -> Classifier:
    """Load a trained run (or its ``model/`` folder) for prediction.

    Example:
        >>> clf = load_artifact("runs/sms-spam-minilm")
    """
    from classifine.inference.predictor import Classifier

    return Classifier.load(path)


def predict(path: str | Path, texts: Sequence[str], top_k: int | None = None) -> list[Prediction]:
    """Predict labels for ``texts`` with the run at ``path``.

    Example:
        >>> predict("runs/sms-spam-minilm", ["free prize!"])[0].label
        'spam'
    """
    return load_artifact(path).predict(list(texts), top_k=top_k)
