"""Fine-tune a classifier: ``train(cfg)`` from a config, ``fit(splits, cfg, run_dir)`` from Datasets.

Wraps ``transformers.Trainer`` by composition: a loss function, callbacks and arguments are
passed in; nothing is subclassed. Checkpoints go to ``runs/.<name>.work/`` every epoch, the
final Artifact is written atomically to ``runs/<name>/``.

Example:
    >>> run = train(load_config("examples/sms-spam.yaml"))
    >>> (run / "model" / "classifine.json").is_file()
    True
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from classifine.artifact import ArtifactMeta, atomic_dir, library_versions, write_json
from classifine.config import Config, default_learning_rate
from classifine.data.dataset import DatasetSplits
from classifine.errors import ConfigError, DataError, ModelError, suggestion
from classifine.evaluation.metrics import headline_metrics
from classifine.models.build import build_for_training, save_trained
from classifine.models.zoo import ModelSpec, resolve
from classifine.training import data as tdata
from classifine.training.callbacks import ProgressCallback, TimeBudgetCallback
from classifine.training.losses import class_weights, make_loss
from classifine.training.precision import apply_threads, resolve_precision

logger = logging.getLogger(__name__)

# transformers' own Trainer calls a method it has deprecated; the warning is not the user's to act on.
warnings.filterwarnings("ignore", message=r".*is_gradient_checkpointing.*", category=FutureWarning)


def _slug(text: str) -> str:
    name = Path(text).stem if ("/" in text or "\\" in text) and Path(text).suffix else text
    name = name.rstrip("/").rsplit("/", 1)[-1]
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "run"


def run_prefix(cfg: Config) -> str:
    """``<dataset>-<model>-<method>-``: the start of generated run names."""
    dataset = cfg.data.source or cfg.data.train or "data"
    return f"{_slug(dataset)}-{_slug(cfg.model.name)}-{cfg.model.method}-"


def work_dir_for(run_dir: Path) -> Path:
    """Where checkpoints of ``run_dir`` live while it trains."""
    return run_dir.parent / f".{run_dir.name}.work"


def run_folder(cfg: Config, *, resume: bool = False) -> Path:
    """The run folder: ``output.dir/output.name``, or a generated name.

    With ``resume`` and no ``output.name``, the most recent interrupted run of the same
    dataset, model and method is picked up.
    """
    out = Path(cfg.output.dir)
    if cfg.output.name:
        return out / cfg.output.name
    prefix = run_prefix(cfg)
    if resume and out.is_dir():
        works = sorted(out.glob(f".{prefix}*.work"), key=lambda p: p.stat().st_mtime)
        if works:
            return out / works[-1].name[1 : -len(".work")]
    return out / f"{prefix}{time.strftime('%Y%m%d-%H%M%S')}"


def _latest_checkpoint(work: Path) -> Path | None:
    found = [p for p in work.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    complete = [p for p in found if (p / "trainer_state.json").is_file()]
    return max(complete, key=lambda p: int(p.name.split("-")[-1]), default=None)


def _metric_setup(cfg: Config) -> tuple[str, bool]:
    es = cfg.train.early_stopping
    metric = es.metric if es is not None else "macro_f1"
    metric = metric.removeprefix("eval_")
    if metric not in tdata.METRICS:
        raise ConfigError(
            f"unknown train.early_stopping.metric '{metric}'",
            hint=suggestion(metric, tdata.METRICS, "metric"),
        )
    return metric, metric != "loss"


def _max_length(cfg: Config, spec: ModelSpec) -> int:
    wanted = cfg.model.max_length
    if wanted is None:
        return spec.max_length
    if spec.length_cap is not None and wanted > spec.length_cap:
        logger.warning(
            "model.max_length=%d exceeds what %s allows; using %d", wanted, spec.name, spec.length_cap
        )
        return spec.length_cap
    return wanted


def _check_splits(splits: DatasetSplits) -> None:
    if len(splits.train) == 0:
        raise DataError("the training split is empty", hint="check data.source / data.train")
    if not splits.train.multi_label and len(splits.label_set) < 2:
        raise DataError(
            f"only one class ({', '.join(splits.label_set.names)}) in the data",
            hint="a classifier needs two or more",
        )


def _training_args(cfg: Config, work: Path, precision: str, has_eval: bool, metric: str, higher: bool) -> Any:
    import torch
    from transformers import TrainingArguments

    t = cfg.train
    steps = t.eval_every if isinstance(t.eval_every, int) else None
    strategy = "steps" if steps else "epoch"
    return TrainingArguments(
        output_dir=str(work),
        num_train_epochs=t.epochs,
        max_steps=t.max_steps or -1,
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=t.eval_batch_size,
        learning_rate=t.learning_rate or default_learning_rate(cfg.model.method),
        weight_decay=t.weight_decay,
        warmup_steps=t.warmup_ratio,
        eval_strategy=strategy if has_eval else "no",
        eval_steps=steps,
        save_strategy=strategy,
        save_steps=steps or 500,
        save_total_limit=2,
        load_best_model_at_end=has_eval,
        metric_for_best_model=metric if has_eval else None,
        greater_is_better=higher if has_eval else None,
        train_sampling_strategy="group_by_length" if t.group_by_length else "random",
        bf16=precision == "bf16",
        use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
        report_to=[],
        seed=t.seed,
        data_seed=t.seed,
        logging_strategy="steps",
        logging_steps=5,
        logging_first_step=True,
        disable_tqdm=True,
        label_names=["labels"],
        remove_unused_columns=False,
    )


def _logits_only(logits: Any, labels: Any) -> Any:
    return logits[0] if isinstance(logits, tuple) else logits


def _make_trainer(
    cfg: Config,
    parts: dict[str, Any],
    work: Path,
    precision: str,
    progress: bool,
    extra_callbacks: Sequence[Any] = (),
) -> Any:
    from transformers import EarlyStoppingCallback, PrinterCallback, Trainer

    metric, higher = _metric_setup(cfg)
    splits: DatasetSplits = parts["splits"]
    multi = splits.label_set.multi_label
    has_eval = len(parts["val"]) > 0
    args = _training_args(cfg, work, precision, has_eval, metric, higher)
    callbacks: list[Any] = [ProgressCallback(metric, show_bar=progress)]
    es = cfg.train.early_stopping
    if es is not None and has_eval:
        callbacks.append(EarlyStoppingCallback(es.patience, es.min_delta))
    if cfg.train.max_train_minutes:
        callbacks.append(TimeBudgetCallback(cfg.train.max_train_minutes))
    callbacks.extend(extra_callbacks)

    def compute_metrics(pred: Any) -> dict[str, float]:
        probs = tdata.probabilities(_logits_only(pred.predictions, None), multi)
        return headline_metrics(pred.label_ids, probs, multi, cfg.train.threshold)

    trainer = Trainer(
        model=parts["model"],
        args=args,
        train_dataset=parts["train"],
        eval_dataset=parts["val"] if has_eval else None,
        processing_class=parts["tokenizer"],
        data_collator=tdata.Collator(parts["tokenizer"]),
        compute_metrics=compute_metrics,
        compute_loss_func=parts["loss_fn"],
        preprocess_logits_for_metrics=_logits_only,
        callbacks=callbacks,
    )
    trainer.remove_callback(PrinterCallback)  # our ProgressCallback logs instead of printing dicts
    return trainer


def _prepare(splits: DatasetSplits, cfg: Config, precision: str) -> dict[str, Any]:
    from transformers import set_seed

    set_seed(cfg.train.seed)
    spec = resolve(cfg.model.name)
    max_length = _max_length(cfg, spec)
    model, tokenizer = build_for_training(spec, splits.label_set, cfg.model.method, cfg.model.lora, precision)
    if spec.is_decoder:
        model.config.use_cache = False
    weights = class_weights(splits.train, cfg.train.class_weights)
    multi = splits.label_set.multi_label
    loss_fn = make_loss(cfg.train.loss, multi_label=multi, weights=weights, gamma=cfg.train.focal_gamma)
    train_enc = tdata.encode(splits.train, tokenizer, max_length)
    val_enc = tdata.encode(splits.validation, tokenizer, max_length).sorted_by_length()
    logger.info(
        "model %s (%s, %s), max_length %d, %d train / %d validation rows, precision %s",
        spec.name,
        spec.family,
        cfg.model.method,
        max_length,
        len(train_enc),
        len(val_enc),
        precision,
    )
    return {
        "spec": spec,
        "max_length": max_length,
        "model": model,
        "tokenizer": tokenizer,
        "train": train_enc,
        "val": val_enc,
        "splits": splits,
        "loss_fn": loss_fn,
    }


def _start_point(work: Path, resume: bool) -> Path | None:
    if not resume:
        if work.exists():
            logger.warning(
                "discarding checkpoints of an earlier interrupted run in %s (use --resume to continue)", work
            )
            shutil.rmtree(work)
        return None
    checkpoint = _latest_checkpoint(work) if work.is_dir() else None
    if checkpoint is None:
        logger.warning("no checkpoint to resume from in %s: starting fresh", work)
    else:
        logger.info("resuming from %s", checkpoint)
    return checkpoint


def fit(
    splits: DatasetSplits,
    cfg: Config,
    run_dir: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
    callbacks: Sequence[Any] = (),
) -> Path:
    """Fine-tune on ``splits.train``, select on ``splits.validation``, write the Artifact to ``run_dir``.

    ``callbacks`` are extra ``transformers.TrainerCallback`` objects (trackers, pruning hooks); they
    see every log and evaluation of the run.

    Example:
        >>> fit(splits, config_from_dict({"model": {"name": "minilm-l6"}}), "runs/demo")
        PosixPath('runs/demo')
    """
    run_dir = Path(run_dir)
    if run_dir.exists() and not cfg.output.overwrite:
        raise ModelError(
            "output folder already exists",
            where=str(run_dir),
            hint="choose output.name (--name) or set output.overwrite=true",
        )
    _check_splits(splits)
    threads = apply_threads(cfg.train.threads)
    precision = resolve_precision(cfg.train.precision)
    work = work_dir_for(run_dir)
    checkpoint = _start_point(work, resume)
    parts = _prepare(splits, cfg, precision)
    trainer = _make_trainer(cfg, parts, work, precision, progress, callbacks)
    started = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    seconds = time.perf_counter() - started
    summary = _finish(trainer, parts, cfg, precision)
    summary["train"] = {
        "seconds": round(seconds, 2),
        "epochs": float(trainer.state.epoch or 0.0),
        "global_step": int(trainer.state.global_step),
        "train_loss": float(output.training_loss),
        "threads": threads,
        "resumed_from": checkpoint.name if checkpoint else None,
    }
    _write_artifact(run_dir, trainer, parts, cfg, summary)
    shutil.rmtree(work, ignore_errors=True)
    logger.info("run written to %s", run_dir)
    return run_dir


def _finish(trainer: Any, parts: dict[str, Any], cfg: Config, precision: str) -> dict[str, Any]:
    """Validation metrics of the final (best) model in float32 and, for multi-label, tuned thresholds."""
    import torch

    splits: DatasetSplits = parts["splits"]
    multi = splits.label_set.multi_label
    thresholds: list[float] | None = None
    best: dict[str, float] = {}
    # Training may have wrapped forward() in bf16 autocast: strip it so these metrics match a reloaded model.
    model = trainer.accelerator.unwrap_model(trainer.model, keep_fp32_wrapper=False)
    if len(parts["val"]) > 0:
        logits, targets = tdata.predict_logits(
            model, parts["val"], tdata.Collator(parts["tokenizer"]), cfg.train.eval_batch_size
        )
        probs = tdata.probabilities(logits, multi)
        if multi:
            thresholds = [cfg.train.threshold] * len(splits.label_set)
            if cfg.train.tune_thresholds:
                thresholds = tdata.tune_thresholds(targets, probs, cfg.train.threshold)
        best = headline_metrics(targets, probs, multi, thresholds or cfg.train.threshold)
        best["loss"] = float(
            parts["loss_fn"]({"logits": torch.from_numpy(logits)}, torch.from_numpy(targets))
        )
    elif multi:
        thresholds = [cfg.train.threshold] * len(splits.label_set)
    history = [
        {k.removeprefix("eval_"): v for k, v in e.items() if k.startswith("eval_") or k in ("epoch", "step")}
        for e in trainer.state.log_history
        if "eval_loss" in e
    ]
    return {
        "validation": best,
        "history": history,
        "thresholds": thresholds,
        "precision": precision,
        "best_checkpoint": Path(trainer.state.best_model_checkpoint).name
        if trainer.state.best_model_checkpoint
        else None,
    }


def _write_artifact(
    run_dir: Path, trainer: Any, parts: dict[str, Any], cfg: Config, summary: dict[str, Any]
) -> None:
    splits: DatasetSplits = parts["splits"]
    spec: ModelSpec = parts["spec"]
    resolved = cfg.model_copy(deep=True)
    resolved.model.max_length = parts["max_length"]
    resolved.output.name = run_dir.name
    meta = ArtifactMeta(
        labels=list(splits.label_set.names),
        problem_type="multi_label" if splits.label_set.multi_label else "single_label",
        thresholds=summary["thresholds"],
        max_length=parts["max_length"],
        base_model=cfg.model.name,
        base_model_source=spec.source,
        family=spec.family,
        method=cfg.model.method,
        precision=summary["precision"],
        versions=library_versions(),
        data_fingerprint=splits.train.fingerprint(),
        metrics={k: float(v) for k, v in summary["validation"].items() if np.isfinite(v)},
        clean=cfg.data.clean.model_dump(),
    )
    with atomic_dir(run_dir, overwrite=cfg.output.overwrite) as tmp:
        model = trainer.accelerator.unwrap_model(trainer.model, keep_fp32_wrapper=False)
        # A 4-bit base cannot be merged exactly: QLoRA keeps the adapter, applied to the full base at load.
        merge = cfg.model.lora.merge and cfg.model.method != "qlora"
        save_trained(model, parts["tokenizer"], tmp / "model", meta, merge=merge)
        (tmp / "config.yaml").write_text(resolved.to_yaml(), encoding="utf-8")
        write_json(tmp / "metrics.json", summary)
        with open(tmp / "train_log.jsonl", "w", encoding="utf-8") as fh:
            for entry in trainer.state.log_history:
                fh.write(json.dumps(entry, default=float) + "\n")
