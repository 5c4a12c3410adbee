"""The public Python API: one function per action, shared with the CLI verbs.

Data can be anything :func:`~classifine.data.sources.open_source` reads: a pandas DataFrame, a
``datasets.Dataset``, a ``(texts, labels)`` pair, a list of dicts, a file, a folder, a catalog name.
Keyword arguments map onto the same typed config the YAML files use, so both paths train the same.

Example:
    >>> import classifine
    >>> result = classifine.train(df, text="body", label="queue", epochs=3)
    >>> result.metrics["test"]["macro_f1"]  # doctest: +SKIP
    0.91
    >>> result.classifier.predict(["my invoice is wrong"])[0].label  # doctest: +SKIP
    'billing'
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar

from classifine.config import Config, apply_overrides, config_from_dict, read_yaml_mapping
from classifine.errors import ConfigError, suggestion

if TYPE_CHECKING:
    from classifine.data.dataset import DatasetSplits
    from classifine.data.sources import SourceLike
    from classifine.evaluation.report import EvalReport
    from classifine.inference.predictor import Classifier, Prediction

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

# Keyword -> the config keys it sets.
_KEYWORDS: dict[str, tuple[str, ...]] = {
    "text": ("data.text_column",),
    "label": ("data.label_column",),
    "multi_label": ("data.multi_label",),
    "labels": ("data.labels",),
    "model": ("model.name",),
    "method": ("model.method",),
    "max_length": ("model.max_length",),
    "epochs": ("train.epochs",),
    "batch_size": ("train.batch_size",),
    "learning_rate": ("train.learning_rate",),
    "seed": ("train.seed", "data.split.seed"),
    "output_dir": ("output.dir",),
    "name": ("output.name",),
    "overwrite": ("output.overwrite",),
}


def _checked_keywords(fn: Callable[P, R]) -> Callable[P, R]:
    """Reject unknown keywords with the nearest valid one (Python alone only says 'unexpected')."""
    names = [p for p in inspect.signature(fn).parameters if p not in ("args", "kwargs")]

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        for key in kwargs:
            if key not in names:
                raise ConfigError(
                    f"unknown keyword '{key}' for classifine.{fn.__name__}()",
                    hint=suggestion(key, names, "keyword")
                    + "; any other config key goes in overrides, e.g. {'train.weight_decay': 0.1}",
                )
        return fn(*args, **kwargs)

    return wrapper


@dataclass
class TrainResult:
    """What :func:`train` returns: the run folder, its metrics, the evaluation report.

    ``metrics`` holds ``validation`` (the selected checkpoint), ``train`` (time, steps, loss) and
    ``test`` (held-out scores, when there is a test split). It is also a path-like object, so
    ``Classifier.load(result)`` and ``open(result / ...)``-style code work.
    """

    run_dir: Path
    config: Config
    metrics: dict[str, Any]
    report: EvalReport | None = None
    _classifier: Classifier | None = field(default=None, repr=False)

    @property
    def classifier(self) -> Classifier:
        """The trained model, loaded once (``Classifier.load(result.run_dir)``)."""
        if self._classifier is None:
            from classifine.inference.predictor import Classifier

            self._classifier = Classifier.load(self.run_dir)
        return self._classifier

    def __fspath__(self) -> str:
        return str(self.run_dir)

    def __truediv__(self, other: str) -> Path:
        return self.run_dir / other

    def __str__(self) -> str:
        return str(self.run_dir)


def _is_config_path(obj: Any) -> bool:
    return isinstance(obj, (str, Path)) and Path(obj).suffix.lower() in (".yaml", ".yml")


def _base_config(config: Config | str | Path | None) -> dict[str, Any]:
    if isinstance(config, Config):
        return config.model_dump(mode="json", exclude_unset=True)
    if config is None:
        return {}
    return read_yaml_mapping(config)


def build_config(
    config: Config | str | Path | None = None,
    overrides: Sequence[str] | Mapping[str, Any] | None = None,
    **keywords: Any,
) -> Config:
    """A validated Config from a base (object, YAML path or defaults), keyword values and overrides.

    ``keywords`` are the keyword arguments of :func:`train` (``epochs=3`` sets ``train.epochs``);
    ``overrides`` are dotted keys, as a mapping or as ``key=value`` strings. Unknown keys fail with
    the nearest valid one.

    Example:
        >>> build_config(None, {"train.weight_decay": 0.1}, epochs=2).train.epochs
        2.0
    """
    raw = _base_config(config)
    pairs: dict[str, Any] = {}
    for key, value in keywords.items():
        if value is None:
            continue
        for dotted in _KEYWORDS[key]:
            pairs[dotted] = list(value) if isinstance(value, tuple) else value
    if isinstance(overrides, Mapping):
        pairs.update(overrides)
    strings = [f"{k}={json.dumps(v, default=str)}" for k, v in pairs.items()]
    if overrides is not None and not isinstance(overrides, Mapping):
        strings += list(overrides)
    source = str(config) if isinstance(config, (str, Path)) else "arguments"
    return config_from_dict(apply_overrides(raw, strings), source)


@_checked_keywords
def train(
    data: SourceLike | Config | str | Path | None = None,
    overrides: Sequence[str] | Mapping[str, Any] | None = None,
    *,
    config: Config | str | Path | None = None,
    text: str | None = None,
    label: str | list[str] | None = None,
    multi_label: bool | None = None,
    labels: Sequence[str] | None = None,
    validation: SourceLike | None = None,
    test: SourceLike | None = None,
    model: str | None = None,
    method: Literal["auto", "fewshot", "head", "full", "lora", "qlora"] | None = None,
    max_length: int | None = None,
    epochs: float | None = None,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    seed: int | None = None,
    output_dir: str | Path | None = None,
    name: str | None = None,
    overwrite: bool | None = None,
    resume: bool = False,
    evaluate: bool = True,
    progress: bool = True,
    callbacks: Sequence[Any] = (),
) -> TrainResult:
    """Train a classifier and return a :class:`TrainResult` (run folder, metrics, report, classifier).

    Args:
        data: the training data (a DataFrame, ``datasets.Dataset``, ``(texts, labels)``, list of
            dicts, file, folder, catalog name or hub id), or a Config / YAML path naming its data.
            Without separate ``validation``/``test`` data, it is split (seeded, stratified, leakage-free).
        overrides: more config values: ``{"train.weight_decay": 0.1}`` or ``["train.weight_decay=0.1"]``.
        config: a base Config or YAML file (when ``data`` is the data itself).
        text, label: the text and label columns (``label`` may list 0/1 columns: multi-label).
        multi_label, labels: force the problem type; fix the label set and its order.
        validation, test: separate validation / test data (any source, same columns).
        model, method, max_length, epochs, batch_size, learning_rate, seed: common config values.
        output_dir, name, overwrite: where the run folder goes (``runs/<name>``).
        resume: continue an interrupted run of the same name from its last checkpoint.
        evaluate: score the test split beside TF-IDF and write ``report.html``.
        progress: show progress bars.
        callbacks: extra ``transformers.TrainerCallback`` objects (trackers, pruning hooks).

    Example:
        >>> result = train(df, text="body", label="queue", model="minilm-l6", epochs=3)
        >>> result.classifier.predict_proba(["reset my password"]).shape
        (1, 4)
    """
    if isinstance(data, Config) or _is_config_path(data):
        if config is not None:
            raise ConfigError(
                "pass the config once: as data or as config=", hint="e.g. train(df, config=cfg)"
            )
        config, data = data, None  # type: ignore[assignment]
    cfg = build_config(
        config, overrides, text=text, label=label, multi_label=multi_label, labels=labels,
        model=model, method=method, max_length=max_length, epochs=epochs, batch_size=batch_size,
        learning_rate=learning_rate, seed=seed, output_dir=output_dir, name=name, overwrite=overwrite,
    )  # fmt: skip
    return run_training(
        cfg, data, validation=validation, test=test, resume=resume, evaluate=evaluate,
        progress=progress, callbacks=callbacks,
    )  # fmt: skip


def _in_memory(data: Any) -> bool:
    return data is not None and not isinstance(data, (str, Path))


def run_training(
    cfg: Config,
    data: SourceLike | None = None,
    *,
    validation: SourceLike | None = None,
    test: SourceLike | None = None,
    resume: bool = False,
    evaluate: bool = True,
    progress: bool = True,
    callbacks: Sequence[Any] = (),
    clock_start: float | None = None,
) -> TrainResult:
    """The one training path (CLI, YAML and Python): read and prepare the data, fit, evaluate.

    A ``train.max_train_minutes`` budget counts from ``clock_start`` (a ``time.monotonic()``
    value; the CLI passes its process start), else from this call.

    Data that lives only in memory is stored in the run folder (``data/*.parquet``) and the
    recorded config names those files, so the run can be evaluated and repeated later.

    Example:
        >>> run_training(load_config("examples/sms-spam.yaml")).run_dir
        PosixPath('runs/sms-spam-minilm-l6-lora-20261129-101500')
    """
    import time

    from classifine.data.loading import prepare, read_splits
    from classifine.training import distributed
    from classifine.training.fit import fit
    from classifine.training.runs import run_folder

    clock_start = time.monotonic() if clock_start is None else clock_start
    source = _data_mapping(data, validation, test)
    raw = read_splits(cfg.data, source)
    snapshot = None
    name = None
    if any(_in_memory(v) for v in (source.values() if isinstance(source, dict) else [source])):
        name = "memory"
        snapshot = raw
    elif data is not None:
        cfg = _record_source(cfg, data, validation, test)
    # Under DDP (torchrun) every rank trains; rank 0 names the run, tracks, evaluates and writes.
    run_dir = distributed.on_main(run_folder, cfg, resume=resume, dataset=name)
    if snapshot is not None:
        cfg = _record_snapshot(cfg, run_dir, raw)
    splits = prepare(raw, cfg.data)
    report = None
    with _tracked(cfg, run_dir.name, distributed.world().is_main) as tracked:
        extra = [*callbacks, *tracked.callbacks]
        fit(
            splits, cfg, run_dir, resume=resume, progress=progress, callbacks=extra, snapshot=snapshot,
            clock_start=clock_start, evaluate_after=evaluate and len(splits.test) > 0,
        )  # fmt: skip
        if distributed.world().is_main:
            tracked.training(run_dir)
            if evaluate and len(splits.test) > 0:
                report = _evaluate_folder(run_dir, splits=splits)
                tracked.evaluation(report)
            elif evaluate:
                log.info("no test split to evaluate on; use 'classifine evaluate %s --data FILE'", run_dir)
    distributed.barrier()  # every rank returns the finished run folder
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    from classifine.config import load_config

    return TrainResult(run_dir, load_config(run_dir / "config.yaml"), metrics, report)


def _tracked(cfg: Config, name: str, main: bool) -> Any:
    """The tracker run of a training run (a no-op unless cfg.track names a tracker, and off rank 0)."""
    from contextlib import nullcontext

    from classifine.experiments.tracking.runs import Tracked, tracked_run

    return tracked_run(cfg, name, "train") if main else nullcontext(Tracked(None))


def _data_mapping(data: Any, validation: Any, test: Any) -> Any:
    if validation is None and test is None:
        return data
    if data is None:
        raise ConfigError("validation= or test= data needs training data too", hint="pass the data first")
    parts = {"train": data, "validation": validation, "test": test}
    return {k: v for k, v in parts.items() if v is not None}


def _record_source(cfg: Config, data: Any, validation: Any, test: Any) -> Config:
    """The config naming the files / catalog names given as arguments, as a YAML run would."""
    raw = cfg.model_dump(mode="json")
    if validation is None and test is None:
        raw["data"].update(source=str(data), train=None, validation=None, test=None)
    else:
        raw["data"].update(source=None, train=str(data), validation=validation and str(validation))
        raw["data"]["test"] = test and str(test)
    return config_from_dict(raw)


def _record_snapshot(cfg: Config, run_dir: Path, raw: DatasetSplits) -> Config:
    """The config naming the run folder's stored copy of in-memory data."""
    data = cfg.data.model_dump(mode="json")
    data.update(
        source=None,
        **{s: str(run_dir / "data" / f"{s}.parquet") for s in ("train", "validation", "test")},
        text_column="text",
        label_column="labels" if raw.label_set.multi_label else "label",
        multi_label=raw.label_set.multi_label,
        label_delimiter=None,
        hub_config=None,
        hub_splits=None,
        labels=list(raw.label_set.names),
    )
    return cfg.model_copy(update={"data": type(cfg.data).model_validate(data)})


def train_and_evaluate(
    config: Config | str | Path | None = None,
    overrides: Sequence[str] | None = None,
    *,
    resume: bool = False,
    evaluate: bool = True,
    progress: bool = True,
    clock_start: float | None = None,
) -> tuple[Path, EvalReport | None]:
    """Train from a config and score its test split: ``(run folder, report)`` (used by the CLI).

    Example:
        >>> run, report = train_and_evaluate("examples/sms-spam.yaml")
    """
    result = run_training(
        build_config(config, overrides), resume=resume, evaluate=evaluate, progress=progress,
        clock_start=clock_start,
    )  # fmt: skip
    return result.run_dir, result.report


def evaluate(
    model: Classifier | TrainResult | str | Path,
    data: SourceLike | None = None,
    *,
    text: str | None = None,
    label: str | None = None,
    split: Literal["test", "validation"] = "test",
    baseline: bool = True,
    limit: int | None = None,
) -> EvalReport:
    """Score a trained model on held-out data (its own test split by default) beside TF-IDF.

    Args:
        model: a :class:`Classifier`, a :class:`TrainResult` or a run folder.
        data: labelled data to score on (any source); default: the run's own ``split``.
        text, label: its columns (default: the run's).
        baseline: also train and score the TF-IDF baseline on the run's train split.
        limit: score every row on the same seeded stratified sample of this many texts.

    Example:
        >>> evaluate(result.classifier, test_df).metrics["accuracy"]  # doctest: +SKIP
        0.94
    """
    run = _run_path(model)
    return evaluate_run(
        run, data_file=data, split=split, text_column=text, label_column=label,
        include_baseline=baseline, limit=limit,
    )  # fmt: skip


def _run_path(model: Any) -> Path:
    path = getattr(model, "path", None) if not isinstance(model, (str, Path, TrainResult)) else model
    if path is None:
        raise ConfigError(
            "this Classifier was not loaded from a run folder", hint="pass the run folder instead"
        )
    return Path(path)


def _evaluate_folder(run: Path, **kwargs: Any) -> EvalReport:
    from classifine.evaluation.evaluate import evaluate_run as evaluate_folder

    return evaluate_folder(run, **kwargs)


def evaluate_run(run: str | Path, *, track: str | None = None, **kwargs: Any) -> EvalReport:
    """Score a run on its test split (or ``data_file=...``) beside the TF-IDF baseline; writes the report.

    The evaluation is logged to ``track`` (a tracker name), or to the run's own ``track`` section.

    Example:
        >>> report = evaluate_run("runs/trec-6-minilm", track="mlflow")
    """
    from classifine.experiments.tracking.runs import tracked_evaluation

    with tracked_evaluation(Path(run), track) as tracked:
        report = _evaluate_folder(Path(run), **kwargs)
        tracked.evaluation(report)
    return report


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
