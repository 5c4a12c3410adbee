"""Does tuning pay? A 12-trial trec-6 study against the default config, like for like, in one invocation.

1. ``classifine tune examples/tune-trec-6.yaml --trials 12 --workers 2`` (a fresh study). Its trial
   0 is the default config's own values (``tune.baseline``) and every trial, that one included,
   trains the same budget (``tune.trial_epochs``), so "the best beats the default" is measured at
   equal budget on the validation split.
2. The same command with ``--refit``: the best config and the default config are retrained with that
   budget and each scored once on the test split.
3. ``classifine train examples/trec-6.yaml``: the default config with its full budget (10 epochs,
   early stopping), reported beside, with the study's wall time as a ratio to it.

Each step runs as the CLI runs it (the study's workers are processes). Results go to
``bench/results/tune.json`` after every step (``complete`` says whether all ran); a table is printed.
The load average before and after each step says how busy the machine was: other jobs on the same
cores slow every step, and can make the per-trial safety cap (``tune.trial_minutes``) end a trial
before its epochs (``epochs_trained`` per trial shows it).

Run:  python bench/tune.py [--trials 12] [--workers 2] [--skip-full-default] [--set KEY=VALUE]
      [--full-default-before HH:MM]
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
LIMIT_MINUTES = 30


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


def _r(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


def _scores(metrics: dict[str, Any]) -> dict[str, Any]:
    test = metrics.get("test") or {}
    return {
        "validation_macro_f1": _r(metrics["validation"]["macro_f1"]),
        "test_macro_f1": _r(test.get("macro_f1")),
        "test_accuracy": _r(test.get("accuracy")),
    }


def _epochs_trained(study_dir: Path, number: int) -> float | None:
    metrics = study_dir / f"trial-{number}" / "metrics.json"
    if not metrics.is_file():
        return None  # pruned or failed: no final metrics
    history = json.loads(metrics.read_text()).get("history") or [{"epoch": 0.0}]
    return round(max(float(h["epoch"]) for h in history), 2)  # the last evaluated epoch


def run_tune(out_dir: Path, trials: int, workers: int, extra: list[str]) -> dict[str, Any]:
    study_dir = out_dir / STUDY
    shutil.rmtree(study_dir, ignore_errors=True)  # a fresh study, not a continued one
    args = ["tune", "examples/tune-trec-6.yaml", f"output.dir={out_dir}", *extra, "--study", STUDY]
    load_before = _load()
    summary, minutes = _cli([*args, "--trials", str(trials), "--workers", str(workers)])
    best, base = summary["best"], summary["baseline"]
    rows = [
        {
            **{k: t[k] for k in ("number", "state", "evaluations", "seconds")},
            "value": _r(t["value"]),
            "baseline": t["baseline"],
            "epochs_trained": _epochs_trained(study_dir, t["number"]),
            "params": t["params"],
        }
        for t in summary["trials"]
    ]
    seconds = [t["seconds"] for t in rows if t["seconds"] is not None]
    return {
        "command": f"classifine tune examples/tune-trec-6.yaml --trials {trials} --workers {workers}",
        "wall_minutes": round(minutes, 2),
        "within_30_minutes": minutes <= LIMIT_MINUTES,
        "budget_per_trial": summary["budget"],
        "counts": summary["counts"],
        "default_trial": base["number"],
        "default_validation_macro_f1": _r(base["value"]),
        "best_trial": best["number"],
        "best_params": best["params"],
        "best_validation_macro_f1": _r(best["value"]),
        "best_beats_default_at_equal_budget": base["best_beats_baseline"],
        "validation_gain_at_equal_budget": _r(base["gain"]),
        "importances": summary["importances"],
        "trial_minutes_mean": round(sum(seconds) / len(seconds) / 60, 2) if seconds else None,
        "trials": rows,
        "study": _shown(study_dir),
        "load_average_before": load_before,
        "load_average_after": _load(),
    }


def run_refits(out_dir: Path, trials: int, extra: list[str]) -> dict[str, Any]:
    # The same command continues the study: its target is reached, so it only refits.
    args = ["tune", "examples/tune-trec-6.yaml", f"output.dir={out_dir}", *extra, "--study", STUDY]
    load_before = _load()
    summary, minutes = _cli([*args, "--trials", str(trials), "--refit"])
    best, base = summary["refit"], summary["refit_baseline"]
    out: dict[str, Any] = {
        "command": f"classifine tune examples/tune-trec-6.yaml --trials {trials} --refit",
        "best": {"trial": best["trial"], "epochs": best["epochs"], **_scores(best)},
        "default": None,
        "test_gain_at_equal_budget": None,
        "wall_minutes": round(minutes, 2),
        "load_average_before": load_before,
        "load_average_after": _load(),
    }
    if base is not None:
        out["default"] = {"trial": base["trial"], "epochs": base["epochs"], **_scores(base)}
        out["test_gain_at_equal_budget"] = _r(best["test"]["macro_f1"] - base["test"]["macro_f1"])
    return out


def run_full_default(out_dir: Path, extra: list[str]) -> dict[str, Any]:
    name = "trec-6-default"
    args = ["train", "examples/trec-6.yaml", f"output.dir={out_dir}", f"output.name={name}", *extra]
    load_before = _load()
    result, minutes = _cli([*args, "output.overwrite=true"])
    metrics = json.loads((out_dir / name / "metrics.json").read_text())
    return {
        "command": "classifine train examples/trec-6.yaml",
        **_scores(result),
        "tfidf_test_macro_f1": _r(result["test"]["tfidf_macro_f1"]),
        "epochs_planned": metrics["train"]["epochs"],
        "epochs_trained": round(max(float(h["epoch"]) for h in metrics.get("history") or [{"epoch": 0}]), 2),
        "wall_minutes": round(minutes, 2),
        "run": _shown(out_dir / name),
        "load_average_before": load_before,
        "load_average_after": _load(),
    }


def _compare(result: dict[str, Any]) -> None:
    """Ratios and gains between the steps that ran."""
    tuned, refits, full = result.get("tune"), result.get("refits"), result.get("default_full_budget")
    if tuned and full:
        result["tune_wall_vs_default_full_wall"] = round(tuned["wall_minutes"] / full["wall_minutes"], 2)
        result["best_vs_full_default_validation_gain"] = _r(
            tuned["best_validation_macro_f1"] - full["validation_macro_f1"]
        )
    if refits and full:
        gain = refits["best"]["test_macro_f1"] - full["test_macro_f1"]
        result["refit_vs_full_default_test_gain"] = _r(gain)


def _write(result: dict[str, Any], path: Path) -> None:
    _compare(result)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")


def _table(result: dict[str, Any]) -> None:
    tuned, refits, full = result["tune"], result["refits"], result.get("default_full_budget")
    budget = tuned["budget_per_trial"]["trial_epochs"]
    print("| config | budget | validation macro-F1 | test macro-F1 (refit) | test accuracy |")
    print("|---|---|---:|---:|---:|")
    default = refits["default"] or {}
    print(
        f"| default (trial {tuned['default_trial']}) | {budget} epochs "
        f"| {tuned['default_validation_macro_f1']} | {default.get('test_macro_f1')} "
        f"| {default.get('test_accuracy')} |"
    )
    print(
        f"| best of {len(tuned['trials'])} (trial {tuned['best_trial']}) | {budget} epochs "
        f"| {tuned['best_validation_macro_f1']} | {refits['best']['test_macro_f1']} "
        f"| {refits['best']['test_accuracy']} |"
    )
    if full:
        print(
            f"| default, full budget | {full['epochs_trained']} of {full['epochs_planned']} epochs "
            f"| {full['validation_macro_f1']} "
            f"| {full['test_macro_f1']} | {full['test_accuracy']} |"
        )
    print(
        f"study: {tuned['wall_minutes']:.1f} min (limit {LIMIT_MINUTES}), "
        f"refits {refits['wall_minutes']:.1f} min; "
        f"best beats the default at equal budget: {tuned['best_beats_default_at_equal_budget']} "
        f"(validation gain {tuned['validation_gain_at_equal_budget']}, "
        f"test gain {refits['test_gain_at_equal_budget']}); "
        f"load average before {result['load_average_before']}, after {result['load_average_after']}"
    )


def _too_late(hhmm: str | None) -> bool:
    if not hhmm:
        return False
    now = time.gmtime()
    hour, minute = (int(x) for x in hhmm.split(":"))
    return (now.tm_hour, now.tm_min) >= (hour, minute)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out-dir", default=str(ROOT / "bench" / "runs"))
    parser.add_argument(
        "--skip-full-default", action="store_true", help="Skip step 3 (the 10-epoch default run)."
    )
    parser.add_argument(
        "--full-default-before",
        metavar="HH:MM",
        help="Skip step 3 when step 2 ends after this UTC time (a shared machine's time slot).",
    )
    parser.add_argument("--results", default=str(RESULTS), help="Where the JSON results go.")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="A config override for every step (a quick check: --set train.max_steps=2).",
    )
    args = parser.parse_args()
    out_dir, path, extra = Path(args.out_dir).resolve(), Path(args.results), list(args.set)
    from classifine.training.precision import cpu_name

    result: dict[str, Any] = {
        "complete": False,
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "load_average_before": _load(),
    }
    if extra:
        result["overrides"] = extra
    result["tune"] = run_tune(out_dir, args.trials, args.workers, extra)
    _write(result, path)
    result["refits"] = run_refits(out_dir, args.trials, extra)
    _write(result, path)
    skip = args.skip_full_default or _too_late(args.full_default_before)
    if skip:
        result["default_full_budget_skipped"] = (
            "--skip-full-default"
            if args.skip_full_default
            else (f"step 2 ended after {args.full_default_before} UTC")
        )
    else:
        result["default_full_budget"] = run_full_default(out_dir, extra)
    result["complete"] = not skip and not extra
    result["load_average_after"] = _load()
    _write(result, path)
    _table(result)


if __name__ == "__main__":
    main()
