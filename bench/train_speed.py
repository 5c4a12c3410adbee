"""Training speed: classifine's default training against a plain notebook-style ``transformers.Trainer``.

Same model (packaged MiniLM-L6), same data (an SMS-spam subset), same epochs and seed, one process:

  (a) classifine ``fit`` with the default config: LoRA, dynamic padding, length-grouped batches,
      bf16 autocast where the CPU supports it;
  (b) the baseline it replaces: full fine-tuning in fp32, every text padded to ``max_length``,
      random batches, evaluation each epoch.

Train samples/s = rows * epochs / wall time of ``trainer.train()`` (model loading excluded; both
include their per-epoch validation). Accuracy is measured on the test split.

Run: python bench/train_speed.py [--rows 1500 --epochs 2]
Writes bench/results/train_speed.json and prints a table.
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

import classifine  # noqa: F401  (sets OMP_WAIT_POLICY before torch is imported)

RESULTS = Path(__file__).resolve().parent / "results" / "train_speed.json"


def _subset(splits: Any, rows: int, val_rows: int, seed: int) -> Any:
    from classifine.data.dataset import DatasetSplits

    rng = np.random.default_rng(seed)
    train = splits.train.subset(rng.choice(len(splits.train), min(rows, len(splits.train)), replace=False))
    val = splits.validation.subset(
        rng.choice(len(splits.validation), min(val_rows, len(splits.validation)), replace=False)
    )
    return DatasetSplits(train, val, splits.test)


def _accuracy(
    model: Any, tokenizer: Any, texts: list[str], y: np.ndarray, max_length: int, pad: bool
) -> float:
    import torch

    model.eval()
    preds = []
    with torch.no_grad():
        for i in range(0, len(texts), 64):
            enc = tokenizer(
                texts[i : i + 64],
                truncation=True,
                max_length=max_length,
                padding="max_length" if pad else True,
                return_tensors="pt",
            )
            preds.append(model(**enc).logits.argmax(-1).numpy())  # (B,)
    return float((np.concatenate(preds) == y).mean())


def run_classifine(splits: Any, epochs: int, seed: int, out: Path) -> dict[str, float]:
    """Default config (only epochs and seed set); times trainer.train() via the run's metrics."""
    from classifine.config import config_from_dict
    from classifine.models.build import load_trained
    from classifine.training.fit import fit

    cfg = config_from_dict({"model": {"name": "minilm-l6"}, "train": {"epochs": epochs, "seed": seed}})
    run = fit(splits, cfg, out / "classifine", progress=False)
    metrics = json.loads((run / "metrics.json").read_text())
    seconds = metrics["train"]["seconds"]
    model, tokenizer, meta = load_trained(run)
    acc = _accuracy(model, tokenizer, splits.test.texts, splits.test.y(), meta.max_length, pad=False)
    return {
        "seconds": seconds,
        "accuracy": acc,
        "max_length": meta.max_length,
        "precision": meta.precision,
        "method": meta.method,
    }


def run_baseline(splits: Any, epochs: int, seed: int, max_length: int, out: Path) -> dict[str, float]:
    """A hand-written notebook: full fine-tune, fp32, pad everything to max_length, plain Trainer."""
    import datasets
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    from classifine import assets

    source = str(assets.fetch("minilm-l6"))
    set_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=len(splits.label_set))

    def to_hf(ds: Any) -> Any:
        enc = tokenizer(ds.texts, truncation=True, max_length=max_length, padding="max_length")
        return datasets.Dataset.from_dict({**enc, "labels": ds.y().tolist()})

    def compute_metrics(pred: Any) -> dict[str, float]:
        return {"accuracy": float((pred.predictions.argmax(-1) == pred.label_ids).mean())}

    args = TrainingArguments(
        output_dir=str(out / "baseline"),
        num_train_epochs=epochs,
        per_device_train_batch_size=16,
        per_device_eval_batch_size=64,
        learning_rate=2e-5,
        weight_decay=0.01,
        eval_strategy="epoch",
        save_strategy="no",
        seed=seed,
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
        logging_strategy="epoch",
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=to_hf(splits.train),
        eval_dataset=to_hf(splits.validation),
        compute_metrics=compute_metrics,
    )
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    acc = _accuracy(model, tokenizer, splits.test.texts, splits.test.y(), max_length, pad=True)
    return {"seconds": seconds, "accuracy": acc}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1500, help="training rows (sms-spam subset)")
    parser.add_argument("--val-rows", type=int, default=300, help="validation rows")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path, default=RESULTS)
    a = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    import torch

    from classifine.data.catalog import load_catalog
    from classifine.training.precision import cpu_name

    torch.set_num_threads(a.threads)
    splits = _subset(load_catalog("sms-spam", seed=a.seed), a.rows, a.val_rows, a.seed)
    n = len(splits.train)
    with tempfile.TemporaryDirectory(prefix="classifine-bench-") as tmp:
        ours = run_classifine(splits, a.epochs, a.seed, Path(tmp))
        base = run_baseline(splits, a.epochs, a.seed, int(ours["max_length"]), Path(tmp))
    sps_ours = n * a.epochs / ours["seconds"]
    sps_base = n * a.epochs / base["seconds"]
    result = {
        "samples_per_s_classifine": round(sps_ours, 2),
        "samples_per_s_baseline": round(sps_base, 2),
        "speedup": round(sps_ours / sps_base, 2),
        "accuracy_classifine": round(ours["accuracy"], 4),
        "accuracy_baseline": round(base["accuracy"], 4),
        "model": "minilm-l6 (all-MiniLM-L6-v2)",
        "dataset": "sms-spam",
        "cpu": cpu_name(),
        "threads": a.threads,
        "rows": n,
        "epochs": a.epochs,
        "test_rows": len(splits.test),
        "max_length": int(ours["max_length"]),
        "classifine_setup": f"{ours['method']}, {ours['precision']}, dynamic padding, length-grouped batches",
        "baseline_setup": "full fine-tune, fp32, padded to max_length, random batches, lr 2e-5",
        "seconds_classifine": round(ours["seconds"], 1),
        "seconds_baseline": round(base["seconds"], 1),
    }
    a.output.parent.mkdir(parents=True, exist_ok=True)
    a.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    rows = [
        ("", "classifine", "baseline"),
        ("train samples/s", f"{sps_ours:.1f}", f"{sps_base:.1f}"),
        ("train seconds", f"{ours['seconds']:.1f}", f"{base['seconds']:.1f}"),
        ("test accuracy", f"{ours['accuracy']:.4f}", f"{base['accuracy']:.4f}"),
    ]
    for label, x, y in rows:
        print(f"{label:<18}{x:>14}{y:>14}")
    print(
        f"speedup {result['speedup']}x on {result['cpu']} ({a.threads} threads, {n} rows x {a.epochs} epochs)"
    )


if __name__ == "__main__":
    main()
