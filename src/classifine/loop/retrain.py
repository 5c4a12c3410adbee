"""Retrain a run on new labels, compare old and new on the same held-out texts, promote if not worse.

One call does the whole step, under the run's retrain lock (a second retrain of the same run is
refused): read the serving version's training rows, merge the new labels (a human label wins, the
original test texts never enter training), train ``versions/N`` with the run's resolved config,
score the serving version and the new one in this process on the original run's test split, and
append the decision, with both scores, to the promotions log. The new version serves only when
``new >= old + min_delta`` on the chosen metric; a server given by URL is then told to reload.

Example:
    >>> result = retrain("runs/trec-6", labels_from_feedback("runs/trec-6"), metric="macro_f1")
    >>> result.promotion.decision, result.promotion.new_score, result.promotion.old_score
    ('promoted', 0.91, 0.88)
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from classifine.config import Config, load_config
from classifine.data.dataset import Dataset
from classifine.errors import ConfigError, ModelError
from classifine.loop.data import MergeStats, NewLabels, merge_labels
from classifine.loop.promote import reload_server
from classifine.loop.versions import (
    RETRAIN_FILE,
    HeldOut,
    Promotion,
    append_promotion,
    ensure_version_one,
    next_version,
    retrain_lock,
    run_root,
    serving_version,
    version_dir,
)

logger = logging.getLogger(__name__)

METRICS = ("macro_f1", "accuracy", "micro_f1")


@dataclass(frozen=True)
class RetrainResult:
    """What a retrain did: the new version, the decision with both scores, the merge counts."""

    run: Path
    version: int
    promotion: Promotion
    stats: MergeStats
    reloaded: dict[str, Any] | None = None  # the server's reload answer, when a server was given

    @property
    def promoted(self) -> bool:
        return self.promotion.decision == "promoted"


def _folder_of(run: Path, version: int) -> Path:
    folder = version_dir(run, version)
    return folder if folder.is_dir() else run


def held_out_test(run: str | Path) -> Dataset:
    """The ORIGINAL run's test split (version 1's config): the texts every version is scored on.

    Example:
        >>> len(held_out_test("runs/trec-6"))
        500
    """
    from classifine.data.loading import load_splits

    cfg = load_config(Path(run) / "config.yaml")
    return load_splits(cfg.data).test


def fingerprint_texts(texts: list[str]) -> str:
    """A short sha256 of the held-out texts, so two log lines can be checked to use the same ones."""
    h = hashlib.sha256()
    for text in texts:
        h.update(text.encode("utf-8", "surrogatepass") + b"\x00")
    return h.hexdigest()[:16]


def score(folder: str | Path, test: Dataset, metric: str) -> float:
    """``metric`` of the model in ``folder`` on ``test`` (torch engine, so engines do not differ).

    Example:
        >>> score("runs/trec-6/versions/2", held_out_test("runs/trec-6"), "macro_f1")
        0.91
    """
    from classifine.evaluation.metrics import headline_metrics
    from classifine.inference.predictor import Classifier

    clf = Classifier.load(folder, engine="torch")
    probs = clf.predict_proba(test.texts)
    thresholds = [float(t) for t in clf.thresholds] if clf.multi_label else 0.5
    return float(headline_metrics(test.y(), probs, clf.multi_label, thresholds)[metric])


def _version_config(base: Config, run: Path, version: int, multi_label: bool, names: list[str]) -> Config:
    """The serving version's resolved config, writing to ``versions/N`` and reading the given rows."""
    raw = base.model_dump(mode="json")
    raw["output"].update(dir=str(run / "versions"), name=str(version), overwrite=False)
    raw["data"].update(
        source=None, train=None, validation=None, test=None, text_column="text",
        label_column="labels" if multi_label else "label", multi_label=multi_label,
        label_delimiter=None, labels=names, hub_config=None, hub_splits=None,
        max_rows=None, k_per_class=None, min_examples_per_class=None,
    )  # fmt: skip
    from classifine.config import config_from_dict

    return config_from_dict(raw)


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise ConfigError(f"unknown metric '{metric}'", hint=f"use one of {', '.join(METRICS)}")


def _train_version(run: Path, version: int, serving: int, new: NewLabels, progress: bool) -> MergeStats:
    from classifine.api import run_training
    from classifine.artifact import write_json
    from classifine.data.loading import load_splits

    base = load_config(_folder_of(run, serving) / "config.yaml")
    test = held_out_test(run)
    merged = merge_labels(load_splits(base.data), new, test=test)
    splits = merged.splits
    names = list(splits.label_set.names)
    cfg = _version_config(base, run, version, splits.label_set.multi_label, names)
    logger.info(
        "training version %d on %d rows (%d new labels, %d held-out texts excluded)",
        version, merged.stats.train_rows, merged.stats.new_labels, merged.stats.excluded_test,
    )  # fmt: skip
    frames = {name: ds.to_pandas() for name, ds in splits.items()}
    run_training(
        cfg, frames["train"], validation=frames["validation"], test=frames["test"], progress=progress
    )
    info = {"source": new.source, "from_version": serving, **merged.stats.as_dict(), "notes": new.notes}
    write_json(version_dir(run, version) / RETRAIN_FILE, info)
    return merged.stats


def _decide(
    run: Path, version: int, serving: int, metric: str, min_delta: float, trigger: str, data: dict[str, Any]
) -> Promotion:
    test = held_out_test(run)
    old = score(version_dir(run, serving), test, metric)
    new = score(version_dir(run, version), test, metric)
    promoted = new >= old + min_delta
    sign = ">=" if promoted else "<"
    reason = f"{metric} {new:.4f} {sign} {old:.4f} + {min_delta:.4f} on the same {len(test)} test texts: " + (
        "promoted" if promoted else f"refused, version {serving} keeps serving"
    )
    entry = Promotion(
        action="retrain", version=version, previous_version=serving,
        serving=version if promoted else serving, decision="promoted" if promoted else "refused",
        metric=metric, new_score=new, old_score=old, min_delta=min_delta,
        held_out=HeldOut(split="test", texts=len(test), fingerprint=fingerprint_texts(test.texts)),
        reason=reason, trigger=trigger, data=data,
    )  # fmt: skip
    return append_promotion(run, entry)


def retrain(
    run: str | Path,
    new: NewLabels,
    *,
    metric: str = "macro_f1",
    min_delta: float = 0.0,
    server: str | None = None,
    model_name: str | None = None,
    api_key: str | None = None,
    trigger: str = "classifine retrain",
    progress: bool = True,
) -> RetrainResult:
    """Train the next version of ``run`` on its data plus ``new`` labels; promote it if not worse.

    Args:
        run: the run folder (``runs/<name>``).
        new: the new labels (:func:`~classifine.loop.data.labels_from_feedback`, Label Studio, ...).
        metric: ``macro_f1``, ``accuracy`` or ``micro_f1``, compared on the original test split.
        min_delta: the new version must score at least ``old + min_delta`` to serve.
        server: a running ``classifine serve`` URL to reload after a promotion.
        model_name: the served model name (default: the run folder's name).
        api_key: the server's API key (its reload endpoint needs one).
        trigger: who or what started the retrain (written to the log).
        progress: show training progress bars.

    Example:
        >>> retrain("runs/trec-6", labels, min_delta=0.005).promotion.decision
        'refused'
    """
    _check_metric(metric)
    run = run_root(run)
    if not new.rows:
        raise ModelError("no new labels to retrain on", where=new.source, hint="collect labels first")
    with retrain_lock(run):
        ensure_version_one(run)
        serving = serving_version(run)
        version = next_version(run)
        stats = _train_version(run, version, serving, new, progress)
        data = {"source": new.source, **stats.as_dict()}
        promotion = _decide(run, version, serving, metric, min_delta, trigger, data)
    logger.info("%s", promotion.reason)
    reloaded = None
    if server and promotion.decision == "promoted":
        reloaded = reload_server(server, model_name or run.name, api_key)
    return RetrainResult(run, version, promotion, stats, reloaded)
