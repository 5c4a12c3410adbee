"""Weak labels: is a small classifier trained on LLM labels as good as the LLM, or as one trained on gold?

On one catalog dataset, with small seeded subsets, in one invocation:
(a) the LLM itself (local label scoring, few-shot) on the test texts;
(b) MiniLM trained on the LLM's labels of train+validation texts, keeping confident ones only;
(c) MiniLM trained on the gold labels of the same texts.
All three are scored on the same gold test texts.

    python bench/weak_labels.py [--dataset movie-reviews] [--llm gemma3-270m] [--min-confidence 0.7]

The LLM's scores are calibrated (``--no-calibrate`` to skip): confidence filtering of uncalibrated
scores keeps mostly the label the model is biased towards.

Writes bench/results/weak_labels.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

# classifine is imported before torch: it sets OMP_WAIT_POLICY=PASSIVE first.
from classifine.config import config_from_dict
from classifine.data.catalog import load_catalog
from classifine.data.dataset import Dataset, DatasetSplits
from classifine.llm import LLMPrediction, get_backend, label_texts, llm_leaderboard_row, make_builder

RESULTS = Path(__file__).resolve().parent / "results"


def sample(ds: Dataset, n: int, seed: int, exclude: frozenset[str] | set[str] = frozenset()) -> Dataset:
    rows = [i for i in np.random.default_rng(seed).permutation(len(ds)) if ds.texts[i] not in exclude]
    return ds.subset(sorted(int(i) for i in rows[:n]))


def weak(ds: Dataset, preds: list[LLMPrediction], min_conf: float) -> tuple[Dataset, float]:
    """The rows the LLM labelled confidently, with the LLM's labels; and those labels' accuracy."""
    keep = [i for i, p in enumerate(preds) if not p.abstained and (p.confidence or 0.0) >= min_conf]
    labels: list[tuple[str, ...]] = [(str(preds[i].label),) for i in keep]
    right = sum(labels[j] == ds.labels[i] for j, i in enumerate(keep))
    out = Dataset([ds.texts[i] for i in keep], labels, ds.label_set, name=f"{ds.name}-weak")
    return out, right / max(1, len(keep))


def train_and_score(
    splits: DatasetSplits, test: Dataset, epochs: float, seed: int, out: Path
) -> dict[str, Any]:
    from sklearn.metrics import accuracy_score, f1_score

    from classifine.inference.predictor import Classifier
    from classifine.training.fit import fit

    cfg = config_from_dict(
        {
            "model": {"name": "minilm-l6", "max_length": 64},
            # Confidence filtering skews the class balance of weak labels: weight classes (both runs).
            "train": {"epochs": epochs, "seed": seed, "class_weights": "auto"},
            "output": {"overwrite": True},
        }
    )
    start = time.perf_counter()
    run = fit(splits, cfg, out, progress=False)
    seconds = time.perf_counter() - start
    probs = Classifier.load(run).predict_proba(test.texts)  # (N, C)
    y_pred, y_true = probs.argmax(-1), test.y()
    counts = splits.train.class_counts()
    return {
        "train_class_counts": counts,
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro")),
        "train_rows": len(splits.train),
        "validation_rows": len(splits.validation),
        "train_seconds": round(seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--dataset", default="movie-reviews")
    parser.add_argument("--llm", default="gemma3-270m")
    parser.add_argument("--few-shot", type=int, default=2)
    parser.add_argument("--train-rows", type=int, default=1500)
    parser.add_argument("--validation-rows", type=int, default=200)
    parser.add_argument("--test-rows", type=int, default=300)
    parser.add_argument("--min-confidence", type=float, default=0.7)
    parser.add_argument("--epochs", type=float, default=5.0)
    parser.add_argument(
        "--no-calibrate", dest="calibrate", action="store_false", help="skip contextual calibration"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=RESULTS / "weak_labels.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import torch

    torch.set_num_threads(args.threads)
    splits = load_catalog(args.dataset, seed=args.seed)
    builder = make_builder(splits.label_set, "few-shot", train=splits.train, k=args.few_shot, seed=args.seed)
    shots = {text for text, _ in builder.pool.for_texts([""])[0]} if builder.pool else set()
    train = sample(splits.train, args.train_rows, args.seed, exclude=shots)
    val = sample(splits.validation, args.validation_rows, args.seed)
    test = sample(splits.test, args.test_rows, args.seed)

    llm = get_backend("local", model=args.llm, batch_size=8)
    test_preds = label_texts(test.texts, test.label_set, llm, builder=builder, calibrate=args.calibrate)
    llm_row = llm_leaderboard_row(args.llm, "few-shot", test_preds, test)
    weak_train, train_label_acc = weak(
        train,
        label_texts(train.texts, train.label_set, llm, builder=builder, calibrate=args.calibrate),
        args.min_confidence,
    )
    weak_val, _ = weak(
        val,
        label_texts(val.texts, val.label_set, llm, builder=builder, calibrate=args.calibrate),
        args.min_confidence,
    )

    with tempfile.TemporaryDirectory(prefix="classifine-weak-") as tmp:
        on_weak = train_and_score(
            DatasetSplits(weak_train, weak_val, test), test, args.epochs, args.seed, Path(tmp) / "weak"
        )
        on_gold = train_and_score(
            DatasetSplits(train, val, test), test, args.epochs, args.seed, Path(tmp) / "gold"
        )

    result = {
        "dataset": args.dataset,
        "llm": args.llm,
        "few_shot_k": args.few_shot,
        "min_confidence": args.min_confidence,
        "calibrate": args.calibrate,
        "test_rows": len(test),
        "llm_on_test": {k: llm_row[k] for k in ("accuracy", "macro_f1", "abstention_rate")},
        "weak_label_coverage": round(len(weak_train) / len(train), 4),
        "weak_label_accuracy": round(train_label_acc, 4),
        "minilm_on_llm_labels": on_weak,
        "minilm_on_gold_labels": on_gold,
        "seed": args.seed,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{args.dataset}: {len(test)} gold test texts; LLM {args.llm} {args.few_shot}-shot")
    print(f"weak labels kept: {len(weak_train)}/{len(train)} train rows, {train_label_acc:.3f} of them right")
    print(f"{'model':<32}{'accuracy':>10}{'macro-F1':>10}")
    for name, row in (
        (f"(a) {args.llm} few-shot", llm_row),
        ("(b) MiniLM on LLM labels", on_weak),
        ("(c) MiniLM on gold labels", on_gold),
    ):
        print(f"{name:<32}{row['accuracy']:>10.3f}{row['macro_f1']:>10.3f}")
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
