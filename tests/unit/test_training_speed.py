"""Token-budget batching, the time-budget planner, progress lines without a terminal, single evaluation."""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from classifine.training import data as tdata
from classifine.training.callbacks import BudgetSchedule
from classifine.training.fit import fit
from classifine.training.plan import make_plan, with_batching
from fixtures_models import build_tiny_model, tiny_config, toy_splits


def _lengths(n: int = 500, seed: int = 1) -> list[int]:
    rng = np.random.default_rng(seed)
    return [int(x) for x in np.clip(rng.lognormal(3.2, 0.8, n), 3, 256)]


def test_token_budget_batches_respect_the_budget_and_cover_every_row_once() -> None:
    lengths = _lengths()
    budget, max_rows = 640, 64
    batches = tdata.token_budget_batches(lengths, budget, max_rows, seed=3)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(lengths)))  # every row exactly once
    for b in batches:
        widest = max(lengths[i] for i in b)
        assert len(b) <= max_rows
        assert len(b) * widest <= budget or len(b) == 1  # a row longer than the budget goes alone
    sizes = [len(b) for b in batches]
    assert max(sizes) > 3 * min(sizes)  # short texts travel in larger batches
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    assert padded < 1.15 * sum(lengths)  # similar lengths together: little padding


def test_chunked_token_batches_keep_one_count_every_epoch_and_respect_the_budget() -> None:
    lengths = _lengths(800)
    rows = [{"input_ids": np.ones(n, np.int32), "labels": 0} for n in lengths]
    ds = tdata.TokenBatches(tdata.Encoded(rows), budget=640, max_rows=64, seed=5, chunk=200, epochs=6)
    plans = []
    for epoch in range(8):  # two epochs past those planned up front
        ds.set_epoch(epoch)
        assert len(ds) == ds.count
        assert sorted(i for b in ds.batches for i in b) == list(range(800))
        if epoch < 6:
            assert all(len(b) * max(lengths[i] for i in b) <= 640 or len(b) == 1 for b in ds.batches)
        plans.append(ds.batches)
    assert plans[0] != plans[1]
    ds.set_epoch(0)
    assert ds.batches == plans[0]  # deterministic for a seed


def test_token_budget_batches_are_deterministic_per_seed_and_reshuffle_per_epoch() -> None:
    lengths = _lengths()
    a = tdata.token_budget_batches(lengths, 640, 64, seed=3, epoch=0)
    assert a == tdata.token_budget_batches(lengths, 640, 64, seed=3, epoch=0)
    b = tdata.token_budget_batches(lengths, 640, 64, seed=3, epoch=1)
    assert a != b and len(a) == len(b)  # another order, the same number of steps
    assert sorted(map(len, a)) == sorted(map(len, b))
    assert tdata.token_budget_batches(lengths, 640, 64, seed=4) != a
    with pytest.raises(ValueError):
        tdata.token_budget_batches(lengths, 0, 64, seed=3)


def test_token_batches_dataset_and_collator_pad_each_batch_to_its_longest_row() -> None:
    rows = [
        {
            "input_ids": np.arange(1, n + 1, dtype=np.int32),
            "attention_mask": np.ones(n, np.int32),
            "labels": n % 2,
        }
        for n in (3, 9, 4, 8, 2, 7)
    ]
    enc = tdata.Encoded(rows)
    ds = tdata.TokenBatches(enc, budget=20, max_rows=8, seed=0)
    assert ds.rows() == 6 and sum(len(b) for b in ds.batches) == 6
    collate = tdata.Collator(type("Tok", (), {"pad_token_id": 0, "padding_side": "right"})())
    for i in range(len(ds)):
        batch = collate([ds[i]])  # the loader hands over one planned batch at a time
        ids, mask = batch["input_ids"], batch["attention_mask"]
        assert ids.shape == mask.shape and ids.shape[1] == int(mask.sum(1).max())
        assert ids.shape[0] * ids.shape[1] <= 20 or ids.shape[0] == 1
        assert torch.equal(mask.sum(1), (ids != 0).sum(1)) and batch["labels"].dtype == torch.long
    before = [list(b) for b in ds.batches]
    ds.set_epoch(1)
    assert len(ds) == len(before) and ds.batches != before


def test_auto_batch_tokens_is_batch_size_rows_of_mean_length(tmp_path: Path) -> None:
    folder = build_tiny_model("bert", tmp_path / "bert")
    plan = make_plan(tiny_config(folder, "lora", batch_size=16), toy_splits())
    assert plan.batch_tokens is None and plan.attention_dropout == 0.0  # LoRA: fused attention
    resolved = with_batching(plan, [20] * 90 + [120] * 10)
    assert resolved.batch_tokens == 16 * 30 and resolved.config.train.batch_tokens == 480
    assert resolved.max_batch_rows == 64
    fixed = make_plan(tiny_config(folder, "full", batch_tokens=0), toy_splits())
    assert with_batching(fixed, [20] * 10).batch_tokens == 0 and fixed.attention_dropout is None


def test_budget_schedule_ends_at_zero_and_can_be_replanned() -> None:
    s = BudgetSchedule(total=100, warmup=10)
    assert s(0) == 0.0 and s(10) == 1.0 and s(100) == 0.0
    s.total = 60
    assert s(60) == 0.0 and 0 < s(59) < 0.03
    # A re-plan continues from the multiplier where it happens: lengthened, the decay does not jump up
    # (the learning rate keeps falling); shortened, it does not drop; it still ends at zero.
    for total in (90, 40, 70):
        before = s(30)
        s.replan(total, 30)
        factors = [s(k) for k in range(30, total + 1)]
        assert factors[0] == before and factors == sorted(factors, reverse=True) and factors[-1] == 0.0


def _log(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("eval_every", ["epoch", 5])
def test_time_budget_ends_with_the_schedule_and_evaluates_the_stop_once(
    tmp_path: Path, eval_every: Any
) -> None:
    torch.set_num_threads(1)
    folder = build_tiny_model("bert", tmp_path / "bert")
    cfg = tiny_config(
        folder, "full", epochs=1000, max_train_minutes=0.3, warmup_ratio=0.1, eval_every=eval_every
    )
    run = fit(toy_splits(), cfg, tmp_path / "run", progress=False)
    train = json.loads((run / "metrics.json").read_text())["train"]
    budget = train["budget"]
    assert budget["planned_steps"] == budget["actual_steps"] == train["global_step"]
    assert 6 < budget["actual_steps"] < budget["max_steps_for_epochs"]  # the budget, not the epochs, ended it
    assert budget["final_lr_factor"] == 0.0 and not budget["stopped_before_schedule_end"]
    log = _log(run)
    logged = [(e["step"], e["learning_rate"]) for e in log if "learning_rate" in e]
    total, warmup, peak = budget["planned_steps"], budget["warmup_steps"], 3e-3
    assert logged[0][1] < peak  # warm-up from the first step
    decay = [lr for step, lr in logged if step > max(warmup + 1, 6)]  # planned after 6 measured steps
    assert (
        decay == sorted(decay, reverse=True) and max(decay) <= peak
    )  # then a decay (re-planned as it goes)...
    step, lr = logged[
        -1
    ]  # ...that is near its end at the last logged step (the step-k update uses factor(k-1))
    assert step > total * 0.75 and lr <= peak * ((total - step + 1) / (total - warmup) + 0.15)
    evaluated = Counter(e["step"] for e in log if "eval_loss" in e)
    assert evaluated[train["global_step"]] == 1  # the stop step is evaluated...
    assert max(evaluated.values()) == 1  # ...and no step twice


def test_a_budget_spent_before_planning_still_stops_cleanly_once(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    folder = build_tiny_model("bert", tmp_path / "bert")
    cfg = tiny_config(folder, "full", epochs=100, max_train_minutes=0.0005)  # 30 ms: spent at once
    run = fit(toy_splits(), cfg, tmp_path / "run", progress=False)
    train = json.loads((run / "metrics.json").read_text())["train"]
    assert train["global_step"] < 10 and train["budget"]["stopped_before_schedule_end"]
    evaluated = Counter(e["step"] for e in _log(run) if "eval_loss" in e)
    assert list(evaluated.values()) == [1]


def test_progress_is_logged_as_lines_when_there_is_no_terminal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    torch.set_num_threads(1)
    folder = build_tiny_model("bert", tmp_path / "bert")
    with caplog.at_level(logging.INFO, logger="classifine.training.callbacks"):
        fit(toy_splits(), tiny_config(folder, "full", epochs=4), tmp_path / "run", progress=False)
    pattern = re.compile(r"step (\d+)/(\d+) \(\d+%\), [\d.]+ samples/s, loss [\d.]+, ETA \d+")
    lines = [m for r in caplog.records if (m := pattern.search(r.getMessage()))]
    assert len(lines) >= 5  # about one line per tenth of the run
    steps = [int(m.group(1)) for m in lines]
    assert steps == sorted(steps) and all(int(m.group(1)) <= int(m.group(2)) for m in lines)
