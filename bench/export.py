"""Export: int8 parity and accuracy change, and prediction speed of torch vs ONNX vs ONNX int8.

For each exported run (``classifine train`` then ``classifine export RUN --int8``), in one process:

  - parity: the records ``classifine export`` stored in classifine.json (label agreement with torch
    fp32, max |dp|, accuracy of each engine) on the run's validation texts;
  - test split: accuracy of every engine and its label agreement with torch fp32;
  - speed: texts/s of ``Classifier.predict_proba`` (tokenising included, as users call it) at
    batch 1 and batch 32 on the same validation texts, for torch as the artifact runs it (bf16
    autocast where the CPU has it), torch fp32, onnx, onnx-int8 and the block-wise int8 scheme
    (the fallback when dynamic int8 fails parity; quantised here). The engines take turns within
    each repeat and the best repeat counts, so a neighbour's load hits every engine alike; ratios
    are against torch in the same invocation.

Run: python bench/export.py runs/sms-spam-minilm runs/trec-6-minilm [--texts 256 --repeats 3]
Writes bench/results/export.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import classifine  # noqa: F401  (sets OMP_WAIT_POLICY before torch is imported)

RESULTS = Path(__file__).resolve().parent / "results" / "export.json"
ENGINES = ("torch", "torch-fp32", "onnx", "onnx-int8", "int8-blockwise")


def _classifiers(run: Path, tmp: Path) -> dict[str, Any]:
    """Every engine; ``int8-blockwise`` is the fallback int8 scheme, quantised here into ``tmp``."""
    from classifine.export.quantize import quantize_int8
    from classifine.inference.engines import OnnxEngine, TorchEngine, load_engine
    from classifine.inference.predictor import Classifier

    # built without the run folder: the network alone, never mixed with the run's TF-IDF model
    clfs = {e: Classifier(*load_engine(e, run / "model")) for e in ("torch", "onnx", "onnx-int8")}
    base = clfs["torch"]
    fp32 = TorchEngine(base.runner.model, bf16=False)  # the same weights, without autocast
    clfs["torch-fp32"] = Classifier(fp32, base.tokenizer, base.meta)
    quantize_int8(run / "model" / "model.onnx", tmp / "blockwise.onnx", "blockwise")
    blockwise = OnnxEngine(tmp / "blockwise.onnx", name="int8-blockwise")
    clfs["int8-blockwise"] = Classifier(blockwise, base.tokenizer, base.meta)
    return {e: clfs[e] for e in ENGINES}


def _splits(run: Path) -> Any:
    """The run's splits as training loaded them (cleaned), from its config.yaml."""
    from classifine.config import load_config
    from classifine.data.loading import load_splits

    return load_splits(load_config(run / "config.yaml").data)


def _speed(clfs: dict[str, Any], texts: list[str], batch: int, repeats: int) -> dict[str, float]:
    """Best texts/s per engine over ``repeats`` rounds; engines alternate within a round."""
    best = dict.fromkeys(clfs, 0.0)
    for clf in clfs.values():  # warm up: first-call allocations, ORT's lazy initialisation
        clf.batch_size = batch
        clf.predict_proba(texts[: 2 * batch], cleaned=True)
    for _ in range(repeats):
        for name, clf in clfs.items():
            start = time.perf_counter()
            clf.predict_proba(texts, cleaned=True)
            best[name] = max(best[name], len(texts) / (time.perf_counter() - start))
    return best


def _test_split(splits: Any, clfs: dict[str, Any]) -> dict[str, Any]:
    """Accuracy of every engine on the whole test split, and its label agreement with torch fp32."""
    from classifine.data.labels import LabelSet
    from classifine.evaluation.baseline import relabel
    from classifine.export.parity import accuracy, decisions

    meta = clfs["torch"].meta
    test = relabel(splits.test, LabelSet(tuple(meta.labels), meta.multi_label), "test")
    probs = {}
    for name, clf in clfs.items():
        clf.batch_size = 64
        probs[name] = clf.predict_proba(test.texts, cleaned=True)  # (N, C)
    ref = decisions(probs["torch-fp32"], meta)
    agree = {
        n: float((decisions(p, meta) == ref).reshape(len(test), -1).all(axis=1).mean())
        for n, p in probs.items()
    }
    return {
        "texts": len(test),
        "accuracy": {n: round(accuracy(p, test, meta), 4) for n, p in probs.items()},
        "agreement_with_torch_fp32": {n: round(v, 4) for n, v in agree.items()},
    }


def bench_run(run: Path, n_texts: int, n_single: int, repeats: int) -> dict[str, Any]:
    from classifine.artifact import read_meta

    meta = read_meta(run)
    missing = [e for e in ("onnx", "onnx-int8") if e not in meta.exports]
    if missing:
        raise SystemExit(f"{run}: no {missing} export; run 'classifine export {run} --int8' first")
    from classifine.export.parity import cap

    with tempfile.TemporaryDirectory(prefix="classifine-bench-") as tmp:
        clfs = _classifiers(run, Path(tmp))
    splits = _splits(run)
    texts = cap(splits.validation, n_texts).texts
    speed = {
        "batch_1": _speed(clfs, texts[:n_single], 1, repeats),
        "batch_32": _speed(clfs, texts, 32, repeats),
    }
    parity = {name: r.parity.model_dump() | {"passed": r.passed} for name, r in meta.exports.items()}
    p8 = parity["onnx-int8"]
    return {
        "run": run.name,
        "labels": len(meta.labels),
        "precision": meta.precision,
        "max_length": meta.max_length,
        "parity": parity,
        "accuracy_change_int8": round(p8["accuracy"] - p8["torch_accuracy"], 4),
        "size_mb": {n: round(r.size_bytes / 1e6, 1) for n, r in meta.exports.items()},
        "int8_scheme": meta.exports["onnx-int8"].quantization,
        "speed_texts": {"batch_1": min(n_single, len(texts)), "batch_32": len(texts)},
        "texts_per_s": {b: {e: round(v, 1) for e, v in s.items()} for b, s in speed.items()},
        "ratio_vs_torch": {b: {e: round(v / s["torch"], 2) for e, v in s.items()} for b, s in speed.items()},
        "test_split": _test_split(splits, clfs),
    }


def _print(result: dict[str, Any]) -> None:
    p8 = result["parity"]["onnx-int8"]
    p32 = result["parity"]["onnx"]
    print(
        f"\n{result['run']}: parity on {p8['texts']} {p8['split']} texts; torch accuracy "
        f"{p8['torch_accuracy']:.4f}, onnx {p32['accuracy']:.4f} (agreement {p32['agreement']:.2%}, "
        f"max |dp| {p32['max_abs_diff']:.1e}), int8 {p8['accuracy']:.4f} (agreement {p8['agreement']:.2%}, "
        f"max |dp| {p8['max_abs_diff']:.3f})"
    )
    test = result["test_split"]
    print(
        f"test split ({test['texts']} texts): accuracy "
        + ", ".join(f"{e} {test['accuracy'][e]:.4f}" for e in ENGINES)
        + "; agreement with torch fp32 "
        + ", ".join(f"{e} {test['agreement_with_torch_fp32'][e]:.2%}" for e in ENGINES)
    )
    print(f"{'texts/s':<12}" + "".join(f"{e:>16}" for e in ENGINES))
    for batch, speeds in result["texts_per_s"].items():
        ratios = result["ratio_vs_torch"][batch]
        print(f"{batch:<12}" + "".join(f"{speeds[e]:>10.1f} {ratios[e]:>4.2f}x" for e in ENGINES))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="exported run folders")
    parser.add_argument("--texts", type=int, default=256, help="validation texts for the batch-32 timing")
    parser.add_argument("--single", type=int, default=128, help="of which, texts for the batch-1 timing")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (ONNX Runtime: usable CPUs)")
    parser.add_argument("--beside", default="unknown", help="what else ran on the machine meanwhile")
    parser.add_argument("--output", type=Path, default=RESULTS)
    a = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    import torch

    from classifine.inference.engines import usable_cpus
    from classifine.training.precision import cpu_name

    torch.set_num_threads(a.threads)
    load_before = os.getloadavg()
    results = []
    for run in a.runs:
        results.append(bench_run(run, a.texts, a.single, a.repeats))
        _print(results[-1])
    out = {
        "runs": results,
        "cpu": cpu_name(),
        "torch_threads": a.threads,
        "onnxruntime_threads": usable_cpus(),
        "repeats": a.repeats,
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "beside": a.beside,
        "measure": "Classifier.predict_proba texts/s incl. tokenising; best of repeats; engines alternate",
    }
    a.output.parent.mkdir(parents=True, exist_ok=True)
    a.output.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(f"\nload average {out['load_average_before_after']} (before, after); wrote {a.output}")


if __name__ == "__main__":
    main()
