"""Accuracy of the default config on the catalog datasets, beside the TF-IDF baseline.

For each dataset this trains ``examples/<dataset>.yaml`` (packaged MiniLM, training capped at
``--minutes`` on this machine), evaluates on the held-out test split (the official one for
20newsgroups) and scores a TF-IDF + logistic-regression baseline on the same split.
Results go to ``bench/results/accuracy.json``; a markdown table is printed.

Run:  python bench/accuracy.py [--datasets sms-spam trec-6] [--minutes 15]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import classifine  # noqa: F401  (thread policy before torch)
from classifine import api
from classifine.training.precision import cpu_name

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "accuracy.json"
DATASETS = ("sms-spam", "trec-6", "movie-reviews", "20newsgroups")


def run_one(dataset: str, minutes: float, out_dir: Path) -> dict[str, object]:
    """Train and evaluate one dataset; returns its result row."""
    config = ROOT / "examples" / f"{dataset}.yaml"
    overrides = [
        f"output.dir={out_dir}",
        f"output.name={dataset}",
        "output.overwrite=true",
        f"train.max_train_minutes={minutes}",
    ]
    start = time.perf_counter()
    run = api.train(config, overrides, evaluate=False, progress=False)
    train_minutes = (time.perf_counter() - start) / 60
    report = api.evaluate_run(run)
    baseline = report.baseline or {}
    return {
        "accuracy": round(float(report.metrics["accuracy"]), 4),
        "macro_f1": round(float(report.metrics["macro_f1"]), 4),
        "tfidf_accuracy": round(float(baseline.get("accuracy", float("nan"))), 4),
        "tfidf_macro_f1": round(float(baseline.get("macro_f1", float("nan"))), 4),
        "train_minutes": round(train_minutes, 2),
        "test_rows": int(report.metrics.get("n", 0)),
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
