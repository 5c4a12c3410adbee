"""Training speed: classifine's default recipe against the recipe a competent user writes today.

Same model (packaged MiniLM-L6), same data (an SMS-spam subset: 1,500 training rows, 300 validation
rows, the whole test split), same epochs, batch size and seed; each side runs in its own
subprocess of this one invocation, back to back (alternating order when repeated):

  (a) ``classifine.train(...)`` through the public API with the default config (only epochs and
      seed set; the test split is scored separately below);
  (b) the competent recipe: ``transformers.Trainer`` + peft LoRA on ``query``/``value`` (r=8,
      alpha=16, dropout 0.1), dynamic padding with ``DataCollatorWithPadding``, fp32 defaults,
      lr 1e-3, batch 16, evaluation on the validation rows every epoch;
  (c) optional (``--padded-full``): the former strawman, full fine-tuning padded to max_length.

Train samples/s = rows x epochs / wall time of the training loop (both sides include their
per-epoch validation; model loading and tokenising excluded, reported separately as end-to-end
wall time). Test accuracy is on the same test split. Peak RSS is each subprocess's VmHWM. The
fraction of the CPU's bf16 matmul peak: training FLOPs = 6 x non-embedding parameters x real
(non-pad) training tokens, over the training loop's time, against a plain bf16 matmul measured in
this invocation.

Run: python bench/train_speed.py [--rows 1500 --epochs 2 --repeats 1 --padded-full]
Writes bench/results/train_speed.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import classifine  # noqa: F401  (sets OMP_WAIT_POLICY before torch is imported)

RESULTS = Path(__file__).resolve().parent / "results" / "train_speed.json"
SIDES = ("classifine", "competent", "padded_full")


def vm_hwm_mb() -> float:
    """Peak resident set size of this process (VmHWM), MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _splits(rows: int, val_rows: int, seed: int) -> Any:
    from classifine.data.catalog import load_catalog
    from classifine.data.dataset import DatasetSplits

    full = load_catalog("sms-spam", seed=seed)
    rng = np.random.default_rng(seed)
    train = full.train.subset(rng.choice(len(full.train), min(rows, len(full.train)), replace=False))
    val = full.validation.subset(
        rng.choice(len(full.validation), min(val_rows, len(full.validation)), replace=False)
    )
    return DatasetSplits(train, val, full.test)


def _frame(ds: Any) -> Any:
    import pandas as pd

    return pd.DataFrame({"text": ds.texts, "label": [ds.label_set.names[i] for i in ds.y()]})


def run_classifine(splits: Any, a: argparse.Namespace, out: Path) -> dict[str, Any]:
    """The default recipe through ``classifine.train``; test accuracy from the served Classifier."""
    start = time.perf_counter()
    result = classifine.train(
        _frame(splits.train),
        text="text",
        label="label",
        validation=_frame(splits.validation),
        test=_frame(splits.test),  # given, so no training rows are split off for a test split
        epochs=a.epochs,
        seed=a.seed,
        output_dir=out,
        name="classifine",
        evaluate=False,
        progress=False,
    )
    wall = time.perf_counter() - start
    clf = result.classifier
    preds = [p.label for p in clf.predict(splits.test.texts)]
    truth = [splits.test.label_set.names[i] for i in splits.test.y()]
    t = result.metrics["train"]
    return {
        "train_loop_seconds": t["seconds"],
        "end_to_end_seconds": wall,
        "test_accuracy": float(np.mean([p == y for p, y in zip(preds, truth, strict=True)])),
        "setup": f"{t['method']}, {t['precision']}, token-budget batches (<= {t['batch_tokens']} tokens), "
        "attention dropout 0",
        "max_length": t["max_length"],
    }


def _hf_trainer(splits: Any, a: argparse.Namespace, out: Path, full_padded: bool) -> dict[str, Any]:
    """The recipe of a hand-written script: LoRA + dynamic padding + fp32 (or the padded full fine-tune)."""
    import datasets
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    from classifine import assets

    start = time.perf_counter()
    source = str(assets.fetch("minilm-l6"))
    set_seed(a.seed)
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=len(splits.label_set))
    if not full_padded:
        from peft import LoraConfig, TaskType, get_peft_model

        lora = LoraConfig(
            task_type=TaskType.SEQ_CLS,
            r=8,
            lora_alpha=16,
            lora_dropout=0.1,
            target_modules=["query", "value"],
        )
        model = get_peft_model(model, lora)
    pad = "max_length" if full_padded else False

    def to_hf(ds: Any) -> Any:
        enc = tokenizer(ds.texts, truncation=True, max_length=a.max_length, padding=pad)
        return datasets.Dataset.from_dict({**enc, "labels": ds.y().tolist()})

    def compute_metrics(pred: Any) -> dict[str, float]:
        return {"accuracy": float((pred.predictions.argmax(-1) == pred.label_ids).mean())}

    args = TrainingArguments(
        output_dir=str(out / "hf"),
        num_train_epochs=a.epochs,
        per_device_train_batch_size=16,
        per_device_eval_batch_size=16,
        learning_rate=2e-5 if full_padded else 1e-3,
        weight_decay=0.01,
        eval_strategy="epoch",
        save_strategy="no",
        seed=a.seed,
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
        data_collator=None if full_padded else DataCollatorWithPadding(tokenizer),
        compute_metrics=compute_metrics,
    )
    loop = time.perf_counter()
    trainer.train()
    loop_s = time.perf_counter() - loop
    trainer.save_model(str(out / "hf-final"))
    wall = time.perf_counter() - start
    model.eval()
    preds = []
    with torch.no_grad():
        for i in range(0, len(splits.test), 64):
            enc = tokenizer(
                splits.test.texts[i : i + 64],
                truncation=True,
                max_length=a.max_length,
                padding=True,
                return_tensors="pt",
            )
            preds.append(model(**enc).logits.argmax(-1).numpy())  # (B,)
    acc = float((np.concatenate(preds) == splits.test.y()).mean())
    setup = (
        "full fine-tune, fp32, padded to max_length, lr 2e-5"
        if full_padded
        else "peft LoRA query/value r=8 alpha=16, DataCollatorWithPadding, fp32, lr 1e-3"
    )
    return {"train_loop_seconds": loop_s, "end_to_end_seconds": wall, "test_accuracy": acc, "setup": setup}


def training_flops(splits: Any, max_length: int, epochs: float) -> dict[str, float]:
    """6 x non-embedding parameters x real training tokens (the same for every side)."""
    from transformers import AutoModel, AutoTokenizer

    from classifine import assets

    source = str(assets.fetch("minilm-l6"))
    model = AutoModel.from_pretrained(source)
    embed = sum(p.numel() for n, p in model.named_parameters() if "embeddings" in n)
    params = sum(p.numel() for p in model.parameters()) - embed
    lens = [
        len(x)
        for x in AutoTokenizer.from_pretrained(source)(
            splits.train.texts, truncation=True, max_length=max_length
        )["input_ids"]
    ]
    tokens = float(sum(lens)) * epochs
    return {"non_embedding_params": float(params), "real_tokens": tokens, "flops": 6.0 * params * tokens}


def matmul_peak(threads: int, size: int = 2048, seconds: float = 3.0) -> dict[str, float]:
    """GFLOP/s of a plain square matmul in bf16 and fp32 with ``threads`` threads."""
    import torch

    torch.set_num_threads(threads)
    out = {}
    for name, dtype in (("bf16", torch.bfloat16), ("fp32", torch.float32)):
        x, y = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
        for _ in range(2):
            x @ y
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            x @ y
            n += 1
        out[f"{name}_gflops"] = 2.0 * size**3 * n / (time.perf_counter() - start) / 1e9
    return out


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _side(a: argparse.Namespace) -> None:
    """Run one side in this process and print its result as JSON (called in a subprocess)."""
    import logging

    import torch

    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(a.threads)
    splits = _splits(a.rows, a.val_rows, a.data_seed)
    with tempfile.TemporaryDirectory(prefix="classifine-bench-") as tmp:
        if a.side == "classifine":
            res = run_classifine(splits, a, Path(tmp))
        else:
            res = _hf_trainer(splits, a, Path(tmp), full_padded=a.side == "padded_full")
    res["peak_rss_mb"] = round(vm_hwm_mb())
    print("RESULT " + json.dumps(res))


def _spawn(side: str, a: argparse.Namespace, seed: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--side", side, "--rows", str(a.rows), "--val-rows", str(a.val_rows)]
    cmd += ["--epochs", str(a.epochs), "--seed", str(seed), "--data-seed", str(a.data_seed)]
    cmd += ["--threads", str(a.threads)]
    cmd += ["--max-length", str(a.max_length)]
    before = load_average()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"the {side} run failed")
    res: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    res["load_average_before"], res["load_average_after"] = before, load_average()
    res["seed"] = seed
    return res


def _summary(runs: list[dict[str, Any]], samples: float, flops: float, peak: float) -> dict[str, Any]:
    loop = float(np.median([r["train_loop_seconds"] for r in runs]))
    return {
        "samples_per_s": round(samples / loop, 2),
        "train_loop_seconds": round(loop, 1),
        "end_to_end_seconds": round(float(np.median([r["end_to_end_seconds"] for r in runs])), 1),
        "test_accuracy": round(float(np.mean([r["test_accuracy"] for r in runs])), 4),  # over seeds
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "bf16_peak_fraction": round(flops / loop / 1e9 / peak, 4),
        "setup": runs[0]["setup"],
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1500, help="training rows (sms-spam subset)")
    parser.add_argument("--val-rows", type=int, default=300, help="validation rows")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument(
        "--seed", type=int, default=42, help="training seed of the first repeat (+1 each repeat)"
    )
    parser.add_argument("--data-seed", type=int, default=42, help="seed of the data subset")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--max-length", type=int, default=256, help="truncation (classifine's default for MiniLM)"
    )
    parser.add_argument("--repeats", type=int, default=1, help="runs of each side, alternating order")
    parser.add_argument("--padded-full", action="store_true", help="also run the padded full fine-tune")
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, default=RESULTS)
    a = parser.parse_args()
    if a.side:
        _side(a)
        return

    from classifine.training.precision import cpu_name

    splits = _splits(a.rows, a.val_rows, a.data_seed)
    samples = float(len(splits.train) * a.epochs)
    work = training_flops(splits, a.max_length, a.epochs)
    peak_before = matmul_peak(a.threads)
    sides = ["competent", "classifine"] + (["padded_full"] if a.padded_full else [])
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in sides}
    for k in range(a.repeats):
        for side in sides if k % 2 == 0 else sides[::-1]:
            runs[side].append(_spawn(side, a, a.seed + k))
            print(f"{side}: {runs[side][-1]['train_loop_seconds']:.1f} s training loop", flush=True)
    peak_after = matmul_peak(a.threads)
    peak = {k: round((peak_before[k] + peak_after[k]) / 2, 1) for k in peak_before}
    rows = {s: _summary(r, samples, work["flops"], peak["bf16_gflops"]) for s, r in runs.items()}
    ours, base = rows["classifine"], rows["competent"]
    result: dict[str, Any] = {
        "speedup": round(ours["samples_per_s"] / base["samples_per_s"], 2),
        "end_to_end_speedup": round(base["end_to_end_seconds"] / ours["end_to_end_seconds"], 2),
        "samples_per_s_classifine": ours["samples_per_s"],
        "samples_per_s_baseline": base["samples_per_s"],
        "accuracy_classifine": ours["test_accuracy"],
        "accuracy_baseline": base["test_accuracy"],
        "rows": rows,
        "matmul_peak_gflops": peak,
        "training_work": work,
        "model": "minilm-l6 (all-MiniLM-L6-v2)",
        "dataset": "sms-spam",
        "cpu": cpu_name(),
        "threads": a.threads,
        "train_rows": len(splits.train),
        "validation_rows": len(splits.validation),
        "test_rows": len(splits.test),
        "epochs": a.epochs,
        "seeds": [a.seed + k for k in range(a.repeats)],
        "data_seed": a.data_seed,
        "max_length": a.max_length,
        "repeats": a.repeats,
        "beside": "a shared machine: load averages (1/5/15 min) before and after each run are in runs[]",
    }
    a.output.parent.mkdir(parents=True, exist_ok=True)
    a.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"{'':<26}" + "".join(f"{s:>16}" for s in rows))
    for label, key in (
        ("train samples/s", "samples_per_s"),
        ("training loop s", "train_loop_seconds"),
        ("end-to-end s", "end_to_end_seconds"),
        ("test accuracy", "test_accuracy"),
        ("peak RSS MB", "peak_rss_mb"),
        ("fraction of bf16 peak", "bf16_peak_fraction"),
    ):
        print(f"{label:<26}" + "".join(f"{r[key]:>16}" for r in rows.values()))
    print(f"speedup {result['speedup']}x (end to end {result['end_to_end_speedup']}x), {a.threads} threads")


if __name__ == "__main__":
    main()
