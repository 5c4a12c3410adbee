"""Tiny random models of every supported family, with a word-level tokenizer, plus a learnable toy task.

Each builder writes a folder that looks like a hub download (config.json, safetensors, tokenizer),
so ``zoo.resolve(folder)`` and the whole training path see it like a real model.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path
from typing import Any

from classifine.data.dataset import Dataset, DatasetSplits
from classifine.data.labels import LabelSet

POSITIVE = ["good", "great", "fine", "nice", "happy", "superb"]
NEGATIVE = ["bad", "awful", "poor", "sad", "ugly", "boring"]
FILLER = ["the", "movie", "was", "a", "film", "plot", "and", "it", "really", "very", "story", "cast"]
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "</s>", "<s>"]
PAD, UNK, CLS, SEP, MASK, EOS, BOS = range(7)

FAMILIES = ("bert", "distilbert", "albert", "t5", "llama", "gemma3")


def toy_texts(n: int, seed: int) -> tuple[list[str], list[tuple[str, ...]]]:
    """``n`` short texts: a few filler words and one or two sentiment words decide the label."""
    rng = random.Random(seed)
    texts: list[str] = []
    labels: list[tuple[str, ...]] = []
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        cue = POSITIVE if label == "pos" else NEGATIVE
        words = rng.choices(FILLER, k=rng.randint(2, 9)) + rng.choices(cue, k=rng.randint(1, 2))
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append((label,))
    return texts, labels


def toy_splits(n_train: int = 96, n_eval: int = 32, seed: int = 0) -> DatasetSplits:
    """A balanced two-class sentiment toy task (labels ``neg``, ``pos``)."""
    label_set = LabelSet(("neg", "pos"))
    parts = [toy_texts(n, seed + k) for k, n in enumerate((n_train, n_eval, n_eval))]
    train, val, test = (Dataset(t, y, label_set, name="toy") for t, y in parts)
    return DatasetSplits(train, val, test)


def toy_multilabel_splits(n_train: int = 96, n_eval: int = 32, seed: int = 0) -> DatasetSplits:
    """Multi-label toy task: ``pos``/``neg`` from sentiment words, ``movie`` when the word appears."""
    label_set = LabelSet(("movie", "neg", "pos"), multi_label=True)
    out = []
    for k, n in enumerate((n_train, n_eval, n_eval)):
        texts, labels = toy_texts(n, seed + k)
        rows = [
            tuple(sorted(set(y) | ({"movie"} if "movie" in t.split() else set())))
            for t, y in zip(texts, labels, strict=True)
        ]
        out.append(Dataset(texts, rows, label_set, name="toy-ml"))
    return DatasetSplits(*out)


def _tokenizer(family: str) -> Any:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(SPECIALS + sorted(set(POSITIVE + NEGATIVE + FILLER)))}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    if family == "t5":
        tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", EOS)])
        extra: dict[str, str] = {"pad_token": "[PAD]", "eos_token": "</s>"}
    elif family in ("llama", "gemma3"):
        tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", BOS)])
        extra = {"bos_token": "<s>", "eos_token": "</s>"}  # no pad token, like real decoders
    else:
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", special_tokens=[("[CLS]", CLS), ("[SEP]", SEP)]
        )
        extra = {"pad_token": "[PAD]", "cls_token": "[CLS]", "sep_token": "[SEP]", "mask_token": "[MASK]"}
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", **extra), len(vocab)


def _model(family: str, vocab: int) -> Any:
    import transformers as tf

    small = {
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "max_position_embeddings": 64,
    }
    if family == "bert":
        return tf.BertModel(tf.BertConfig(vocab_size=vocab, hidden_size=32, **small))
    if family == "distilbert":
        cfg = tf.DistilBertConfig(
            vocab_size=vocab, dim=32, n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=64
        )
        return tf.DistilBertModel(cfg)
    if family == "albert":
        return tf.AlbertModel(tf.AlbertConfig(vocab_size=vocab, embedding_size=16, hidden_size=32, **small))
    if family == "t5":
        cfg = tf.T5Config(
            vocab_size=vocab,
            d_model=32,
            d_kv=16,
            d_ff=64,
            num_layers=2,
            num_decoder_layers=2,
            num_heads=2,
            pad_token_id=PAD,
            eos_token_id=EOS,
            decoder_start_token_id=PAD,
        )
        return tf.T5ForConditionalGeneration(cfg)
    dec = {
        "vocab_size": vocab,
        "hidden_size": 32,
        "num_key_value_heads": 1,
        "bos_token_id": BOS,
        "eos_token_id": EOS,
        "pad_token_id": None,
        **small,
    }
    if family == "llama":
        return tf.LlamaForCausalLM(tf.LlamaConfig(**dec))
    if family == "gemma3":
        cfg = tf.Gemma3TextConfig(head_dim=16, sliding_window=16, **dec)
        return tf.Gemma3ForCausalLM(cfg)
    raise ValueError(family)


def build_tiny_model(family: str, folder: Path, seed: int = 0) -> Path:
    """Write a tiny random ``family`` model with its tokenizer into ``folder``; return ``folder``."""
    import torch

    torch.manual_seed(seed)
    tokenizer, vocab = _tokenizer(family)
    model = _model(family, vocab)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def tiny_config(model: str | Path, method: str = "full", **train: Any) -> Any:
    """A Config for fast training of a tiny model (overrides go to the ``train`` section)."""
    from classifine.config import config_from_dict

    defaults: dict[str, Any] = {
        "epochs": 3,
        "batch_size": 16,
        "learning_rate": 3e-3,
        "early_stopping": None,
        "precision": "fp32",
        "warmup_ratio": 0.0,
        "threads": 1,
    }
    defaults.update(train)
    return config_from_dict(
        {
            "model": {
                "name": str(model),
                "method": method,
                "max_length": 32,
                "hybrid": "off",
                "lora": {"r": 4, "alpha": 8},
            },
            "train": defaults,
            "output": {"overwrite": True},
        }
    )


# Words of a tiny three-topic vocabulary (sport, tech, food) for hand-built runs.
WORDS = [
    "goal",
    "match",
    "team",
    "score",
    "league",
    "coach",
    "player",
    "cpu",
    "code",
    "bug",
    "chip",
    "compiler",
    "server",
    "laptop",
    "pasta",
    "bread",
    "cheese",
    "recipe",
    "oven",
    "sauce",
    "the",
    "a",
    "of",
    "and",
    "to",
    "in",
    "is",
    "it",
]


def build_tiny_run(
    run: Path,
    labels: list[str],
    *,
    multi_label: bool = False,
    thresholds: list[float] | None = None,
    clean: dict | None = None,
    precision: str = "fp32",
    seed: int = 0,
) -> Path:
    """A run folder holding a random 1-layer BERT (hidden 32), a WordLevel tokenizer and classifine.json."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    from classifine.artifact import ArtifactMeta, write_meta

    folder = run / "model"
    folder.mkdir(parents=True)
    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *WORDS])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]"
    ).save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=64,
        num_labels=len(labels),
        problem_type="multi_label_classification" if multi_label else "single_label_classification",
    )
    import torch

    torch.manual_seed(seed)
    model = BertForSequenceClassification(config)
    with torch.no_grad():
        model.classifier.weight.normal_(0.0, 1.0)  # spread the outputs so predictions differ between texts
    model.save_pretrained(folder)
    write_meta(
        folder,
        ArtifactMeta(
            labels=labels,
            problem_type="multi_label" if multi_label else "single_label",
            thresholds=thresholds,
            max_length=64,
            base_model="tiny-bert",
            base_model_source=str(folder),
            family="bert",
            method="full",
            precision=precision,
            clean=clean or {},
        ),
    )
    return run


def write_toy_csv(path: Path, n: int, seed: int = 3, rename: dict[str, str] | None = None) -> Path:
    """A ``text,label`` CSV of ``n`` toy texts (single-label; ``rename`` maps label names)."""
    texts, labels = toy_texts(n, seed=seed)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        writer.writerows([t, (rename or {}).get(y[0], y[0])] for t, y in zip(texts, labels, strict=True))
    return path
