"""Label scoring vs free generation with the same local LLM, prompts and texts, in one invocation.

Scoring (classifine's default for local models) runs batched forward passes that reuse the KV
cache of the prompt part every text shares and of each prompt for the label continuations, and
reads each label's likelihood. Generation (the usual approach, as an LLM server does it: one
prompt per request) decodes greedily and parses the text. Both see identical prompts.

    python bench/llm_labeling.py [--model gemma3-270m] [--dataset movie-reviews] [--n 200]

Writes bench/results/llm_labeling.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

# classifine is imported before torch: it sets OMP_WAIT_POLICY=PASSIVE first.
from classifine.data.catalog import load_catalog
from classifine.data.dataset import Dataset
from classifine.llm import label_texts, llm_leaderboard_row, make_builder
from classifine.llm.local import LocalBackend

RESULTS = Path(__file__).resolve().parent / "results"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def sample(test: Dataset, n: int, seed: int) -> Dataset:
    idx = np.random.default_rng(seed).permutation(len(test))[:n]
    return test.subset(sorted(int(i) for i in idx))


def load_backend(model: str, batch_size: int) -> tuple[LocalBackend, str]:
    """The scoring backend; gemma3-270m falls back to smollm2-135m if it cannot be loaded."""
    try:
        backend = LocalBackend(model, batch_size=batch_size)
        backend.model  # noqa: B018  (load the weights now, outside the timed part)
        return backend, model
    except Exception as exc:  # any load failure: report it and use the smaller preset
        if model != "gemma3-270m":
            raise
        logging.warning("gemma3-270m failed to load (%s); using smollm2-135m", exc)
        backend = LocalBackend("smollm2-135m", batch_size=batch_size)
        backend.model  # noqa: B018
        return backend, "smollm2-135m"


def timed(backend: LocalBackend, test: Dataset, builder: Any, name: str, kind: str) -> dict[str, Any]:
    start = time.perf_counter()
    preds = label_texts(test.texts, test.label_set, backend, builder=builder, cache=False)
    seconds = time.perf_counter() - start
    row = llm_leaderboard_row(name, kind, preds, test, seconds=seconds)
    row["seconds"] = round(seconds, 2)
    row["forward_calls"] = backend.forward_calls
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", default="gemma3-270m")
    parser.add_argument("--dataset", default="movie-reviews", choices=["movie-reviews", "sms-spam"])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--few-shot", type=int, default=2, help="examples per class (0 = zero-shot)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=RESULTS / "llm_labeling.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import torch

    torch.set_num_threads(args.threads)

    splits = load_catalog(args.dataset, seed=args.seed)
    test = sample(splits.test, args.n, args.seed)
    kind = "few-shot" if args.few_shot else "zero-shot"
    builder = make_builder(test.label_set, kind, train=splits.train, k=max(args.few_shot, 1), seed=args.seed)
    load_before = os.getloadavg()[0]

    scorer, model = load_backend(args.model, args.batch_size)
    generator = LocalBackend(model, mode="generate", batch_size=1, max_new_tokens=args.max_new_tokens)
    generator._model = scorer.model  # same weights, loaded once
    scoring = timed(scorer, test, builder, model, kind)
    scorer.reuse_prefix = False
    scorer.forward_calls = 0
    no_prefix = timed(scorer, test, builder, model, kind)
    before = scorer.forward_calls
    generation = timed(generator, test, builder, model, kind)
    generation["forward_calls"] = scorer.forward_calls - before  # shared weights: scorer's hook counts

    result = {
        "model": model,
        "dataset": args.dataset,
        "kind": kind,
        "few_shot_k": args.few_shot,
        "n": len(test),
        "docs_per_s_scoring": round(scoring["texts_per_s"], 3),
        "docs_per_s_generation": round(generation["texts_per_s"], 3),
        "speedup": round(scoring["texts_per_s"] / generation["texts_per_s"], 2),
        "accuracy_scoring": round(scoring["accuracy"], 4),
        "accuracy_generation": round(generation["accuracy"], 4),
        "macro_f1_scoring": round(scoring["macro_f1"], 4),
        "macro_f1_generation": round(generation["macro_f1"], 4),
        "abstention_rate_generation": round(generation["abstention_rate"], 4),
        "docs_per_s_scoring_without_prefix_reuse": round(no_prefix["texts_per_s"], 3),
        "scoring_batch_size": args.batch_size,
        "generation_batch_size": 1,
        "max_new_tokens": args.max_new_tokens,
        "threads": args.threads,
        "cpu": cpu_name(),
        "load_average_before": round(load_before, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
        "rows": {"scoring": scoring, "scoring_without_prefix_reuse": no_prefix, "generation": generation},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{model} on {args.dataset} ({kind}, n={len(test)}, {args.threads} threads)")
    print(f"{'method':<34}{'docs/s':>9}{'accuracy':>10}{'macro-F1':>10}{'abstain':>9}")
    for label, row in (
        ("label scoring", scoring),
        ("  without prefix reuse", no_prefix),
        ("generation", generation),
    ):
        print(
            f"{label:<34}{row['texts_per_s']:>9.2f}{row['accuracy']:>10.3f}{row['macro_f1']:>10.3f}"
            f"{row['abstention_rate']:>9.3f}"
        )
    print(f"speedup {result['speedup']}x -> {args.out}")


if __name__ == "__main__":
    main()
