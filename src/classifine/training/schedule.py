"""Decisions that depend on how much labelled data there is: the method, the steps, what validation may pick.

* ``model.method: auto`` picks ``fewshot`` (contrastive fine-tuning of the sentence encoder and a
  logistic-regression head) when the median class has at most ``model.fewshot.max_per_class``
  labelled training rows and the model is an encoder; otherwise ``lora``.
* Small data counts optimizer steps, not epochs: ``epochs x steps per epoch`` is raised to a floor
  of :data:`MIN_STEPS`, with warmup over the first :data:`SMALL_WARMUP` of them (48 rows at batch 16
  are 9 steps in 3 epochs: too few for the loss to move).
* ``train.selection: auto`` lets the validation split pick the best checkpoint, stop early, tune
  thresholds and choose the hybrid only when it holds at least :data:`MIN_SELECTION_TEXTS` texts;
  a smaller one is scored and reported, never used to choose (a fixed schedule).

Example:
    >>> choose_method(cfg, spec, splits)
    ('fewshot', 'auto: 8 labelled rows per class (median) <= 64 and an encoder model')
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from classifine.config import Config
from classifine.data.dataset import Dataset, DatasetSplits
from classifine.errors import ConfigError
from classifine.models.zoo import ModelSpec

#: Families whose base model gives token vectors to mean-pool into sentence embeddings.
EMBEDDING_FAMILIES = frozenset(
    {"bert", "distilbert", "albert", "mpnet", "roberta", "xlm-roberta", "electra", "deberta-v2"}
)
EMBEDDING_METHODS = ("fewshot", "head")
#: Under a time budget, ``method: auto`` fine-tunes only if the budget covers this many epochs;
#: otherwise it trains the frozen-encoder head, which reads every training text in a fraction of
#: an epoch's time (docs/training.md).
FINE_TUNE_MIN_EPOCHS = 1.0
#: Validation splits smaller than this are reported on, never used to choose.
MIN_SELECTION_TEXTS = 100
#: The floor on optimizer steps of a small fine-tuning run, and the warmup share of such a run.
MIN_STEPS = 100
SMALL_WARMUP = 0.1
#: The logistic-regression head's inverse L2 strength after contrastive training (see docs/training.md).
FEWSHOT_HEAD_C = 10.0
#: Candidates for ``head_c: auto`` on frozen embeddings (chosen by cross-validation on the training rows).
HEAD_C_GRID = (0.1, 1.0, 10.0, 100.0)


@dataclass(frozen=True)
class FewshotSettings:
    """The resolved few-shot recipe: contrastive loss and steps (0 for ``head``), head regularisation."""

    loss: str  # batch_all | cosine | cosent | none (method head)
    steps: int
    batch_size: int
    head_c: float | None  # None: cross-validated on the training rows (method head)
    rows: str  # what the encoder trains on: train, or all (train + validation)
    freeze_embeddings: bool  # the encoder's embedding layer stays as pretrained (contrastive training)
    pairs: str  # cover | draw: how contrastive pairs are sampled (fewshot_pairs)

    def describe(self) -> dict[str, object]:
        return {"loss": self.loss, "steps": self.steps, "batch_size": self.batch_size, "head_c": self.head_c,
                "rows": self.rows, "freeze_embeddings": self.freeze_embeddings,
                "pairs": self.pairs}  # fmt: skip


def rows_per_class(ds: Dataset) -> float:
    """The median number of training rows per class (multi-label: rows carrying each label).

    Example:
        >>> rows_per_class(k_per_class(train, 8))
        8.0
    """
    counts = [c for c in ds.class_counts().values() if c > 0]
    return float(np.median(counts)) if counts else 0.0


def choose_method(cfg: Config, spec: ModelSpec, splits: DatasetSplits) -> tuple[str, str]:
    """The training method and why: the config's, or (``auto``) by labelled rows per class.

    Example:
        >>> choose_method(config_from_dict({"model": {"method": "lora"}}), spec, splits)
        ('lora', 'set in the config')
    """
    wanted = cfg.model.method
    encoder = spec.family in EMBEDDING_FAMILIES
    if wanted in EMBEDDING_METHODS and not encoder:
        raise ConfigError(
            f"model.method={wanted} needs an encoder model (BERT, MPNet, RoBERTa, ...), "
            f"not the {spec.family} family of '{spec.name}'",
            hint="use model.method=lora for decoders and T5",
        )
    if wanted != "auto":
        return wanted, "set in the config"
    per_class = rows_per_class(splits.train)
    limit = cfg.model.fewshot.max_per_class
    if encoder and per_class <= limit:
        return (
            "fewshot",
            f"auto: {per_class:g} labelled rows per class (median) <= {limit} and an encoder model",
        )
    if not encoder:
        return "lora", f"auto: the {spec.family} family is not a sentence encoder"
    return "lora", f"auto: {per_class:g} labelled rows per class (median) > {limit}"


def same_class(y: np.ndarray, multi_label: bool) -> np.ndarray:
    """``(n, n)`` booleans: rows ``i`` and ``j`` (``i != j``) form a positive pair.

    Single-label: the same class; multi-label (``y`` multi-hot): at least one shared label.

    Example:
        >>> same_class(np.array([0, 0, 1]), False).sum()  # (0, 1) and (1, 0)
        2
    """
    if multi_label:
        multi_hot = np.asarray(y, dtype=np.float64)
        same = (multi_hot @ multi_hot.T) > 0
    else:
        labels = np.asarray(y, dtype=np.int64)
        same = labels[:, None] == labels[None, :]
    np.fill_diagonal(same, False)
    return same


def pair_counts(train: Dataset) -> tuple[int, int]:
    """``(positive, negative)``: unordered pairs of training rows (see :func:`same_class`).

    Example:
        >>> pair_counts(k_per_class(train, 8))  # 6 classes of 8 rows
        (168, 960)
    """
    n = len(train)
    if (
        train.multi_label
    ):  # counted by label set, not over an n x n matrix (a large LoRA run resolves this too)
        groups = list(Counter(frozenset(row) for row in train.labels).items())
        positive = sum(c * (c - 1) // 2 for labels, c in groups if labels)
        positive += sum(ca * cb for i, (a, ca) in enumerate(groups) for b, cb in groups[i + 1 :] if a & b)
    else:
        counts = np.bincount(train.y()).astype(np.int64)
        positive = int((counts * (counts - 1) // 2).sum())
    return positive, n * (n - 1) // 2 - positive


#: ``model.fewshot.pairs: auto`` covers single-label data of this many classes or more; it draws otherwise.
AUTO_COVER_MIN_CLASSES = 3
#: Above this many pairs of texts (about 2,800 texts) ``cover`` draws instead: a run then reads far fewer
#: pairs than there are, so random draws repeat hardly any, and listing every pair would cost memory.
MAX_COVERED_PAIRS = 4_000_000


def fewshot_pairs(wanted: str, train: Dataset) -> str:
    """The contrastive pair sampling that training on ``train`` uses (``cover`` or ``draw``).

    ``auto`` covers single-label data of :data:`AUTO_COVER_MIN_CLASSES` classes or more and draws
    otherwise: on held-out training rows covering gained with 6, 20 and 50 classes and lost with two
    (docs/training.md); multi-label data was not measured, so it draws. ``cover`` draws above
    :data:`MAX_COVERED_PAIRS` pairs.

    Example:
        >>> fewshot_pairs("auto", k_per_class(trec6, 8)), fewshot_pairs("auto", k_per_class(reviews, 8))
        ('cover', 'draw')
    """
    if wanted == "auto":
        classes = int((np.bincount(train.y()) > 0).sum()) if not train.multi_label else 0
        wanted = "cover" if classes >= AUTO_COVER_MIN_CLASSES else "draw"
    n = len(train)
    return "draw" if wanted == "cover" and n * (n + 1) // 2 > MAX_COVERED_PAIRS else wanted


def encoder_rows(cfg: Config, method: str, splits: DatasetSplits, on_validation: bool) -> str:
    """What contrastive training reads: ``train``, or ``all`` (train + validation).

    ``model.fewshot.encoder_rows: auto`` trains on every labelled row when the validation split is
    too small to choose on (fewer than :data:`MIN_SELECTION_TEXTS` texts, nothing selected on it):
    held out, such a split only reports a noisy score, and a tenth of a few labels is a tenth of the
    pairs; the check against TF-IDF is then cross-validated on all the rows instead.

    Example:
        >>> encoder_rows(cfg, "fewshot", k_per_class_splits, on_validation=False)
        'all'
    """
    wanted = cfg.model.fewshot.encoder_rows
    n_val = len(splits.validation)
    if method != "fewshot" or n_val == 0:
        return "train"
    if wanted != "auto":
        return wanted
    return "all" if not on_validation and n_val < MIN_SELECTION_TEXTS else "train"


def fewshot_settings(cfg: Config, method: str, train: Dataset, rows: str = "train") -> FewshotSettings | None:
    """The contrastive schedule in optimizer steps, kept within ``[min_steps, max_steps]``.

    ``passes: auto`` counts SetFit's pairs: the larger of the positive and negative pair counts,
    twice (the smaller kind is sampled again to match), one step per ``batch_size`` pairs; the
    pairs a few rows give grow with the square of their number, and so does what the encoder can
    learn from them. A number of ``passes`` is that many passes over the rows instead.

    Example:
        >>> fewshot_settings(cfg, "fewshot", k_per_class(train, 8)).steps  # 2 x 960 pairs / 16
        200
    """
    if method not in EMBEDDING_METHODS:
        return None
    fs = cfg.model.fewshot
    batch = cfg.train.batch_size
    c = None if fs.head_c == "auto" else float(fs.head_c)
    pairs = fewshot_pairs(fs.pairs, train)
    if method == "head":
        return FewshotSettings("none", 0, batch, c, rows, fs.freeze_embeddings, pairs)
    if cfg.train.max_steps:
        steps = cfg.train.max_steps
    else:
        if fs.passes == "auto":
            steps = math.ceil(2 * max(pair_counts(train)) / batch)
        else:
            steps = math.ceil(fs.passes * len(train) / batch)
        steps = min(max(steps, fs.min_steps), fs.max_steps)
    head_c = FEWSHOT_HEAD_C if c is None else c
    return FewshotSettings(fs.loss, int(steps), batch, head_c, rows, fs.freeze_embeddings, pairs)


def select_on_validation(cfg: Config, splits: DatasetSplits) -> tuple[bool, str]:
    """Whether validation may choose checkpoints, thresholds and the hybrid, and why.

    Example:
        >>> select_on_validation(cfg, splits)
        (False, 'fixed schedule: 5 validation texts (< 100) are reported on, not used to choose')
    """
    wanted = cfg.train.selection
    n = len(splits.validation)
    if n == 0:
        return False, "fixed schedule: no validation split"
    if wanted == "validation":
        return True, f"validation ({n} texts; set in the config)"
    if wanted == "fixed":
        return False, f"fixed schedule (set in the config); {n} validation texts reported on"
    if n < MIN_SELECTION_TEXTS:
        limit = MIN_SELECTION_TEXTS
        return False, f"fixed schedule: {n} validation texts (< {limit}) are reported on, not used to choose"
    return True, f"validation ({n} texts)"


def small_data_steps(
    cfg: Config, n_train_windows: int, steps_per_epoch: int | None = None
) -> tuple[int | None, float, str]:
    """``(max_steps, warmup_ratio, note)`` of a fine-tuning run: a floor of :data:`MIN_STEPS` steps.

    ``train.max_steps`` or ``train.epochs`` set in the config wins; otherwise a run whose epochs
    give fewer than :data:`MIN_STEPS` optimizer steps trains :data:`MIN_STEPS` with a longer warmup.
    ``steps_per_epoch``: the real count once batches are known (default: windows / batch size).

    Example:
        >>> small_data_steps(cfg, 48)
        (100, 0.1, '3 epochs of 48 rows are 9 steps: raised to 100 steps (small data)')
    """
    t = cfg.train
    if t.max_steps:
        return t.max_steps, t.warmup_ratio, f"{t.max_steps} steps (set in the config)"
    if "epochs" in t.model_fields_set:  # asked for in so many words: no floor
        return None, t.warmup_ratio, f"{t.epochs:g} epochs (set in the config)"
    per_epoch = steps_per_epoch or math.ceil(n_train_windows / t.batch_size)
    planned = math.ceil(t.epochs * per_epoch)
    if planned >= MIN_STEPS:
        return None, t.warmup_ratio, f"{t.epochs:g} epochs ({planned} steps)"
    note = f"{t.epochs:g} epochs of {n_train_windows} rows are {planned} steps: raised to {MIN_STEPS}"
    return MIN_STEPS, max(t.warmup_ratio, SMALL_WARMUP), note
