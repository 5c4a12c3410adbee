"""The labelling loop, measured as a user runs it: uncertainty sampling vs random texts on trec-6.

In one invocation, with the same seeds for every training:

  1. train version 1 (the default config: MiniLM-L6 + LoRA) on a seeded, stratified 20% of
     trec-6's training split; its validation and test splits are trec-6's own;
  2. copy that run: ``uncertain`` and ``random`` start from the same version 1;
  3. serve both with a real ``classifine serve --store-texts``; classify the other 80% of the
     training split through ``/v1/classify``; send the true labels of the 200 lowest-confidence
     predictions (uncertain) and of 200 seeded random texts (random, the baseline) through
     ``/v1/feedback``;
  4. ``classifine retrain RUN --from-feedback RUN --server URL`` for each (a new version, scored
     against version 1 on the same test texts, promoted and reloaded only when not worse);
  5. report version 1's and each promoted version's test accuracy, and what the server serves.

Run: python bench/loop.py [--fraction 0.2 --n 200 --seed 42]
Writes bench/results/loop.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import classifine  # noqa: F401  (sets OMP_WAIT_POLICY before torch is imported)

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "loop.json"
WORK = HERE / "runs" / "loop"
SRC = HERE.parent / "src"
KEY_ENV = "CLASSIFINE_BENCH_KEY"


def _initial_data(fraction: float, seed: int) -> tuple[Any, Any]:
    """(20% of trec-6 train as splits with trec-6's validation and test, the other 80% as a Dataset)."""
    from classifine.data.catalog import load_catalog
    from classifine.data.dataset import DatasetSplits
    from classifine.data.split import split_off

    splits = load_catalog("trec-6")
    pool, picked = split_off(splits.train, fraction, seed, "initial")  # stratified, seeded
    return DatasetSplits(picked, splits.validation, splits.test), pool


def _train_first(splits: Any, seed: int, model: str | None, work: Path) -> Path:
    from classifine.api import build_config, run_training

    cfg = build_config(None, None, model=model, seed=seed, output_dir=str(work), name="v1", overwrite=True)
    frames = {k: ds.to_pandas() for k, ds in splits.items()}
    run_training(cfg, frames["train"], validation=frames["validation"], test=frames["test"], progress=False)
    return work / "v1"


def _serve(runs: dict[str, Path], port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    args = [f"{name}={run}" for name, run in runs.items()]
    cmd = [sys.executable, "-m", "classifine.cli.main", "serve", *args, "--port", str(port), "--store-texts",
           "--api-key-env", KEY_ENV]  # fmt: skip
    return subprocess.Popen(cmd, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT)  # noqa: SIM115


def _wait(url: str, proc: subprocess.Popen[bytes]) -> None:
    import httpx

    for _ in range(600):
        if proc.poll() is not None:
            raise RuntimeError("classifine serve exited")
        try:
            if httpx.get(url + "/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError("classifine serve did not get ready")


def _classify(client: Any, model: str, texts: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for start in range(0, len(texts), 64):
        body = {"texts": texts[start : start + 64], "model": model}
        response = client.post("/v1/classify", json=body)
        response.raise_for_status()
        out += response.json()["predictions"]
    return out


def _feedback(client: Any, preds: list[dict[str, Any]], labels: list[str]) -> None:
    for pred, label in zip(preds, labels, strict=True):
        client.post("/v1/feedback", json={"id": pred["id"], "label": label}).raise_for_status()


def _select(client: Any, pool: Any, n: int, seed: int) -> dict[str, Any]:
    """Classify the pool (uncertain) and a random sample (random) through the server; send feedback."""
    import numpy as np

    started = time.perf_counter()
    preds = _classify(client, "uncertain", pool.texts)
    classify_s = time.perf_counter() - started
    confidence = np.array([max(p["scores"].values()) for p in preds])
    low = np.argsort(confidence, kind="stable")[:n]
    _feedback(client, [preds[i] for i in low], [pool.labels[i][0] for i in low])
    rng = np.random.default_rng(seed)
    rand = rng.choice(len(pool), n, replace=False)
    rand_preds = _classify(client, "random", [pool.texts[i] for i in rand])
    _feedback(client, rand_preds, [pool.labels[i][0] for i in rand])
    pool_acc = float(np.mean([p["label"] == y[0] for p, y in zip(preds, pool.labels, strict=True)]))
    right = np.array([p["label"] == y[0] for p, y in zip(preds, pool.labels, strict=True)])
    return {
        "pool_texts": len(pool),
        "pool_accuracy_v1": round(pool_acc, 4),
        "classify_pool_seconds": round(classify_s, 1),
        "uncertain_mean_confidence": round(float(confidence[low].mean()), 4),
        "uncertain_accuracy_v1": round(float(right[low].mean()), 4),
        "random_mean_confidence": round(float(confidence[rand].mean()), 4),
        "random_accuracy_v1": round(float(right[rand].mean()), 4),
    }


def _retrain(run: Path, name: str, url: str) -> dict[str, Any]:
    from classifine.loop.data import labels_from_feedback
    from classifine.loop.retrain import retrain, score

    started = time.perf_counter()
    result = retrain(
        run, labels_from_feedback(run, model=name), metric="accuracy", server=url, model_name=name,
        api_key=os.environ[KEY_ENV], trigger="bench/loop.py", progress=False,
    )  # fmt: skip
    p = result.promotion
    from classifine.loop.retrain import held_out_test

    macro = {v: score(run / "versions" / str(v), held_out_test(run), "macro_f1") for v in (1, result.version)}
    return {
        "decision": p.decision,
        "accuracy_v1": round(p.old_score or 0, 4),
        "accuracy_new": round(p.new_score or 0, 4),
        "macro_f1_v1": round(macro[1], 4),
        "macro_f1_new": round(macro[result.version], 4),
        "held_out_texts": p.held_out.texts if p.held_out else None,
        "merge": result.stats.as_dict(),
        "served_version_after": (result.reloaded or {}).get("version"),
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fraction", type=float, default=0.2)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--output", type=Path, default=RESULTS, help="where the JSON goes")
    parser.add_argument("--model", default=None, help="base model (default: the default config's)")
    parser.add_argument("--work", type=Path, default=WORK, help="where the runs go")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import httpx

    load_before = os.getloadavg()
    t0 = time.perf_counter()
    work = args.work
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    splits, pool = _initial_data(args.fraction, args.seed)
    first = _train_first(splits, args.seed, args.model, work)
    train_s = time.perf_counter() - t0
    runs = {name: Path(shutil.copytree(first, work / name)) for name in ("uncertain", "random")}
    os.environ.setdefault(KEY_ENV, os.urandom(12).hex())
    if not args.port:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            args.port = s.getsockname()[1]
    url = f"http://127.0.0.1:{args.port}"
    proc = _serve(runs, args.port, work / "serve.log")
    try:
        _wait(url, proc)
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {os.environ[KEY_ENV]}"}, timeout=600
        ) as c:
            selection = _select(c, pool, args.n, args.seed)
            arms = {name: _retrain(run, name, url) for name, run in runs.items()}
            served = {m["name"]: m["version"] for m in c.get("/v1/models").json()["models"]}
    finally:
        proc.terminate()
        proc.wait(60)
    u, r = arms["uncertain"], arms["random"]
    result = {
        "what": "trec-6: version 1 on 20% of the training split; +200 labels chosen by lowest confidence "
        "(uncertain) or at random (random), sent as feedback through a real server, then retrained",
        "config": {"model": "minilm-l6", "method": "lora (default config)", "fraction": args.fraction,
                   "n": args.n, "seed": args.seed, "train_rows_v1": len(splits.train)},
        "selection": selection, "uncertain": u, "random": r,
        "gain_accuracy": {"uncertain": round(u["accuracy_new"] - u["accuracy_v1"], 4),
                          "random": round(r["accuracy_new"] - r["accuracy_v1"], 4)},
        "ratio_uncertain_vs_random_error": round(
            (1 - u["accuracy_new"]) / max(1e-9, 1 - r["accuracy_new"]), 4
        ),
        "served_after": served, "train_v1_seconds": round(train_s, 1),
        "total_seconds": round(time.perf_counter() - t0, 1),
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "cpus": os.cpu_count(),
        "beside": "other test runs may have shared the 2 cores (see the load averages)",
    }  # fmt: skip
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
