"""Accuracy of the default config on the catalog datasets, beside the TF-IDF baseline.

For each dataset this runs ``classifine train examples/<dataset>.yaml train.max_train_minutes=M``
as a user would (its own process; the budget covers the whole command: loading, training, scoring
the test split, writing the run), records its wall time, its peak resident memory and what the
time budget planned and did, and the command's own evaluation of the held-out test split (the
official one for 20newsgroups; ``metrics.json``): the served model, the transformer alone and the
run's TF-IDF model (the leaderboard's "tf-idf + linear svm" row) on the same texts.
Results go to ``bench/results/accuracy.json``; a markdown table is printed.

Run:  python bench/accuracy.py [--datasets sms-spam trec-6] [--minutes 15]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import classifine  # noqa: F401  (thread policy before torch)
from classifine import api
from classifine.training.precision import cpu_name

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "accuracy.json"
DATASETS = ("sms-spam", "trec-6", "movie-reviews", "20newsgroups")


def train_cli(dataset: str, minutes: float, out_dir: Path) -> dict[str, Any]:
    """``classifine train`` in its own process: wall seconds and peak RSS (from ``wait4``)."""
    cmd = [
        sys.executable,
        "-m",
        "classifine.cli.main",
        "train",
        str(ROOT / "examples" / f"{dataset}.yaml"),
        f"output.dir={out_dir}",
        f"output.name={dataset}",
        "output.overwrite=true",
        f"train.max_train_minutes={minutes}",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    load_before = os.getloadavg()
    start = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{dataset}: classifine train failed ({status})")
    return {
        "wall_minutes": round(seconds / 60, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


def run_one(dataset: str, minutes: float, out_dir: Path) -> dict[str, object]:
    """Train (CLI) and evaluate one dataset; returns its result row."""
    measured = train_cli(dataset, minutes, out_dir)
    run = out_dir / dataset
    metrics = json.loads((run / "metrics.json").read_text())
    # The command scored the test split itself (metrics.json "evaluation"); re-score only without it.
    report = metrics.get("evaluation") or api.evaluate_run(run).to_dict()
    baseline = report.get("baseline") or {}
    leaderboard = report.get("leaderboard") or []
    alone = next((r for r in leaderboard if str(r.get("name", "")).endswith(" alone")), None)
    return {
        "accuracy": round(float(report["metrics"]["accuracy"]), 4),
        "macro_f1": round(float(report["metrics"]["macro_f1"]), 4),
        "method": metrics.get("train", {}).get("method"),
        "method_reason": metrics.get("train", {}).get("method_reason"),
        "transformer_alone_accuracy": None if alone is None else round(float(alone["accuracy"]), 4),
        "tfidf_accuracy": round(float(baseline.get("accuracy", float("nan"))), 4),
        "tfidf_macro_f1": round(float(baseline.get("macro_f1", float("nan"))), 4),
        "hybrid": metrics.get("hybrid"),
        "train_minutes": measured["wall_minutes"],
        **measured,
        "budget": metrics.get("train", {}).get("budget"),
        "test_rows": int(report["metrics"].get("n", 0)),
        "command": f"classifine train examples/{dataset}.yaml train.max_train_minutes={minutes}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--minutes", type=float, default=15.0, help="training budget per dataset")
    parser.add_argument("--out-dir", default=str(ROOT / "bench" / "runs"))
    args = parser.parse_args()
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    for dataset in args.datasets:
        results[dataset] = run_one(dataset, args.minutes, Path(args.out_dir))
        results[dataset]["cpu"] = cpu_name()
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print("| dataset | accuracy | macro-F1 | TF-IDF accuracy | TF-IDF macro-F1 | train min |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        print(
            f"| {name} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} | {r['tfidf_accuracy']:.4f} "
            f"| {r['tfidf_macro_f1']:.4f} | {r['train_minutes']:.1f} |"
        )


if __name__ == "__main__":
    main()
