"""Fine-tune a classifier: ``fit(splits, plan_or_config, run_dir)`` writes an Artifact.

Wraps ``transformers.Trainer`` by composition: a loss function, callbacks and arguments are
passed in; nothing is subclassed. The config becomes a typed :class:`TrainPlan` at the entry;
nothing below it reads the config. Training batches are planned by a token budget
(:class:`~classifine.training.data.TokenBatches`, handed to the Trainer as a dataset of whole
batches); a time budget plans the learning-rate schedule to end when the budget does
(:class:`~classifine.training.callbacks.BudgetPlanner`). Checkpoints go to ``runs/.<name>.work/``
every epoch, the final Artifact is written atomically to ``runs/<name>/``.

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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from classifine.artifact import ArtifactMeta, atomic_dir, library_versions, write_json
from classifine.config import Config
from classifine.data.dataset import DatasetSplits
from classifine.errors import ClassifineError, ConfigError, DataError, ModelError
from classifine.evaluation.metrics import headline_metrics
from classifine.models.build import build_for_training, hf_progress, save_trained
from classifine.models.tfidf import TFIDF_FOLDER, FittedTfidf, fit_tfidf, mix_probabilities
from classifine.training import data as tdata
from classifine.training import distributed
from classifine.training.callbacks import (
    BudgetCosts,
    BudgetPlanner,
    BudgetSchedule,
    ProgressCallback,
    StateCallback,
)
from classifine.training.hybrid import HybridDecision, baseline_check, baseline_warning, decide
from classifine.training.losses import make_loss
from classifine.training.plan import TrainPlan, make_plan, with_batching, with_step_floor
from classifine.training.runs import seconds_before, start_point, work_dir_for
from classifine.training.schedule import EMBEDDING_FAMILIES, EMBEDDING_METHODS, FINE_TUNE_MIN_EPOCHS

logger = logging.getLogger(__name__)


@dataclass
class _Parts:
    """What one run trains with: model, tokenizer, encoded splits and the loss."""

    model: Any
    tokenizer: Any
    train: tdata.Encoded
    val: tdata.Encoded
    loss_fn: Any
    plan: TrainPlan  # with the batch budget resolved from the training lengths
    test_tokens: float = 0.0  # estimated, for a time budget that also covers scoring the test split

    def train_dataset(self) -> Any:
        """Whole token-budget batches (a batch-size-1 loader), or rows when the budget is off."""
        p = self.plan
        if not p.batch_tokens:
            return self.train
        epochs = int(np.ceil(p.epochs)) if p.max_steps is None else 32
        chunk = 50 * p.batch_size  # sorted within chunks of 50 batches, as transformers' length grouping
        return tdata.TokenBatches(
            self.train, p.batch_tokens, p.max_batch_rows, p.seed, chunk=chunk, epochs=epochs
        )

    def eval_dataset(self) -> Any:
        p = self.plan
        if not p.batch_tokens:
            return self.val  # sorted by length already
        # Consecutive batches in self.val's order (sorted longest first): the metrics pool windows by it.
        return tdata.TokenBatches(self.val, p.eval_batch_tokens, p.eval_batch_size, p.seed, shuffle=False)


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
    choose = has_eval and sel.on_validation  # a small validation split is evaluated, never chosen by
    budgeted = bool(plan.batch_tokens)  # datasets of whole batches: the loader takes one at a time
    sampling = "sequential" if budgeted else "group_by_length" if plan.group_by_length else "random"
    return TrainingArguments(
        output_dir=str(work),
        num_train_epochs=plan.epochs,
        max_steps=plan.max_steps or -1,
        # train.batch_size is the global batch: each DDP process takes its share.
        per_device_train_batch_size=1 if budgeted else distributed.per_process_batch(plan.batch_size),
        per_device_eval_batch_size=1 if budgeted else plan.eval_batch_size,
        learning_rate=plan.learning_rate,
        weight_decay=plan.weight_decay,
        warmup_steps=plan.warmup_ratio,
        eval_strategy=strategy if has_eval else "no",
        eval_steps=plan.eval_every,
        save_strategy=strategy,
        save_steps=plan.eval_every or 500,
        save_total_limit=2,
        load_best_model_at_end=choose,
        metric_for_best_model=sel.metric if choose else None,
        greater_is_better=sel.higher_is_better if choose else None,
        train_sampling_strategy=sampling,
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
        # Our losses are batch means; DDP averages them over processes. Without this the Trainer would
        # also multiply each process's loss by the process count.
        average_tokens_across_devices=False,
    )


def _logits_only(logits: Any, labels: Any) -> Any:
    return logits[0] if isinstance(logits, tuple) else logits


def _make_trainer(
    plan: TrainPlan, parts: _Parts, work: Path, progress: bool, extra: Sequence[Any], budget: _Budget
) -> Any:
    from transformers import EarlyStoppingCallback, PrinterCallback, Trainer

    has_eval = len(parts.val) > 0
    sel = plan.selection
    train_ds = parts.train_dataset()
    # token-budget batches: rows / batches; fixed batches: batch_size (the last one may be smaller)
    rows_per_step = len(parts.train) / max(len(train_ds), 1) if plan.batch_tokens else float(plan.batch_size)
    # The loss is scaled per process: a DDP process's batch holds its share of the global batch.
    rows_per_process_step = (
        rows_per_step if plan.batch_tokens else float(distributed.per_process_batch(plan.batch_size))
    )
    schedule = None
    if plan.max_train_minutes:  # until the first steps are measured: the schedule of all epochs
        cap = plan.max_steps or max(1, int(np.ceil(plan.epochs * len(train_ds))))
        schedule = BudgetSchedule(total=cap, warmup=round(plan.warmup_ratio * cap))
    callbacks: list[Any] = [
        ProgressCallback(
            sel.metric,
            show_bar=progress,
            rows_per_step=rows_per_step,
            total_steps=(lambda: schedule.total) if schedule is not None else None,
        ),
        StateCallback(budget.seconds_before),
    ]
    if sel.patience is not None and has_eval and sel.on_validation:  # a small split only reports
        callbacks.append(EarlyStoppingCallback(sel.patience, sel.min_delta))
    planner = None
    if schedule is not None and plan.max_train_minutes:
        eval_ds = parts.eval_dataset() if has_eval else None
        planner = BudgetPlanner(
            _budget_costs(plan, parts, train_ds, eval_ds, budget),
            schedule,
            plan.warmup_ratio,
            probe=lambda: _forward_probe(parts, plan),
            min_epochs=FINE_TUNE_MIN_EPOCHS if budget.may_fall_back else None,
        )
        callbacks.append(planner)
    callbacks.extend(extra)

    targets = tdata.pooled_targets(parts.val) if has_eval else np.zeros(0)

    def compute_metrics(pred: Any) -> dict[str, float]:
        # Evaluation runs over the windows in parts.val's order; pooling gives one score per text.
        probs = tdata.pooled_probabilities(_logits_only(pred.predictions, None), parts.val, plan.multi_label)
        return headline_metrics(targets, probs, plan.multi_label, plan.threshold)

    trainer = Trainer(
        model=parts.model,
        args=_training_args(plan, work, has_eval),
        train_dataset=train_ds,
        eval_dataset=parts.eval_dataset() if has_eval else None,
        processing_class=parts.tokenizer,
        data_collator=tdata.Collator(parts.tokenizer),
        compute_metrics=compute_metrics,
        compute_loss_func=_per_row_weighted(parts.loss_fn, rows_per_process_step),
        preprocess_logits_for_metrics=_logits_only,
        callbacks=callbacks,
    )
    trainer.remove_callback(PrinterCallback)  # our ProgressCallback logs instead of printing dicts
    if schedule is not None:
        # The Trainer's own AdamW (same parameter groups), with a schedule the budget can re-plan.
        from torch.optim.lr_scheduler import LambdaLR

        trainer.lr_scheduler = LambdaLR(trainer.create_optimizer(), schedule)
    budget.planner = planner
    return trainer


def _forward_probe(parts: _Parts, plan: TrainPlan, tokens: int = 24_000) -> tuple[float, float]:
    """Seconds per token of a forward pass at the training precision, and float32's time over it.

    What evaluation and the work after training (a float32 validation pass, test scoring) cost,
    measured once while training: a time budget needs it before the first evaluation. Uses
    validation rows (training rows without a validation split), about ``tokens`` of them, after
    a warm-up batch; each precision is timed on the same rows.
    """
    import torch

    enc = parts.val if len(parts.val) else parts.train
    order = np.random.default_rng(plan.seed).permutation(len(enc))
    lengths = np.asarray(enc.lengths())[order]
    take = int(np.searchsorted(np.cumsum(lengths), tokens)) + 1
    sample = tdata.Encoded([enc[int(i)] for i in order[: max(take, 8)]])
    warm = tdata.Encoded([sample[i] for i in range(min(4, len(sample)))])
    model = parts.model
    was_training = model.training
    device = next(model.parameters()).device.type
    collate = tdata.Collator(parts.tokenizer)

    def timed(bf16: bool) -> float:
        with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
            tdata.predict_logits(model, warm, collate, plan.eval_batch_size, plan.eval_batch_tokens)
            start = time.perf_counter()
            tdata.predict_logits(model, sample, collate, plan.eval_batch_size, plan.eval_batch_tokens)
        return (time.perf_counter() - start) / max(sum(sample.lengths()), 1)

    at_precision = timed(plan.precision == "bf16")
    fp32 = timed(False) if plan.precision == "bf16" else at_precision
    model.train(was_training)
    return at_precision, max(fp32 / max(at_precision, 1e-12), 1.0)


def _per_row_weighted(loss_fn: Any, rows_per_step: float) -> Any:
    """The batch's mean loss scaled by its rows over the average rows per batch.

    Token-budget batches hold more rows when texts are short; a plain per-batch mean would give
    each short text less weight than a long one. Scaled, every row weighs the same, as with
    fixed-size batches (and the average step's loss is unchanged).
    """

    def scaled(outputs: Any, labels: Any, num_items_in_batch: Any = None) -> Any:
        return loss_fn(outputs, labels, num_items_in_batch) * (labels.shape[0] / rows_per_step)

    return scaled


@dataclass
class _Budget:
    """The clock of a time budget: when it started, what follows training, the planner in use."""

    clock_start: float
    evaluate_after: bool
    seconds_before: float = 0.0
    planner: BudgetPlanner | None = None
    may_fall_back: bool = False  # the budget may give fine-tuning up for the frozen-encoder head


def _budget_costs(
    plan: TrainPlan, parts: _Parts, train_ds: Any, eval_ds: Any, budget: _Budget
) -> BudgetCosts:
    """Token counts of the work around training, for :class:`BudgetPlanner`."""
    steps_per_epoch = max(len(train_ds), 1) if plan.batch_tokens else -(-len(parts.train) // plan.batch_size)
    step_tokens = (
        train_ds.padded_tokens() / steps_per_epoch
        if isinstance(train_ds, tdata.TokenBatches)
        else float(plan.batch_size * np.mean(parts.train.lengths()))
    )
    eval_tokens = float(sum(parts.val.lengths())) if eval_ds is not None else 0.0
    return BudgetCosts(
        seconds=float(plan.max_train_minutes or 0.0) * 60.0,
        clock_start=budget.clock_start,
        step_tokens=step_tokens,
        eval_tokens=eval_tokens,
        after_tokens_fp32=eval_tokens,  # the final validation pass runs in float32
        after_tokens=parts.test_tokens if budget.evaluate_after else 0.0,
        fp32_factor=2.0 if plan.precision == "bf16" else 1.0,  # until the probe measures it
        # the TF-IDF model fitted beside the transformer and the artifact; with test scoring, the report
        fixed_after=2.0 + len(parts.train) / 250.0 + (5.0 if budget.evaluate_after else 0.0),
        steps_per_epoch=steps_per_epoch,
        eval_every=plan.eval_every if eval_ds is not None else 0,
    )


def _prepare(splits: DatasetSplits, plan: TrainPlan) -> _Parts:
    from transformers import set_seed

    set_seed(plan.seed)
    model, tokenizer = build_for_training(
        plan.spec, splits.label_set, plan.method, plan.lora, plan.precision, plan.attention_dropout
    )
    if plan.spec.is_decoder:
        model.config.use_cache = False
    weights = np.asarray(plan.class_weights, dtype=np.float32) if plan.class_weights else None
    loss_fn = make_loss(plan.loss, multi_label=plan.multi_label, weights=weights, gamma=plan.focal_gamma)
    train_enc = tdata.encode(splits.train, tokenizer, plan.max_length, plan.long_text)
    val_enc = tdata.encode(splits.validation, tokenizer, plan.max_length, plan.long_text).sorted_by_length()
    # Token-budget batches are planned for one process; data parallel keeps fixed global batches.
    plan = (
        distributed.fixed_batches(plan)
        if distributed.world().distributed
        else with_batching(plan, train_enc.lengths())
    )
    plan = with_step_floor(plan, len(train_enc), lambda: _steps_per_epoch(plan, train_enc))
    logger.info(
        "model %s (%s, %s), max_length %d (%s), %d train / %d validation windows, precision %s, lr %g, %s",
        plan.spec.name,
        plan.spec.family,
        plan.method,
        plan.max_length,
        plan.long_text.mode,
        len(train_enc),
        len(val_enc),
        plan.precision,
        plan.learning_rate,
        f"batches of <= {plan.batch_tokens} tokens" if plan.batch_tokens else f"batches of {plan.batch_size}",
    )
    parts = _Parts(model, tokenizer, train_enc, val_enc, loss_fn, plan)
    if plan.max_train_minutes and len(splits.test):
        parts.test_tokens = _estimated_tokens(splits, train_enc)
    return parts


def _steps_per_epoch(plan: TrainPlan, train: tdata.Encoded) -> int:
    """Optimizer steps in one epoch of ``train``: token-budget batches counted, or rows / batch size."""
    if not plan.batch_tokens:
        return -(-len(train) // plan.batch_size)
    chunk = 50 * plan.batch_size  # as _Parts.train_dataset sorts
    batches = tdata.TokenBatches(train, plan.batch_tokens, plan.max_batch_rows, plan.seed, chunk=chunk)
    return max(1, len(batches))


def _estimated_tokens(splits: DatasetSplits, train: tdata.Encoded) -> float:
    """Tokens scoring the test split will take: its characters at the training split's tokens per
    character, as read (truncated, or in windows: the same reading applies to both)."""
    train_chars = sum(len(t) for t in splits.train.texts)
    ratio = sum(train.lengths()) / max(train_chars, 1)
    return float(sum(len(t) for t in splits.test.texts) * ratio)


def fit(
    splits: DatasetSplits,
    plan: TrainPlan | Config,
    run_dir: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
    callbacks: Sequence[Any] = (),
    snapshot: DatasetSplits | None = None,
    clock_start: float | None = None,
    evaluate_after: bool = False,
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
        clock_start: ``time.monotonic()`` when a ``train.max_train_minutes`` budget started (the
            caller's start: reading the data counts); default: now.
        evaluate_after: the caller scores the test split after ``fit``; a time budget keeps time for it.

    Example:
        >>> fit(splits, config_from_dict({"model": {"name": "minilm-l6"}}), "runs/demo")
        PosixPath('runs/demo')
    """
    run_dir = Path(run_dir)
    budget = _Budget(time.monotonic() if clock_start is None else clock_start, evaluate_after)
    plan = plan if isinstance(plan, TrainPlan) else make_plan(plan, splits)
    if run_dir.exists() and not plan.config.output.overwrite:
        raise ModelError(
            "output folder already exists",
            where=str(run_dir),
            hint="choose output.name (--name) or set output.overwrite=true",
        )
    _check_splits(splits)
    with hf_progress(progress):
        if plan.method in EMBEDDING_METHODS:
            from classifine.training.fewshot import fit_embedding

            if distributed.world().distributed:
                raise ConfigError(
                    f"model.method '{plan.method}' trains in one process ({plan.method_reason})",
                    where="train --nproc",
                    hint="drop --nproc, or set model.method=lora or full for data-parallel training",
                )
            return fit_embedding(
                splits, plan, run_dir, progress=progress, callbacks=callbacks, snapshot=snapshot,
                clock_start=budget.clock_start,
            )  # fmt: skip
        return _fit(splits, plan, run_dir, resume, progress, callbacks, snapshot, budget)


def _fit(
    splits: DatasetSplits,
    plan: TrainPlan,
    run_dir: Path,
    resume: bool,
    progress: bool,
    callbacks: Sequence[Any],
    snapshot: DatasetSplits | None,
    budget: _Budget,
) -> Path:
    from classifine.training.memory import INFERENCE_MMAP_THRESHOLD, cap_heap_growth, release_memory
    from classifine.training.precision import apply_threads

    apply_threads(plan.threads)
    cap_heap_growth()  # varying batch shapes would otherwise fragment the heap (training/memory.py)
    work = work_dir_for(run_dir)
    # Under DDP only rank 0 prepares the work folder; every rank resumes from the checkpoint it found.
    checkpoint = distributed.on_main(start_point, work, plan.config, splits, resume)
    parts = _prepare(splits, plan)
    plan = parts.plan
    budget.seconds_before = earlier = seconds_before(checkpoint)
    budget.may_fall_back = _may_fall_back(plan, checkpoint)
    trainer = _make_trainer(plan, parts, work, progress, callbacks, budget)
    distributed.log_layout(plan.batch_size, plan.learning_rate)
    setup = time.monotonic() - budget.clock_start
    started = time.perf_counter()
    with warnings.catch_warnings():
        # transformers' own Trainer calls a method it has deprecated; the warning is not the user's.
        warnings.filterwarnings("ignore", message=r".*is_gradient_checkpointing.*", category=FutureWarning)
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    seconds = earlier + time.perf_counter() - started
    cap_heap_growth(INFERENCE_MMAP_THRESHOLD)  # forward passes from here on
    if budget.planner is not None and budget.planner.given_up is not None:
        why = budget.planner.given_up
        del trainer, parts
        shutil.rmtree(work, ignore_errors=True)
        release_memory()
        return _fall_back_to_head(splits, plan, run_dir, why, progress, callbacks, snapshot, budget)
    if not distributed.world().is_main:
        return run_dir  # rank 0 alone scores the model and writes the run folder
    rows_seen = float(trainer.state.epoch or 0.0) * len(parts.train)
    tfidf = fit_tfidf_for_run(splits, plan.seed)
    summary = _finish(trainer, parts, plan, tfidf)
    summary["train"] = {
        "seconds": round(seconds, 2),
        "setup_seconds": round(setup, 2),
        "epochs": float(trainer.state.epoch or 0.0),
        "global_step": int(trainer.state.global_step),
        "samples_per_second": round(rows_seen / max(seconds, 1e-9), 2),
        "train_loss": _mean_train_loss(trainer.state.log_history),
        "threads": plan.threads,
        "resumed_from": checkpoint.name if checkpoint else None,
        **distributed.layout(plan.batch_size),
        **{k: v for k, v in plan.describe().items() if k not in ("threads",)},
    }
    if budget.planner is not None:
        summary["train"]["budget"] = _budget_summary(budget, trainer, plan)
    _write_artifact(run_dir, trainer, parts, plan, splits, summary, snapshot, tfidf)
    shutil.rmtree(work, ignore_errors=True)
    del trainer, parts
    release_memory()  # what follows (test scoring, TF-IDF) starts from a small heap
    logger.info("run written to %s", run_dir)
    return run_dir


def _may_fall_back(plan: TrainPlan, checkpoint: Path | None) -> bool:
    """``method: auto`` chose fine-tuning of a sentence encoder, in one process, from scratch."""
    return (
        plan.method_reason.startswith("auto")
        and plan.spec.family in EMBEDDING_FAMILIES
        and checkpoint is None
        and not distributed.world().distributed
    )


def _fall_back_to_head(
    splits: DatasetSplits,
    plan: TrainPlan,
    run_dir: Path,
    why: str,
    progress: bool,
    callbacks: Sequence[Any],
    snapshot: DatasetSplits | None,
    budget: _Budget,
) -> Path:
    """Train the frozen-encoder head in what is left of the budget (fine-tuning would not fit it)."""
    from classifine.training.fewshot import fit_embedding

    cfg = plan.config.model_copy(deep=True)
    cfg.model.method = "head"
    head = make_plan(cfg, splits)
    reason = f"auto: {why}; the frozen-encoder head reads every text in a fraction of that"
    logger.warning("giving fine-tuning up: %s. Training model.method=head instead", why)
    head = replace(head, method_reason=reason)
    return fit_embedding(
        splits, head, run_dir, progress=progress, callbacks=callbacks, snapshot=snapshot,
        clock_start=budget.clock_start,
    )  # fmt: skip


def _budget_summary(budget: _Budget, trainer: Any, plan: TrainPlan) -> dict[str, Any]:
    """What the time budget planned and what happened, for ``metrics.json``."""
    planner = budget.planner
    assert planner is not None
    schedule = planner.schedule
    return {
        "minutes": plan.max_train_minutes,
        "planned_steps": int(schedule.total),
        "actual_steps": int(trainer.state.global_step),
        "max_steps_for_epochs": int(planner.cap),
        "warmup_steps": int(schedule.warmup),
        "final_lr_factor": round(schedule(int(trainer.state.global_step)), 6),
        "stopped_before_schedule_end": planner.stopped_early,
        "seconds_at_training_end": round(time.monotonic() - budget.clock_start, 1),
        "reserved_after_training_s": round(planner.reserve_after(), 1),
    }


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


def fit_tfidf_for_run(splits: DatasetSplits, seed: int) -> FittedTfidf | None:
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
            model, parts.val, tdata.Collator(parts.tokenizer), plan.eval_batch_size, plan.eval_batch_tokens
        )
        targets = tdata.pooled_targets(parts.val)
        probs = tdata.pooled_probabilities(logits, parts.val, multi)
        p_tfidf = tfidf.validation_proba if tfidf is not None else None
        sel = plan.selection
        decision = decide(
            plan.hybrid,
            targets,
            probs,
            p_tfidf,
            multi_label=multi,
            metric=sel.metric,
            choose=sel.on_validation,
        )
        if decision.kept and p_tfidf is not None:
            probs = mix_probabilities(probs, p_tfidf, decision.weight)
        if multi and plan.tune_thresholds and sel.on_validation:
            thresholds = tdata.tune_thresholds(targets, probs, plan.threshold)
        best = headline_metrics(targets, probs, multi, thresholds or plan.threshold)
        window_loss = parts.loss_fn({"logits": torch.from_numpy(logits)}, torch.from_numpy(window_targets))
        best["loss"] = float(window_loss)
    history = [
        {k.removeprefix("eval_"): v for k, v in e.items() if k.startswith("eval_") or k in ("epoch", "step")}
        for e in trainer.state.log_history
        if "eval_loss" in e
    ]
    log_decision(decision)
    check = baseline_check(decision, parts.val.n_docs)
    if (warning := baseline_warning(check)) is not None:
        logger.warning("%s", warning)
    return {
        "validation": best,
        "history": history,
        "thresholds": thresholds,
        "precision": plan.precision,
        "hybrid": {"weight": decision.weight, "setting": plan.hybrid, "validation": decision.scores},
        "baseline_check": check,
        "tfidf": tfidf.model.params if tfidf is not None else None,
        "best_checkpoint": Path(trainer.state.best_model_checkpoint).name
        if trainer.state.best_model_checkpoint
        else None,
    }


def log_decision(decision: HybridDecision) -> None:
    """Log the validation scores behind the hybrid decision, and warn when TF-IDF beats the served model."""
    if decision.scores:
        logger.info(
            "validation %s: model %.4f, tf-idf %.4f, hybrid %.4f (tf-idf share %.1f): %s",
            decision.metric, decision.scores["transformer"], decision.scores["tfidf"],
            decision.scores["hybrid"], decision.scores["hybrid_weight"],
            "serving the hybrid" if decision.kept else "serving the model alone",
        )  # fmt: skip


def resolved_for_run(plan: TrainPlan, run_dir: Path, summary: dict[str, Any]) -> Config:
    """The config the run folder records: the plan's, named after the run, with the hybrid as decided."""
    resolved = plan.config.model_copy(deep=True)
    resolved.output.name = run_dir.name
    weight = float(summary["hybrid"]["weight"])
    resolved.model.hybrid = "on" if weight > 0 else "off"  # what validation decided, for a repeat run
    return resolved


def artifact_meta(
    plan: TrainPlan,
    splits: DatasetSplits,
    summary: dict[str, Any],
    resolved: Config,
    *,
    has_tfidf: bool,
    **extra: Any,
) -> ArtifactMeta:
    """``classifine.json`` of a finished run (``extra``: fields of one method, e.g. ``embedding``)."""
    return ArtifactMeta(
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
        tfidf=TFIDF_FOLDER if has_tfidf else None,
        hybrid_weight=float(summary["hybrid"]["weight"]),
        **extra,
    )


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
    resolved = resolved_for_run(plan, run_dir, summary)
    meta = artifact_meta(plan, splits, summary, resolved, has_tfidf=tfidf is not None)
    with atomic_dir(run_dir, overwrite=resolved.output.overwrite) as tmp:
        model = trainer.accelerator.unwrap_model(trainer.model, keep_fp32_wrapper=False)
        # A 4-bit base cannot be merged exactly: QLoRA keeps the adapter, applied to the full base at load.
        merge = (plan.lora is None or plan.lora.merge) and plan.method != "qlora"
        save_trained(model, parts.tokenizer, tmp / "model", meta, merge=merge)
        write_run_files(tmp, resolved, summary, trainer.state.log_history, tfidf, snapshot)


def write_run_files(
    folder: Path,
    resolved: Config,
    summary: dict[str, Any],
    log_history: list[dict[str, Any]],
    tfidf: FittedTfidf | None,
    snapshot: DatasetSplits | None,
) -> None:
    """Everything a run folder holds beside the model's weights (every training method writes these).

    The run's TF-IDF model (``model/tfidf``), in-memory data (``data/*.parquet``), the resolved
    ``config.yaml``, ``metrics.json`` and ``train_log.jsonl``, into the folder being built.

    Example:
        >>> write_run_files(tmp, resolved, summary, [], None, None)  # doctest: +SKIP
    """
    if tfidf is not None:
        tfidf.model.save(folder / "model" / TFIDF_FOLDER)
    if snapshot is not None:
        from classifine.data.catalog import write_splits

        write_splits(snapshot, folder / "data", "parquet")
    (folder / "config.yaml").write_text(resolved.to_yaml(), encoding="utf-8")
    write_json(folder / "metrics.json", summary)
    with open(folder / "train_log.jsonl", "w", encoding="utf-8") as fh:
        for entry in log_history:
            fh.write(json.dumps(entry, default=float) + "\n")
