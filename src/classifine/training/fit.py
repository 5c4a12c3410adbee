"""Fine-tune a classifier: ``fit(splits, plan_or_config, run_dir)`` writes an Artifact.

Wraps ``transformers.Trainer`` by composition: a loss function, callbacks and arguments are
passed in; nothing is subclassed. The config becomes a typed :class:`TrainPlan` at the entry;
nothing below it reads the config. Checkpoints go to ``runs/.<name>.work/`` every epoch, the final
Artifact is written atomically to ``runs/<name>/``.

Example:
    >>> run = fit(load_splits(cfg.data), cfg, "runs/sms")
    >>> (run / "model" / "classifine.json").is_file()
    True
"""

from __future__ import annotations

import json
import logging
import shutil
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from classifine.artifact import ArtifactMeta, atomic_dir, library_versions, write_json
from classifine.config import Config
from classifine.data.dataset import DatasetSplits
from classifine.errors import ClassifineError, DataError, ModelError
from classifine.evaluation.metrics import headline_metrics
from classifine.models.build import build_for_training, hf_progress, save_trained
from classifine.models.tfidf import TFIDF_FOLDER, FittedTfidf, fit_tfidf, mix_probabilities
from classifine.training import data as tdata
from classifine.training.callbacks import ProgressCallback, StateCallback, TimeBudgetCallback
from classifine.training.hybrid import HybridDecision, decide
from classifine.training.losses import make_loss
from classifine.training.plan import TrainPlan, make_plan
from classifine.training.runs import seconds_before, start_point, work_dir_for

logger = logging.getLogger(__name__)


@dataclass
class _Parts:
    """What one run trains with: model, tokenizer, encoded splits and the loss."""

    model: Any
    tokenizer: Any
    train: tdata.Encoded
    val: tdata.Encoded
    loss_fn: Any


def _check_splits(splits: DatasetSplits) -> None:
    if len(splits.train) == 0:
        raise DataError("the training split is empty", hint="check data.source / data.train")
    if not splits.train.multi_label and len(splits.label_set) < 2:
        raise DataError(
            f"only one class ({', '.join(splits.label_set.names)}) in the data",
            hint="a classifier needs two or more",
        )


def _training_args(plan: TrainPlan, work: Path, has_eval: bool) -> Any:
    import torch
    from transformers import TrainingArguments

    strategy = "steps" if plan.eval_every else "epoch"
    sel = plan.selection
    return TrainingArguments(
        output_dir=str(work),
        num_train_epochs=plan.epochs,
        max_steps=plan.max_steps or -1,
        per_device_train_batch_size=plan.batch_size,
        per_device_eval_batch_size=plan.eval_batch_size,
        learning_rate=plan.learning_rate,
        weight_decay=plan.weight_decay,
        warmup_steps=plan.warmup_ratio,
        eval_strategy=strategy if has_eval else "no",
        eval_steps=plan.eval_every,
        save_strategy=strategy,
        save_steps=plan.eval_every or 500,
        save_total_limit=2,
        load_best_model_at_end=has_eval,
        metric_for_best_model=sel.metric if has_eval else None,
        greater_is_better=sel.higher_is_better if has_eval else None,
        train_sampling_strategy="group_by_length" if plan.group_by_length else "random",
        bf16=plan.precision == "bf16",
        use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
        report_to=[],
        seed=plan.seed,
        data_seed=plan.seed,
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
    plan: TrainPlan, parts: _Parts, work: Path, progress: bool, extra: Sequence[Any], seconds: float
) -> Any:
    from transformers import EarlyStoppingCallback, PrinterCallback, Trainer

    has_eval = len(parts.val) > 0
    sel = plan.selection
    callbacks: list[Any] = [ProgressCallback(sel.metric, show_bar=progress), StateCallback(seconds)]
    if sel.patience is not None and has_eval:
        callbacks.append(EarlyStoppingCallback(sel.patience, sel.min_delta))
    if plan.max_train_minutes:
        callbacks.append(TimeBudgetCallback(plan.max_train_minutes))
    callbacks.extend(extra)

    targets = tdata.pooled_targets(parts.val) if has_eval else np.zeros(0)

    def compute_metrics(pred: Any) -> dict[str, float]:
        # Evaluation runs over the windows in parts.val's order; pooling gives one score per text.
        probs = tdata.pooled_probabilities(_logits_only(pred.predictions, None), parts.val, plan.multi_label)
        return headline_metrics(targets, probs, plan.multi_label, plan.threshold)

    trainer = Trainer(
        model=parts.model,
        args=_training_args(plan, work, has_eval),
        train_dataset=parts.train,
        eval_dataset=parts.val if has_eval else None,
        processing_class=parts.tokenizer,
        data_collator=tdata.Collator(parts.tokenizer),
        compute_metrics=compute_metrics,
        compute_loss_func=parts.loss_fn,
        preprocess_logits_for_metrics=_logits_only,
        callbacks=callbacks,
    )
    trainer.remove_callback(PrinterCallback)  # our ProgressCallback logs instead of printing dicts
    return trainer


def _prepare(splits: DatasetSplits, plan: TrainPlan) -> _Parts:
    from transformers import set_seed

    set_seed(plan.seed)
    model, tokenizer = build_for_training(plan.spec, splits.label_set, plan.method, plan.lora, plan.precision)
    if plan.spec.is_decoder:
        model.config.use_cache = False
    weights = np.asarray(plan.class_weights, dtype=np.float32) if plan.class_weights else None
    loss_fn = make_loss(plan.loss, multi_label=plan.multi_label, weights=weights, gamma=plan.focal_gamma)
    train_enc = tdata.encode(splits.train, tokenizer, plan.max_length, plan.long_text)
    val_enc = tdata.encode(splits.validation, tokenizer, plan.max_length, plan.long_text).sorted_by_length()
    logger.info(
        "model %s (%s, %s), max_length %d (%s), %d train / %d validation windows, precision %s, lr %g",
        plan.spec.name,
        plan.spec.family,
        plan.method,
        plan.max_length,
        plan.long_text.mode,
        len(train_enc),
        len(val_enc),
        plan.precision,
        plan.learning_rate,
    )
    return _Parts(model, tokenizer, train_enc, val_enc, loss_fn)


def fit(
    splits: DatasetSplits,
    plan: TrainPlan | Config,
    run_dir: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
    callbacks: Sequence[Any] = (),
    snapshot: DatasetSplits | None = None,
) -> Path:
    """Fine-tune on ``splits.train``, select on ``splits.validation``, write the Artifact to ``run_dir``.

    Args:
        splits: prepared train/validation/test data (test is not used here).
        plan: a :class:`TrainPlan`, or a Config that is resolved into one against ``splits``.
        run_dir: the run folder to write (atomically).
        resume: continue from the last checkpoint of an interrupted run of the same folder.
        progress: show a progress bar.
        callbacks: extra ``transformers.TrainerCallback`` objects (trackers, pruning hooks); they
            see every log and evaluation of the run.
        snapshot: data to store under ``data/`` in the run folder (data that lives only in memory),
            as the files the recorded config names.

    Example:
        >>> fit(splits, config_from_dict({"model": {"name": "minilm-l6"}}), "runs/demo")
        PosixPath('runs/demo')
    """
    run_dir = Path(run_dir)
    plan = plan if isinstance(plan, TrainPlan) else make_plan(plan, splits)
    if run_dir.exists() and not plan.config.output.overwrite:
        raise ModelError(
            "output folder already exists",
            where=str(run_dir),
            hint="choose output.name (--name) or set output.overwrite=true",
        )
    _check_splits(splits)
    with hf_progress(progress):
        return _fit(splits, plan, run_dir, resume, progress, callbacks, snapshot)


def _fit(
    splits: DatasetSplits,
    plan: TrainPlan,
    run_dir: Path,
    resume: bool,
    progress: bool,
    callbacks: Sequence[Any],
    snapshot: DatasetSplits | None,
) -> Path:
    from classifine.training.precision import apply_threads

    apply_threads(plan.threads)
    work = work_dir_for(run_dir)
    checkpoint = start_point(work, plan.config, splits, resume)
    parts = _prepare(splits, plan)
    earlier = seconds_before(checkpoint)
    trainer = _make_trainer(plan, parts, work, progress, callbacks, earlier)
    started = time.perf_counter()
    with warnings.catch_warnings():
        # transformers' own Trainer calls a method it has deprecated; the warning is not the user's.
        warnings.filterwarnings("ignore", message=r".*is_gradient_checkpointing.*", category=FutureWarning)
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    tfidf = _fit_tfidf(splits, plan.seed)
    summary = _finish(trainer, parts, plan, tfidf)
    summary["train"] = {
        "seconds": round(earlier + time.perf_counter() - started, 2),
        "epochs": float(trainer.state.epoch or 0.0),
        "global_step": int(trainer.state.global_step),
        "train_loss": _mean_train_loss(trainer.state.log_history),
        "threads": plan.threads,
        "resumed_from": checkpoint.name if checkpoint else None,
        **{k: v for k, v in plan.describe().items() if k not in ("threads",)},
    }
    _write_artifact(run_dir, trainer, parts, plan, splits, summary, snapshot, tfidf)
    shutil.rmtree(work, ignore_errors=True)
    logger.info("run written to %s", run_dir)
    return run_dir


def _mean_train_loss(log_history: list[dict[str, Any]]) -> float:
    """The step-weighted mean of every logged training loss: the whole run's, across resumes too."""
    total, steps, last = 0.0, 0, 0
    for entry in log_history:
        if "loss" in entry and "step" in entry:
            span = max(int(entry["step"]) - last, 1)
            total += float(entry["loss"]) * span
            steps += span
            last = int(entry["step"])
    return total / steps if steps else float("nan")


def _fit_tfidf(splits: DatasetSplits, seed: int) -> FittedTfidf | None:
    """The run's TF-IDF model (for the report's baseline row and the hybrid), or None if it cannot fit."""
    try:
        return fit_tfidf(splits.train, splits.validation, seed=seed)
    except ClassifineError as exc:
        logger.warning("no TF-IDF model for this run: %s", exc)
        return None


def _finish(trainer: Any, parts: _Parts, plan: TrainPlan, tfidf: FittedTfidf | None) -> dict[str, Any]:
    """Validation metrics of the served model (the best checkpoint in float32, mixed with TF-IDF when the
    hybrid is kept), the hybrid decision and, for multi-label, thresholds tuned on those probabilities."""
    import torch

    multi = plan.multi_label
    thresholds: list[float] | None = [plan.threshold] * len(plan.labels) if multi else None
    best: dict[str, float] = {}
    decision = HybridDecision(0.0, plan.selection.metric)
    # Training may have wrapped forward() in bf16 autocast: strip it so these metrics match a reloaded model.
    model = trainer.accelerator.unwrap_model(trainer.model, keep_fp32_wrapper=False)
    if len(parts.val) > 0:
        logits, window_targets = tdata.predict_logits(
            model, parts.val, tdata.Collator(parts.tokenizer), plan.eval_batch_size
        )
        targets = tdata.pooled_targets(parts.val)
        probs = tdata.pooled_probabilities(logits, parts.val, multi)
        p_tfidf = tfidf.validation_proba if tfidf is not None else None
        sel = plan.selection
        decision = decide(plan.hybrid, targets, probs, p_tfidf, multi_label=multi, metric=sel.metric)
        if decision.kept and p_tfidf is not None:
            probs = mix_probabilities(probs, p_tfidf, decision.weight)
        if multi and plan.tune_thresholds:
            thresholds = tdata.tune_thresholds(targets, probs, plan.threshold)
        best = headline_metrics(targets, probs, multi, thresholds or plan.threshold)
        window_loss = parts.loss_fn({"logits": torch.from_numpy(logits)}, torch.from_numpy(window_targets))
        best["loss"] = float(window_loss)
    history = [
        {k.removeprefix("eval_"): v for k, v in e.items() if k.startswith("eval_") or k in ("epoch", "step")}
        for e in trainer.state.log_history
        if "eval_loss" in e
    ]
    if decision.scores:
        logger.info(
            "validation %s: transformer %.4f, tf-idf %.4f, hybrid %.4f (tf-idf share %.1f): %s",
            decision.metric, decision.scores["transformer"], decision.scores["tfidf"],
            decision.scores["hybrid"], decision.scores["hybrid_weight"],
            "serving the hybrid" if decision.kept else "serving the transformer alone",
        )  # fmt: skip
    return {
        "validation": best,
        "history": history,
        "thresholds": thresholds,
        "precision": plan.precision,
        "hybrid": {"weight": decision.weight, "setting": plan.hybrid, "validation": decision.scores},
        "tfidf": tfidf.model.params if tfidf is not None else None,
        "best_checkpoint": Path(trainer.state.best_model_checkpoint).name
        if trainer.state.best_model_checkpoint
        else None,
    }


def _write_artifact(
    run_dir: Path,
    trainer: Any,
    parts: _Parts,
    plan: TrainPlan,
    splits: DatasetSplits,
    summary: dict[str, Any],
    snapshot: DatasetSplits | None,
    tfidf: FittedTfidf | None,
) -> None:
    resolved = plan.config.model_copy(deep=True)
    resolved.output.name = run_dir.name
    weight = float(summary["hybrid"]["weight"])
    resolved.model.hybrid = "on" if weight > 0 else "off"  # what validation decided, for a repeat run
    meta = ArtifactMeta(
        labels=list(plan.labels),
        problem_type="multi_label" if plan.multi_label else "single_label",
        thresholds=summary["thresholds"],
        max_length=plan.max_length,
        base_model=plan.spec.name,
        base_model_source=plan.spec.source,
        family=plan.spec.family,
        method=plan.method,  # type: ignore[arg-type]
        precision=plan.precision,
        versions=library_versions(),
        data_fingerprint=splits.train.fingerprint(),
        metrics={k: float(v) for k, v in summary["validation"].items() if np.isfinite(v)},
        clean=resolved.data.clean.model_dump(),
        long_text=plan.long_text.to_dict(),
        tfidf=TFIDF_FOLDER if tfidf is not None else None,
        hybrid_weight=weight,
    )
    with atomic_dir(run_dir, overwrite=resolved.output.overwrite) as tmp:
        model = trainer.accelerator.unwrap_model(trainer.model, keep_fp32_wrapper=False)
        # A 4-bit base cannot be merged exactly: QLoRA keeps the adapter, applied to the full base at load.
        merge = (plan.lora is None or plan.lora.merge) and plan.method != "qlora"
        save_trained(model, parts.tokenizer, tmp / "model", meta, merge=merge)
        if tfidf is not None:
            tfidf.model.save(tmp / "model" / TFIDF_FOLDER)
        if snapshot is not None:
            from classifine.data.catalog import write_splits

            write_splits(snapshot, tmp / "data", "parquet")
        (tmp / "config.yaml").write_text(resolved.to_yaml(), encoding="utf-8")
        write_json(tmp / "metrics.json", summary)
        with open(tmp / "train_log.jsonl", "w", encoding="utf-8") as fh:
            for entry in trainer.state.log_history:
                fh.write(json.dumps(entry, default=float) + "\n")
