"""Data-parallel training: ``classifine train --nproc 1`` against ``--nproc 2`` on this machine.

Same config (packaged MiniLM-L6 + LoRA, an SMS-spam subset, the same fixed global batch as data
parallel runs use, epochs and seed), run through the CLI both times, so both pay the same start-up.
Train samples/s = rows * epochs / the wall time of ``trainer.train()`` recorded in the run's
``metrics.json`` (model loading excluded); the launch's whole wall time is reported too. With 2
processes each takes half the global batch and half the cores (``OMP_NUM_THREADS = cores /
processes``), so on one small machine the comparison shows DDP's overhead (gradient all-reduce over
gloo, duplicated forward set-up) against intra-op threading, not what more machines or GPUs give.

Run: flock /tmp/classifine-bench.lock python bench/ddp.py [--rows 512 --epochs 1 --rounds 1]
Writes bench/results/ddp.json and prints a table.
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

RESULTS = Path(__file__).resolve().parent / "results" / "ddp.json"
SRC = Path(__file__).resolve().parents[1] / "src"


def _write_data(root: Path, rows: int, seed: int) -> None:
    import pandas as pd

    from classifine.config import DataConfig
    from classifine.data.loading import load_splits

    splits = load_splits(DataConfig(source="sms-spam"))
    rng = np.random.default_rng(seed)
    for name, n in (("train", rows), ("validation", 64)):
        ds = getattr(splits, name)
        pick = rng.choice(len(ds), min(n, len(ds)), replace=False)
        sub = ds.subset(pick)
        pd.DataFrame({"text": sub.texts, "label": [y[0] for y in sub.labels]}).to_csv(
            root / f"{name}.csv", index=False
        )


def _config(root: Path, epochs: int, batch: int, max_length: int) -> Path:
    cfg = root / "ddp.yaml"
    cfg.write_text(
        f"data: {{train: {root}/train.csv, validation: {root}/validation.csv}}\n"
        f"model: {{name: minilm-l6, method: lora, max_length: {max_length}, hybrid: 'off'}}\n"
        f"train: {{epochs: {epochs}, batch_size: {batch}, batch_tokens: 0, early_stopping: null, "
        "group_by_length: false}\n"
        f"output: {{dir: {root}/runs}}\n"
    )
    return cfg


def _train(cfg: Path, nproc: int, name: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-m", "classifine.cli.main", "train", str(cfg), "--name", name, "--no-evaluate"]
    cmd += ["--json"] + (["--nproc", str(nproc)] if nproc > 1 else [])
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"training with {nproc} process(es) failed:\n{done.stderr[-3000:]}")
    shown = json.loads(done.stdout)
    metrics = json.loads((Path(shown["run"]) / "metrics.json").read_text())
    return {"wall": wall, "train": metrics["train"], "validation": metrics.get("validation", {})}


def _note(ratio: float, runs: dict[int, list[dict[str, Any]]]) -> str:
    """What this machine's figures can and cannot say (built from them, so it matches them)."""
    wall1 = float(np.median([x["wall"] for x in runs[1]]))
    wall2 = float(np.median([x["wall"] for x in runs[2]]))
    faster = "faster" if ratio >= 1 else "slower"
    return (
        f"Two processes trained {ratio:.2f}x as many samples/s as one ({faster}), on the same "
        f"{len(os.sched_getaffinity(0))} cores shared with other users' jobs (see the load averages): "
        "each process has one core and one thread, the single process two intra-op threads. The "
        "likely reason: small LoRA batches (8-16 texts of 64 tokens) keep two threads of one process "
        "less busy than two processes, and the gloo all-reduce of the LoRA gradients is small (not "
        "profiled here). So this shows how the cores of one small "
        "machine are best used, not how DDP scales: adding processes here adds no compute, and the "
        "gain of more machines or one GPU per process cannot be measured on this hardware. The whole "
        f"launch took {wall2:.1f} s with 2 processes against {wall1:.1f} s with one (two processes "
        "load the model and the data)."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=1, help="Alternate 1 and 2 processes this many times.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _write_data(root, args.rows, args.seed)
        cfg = _config(root, args.epochs, args.batch_size, args.max_length)
        runs: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
        for r in range(args.rounds):
            for nproc in (1, 2):
                runs[nproc].append(_train(cfg, nproc, f"p{nproc}-r{r}"))
    load_after = os.getloadavg()

    samples = args.rows * args.epochs

    def rate(nproc: int) -> float:
        return float(np.median([samples / x["train"]["seconds"] for x in runs[nproc]]))

    one, two = rate(1), rate(2)
    result = {
        "samples_per_s_1_process": round(one, 2),
        "samples_per_s_2_processes": round(two, 2),
        "ratio_2_over_1": round(two / one, 3),
        "wall_seconds_1_process": round(float(np.median([x["wall"] for x in runs[1]])), 1),
        "wall_seconds_2_processes": round(float(np.median([x["wall"] for x in runs[2]])), 1),
        "validation_accuracy": {n: [x["validation"].get("accuracy") for x in runs[n]] for n in (1, 2)},
        "layout": {
            n: {
                k: runs[n][0]["train"].get(k)
                for k in ("processes", "backend", "global_batch_size", "per_process_batch_size")
            }
            for n in (1, 2)
        },
        "model": "minilm-l6 (all-MiniLM-L6-v2), LoRA",
        "dataset": "sms-spam subset",
        "rows": args.rows,
        "epochs": args.epochs,
        "max_length": args.max_length,
        "rounds": args.rounds,
        "cpus": len(os.sched_getaffinity(0)),
        "threads_per_process": {
            1: len(os.sched_getaffinity(0)),
            2: max(1, len(os.sched_getaffinity(0)) // 2),
        },
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "note": _note(two / one, runs),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'processes':<10} {'samples/s':>10} {'wall s':>8}")
    print(f"{1:<10} {one:>10.2f} {result['wall_seconds_1_process']:>8}")
    print(f"{2:<10} {two:>10.2f} {result['wall_seconds_2_processes']:>8}")
    print(f"2 / 1: {two / one:.3f}  (load average before {load_before[0]:.2f}, after {load_after[0]:.2f})")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
