"""Does tuning pay? The default trec-6 config against the best of a 12-trial study, in one invocation.

1. ``classifine train examples/trec-6.yaml`` (the default config): validation and test macro-F1.
2. ``classifine tune examples/tune-trec-6.yaml --trials 12 --workers 2``, then the same with
   ``--refit``: the best trial's validation macro-F1, and its refit scored once on the same test split.

Both run here, one after the other, as the CLI runs them (the tune's workers are processes), so the
wall times are comparable; the study's wall time is also reported as a ratio to the default run's.
Results go to ``bench/results/tune.json``; a table is printed. The load average before and after
says how busy the machine was (other jobs on the same cores slow both runs).

Run:  python bench/tune.py [--trials 12] [--workers 2] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "tune.json"
STUDY = "bench-tune-trec-6"


def _cli(args: list[str]) -> tuple[dict[str, Any], float]:
    """Run ``classifine ARGS --json``; return its JSON output and the wall time in minutes."""
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "PYTHONPATH": str(ROOT / "src")}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "classifine.cli.main", *args, "--json"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        check=True,
        text=True,
    )
    return json.loads(done.stdout), (time.perf_counter() - start) / 60


def _shown(path: Path) -> str:
    """A path as it goes into the results file: relative to the repository when inside it."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return path.name


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def run_default(out_dir: Path) -> dict[str, Any]:
    name = "trec-6-default"
    args = [
        "train",
        "examples/trec-6.yaml",
        f"output.dir={out_dir}",
        f"output.name={name}",
        "output.overwrite=true",
    ]
    result, minutes = _cli(args)
    return {
        "command": "classifine train examples/trec-6.yaml",
        "validation_macro_f1": round(result["validation"]["macro_f1"], 4),
        "test_macro_f1": round(result["test"]["macro_f1"], 4),
        "test_accuracy": round(result["test"]["accuracy"], 4),
        "tfidf_test_macro_f1": round(result["test"]["tfidf_macro_f1"], 4),
        "wall_minutes": round(minutes, 2),
        "run": _shown(out_dir / name),
    }


def run_tune(out_dir: Path, trials: int, workers: int) -> dict[str, Any]:
    shutil.rmtree(out_dir / STUDY, ignore_errors=True)  # a fresh study, not a continued one
    args = [
        "tune",
        "examples/tune-trec-6.yaml",
        f"output.dir={out_dir}",
        "--study",
        STUDY,
        "--trials",
        str(trials),
    ]
    summary, minutes = _cli([*args, "--workers", str(workers)])
    # the same command again continues the study: its target is reached, so it only refits the best
    refit_summary, refit_minutes = _cli([*args, "--refit"])
    best, refit = summary["best"], refit_summary["refit"]
    seconds = [t["seconds"] for t in summary["trials"] if t["seconds"] is not None]
    return {
        "command": f"classifine tune examples/tune-trec-6.yaml --trials {trials} --workers {workers}",
        "counts": summary["counts"],
        "best_trial": best["number"],
        "best_params": best["params"],
        "best_validation_macro_f1": round(best["value"], 4),
        "refit_test_macro_f1": round(refit["test"]["macro_f1"], 4),
        "refit_test_accuracy": round(refit["test"]["accuracy"], 4),
        "refit_validation_macro_f1": round(refit["validation"]["macro_f1"], 4),
        "importances": summary["importances"],
        "trial_minutes_mean": round(sum(seconds) / len(seconds) / 60, 2) if seconds else None,
        "trials": [
            {k: t[k] for k in ("number", "state", "value", "evaluations", "seconds")}
            for t in summary["trials"]
        ],
        "wall_minutes": round(minutes, 2),
        "refit_wall_minutes": round(refit_minutes, 2),
        "study": _shown(out_dir / STUDY),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out-dir", default=str(ROOT / "bench" / "runs"))
    args = parser.parse_args()
    out_dir = Path(args.out_dir).resolve()
    from classifine.training.precision import cpu_name

    load_before = _load()
    default = run_default(out_dir)
    tuned = run_tune(out_dir, args.trials, args.workers)
    result = {
        "default": default,
        "tune": tuned,
        "validation_gain": round(tuned["best_validation_macro_f1"] - default["validation_macro_f1"], 4),
        "test_gain": round(tuned["refit_test_macro_f1"] - default["test_macro_f1"], 4),
        "tune_wall_vs_default_wall": round(tuned["wall_minutes"] / default["wall_minutes"], 2),
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": _load(),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print("| | validation macro-F1 | test macro-F1 | test accuracy | wall min |")
    print("|---|---:|---:|---:|---:|")
    print(
        f"| default config | {default['validation_macro_f1']:.4f} | {default['test_macro_f1']:.4f} "
        f"| {default['test_accuracy']:.4f} | {default['wall_minutes']:.1f} |"
    )
    print(
        f"| best of {args.trials} trials (refit) | {tuned['best_validation_macro_f1']:.4f} "
        f"| {tuned['refit_test_macro_f1']:.4f} | {tuned['refit_test_accuracy']:.4f} "
        f"| {tuned['wall_minutes']:.1f} + {tuned['refit_wall_minutes']:.1f} refit |"
    )
    print(
        f"validation gain {result['validation_gain']:+.4f}, test gain {result['test_gain']:+.4f}; "
        f"load average before {load_before}, after {result['load_average_after']}"
    )


if __name__ == "__main__":
    main()
