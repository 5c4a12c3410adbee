"""Contrastive fine-tuning of a sentence encoder with sentence-transformers (the few-shot first stage).

The encoder becomes a ``SentenceTransformer`` of three modules - the Hugging Face model, mean
pooling, L2 normalisation - exactly the embedding the served
:class:`~classifine.models.embedding.EmbeddingClassifier` computes, and is trained by
``SentenceTransformerTrainer`` with one of its losses:

* ``cosine`` (default): SetFit's recipe - ``CosineSimilarityLoss`` on balanced pairs (same class 1,
  other class 0; multi-label: sharing any label is positive), as many steps as SetFit's pair count
  gives (:func:`~classifine.training.schedule.fewshot_settings`). Multi-label data always uses pairs.
* ``cosent``: the same pairs with ``CoSENTLoss`` (a ranking loss: every positive pair of a batch should
  score above every negative one). Not the default: on held-out training rows it was +0.5 / +0.3
  points at movie-reviews K = 32 / 64 but -2.8 at trec-6 K = 8 (``bench/results/fewshot_dev.jsonl``).
* ``batch_all`` (single-label): ``BatchAllTripletLoss`` over class-grouped batches
  (``BatchSamplers.GROUP_BY_LABEL``): every (anchor, positive, negative) triplet of a batch counts.

The pairs of ``cosine`` and ``cosent`` are drawn (``model.fewshot.pairs: draw``, :func:`balanced_pairs`) or
go through every pair in turn as SetFit's do (``cover``, :func:`covering_pairs`); ``auto`` (the default)
covers single-label data of three classes or more (:func:`~classifine.training.schedule.fewshot_pairs`
decides, with the plan).

Example:
    >>> encoder, tokenizer, summary = train_contrastive(splits.train, plan, work)
    >>> summary["steps"]
    200
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from classifine.data.dataset import Dataset

if TYPE_CHECKING:
    from classifine.training.plan import TrainPlan

logger = logging.getLogger(__name__)
#: The share of ``train.max_train_minutes`` the contrastive stage may use (the head and TF-IDF follow).
BUDGET_SHARE = 0.8


def sentence_encoder(source: str, max_length: int) -> Any:
    """A ``SentenceTransformer``: the HF model at ``source``, mean pooling and L2 normalisation.

    Built from modules rather than read from the folder's sentence-transformers config, so any
    plain Hugging Face encoder works, and the pooling always matches the served module's.

    Example:
        >>> sentence_encoder("~/.cache/classifine/assets/minilm-l6", 128).encode(["hi"]).shape
        (1, 384)
    """
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    transformer = Transformer(
        source, max_seq_length=max_length, model_kwargs={"dtype": torch.float32, "local_files_only": True}
    )
    pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    return SentenceTransformer(modules=[transformer, pooling, Normalize()], device="cpu")


def freeze_embeddings(model: Any) -> int:
    """Stop the embedding layer of a Hugging Face ``model`` from training; return its weight count.

    The embedding layer (``model.embeddings``: token, position and type embeddings in BERT-family
    encoders; the input embeddings otherwise) holds about half of a small encoder's weights. A few
    labelled rows touch few of its rows, and on held-out training rows keeping it as pretrained
    changed accuracy by -0.03 / +0.03 points at trec-6 K = 16 / movie-reviews K = 64 while training
    12-22 % faster (``bench/results/fewshot_dev.jsonl``, variant ``freezeemb``).

    Example:
        >>> freeze_embeddings(sentence_encoder(source, 128)[0].auto_model)
        11918592
    """
    layer = getattr(model, "embeddings", None)
    if layer is None:
        layer = model.get_input_embeddings()
    layer.requires_grad_(False)
    return sum(p.numel() for p in layer.parameters())


def balanced_pairs(
    texts: Sequence[str], y: np.ndarray, n_pairs: int, *, multi_label: bool, seed: int
) -> dict[str, list[Any]]:
    """``n_pairs`` pairs, alternately positive (same class) and negative, each text anchoring in turn.

    Each text anchors one positive and then one negative pair before the next text anchors, so every
    text is pulled towards its class and pushed from the others equally often (the trainer shuffles
    the pairs into batches). A text with no partner of its class (or of another class) anchors the
    other kind instead.

    Example:
        >>> balanced_pairs(["a", "b", "c"], np.array([0, 0, 1]), 4, multi_label=False, seed=0)["label"]
        [1.0, 0.0, 0.0, 0.0]
    """
    from classifine.training.schedule import same_class

    rng = random.Random(seed)
    n = len(texts)
    positive = same_class(y, multi_label)
    np.fill_diagonal(positive, True)  # so that a row is never its own negative
    same = [np.flatnonzero(row).tolist() for row in positive]
    other = [np.flatnonzero(~row).tolist() for row in positive]
    for i, row in enumerate(same):
        row.remove(i)
    out: dict[str, list[Any]] = {"sentence1": [], "sentence2": [], "label": []}
    order = list(range(n))
    rng.shuffle(order)
    for k in range(n_pairs):
        i = order[(k // 2) % n]
        positives, negatives = same[i], other[i]
        want_positive = (k % 2 == 0 and positives) or not negatives
        pool = positives if want_positive else negatives
        if not pool:
            continue
        out["sentence1"].append(texts[i])
        out["sentence2"].append(texts[rng.choice(pool)])
        out["label"].append(1.0 if want_positive else 0.0)
    return out


def covering_pairs(
    texts: Sequence[str], y: np.ndarray, n_pairs: int, *, multi_label: bool, seed: int
) -> dict[str, list[Any]]:
    """``n_pairs`` pairs, alternately positive and negative, that go through every pair in turn.

    SetFit's sampling: every unordered pair of texts - a text with itself included (a positive pair:
    its two sides are embedded under different dropout masks) - once, in a seeded shuffle, split into
    the two kinds; each kind is read in that order, from the start again when it runs out. So every
    negative pair is read once before any is read twice, and the positive ones (usually fewer) equally
    often. Drawing partners at random instead (:func:`balanced_pairs`) reads about a third of the
    negative pairs never and others twice or more when a run reads as many pairs as there are.

    Example:
        >>> covering_pairs(["a", "b", "c"], np.array([0, 0, 1]), 4, multi_label=False, seed=0)["label"]
        [1.0, 0.0, 1.0, 0.0]
    """
    from classifine.training.schedule import same_class

    n = len(texts)
    positive = same_class(y, multi_label)
    np.fill_diagonal(positive, True)
    first, second = np.triu_indices(n)
    order = np.random.default_rng(seed).permutation(len(first))
    first, second = first[order], second[order]
    kind = positive[first, second]
    kinds = [(first[kind], second[kind], 1.0), (first[~kind], second[~kind], 0.0)]
    kinds = [k for k in kinds if len(k[0])]  # one class: positive pairs only
    out: dict[str, list[Any]] = {"sentence1": [], "sentence2": [], "label": []}
    for k in range(n_pairs):
        left, right, label = kinds[k % len(kinds)]
        at = (k // len(kinds)) % len(left)
        out["sentence1"].append(texts[left[at]])
        out["sentence2"].append(texts[right[at]])
        out["label"].append(label)
    return out


def name_pairs(
    texts: Sequence[str], y: np.ndarray, names: int, n_pairs: int, seed: int
) -> dict[str, list[Any]]:
    """``n_pairs`` pairs anchoring the labelled texts on the label names: its own, then another class's.

    The last ``names`` texts are the class names, one per class in label order (what
    ``names_as_texts`` appends). Each labelled text in a seeded shuffle anchors, in turn, a positive
    pair with its class's name and a negative pair with the name of a class drawn from the others.
    Single-label.

    Example:
        >>> texts, y = ["fine", "dull", "negative", "positive"], np.array([1, 0, 0, 1])
        >>> name_pairs(texts, y, 2, 4, seed=0)["label"]
        [1.0, 0.0, 1.0, 0.0]
    """
    rng = random.Random(seed + 7)
    first = len(texts) - names
    anchors = list(range(first))
    rng.shuffle(anchors)
    classes = list(range(names))
    out: dict[str, list[Any]] = {"sentence1": [], "sentence2": [], "label": []}
    for k in range(n_pairs):
        i = anchors[(k // 2) % len(anchors)]
        own = int(y[i])
        partner = own if k % 2 == 0 else rng.choice([c for c in classes if c != own])
        out["sentence1"].append(texts[i])
        out["sentence2"].append(texts[first + partner])
        out["label"].append(1.0 if k % 2 == 0 else 0.0)
    return out


def _groupable(y: np.ndarray) -> bool:
    """Whether class-grouped batches can be formed: two classes with at least two texts each."""
    counts = np.bincount(np.asarray(y, dtype=np.int64))
    return int((counts >= 2).sum()) >= 2


def _dataset_and_loss(
    model: Any,
    train: Dataset,
    loss_name: str,
    steps: int,
    batch: int,
    seed: int,
    sampling: str,
    named: int = 0,
) -> tuple[Any, Any, str, int]:
    """The training data, the loss, the loss used (``batch_all`` falls back to cosine pairs) and how
    many of the pairs in the data are on the label names.

    ``named``: how many of the pairs to anchor a text on the label names (:func:`name_pairs`), which
    are then ``train``'s last rows; the sampler draws the others from every row, the names included.
    ``batch_all`` reads no pairs, so none."""
    from datasets import Dataset as HFDataset
    from sentence_transformers.sentence_transformer import losses

    y = train.y()
    if loss_name == "batch_all" and not train.multi_label and _groupable(y):
        data = HFDataset.from_dict({"sentence": list(train.texts), "label": y.tolist()})
        return data, losses.BatchAllTripletLoss(model), "batch_all", 0
    if loss_name == "batch_all":
        logger.info(
            "contrastive loss: cosine pairs (batch_all needs single-label data and two classes of 2+ texts)"
        )
    sample = covering_pairs if sampling == "cover" else balanced_pairs
    drawn = sample(train.texts, y, steps * batch - named, multi_label=train.multi_label, seed=seed)
    on_names = name_pairs(train.texts, y, len(train.label_set.names), named, seed)
    for key, values in on_names.items():
        drawn[key].extend(values)
    pairs = HFDataset.from_dict(drawn)
    if loss_name == "cosent":
        return pairs, losses.CoSENTLoss(model), "cosent", len(on_names["label"])
    return pairs, losses.CosineSimilarityLoss(model), "cosine", len(on_names["label"])


def _deadline(at: float) -> Any:
    """A callback that stops training cleanly once ``time.monotonic()`` passes ``at``."""
    from transformers import TrainerCallback

    class Deadline(TrainerCallback):  # type: ignore[misc]
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if time.monotonic() >= at:
                logger.warning("time budget: contrastive training stopped at step %d", state.global_step)
                control.should_training_stop = True

    return Deadline()


def train_contrastive(
    train: Dataset,
    plan: TrainPlan,
    work: Path,
    *,
    progress: bool = False,
    callbacks: Sequence[Any] = (),
    clock_start: float | None = None,
    model: Any = None,
    names: bool = False,
) -> tuple[Any, Any, dict[str, Any]]:
    """Fine-tune the plan's encoder contrastively on ``train``: ``(HF encoder, tokenizer, summary)``.

    ``model``: the plan's :func:`sentence_encoder`, when the caller has loaded it already. ``names``:
    ``train``'s last rows are the class names (``names_as_texts``); ``model.fewshot.name_pairs`` of the
    pairs then anchor the texts on them (:func:`name_pairs`).

    Runs ``plan.fewshot.steps`` optimizer steps (linear decay after ``plan.warmup_ratio`` warmup) at
    ``plan.learning_rate``, bf16 autocast when the plan says so; nothing is selected on validation.
    A ``train.max_train_minutes`` budget (counted from ``clock_start``, default now) stops the stage
    at :data:`BUDGET_SHARE` of it, leaving the rest for the head and the TF-IDF model.

    Example:
        >>> encoder, tokenizer, summary = train_contrastive(splits.train, plan, Path("runs/.x.work"))
    """
    import torch
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers
    from transformers import PrinterCallback

    from classifine.training.callbacks import ProgressCallback

    assert plan.fewshot is not None
    fs = plan.fewshot
    if model is None:
        model = sentence_encoder(plan.spec.source, plan.max_length)
    frozen = freeze_embeddings(model[0].auto_model) if fs.freeze_embeddings else 0
    batch = max(4, fs.batch_size + fs.batch_size % 2)  # class-grouped batches need an even size >= 4
    share = plan.config.model.fewshot.name_pairs if names and not train.multi_label else 0.0
    wanted = int(round(share * fs.steps * batch))
    data, loss, used, named = _dataset_and_loss(
        model, train, fs.loss, fs.steps, batch, plan.seed, fs.pairs, wanted
    )
    sampled = None if used == "batch_all" else fs.pairs
    if sampled == "draw" and plan.config.model.fewshot.pairs == "cover":
        logger.info(
            "contrastive pairs: drawn, not covered (%d texts give more pairs than a run reads)", len(train)
        )
    args = SentenceTransformerTrainingArguments(
        output_dir=str(work),
        max_steps=fs.steps,
        per_device_train_batch_size=batch,
        learning_rate=plan.learning_rate,
        warmup_steps=plan.warmup_ratio,  # a float below 1 is a share of the steps
        weight_decay=plan.weight_decay,
        batch_sampler=BatchSamplers.GROUP_BY_LABEL if used == "batch_all" else BatchSamplers.BATCH_SAMPLER,
        bf16=plan.precision == "bf16",
        use_cpu=not torch.cuda.is_available(),
        save_strategy="no",
        report_to=[],
        seed=plan.seed,
        data_seed=plan.seed,
        logging_steps=max(1, fs.steps // 20),
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    extra: list[Any] = [ProgressCallback("loss", show_bar=progress)]
    if plan.max_train_minutes:
        start = time.monotonic() if clock_start is None else clock_start
        extra.append(_deadline(start + BUDGET_SHARE * 60.0 * plan.max_train_minutes))
    trainer = SentenceTransformerTrainer(
        model=model, args=args, train_dataset=data, loss=loss, callbacks=[*extra, *callbacks]
    )
    trainer.remove_callback(PrinterCallback)  # ProgressCallback logs instead of printing dicts
    logger.info(
        "contrastive fine-tuning: %d steps of %d (%s, lr %g, %s%s%s)",
        fs.steps, batch, f"{used}, {sampled} pairs" if sampled else used,
        plan.learning_rate, plan.precision,
        f", {frozen:,} embedding weights frozen" if frozen else "",
        f", {named:,} pairs on the label names" if named else "",
    )  # fmt: skip
    trainer.train()
    history = [dict(e) for e in trainer.state.log_history]
    losses_seen = [float(e["loss"]) for e in history if "loss" in e]
    summary = {
        "loss": used,
        "steps": int(trainer.state.global_step),
        "batch_size": batch,
        "frozen_embedding_weights": frozen,
        "pairs": sampled,
        "name_pairs": named,
        "first_loss": losses_seen[0] if losses_seen else None,
        "last_loss": losses_seen[-1] if losses_seen else None,
        "log_history": history,
    }
    transformer = model[0]
    return transformer.auto_model, transformer.tokenizer, summary
