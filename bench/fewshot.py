"""Few labels: classifine's default against SetFit's defaults and classifine's TF-IDF row, K rows per class.

For each dataset, seed and K (rows per class), K rows of every class are drawn from the catalog's
train split (``k_per_class``, seeded: the same rows for every system) and every system is scored on
the catalog's whole test split:

  (a) classifine's default through the public API: ``classifine.train(rows, test=test split)`` with
      nothing else set (``model.method: auto``; the run carves its own validation rows from the K);
  (b) SetFit 1.2 with its defaults (``SetFitModel.from_pretrained`` + ``Trainer`` + ``TrainingArguments()``,
      only the seed set and reporting off), on the same packaged MiniLM-L6 folder and all K rows;
  (c) the TF-IDF row of classifine's report: the run's own TF-IDF + linear SVM model.

Training seconds are wall time of the training call (model loading included for both; classifine's
includes its TF-IDF fit). The machine is shared: times are noisy (the load average is recorded per
cell, and each cell's classifine/SetFit time ratio, both measured in the same process one after the
other), accuracy is not.

Run:  python bench/fewshot.py [--datasets trec-6 movie-reviews] [--k 8 16 32 64] [--seeds 0 1 2]
Cells run seed by seed (every K of seed 0 first); results are written after every cell and a new
invocation adds only the missing cells (``--fresh`` starts over), so a grid can be filled in parts;
``--rerun-classifine`` re-runs only classifine's side of cells that ran (SetFit's is kept; such a
cell says ``setfit_from_earlier_run``).
``--setfit-only`` runs only SetFit's side of the missing cells (it does not depend on classifine's
defaults) into bench/results/fewshot_setfit.json, which a later full run takes SetFit's scores from;
``--threads N`` pins torch to N threads (recorded per cell: a time ratio is shown only when both
systems ran on the same number of threads and on the same machine, in the same boot: each side records
``machine``, the boot id, so a re-run of classifine's side on another machine shows no ratio).
``missing_cells`` in the results lists what has not run. Writes bench/results/fewshot.json and
docs/fewshot_learning_curve.png; prints a table.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import classifine  # noqa: F401  (sets OMP_WAIT_POLICY before torch is imported)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "fewshot.json"
SETFIT_RESULTS = ROOT / "bench" / "results" / "fewshot_setfit.json"
PLOT = ROOT / "docs" / "fewshot_learning_curve.png"
SYSTEMS = ("classifine", "setfit", "tfidf")
DATASETS = ("trec-6", "movie-reviews")
KS = (8, 16, 32, 64)
SEEDS = (0, 1, 2)


def _scores(y: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "accuracy": float(accuracy_score(y, predicted)),
        "macro_f1": float(f1_score(y, predicted, average="macro", zero_division=0)),
    }


def _frame(ds: Any) -> Any:
    import pandas as pd

    return pd.DataFrame({"text": ds.texts, "label": [row[0] for row in ds.labels]})


def run_classifine(train: Any, test: Any, out: Path, name: str) -> dict[str, dict[str, Any]]:
    """The default through the public API; returns the model's and its TF-IDF row's scores."""
    from classifine.data.clean import make_cleaner

    start = time.perf_counter()
    result = classifine.train(_frame(train), test=_frame(test), output_dir=out, name=name, evaluate=False,
                              progress=False)  # fmt: skip
    seconds = time.perf_counter() - start
    clf = result.classifier
    y = test.label_set.encode(test.labels)
    labels = list(clf.labels)
    order = np.asarray([labels.index(n) for n in test.label_set.names])  # classifier -> test label order
    served = clf.predict_proba(test.texts)[:, order]
    tfidf = clf.tfidf
    assert tfidf is not None, "every classifine run fits a TF-IDF model"
    clean = make_cleaner(clf.meta.clean)  # as the report's TF-IDF row reads the texts
    p_tfidf = tfidf.predict_proba([clean(t) for t in test.texts])[:, order]
    train_info = result.metrics["train"]
    return {
        "classifine": {
            **_scores(y, served.argmax(1)),
            "train_seconds": round(seconds, 2),
            "threads": _threads(),
            "machine": _machine(),
            "method": train_info.get("method"),
            "steps": train_info.get("global_step"),
            "hybrid_weight": clf.meta.hybrid_weight,
        },
        "tfidf": {**_scores(y, p_tfidf.argmax(1)), "C": tfidf.params.get("C")},
    }


def run_setfit(train: Any, test: Any, seed: int, minilm: Path, out: Path) -> dict[str, Any]:
    """SetFit 1.2 with its defaults on the same rows and the same MiniLM folder."""
    from datasets import Dataset as HFDataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    start = time.perf_counter()
    model = SetFitModel.from_pretrained(str(minilm))
    args = TrainingArguments(output_dir=str(out), seed=seed, report_to="none", show_progress_bar=False)
    data = HFDataset.from_dict({"text": list(train.texts), "label": train.y().tolist()})
    Trainer(model=model, args=args, train_dataset=data).train()
    seconds = time.perf_counter() - start
    predicted = np.asarray(model.predict(list(test.texts), batch_size=64))
    return {
        **_scores(test.y(), predicted),
        "train_seconds": round(seconds, 2),
        "threads": _threads(),
        "machine": _machine(),
    }


def _threads() -> int:
    import torch

    return int(torch.get_num_threads())


def _machine() -> str:
    """This boot of this machine: times from two boots (or two machines) are not compared."""
    boot = Path("/proc/sys/kernel/random/boot_id")
    return boot.read_text().strip() if boot.exists() else platform.node()


def _setfit_runs() -> dict[tuple[str, int, int], dict[str, Any]]:
    """SetFit results of ``--setfit-only`` runs, by (dataset, K, seed)."""
    if not SETFIT_RESULTS.is_file():
        return {}
    runs = json.loads(SETFIT_RESULTS.read_text(encoding="utf-8"))["runs"]
    return {(r["dataset"], r["k"], r["seed"]): r for r in runs}


def _setfit_only(args: argparse.Namespace, done: set[tuple[str, int, int]], minilm: Path) -> None:
    """Run SetFit alone on the cells neither file has, adding each to SETFIT_RESULTS.

    The file is read again before each write, so runs on different seeds can share the machine.
    """
    from classifine.data.loading import read_dataset
    from classifine.data.sample import k_per_class

    runs = _setfit_runs()
    splits: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="fewshot-setfit-") as tmp:
        for seed, k, dataset in _grid(args):
            if (dataset, k, seed) in done or (dataset, k, seed) in runs:
                continue
            if dataset not in splits:
                splits[dataset] = read_dataset(f"{dataset}:train"), read_dataset(f"{dataset}:test")
            train_all, test = splits[dataset]
            rows = k_per_class(train_all, k, seed)
            load_before = os.getloadavg()[0]
            result = run_setfit(rows, test, seed, minilm, Path(tmp) / "setfit")
            runs = _setfit_runs()  # again: another --setfit-only run may have added cells meanwhile
            runs[(dataset, k, seed)] = {
                **{"dataset": dataset, "k": k, "seed": seed, "setfit": result},
                **{"load_before": load_before, "load_after": os.getloadavg()[0]},
            }
            SETFIT_RESULTS.write_text(
                json.dumps({"runs": list(runs.values())}, indent=2) + "\n", encoding="utf-8"
            )
            acc, sec = result["accuracy"], result["train_seconds"]
            print(f"{dataset} K={k} seed={seed}: SetFit {acc:.4f} ({sec:.0f}s)", flush=True)


def _summary(cells: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and standard deviation over seeds, per dataset, K and system.

    ``paired``: classifine's accuracy minus SetFit's seed by seed (the same rows), and on how many seeds
    classifine is at or above SetFit.
    """
    out: dict[str, Any] = {}
    for cell in cells:
        for system in SYSTEMS:
            key = out.setdefault(cell["dataset"], {}).setdefault(str(cell["k"]), {}).setdefault(system, {})
            for metric, value in cell[system].items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    key.setdefault(metric, []).append(float(value))
        ratio = out[cell["dataset"]][str(cell["k"])].setdefault("ratio", {})
        if cell["train_seconds_ratio"] is not None:
            ratio.setdefault("train_seconds_ratio", []).append(cell["train_seconds_ratio"])
        diffs = out[cell["dataset"]][str(cell["k"])].setdefault("paired", [])
        diffs.append(cell["classifine"]["accuracy"] - cell["setfit"]["accuracy"])  # same rows, same seed
    for per_k in out.values():
        for systems in per_k.values():
            diffs = systems.pop("paired")
            for system, metrics in systems.items():
                if not metrics:
                    continue
                systems[system] = {
                    **{f"{m}_mean": round(statistics.fmean(v), 4) for m, v in metrics.items()},
                    **{f"{m}_std": round(statistics.pstdev(v), 4) for m, v in metrics.items()},
                    "n_seeds": len(next(iter(metrics.values()))),
                }
            systems["paired"] = {
                "accuracy_diff_mean": round(statistics.fmean(diffs), 4),
                "accuracy_diff_std": round(statistics.pstdev(diffs), 4),
                "at_or_above": sum(d >= 0 for d in diffs),
                "n_seeds": len(diffs),
            }
    return out


def _print_cell(cell: dict[str, Any]) -> None:
    c, s, t = cell["classifine"], cell["setfit"], cell["tfidf"]
    print(
        f"{cell['dataset']} K={cell['k']} seed={cell['seed']}: "
        f"classifine {c['accuracy']:.4f} ({c['train_seconds']:.0f}s), "
        f"SetFit {s['accuracy']:.4f} ({s['train_seconds']:.0f}s), TF-IDF {t['accuracy']:.4f}",
        flush=True,
    )


def _environment() -> dict[str, Any]:
    import importlib.metadata as md

    from classifine.training.precision import cpu_name

    versions = {
        p: md.version(p) for p in ("classifine", "torch", "transformers", "sentence-transformers", "setfit")
    }
    return {"cpu": cpu_name(), "cpus": len(os.sched_getaffinity(0)), "versions": versions}


def _write(results: dict[str, Any], path: Path = RESULTS) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


def plot(summary: dict[str, Any], path: Path) -> None:
    """Accuracy (mean ± std over seeds) against K, one panel per dataset."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.2 * len(summary), 3.4))
    FigureCanvasAgg(fig)
    names = {
        "classifine": "classifine default",
        "setfit": "SetFit 1.2 defaults",
        "tfidf": "TF-IDF (classifine)",
    }
    for i, (dataset, per_k) in enumerate(summary.items()):
        ax = fig.add_subplot(1, len(summary), i + 1)
        ks = sorted(int(k) for k in per_k)
        for system, style in zip(SYSTEMS, ("o-", "s--", "^:"), strict=True):
            mean = [100 * per_k[str(k)][system]["accuracy_mean"] for k in ks]
            std = [100 * per_k[str(k)][system]["accuracy_std"] for k in ks]
            ax.errorbar(ks, mean, yerr=std, fmt=style, capsize=3, label=names[system])
        ax.set_xscale("log", base=2)
        ax.set_xticks(ks, [str(k) for k in ks])
        ax.set_xlabel("labelled rows per class (K)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(dataset)
        ax.grid(alpha=0.3)
    fig.axes[0].legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def _paired(p: dict[str, Any]) -> str:
    """``+0.4 ± 0.4 (3 of 3)``: the mean and spread of the seed-by-seed difference in points."""
    diff, spread = 100 * p["accuracy_diff_mean"], 100 * p["accuracy_diff_std"]
    return f"{diff:+.1f} ± {spread:.1f} ({p['at_or_above']} of {p['n_seeds']})"


def table(summary: dict[str, Any]) -> str:
    """A markdown table: accuracy and macro-F1 mean ± std and training seconds per system."""
    lines = [
        "| dataset | K | classifine acc | SetFit acc | TF-IDF acc | classifine F1 | SetFit F1 | TF-IDF F1 "
        "| classifine s | SetFit s | time ratio | classifine - SetFit acc (seeds at or above) | seeds |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for dataset, per_k in summary.items():
        for k in sorted(per_k, key=int):
            s = per_k[k]

            def pm(system: str, metric: str, s: dict[str, Any] = s) -> str:
                return f"{100 * s[system][f'{metric}_mean']:.1f} ± {100 * s[system][f'{metric}_std']:.1f}"

            mean_ratio = s["ratio"].get("train_seconds_ratio_mean")
            ratio = f"{mean_ratio:.2f}" if mean_ratio is not None else "n/a (threads or machine differ)"
            lines.append(
                f"| {dataset} | {k} | {pm('classifine', 'accuracy')} | {pm('setfit', 'accuracy')} "
                f"| {pm('tfidf', 'accuracy')} | {pm('classifine', 'macro_f1')} | {pm('setfit', 'macro_f1')} "
                f"| {pm('tfidf', 'macro_f1')} | {s['classifine']['train_seconds_mean']:.0f} "
                f"| {s['setfit']['train_seconds_mean']:.0f} | {ratio} | {_paired(s['paired'])} "
                f"| {s['classifine']['n_seeds']} |"
            )
    return "\n".join(lines)


def _load(fresh: bool, path: Path = RESULTS) -> dict[str, Any]:
    """The results so far (a run continues where the last one stopped unless ``--fresh``)."""
    if not fresh and path.is_file():
        return dict(json.loads(path.read_text(encoding="utf-8")))
    return {"cells": []}


def _merge(source: Path, into: Path = RESULTS, plot_to: Path | None = PLOT) -> None:
    """Take ``source``'s cells into ``into``, with its notes: of two cells with the same dataset, K and
    seed, the one that ran last (``ran_at``; a cell without it is older than any with it) stays, so a
    results file that began as a copy of RESULTS brings back only the cells it ran."""
    results, other = _load(False, into), _load(False, source)
    cells: dict[tuple[str, int, int], dict[str, Any]] = {}
    for cell in results["cells"] + other["cells"]:
        key = (cell["dataset"], cell["k"], cell["seed"])
        if key not in cells or cell.get("ran_at", 0.0) > cells[key].get("ran_at", 0.0):
            cells[key] = cell
    results["cells"] = list(cells.values())
    results["notes"] = list(dict.fromkeys(results.get("notes", []) + other.get("notes", [])))
    _finish(results, into)
    if plot_to is not None:
        plot(results["summary"], plot_to)
    print(table(results["summary"]))


def _grid(args: argparse.Namespace) -> list[tuple[int, int, str]]:
    """(seed, K, dataset) in the order they run: seed by seed, so a stopped run covers every K."""
    return [(seed, k, dataset) for seed in args.seeds for k in sorted(args.k) for dataset in args.datasets]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--k", nargs="+", type=int, default=list(KS))
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    parser.add_argument("--fresh", action="store_true", help="start over instead of adding missing cells")
    parser.add_argument(
        "--rerun-classifine",
        action="store_true",
        help="re-run classifine (and its TF-IDF row) in cells that already ran, keeping SetFit's scores "
        "(SetFit does not depend on classifine's defaults); the cell's time ratio is recomputed",
    )
    parser.add_argument("--note", default="", help="what else ran on the machine, for the record")
    parser.add_argument(
        "--setfit-only", action="store_true", help=f"run only SetFit, into {SETFIT_RESULTS.name}"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    parser.add_argument(
        "--results",
        type=Path,
        default=RESULTS,
        help="the results file; another name lets two runs share the machine, then --merge it",
    )
    parser.add_argument("--merge", type=Path, default=None, help=f"take its cells into {RESULTS.name}")
    args = parser.parse_args()
    if args.merge:
        _merge(args.merge)
        return
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    from classifine.assets import fetch
    from classifine.data.loading import read_dataset
    from classifine.data.sample import k_per_class

    minilm = fetch("minilm-l6")
    results = _load(args.fresh, args.results)
    if args.setfit_only:
        _setfit_only(args, {(c["dataset"], c["k"], c["seed"]) for c in results["cells"]}, minilm)
        return
    earlier_setfit = _setfit_runs()
    results |= {"environment": _environment()}
    if args.note:
        results.setdefault("notes", []).append(args.note)
    done = {(c["dataset"], c["k"], c["seed"]): c for c in results["cells"]}
    splits: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="fewshot-bench-") as tmp:
        for seed, k, dataset in _grid(args):
            old = done.get((dataset, k, seed))
            if old is not None and not args.rerun_classifine:
                continue
            if dataset not in splits:
                splits[dataset] = read_dataset(f"{dataset}:train"), read_dataset(f"{dataset}:test")
            train_all, test = splits[dataset]
            rows = k_per_class(train_all, k, seed)
            cell: dict[str, Any] = {"dataset": dataset, "k": k, "seed": seed, "rows": len(rows)}
            cell |= {"test_rows": len(test), "load_before": os.getloadavg()[0]}
            cell |= run_classifine(rows, test, Path(tmp), f"{dataset}-k{k}-s{seed}")
            if old is not None:
                results["cells"].remove(old)
                cell |= {"setfit": old["setfit"], "setfit_from_earlier_run": True}
            elif (dataset, k, seed) in earlier_setfit:
                cell |= {
                    "setfit": earlier_setfit[(dataset, k, seed)]["setfit"],
                    "setfit_from_earlier_run": True,
                }
            else:
                cell["setfit"] = run_setfit(rows, test, seed, minilm, Path(tmp) / "setfit")
            cell |= {"load_after": os.getloadavg()[0], "ran_at": round(time.time(), 1)}
            same_threads = cell["classifine"]["threads"] == cell["setfit"].get("threads")
            same_machine = cell["classifine"]["machine"] == cell["setfit"].get("machine")
            cell["train_seconds_ratio"] = (
                round(cell["classifine"]["train_seconds"] / cell["setfit"]["train_seconds"], 3)
                if same_threads and same_machine
                else None  # different threads, or another machine (or boot): the times are not comparable
            )
            results["cells"].append(cell)
            _finish(results, args.results)
            _print_cell(cell)
    _finish(results, args.results)
    if args.results == RESULTS:
        plot(results["summary"], PLOT)
    print(table(results["summary"]))


def _finish(results: dict[str, Any], path: Path = RESULTS) -> None:
    results["cells"].sort(key=lambda c: (c["dataset"], c["k"], c["seed"]))
    results["summary"] = _summary(results["cells"])
    have = {(c["dataset"], c["k"], c["seed"]) for c in results["cells"]}
    missing = [f"{d} K={k} seed={s}" for d in DATASETS for k in KS for s in SEEDS if (d, k, s) not in have]
    results["complete"], results["missing_cells"] = not missing, missing
    _write(results, path)


if __name__ == "__main__":
    main()
