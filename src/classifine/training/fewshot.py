"""Train an embedding classifier (``model.method: fewshot`` or ``head``) and write an ordinary Artifact.

``fewshot``: the sentence encoder is fine-tuned contrastively (:mod:`classifine.training.contrastive`)
for a fixed number of steps, then a logistic-regression head is fit on its embeddings
(:mod:`classifine.training.head`). ``head``: the same head on the frozen encoder - the cheapest
method. Both give a :class:`~classifine.models.embedding.EmbeddingClassifier` that every engine,
the exporter and the server load like any run.

The validation split: the model and the run's TF-IDF model are scored on it (the report shows both,
and a model worse than TF-IDF is warned about); it chooses the hybrid and multi-label thresholds
only when it is large enough (``TrainPlan.selection``). The head is then refit on train +
validation with the same settings, as the TF-IDF model is, so no labelled row is left unused.
A validation split too small to choose on is trained on instead (``model.fewshot.encoder_rows``):
the encoder and the head read every labelled row, and the check against TF-IDF is cross-validated
on all of them (the frozen encoder's head against TF-IDF, on the same folds).

Example:
    >>> fit_embedding(splits, make_plan(config_from_dict({"model": {"method": "fewshot"}}), splits), "runs/x")
    PosixPath('runs/x')
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from classifine.artifact import atomic_dir, write_meta
from classifine.data.dataset import Dataset, DatasetSplits
from classifine.evaluation.baseline_check import describe_cross_validated
from classifine.evaluation.metrics import headline_metrics
from classifine.models.embedding import HEAD_FILE, POOLING, EmbeddingClassifier, save_embedding_classifier
from classifine.models.tfidf import FittedTfidf, mix_probabilities
from classifine.training import data as tdata
from classifine.training.fit import (
    artifact_meta,
    fit_tfidf_for_run,
    log_decision,
    resolved_for_run,
    write_run_files,
)
from classifine.training.head import cross_validated_c, cv_folds, embed_texts, fit_head, head_probabilities
from classifine.training.hybrid import (
    FIXED_WEIGHT,
    baseline_check,
    baseline_warning,
    cross_validated_check,
    decide,
)
from classifine.training.names_as_texts import NamesAsTexts, decide_names_as_texts
from classifine.training.plan import TrainPlan, encoder_train
from classifine.training.runs import work_dir_for
from classifine.training.schedule import HEAD_C_GRID

logger = logging.getLogger(__name__)

NO_NAMES_AS_TEXTS = NamesAsTexts("false", False, None, "only fewshot trains on label names")


class _Embedded:
    """Window embeddings of one split (W, D), the text of each window, and the split's targets."""

    def __init__(self, model: Any, tokenizer: Any, ds: Dataset, plan: TrainPlan) -> None:
        self.x, self.doc = embed_texts(
            model, tokenizer, ds.texts, plan.max_length, plan.long_text,
            batch_size=plan.eval_batch_size, bf16=plan.precision == "bf16",
        )  # fmt: skip
        self.y = ds.y()
        self.n = len(ds)

    def window_targets(self) -> np.ndarray:
        return self.y[self.doc]


def _encoder(
    rows: Dataset,
    plan: TrainPlan,
    work: Path,
    progress: bool,
    callbacks: Sequence[Any],
    clock_start: float | None,
    base: Any,
    names: bool,
) -> tuple[Any, Any, dict[str, Any]]:
    """The encoder to fit the head on, its tokenizer and what training did. ``base``: the plan's
    sentence encoder when it is already loaded; ``names``: ``rows`` end with the class names."""
    if plan.method == "head":
        from classifine.models.build import load_encoder, load_tokenizer

        encoder, tokenizer = load_encoder(plan.spec.source), load_tokenizer(plan.spec.source, False)
        return encoder, tokenizer, {"loss": "none (frozen encoder)", "steps": 0, "log_history": []}
    from classifine.training.contrastive import train_contrastive

    return train_contrastive(
        rows, plan, work, progress=progress, callbacks=callbacks, clock_start=clock_start, model=base,
        names=names,
    )  # fmt: skip


def _blank(encoder: Any, plan: TrainPlan) -> EmbeddingClassifier:
    """``encoder`` as an :class:`EmbeddingClassifier` whose head is not fit yet (zeros)."""
    n = len(plan.labels)
    weights = np.zeros((n, encoder.config.hidden_size))
    return EmbeddingClassifier(encoder, weights, np.zeros(n), labels=plan.labels)


def _cross_validated_check(
    rows: Dataset, plan: TrainPlan, encoder: EmbeddingClassifier, tokenizer: Any
) -> dict[str, Any] | None:
    """The baseline check of an encoder that trains on every labelled row: cross-validated on them.

    The frozen encoder's head (``encoder``, the pretrained model the few-shot model starts from) and
    the TF-IDF model are each scored out-of-fold on the same stratified folds, at their best ``C``.
    None when a class has a single row (no folds).
    """
    from classifine.models.tfidf import C_GRID, out_of_fold_proba

    y = rows.y()
    folds = cv_folds(y, plan.multi_label, plan.seed)
    if folds is None:
        logger.info("baseline check: no cross-validation (a class has a single labelled row)")
        return None
    metric = plan.selection.metric if plan.selection.metric != "loss" else "macro_f1"
    embedded = _Embedded(encoder, tokenizer, rows, plan)
    _, head_scores = cross_validated_c(
        embedded.x, embedded.doc, embedded.y,
        multi_label=plan.multi_label, grid=HEAD_C_GRID, metric=metric, seed=plan.seed, log=False,
    )  # fmt: skip
    tfidf_scores = [
        headline_metrics(y, out_of_fold_proba(rows, folds, c, plan.seed), plan.multi_label, 0.5)[metric]
        for c in C_GRID
    ]
    check = cross_validated_check(metric, max(head_scores.values()), max(tfidf_scores), len(rows), len(folds))
    logger.info("%s", describe_cross_validated(check))
    return check


def _head_c(plan: TrainPlan, train: _Embedded) -> tuple[float, dict[str, float]]:
    assert plan.fewshot is not None
    if plan.fewshot.head_c is not None:
        return plan.fewshot.head_c, {}
    metric = plan.selection.metric if plan.selection.metric != "loss" else "macro_f1"
    return cross_validated_c(
        train.x,
        train.doc,
        train.y,
        multi_label=plan.multi_label,
        grid=HEAD_C_GRID,
        metric=metric,
        seed=plan.seed,
    )


def _validate(
    plan: TrainPlan, val: _Embedded | None, head: tuple[np.ndarray, np.ndarray], tfidf: FittedTfidf | None
) -> dict[str, Any]:
    """Validation scores of the served model beside TF-IDF; the hybrid decision and thresholds.

    ``val``: the embedded validation split; None when there is none held out (empty, or the encoder
    trained on it)."""
    multi = plan.multi_label
    thresholds: list[float] | None = [plan.threshold] * len(plan.labels) if multi else None
    if val is None:  # nothing to choose on: "on" serves the fixed share, as with a small split
        weight = FIXED_WEIGHT if plan.hybrid == "on" and tfidf is not None else 0.0
        hybrid = {"weight": weight, "setting": plan.hybrid, "validation": {}}
        return {"validation": {}, "thresholds": thresholds, "hybrid": hybrid, "baseline_check": None}
    probs = head_probabilities(val.x, val.doc, val.n, *head, multi)
    p_tfidf = tfidf.validation_proba if tfidf is not None else None
    sel = plan.selection
    decision = decide(
        plan.hybrid, val.y, probs, p_tfidf, multi_label=multi, metric=sel.metric, choose=sel.on_validation
    )
    if decision.kept and p_tfidf is not None:
        probs = mix_probabilities(probs, p_tfidf, decision.weight)
    if multi and plan.tune_thresholds and sel.on_validation:
        thresholds = tdata.tune_thresholds(val.y, probs, plan.threshold)
    log_decision(decision)
    check = baseline_check(decision, val.n)
    if (warning := baseline_warning(check)) is not None:
        logger.warning("%s", warning)
    return {
        "validation": headline_metrics(val.y, probs, multi, thresholds or plan.threshold),
        "thresholds": thresholds,
        "hybrid": {"weight": decision.weight, "setting": plan.hybrid, "validation": decision.scores},
        "baseline_check": check,
    }


def fit_embedding(
    splits: DatasetSplits,
    plan: TrainPlan,
    run_dir: str | Path,
    *,
    progress: bool = True,
    callbacks: Sequence[Any] = (),
    snapshot: DatasetSplits | None = None,
    clock_start: float | None = None,
) -> Path:
    """Train a ``fewshot`` or ``head`` model on ``splits.train`` and write the Artifact to ``run_dir``.

    ``clock_start``: ``time.monotonic()`` when a ``train.max_train_minutes`` budget started.

    Example:
        >>> fit_embedding(splits, plan, "runs/trec-6-k8")
        PosixPath('runs/trec-6-k8')
    """
    from transformers import set_seed

    from classifine.training.memory import INFERENCE_MMAP_THRESHOLD, cap_heap_growth, release_memory
    from classifine.training.precision import apply_threads

    assert plan.fewshot is not None, "fit_embedding needs a fewshot or head plan"
    run_dir = Path(run_dir)
    apply_threads(plan.threads)
    set_seed(plan.seed)
    work = work_dir_for(run_dir)
    pooled = plan.fewshot.rows == "all"  # the encoder trains on every labelled row (schedule.encoder_rows)
    rows = encoder_train(splits, plan.fewshot.rows)
    base, frozen_check, names_as_texts = None, None, NO_NAMES_AS_TEXTS
    if plan.method == "fewshot":  # the base model is loaded once: for the check, the label names, training
        from classifine.models.build import load_tokenizer
        from classifine.training.contrastive import sentence_encoder

        base = sentence_encoder(plan.spec.source, plan.max_length)
        start, base_tokenizer = _blank(base[0].auto_model, plan), load_tokenizer(plan.spec.source, False)
        if pooled:
            frozen_check = _cross_validated_check(rows, plan, start, base_tokenizer)
        setting = plan.config.model.fewshot.names_as_texts
        names_as_texts = decide_names_as_texts(setting, rows, start, base_tokenizer, plan)
        rows = names_as_texts.added_to(rows)  # the encoder and the head read them; TF-IDF does not
    started = time.perf_counter()
    try:
        encoder, tokenizer, contrastive = _encoder(
            rows, plan, work, progress, callbacks, clock_start, base, names_as_texts.used
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    encoder_seconds = time.perf_counter() - started
    model = _blank(encoder, plan)
    cap_heap_growth(INFERENCE_MMAP_THRESHOLD)  # forward passes only from here on
    train = _Embedded(model, tokenizer, rows, plan)
    held_out = not pooled and len(splits.validation) > 0
    val = _Embedded(model, tokenizer, splits.validation, plan) if held_out else None
    release_memory()  # the windows' token lists are gone; TF-IDF's vocabulary comes next
    c, cv_scores = _head_c(plan, train)
    n_labels = len(plan.labels)
    head = fit_head(train.x, train.window_targets(), multi_label=plan.multi_label, n_labels=n_labels, c=c,
                    seed=plan.seed)  # fmt: skip
    tfidf = fit_tfidf_for_run(splits, plan.seed)
    release_memory()
    summary = _validate(plan, val, head, tfidf)
    if pooled:
        summary["baseline_check"] = frozen_check
        if (warning := baseline_warning(frozen_check)) is not None:
            logger.warning("%s", warning)
    elif val is not None:  # the served head sees every labelled row, as the served TF-IDF model does
        x = np.concatenate([train.x, val.x])
        y = np.concatenate([train.window_targets(), val.window_targets()])
        head = fit_head(x, y, multi_label=plan.multi_label, n_labels=n_labels, c=c, seed=plan.seed)
    model.set_head(*head)
    summary |= _training_summary(plan, contrastive, c, cv_scores, encoder_seconds, started,
                                 pooled or held_out)  # fmt: skip
    summary["fewshot"]["names_as_texts"] = names_as_texts.describe()
    summary["tfidf"] = tfidf.model.params if tfidf is not None else None
    _write(run_dir, model, tokenizer, plan, splits, summary, snapshot, tfidf, contrastive["log_history"])
    del model, train, val, encoder
    release_memory()  # what follows (test scoring) starts from a small heap
    logger.info("run written to %s", run_dir)
    return run_dir


def _training_summary(
    plan: TrainPlan,
    contrastive: dict[str, Any],
    c: float,
    cv_scores: dict[str, float],
    encoder_seconds: float,
    started: float,
    refit: bool,
) -> dict[str, Any]:
    steps = int(contrastive["steps"])
    pooled = plan.fewshot is not None and plan.fewshot.rows == "all"
    return {
        "history": [],
        "precision": plan.precision,
        "best_checkpoint": None,
        "fewshot": {
            "method": plan.method,
            "method_reason": plan.method_reason,
            "selection": plan.selection.reason,
            "contrastive_loss": contrastive["loss"],
            "contrastive_steps": steps,
            "contrastive_pairs": contrastive.get("pairs"),
            "contrastive_name_pairs": contrastive.get("name_pairs", 0),
            "contrastive_seconds": round(encoder_seconds, 2),
            "frozen_embedding_weights": contrastive.get("frozen_embedding_weights", 0),
            "first_loss": contrastive.get("first_loss"),
            "last_loss": contrastive.get("last_loss"),
            "head": "logistic regression on L2-normalised mean-pooled embeddings",
            "head_c": c,
            "head_c_cross_validation": cv_scores or None,
            "head_fit_on": "train+validation" if refit else "train",
            "encoder_trained_on": "train+validation" if pooled else "train",
        },
        "train": {
            "seconds": round(time.perf_counter() - started, 2),
            "epochs": 0.0,
            "global_step": steps,
            "train_loss": contrastive.get("last_loss"),
            "threads": plan.threads,
            "resumed_from": None,
            **{k: v for k, v in plan.describe().items() if k != "threads"},
        },
    }


def _write(
    run_dir: Path,
    model: EmbeddingClassifier,
    tokenizer: Any,
    plan: TrainPlan,
    splits: DatasetSplits,
    summary: dict[str, Any],
    snapshot: DatasetSplits | None,
    tfidf: FittedTfidf | None,
    log_history: list[dict[str, Any]],
) -> None:
    resolved = resolved_for_run(plan, run_dir, summary)
    resolved.model.fewshot.head_c = float(summary["fewshot"]["head_c"])
    resolved.model.fewshot.names_as_texts = bool(summary["fewshot"]["names_as_texts"]["used"])  # as decided
    embedding = {
        "pooling": POOLING,
        "normalize": True,
        "head": HEAD_FILE,
        "head_kind": "logistic_regression",
        "head_c": summary["fewshot"]["head_c"],
        "contrastive_loss": summary["fewshot"]["contrastive_loss"],
        "contrastive_steps": summary["fewshot"]["contrastive_steps"],
    }
    meta = artifact_meta(plan, splits, summary, resolved, has_tfidf=tfidf is not None, embedding=embedding)
    with atomic_dir(run_dir, overwrite=resolved.output.overwrite) as tmp:
        save_embedding_classifier(model, tokenizer, tmp / "model")
        write_meta(tmp / "model", meta)
        write_run_files(tmp, resolved, summary, log_history, tfidf, snapshot)
