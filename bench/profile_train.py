"""Where a training run spends its time and memory: phases of a real ``fit`` and the ops of a step.

Two views of the default recipe (packaged MiniLM-L6 + LoRA) on one dataset:

  1. phases of a real ``classifine.training.fit.fit`` run, timed by a Trainer callback: setup
     (model load + tokenisation), training steps (forward, backward, optimizer), the gaps between
     steps (batch collation, logging), evaluation, checkpoint writes, writing the artifact; and the
     peak RSS (VmHWM) after each phase;
  2. ``torch.profiler`` over a few real training batches: self CPU time per op family (GEMMs,
     attention, dropout, casts, layer norm, optimizer, ...).

Run: python bench/profile_train.py --dataset sms-spam --rows 1500 --epochs 1
     python bench/profile_train.py --dataset 20newsgroups --rows 1500 --max-steps 40 --max-length 256
Prints a table and writes bench/results/profile_<dataset>.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

import classifine  # noqa: F401  (sets OMP_WAIT_POLICY before torch is imported)

RESULTS = Path(__file__).resolve().parent / "results"

# op name fragment -> family, first match wins
_FAMILIES = (
    ("scaled_dot_product", "attention"),
    ("_flash_attention", "attention"),
    ("softmax", "attention"),
    ("bmm", "attention"),
    ("addmm", "GEMM (linear)"),
    ("aten::mm", "GEMM (linear)"),
    ("matmul", "GEMM (linear)"),
    ("linear", "GEMM (linear)"),
    ("dropout", "dropout"),
    ("bernoulli", "dropout"),
    ("native_dropout", "dropout"),
    ("layer_norm", "layer norm"),
    ("gelu", "activation"),
    ("adam", "optimizer"),
    ("_foreach", "optimizer"),
    ("aten::to", "dtype casts / copies"),
    ("_to_copy", "dtype casts / copies"),
    ("copy_", "dtype casts / copies"),
    ("embedding", "embedding"),
    ("cross_entropy", "loss"),
    ("nll_loss", "loss"),
    ("log_softmax", "loss"),
)


def vm_hwm_mb() -> float:
    """Peak resident set size of this process so far (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _phase_callback() -> Any:
    from transformers import TrainerCallback

    class Phases(TrainerCallback):  # type: ignore[misc]
        """Wall time of steps, the gaps between them, evaluations and saves."""

        def __init__(self) -> None:
            self.t: dict[str, float] = defaultdict(float)
            self.hwm: dict[str, float] = {}
            self.mark = 0.0
            self.steps = 0

        def _lap(self, key: str) -> None:
            now = time.perf_counter()
            self.t[key] += now - self.mark
            self.mark = now

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.mark = time.perf_counter()
            self.hwm["before training"] = vm_hwm_mb()

        def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self._lap("between steps (data, collation, logging)")

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self._lap("training steps (forward, backward, optimizer)")
            self.steps += 1

        def on_evaluate(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self._lap("evaluation")
            self.hwm["after an evaluation"] = vm_hwm_mb()

        def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self._lap("checkpoint writes")

        def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self._lap("end of training (best model reload)")
            self.hwm["after training"] = vm_hwm_mb()

    return Phases()


def _family(name: str) -> str:
    low = name.lower()
    for frag, fam in _FAMILIES:
        if frag in low:
            return fam
    return "other ops"


def op_profile(splits: Any, cfg: Any, steps: int) -> dict[str, float]:
    """Self CPU milliseconds per op family over ``steps`` real batches of the default recipe."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from classifine.models.build import build_for_training
    from classifine.training import data as tdata
    from classifine.training.plan import make_plan, with_batching

    plan = make_plan(cfg, splits)
    model, tok = build_for_training(
        plan.spec, splits.label_set, plan.method, plan.lora, plan.precision, plan.attention_dropout
    )
    enc = tdata.encode(splits.train, tok, plan.max_length)
    plan = with_batching(plan, enc.lengths())
    if plan.batch_tokens:
        batches = tdata.token_budget_batches(
            enc.lengths(), plan.batch_tokens, plan.max_batch_rows, seed=0, chunk=50 * plan.batch_size
        )
    else:  # fixed-size batches in random order
        order = np.random.default_rng(0).permutation(len(enc)).tolist()
        batches = [order[i : i + plan.batch_size] for i in range(0, len(order), plan.batch_size)]
    collate = tdata.Collator(tok)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    model.train()

    def step(idx: list[int]) -> None:
        batch = collate([enc[i] for i in idx])
        labels = batch.pop("labels")
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=plan.precision == "bf16"):
            logits = model(**batch).logits
        loss = torch.nn.functional.cross_entropy(logits.float(), labels)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    step(batches[0])  # warm-up
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for idx in batches[1 : steps + 1]:
            step(idx)
    fams: dict[str, float] = defaultdict(float)
    for ev in prof.key_averages():
        fams[_family(ev.key)] += ev.self_cpu_time_total / 1000.0
    total = sum(fams.values())
    return {k: round(v, 1) for k, v in sorted(fams.items(), key=lambda kv: -kv[1])} | {
        "total": round(total, 1)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="sms-spam")
    parser.add_argument("--rows", type=int, default=1500)
    parser.add_argument("--val-rows", type=int, default=300)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--max-length", type=int, default=None)
    parser.add_argument("--op-steps", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--set", nargs="*", default=[], help="extra config overrides key=value")
    a = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    import torch

    from classifine.config import apply_overrides, config_from_dict
    from classifine.data.catalog import load_catalog
    from classifine.data.dataset import DatasetSplits
    from classifine.training.fit import fit

    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    full = load_catalog(a.dataset, seed=42)
    rng = np.random.default_rng(0)
    splits = DatasetSplits(
        full.train.subset(rng.choice(len(full.train), min(a.rows, len(full.train)), replace=False)),
        full.validation.subset(
            rng.choice(len(full.validation), min(a.val_rows, len(full.validation)), replace=False)
        ),
        full.test,
    )
    load_s = time.perf_counter() - t0
    raw: dict[str, Any] = {"train": {"epochs": a.epochs, "threads": a.threads}}
    if a.max_steps:
        raw["train"]["max_steps"] = a.max_steps
    if a.max_length:
        raw["model"] = {"max_length": a.max_length}
    cfg = config_from_dict(apply_overrides(raw, a.set))
    phases = _phase_callback()
    with tempfile.TemporaryDirectory(prefix="classifine-profile-") as tmp:
        start = time.perf_counter()
        run = fit(splits, cfg, Path(tmp) / "run", progress=False, callbacks=[phases])
        total = time.perf_counter() - start
        metrics = json.loads((run / "metrics.json").read_text())
    inside = sum(phases.t.values())
    setup = metrics["train"].get("setup_seconds")
    result: dict[str, Any] = {
        "dataset": a.dataset,
        "rows": len(splits.train),
        "steps": phases.steps,
        "data loading (catalog)": round(load_s, 2),
        "fit total": round(total, 2),
        "phases": {k: round(v, 2) for k, v in phases.t.items()},
        "setup + artifact write (fit minus trainer.train)": round(total - inside, 2),
        "setup_seconds": setup,
        "peak_rss_mb": {k: round(v) for k, v in phases.hwm.items()} | {"end": round(vm_hwm_mb())},
        "validation": metrics["validation"],
    }
    print(json.dumps(result, indent=2), flush=True)
    result["op_self_cpu_ms"] = op_profile(splits, cfg, a.op_steps)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"profile_{a.dataset}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["op_self_cpu_ms"], indent=2))


if __name__ == "__main__":
    main()
