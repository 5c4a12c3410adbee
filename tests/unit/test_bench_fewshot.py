"""The few-shot benchmark's bookkeeping (``bench/fewshot.py``): summaries, the table and ``--merge``.

The figures in docs/benchmarks.md come from these functions, so they are tested like the package's
own code: on small hand-made result files, no model is trained.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench() -> Any:
    spec = importlib.util.spec_from_file_location("bench_fewshot", ROOT / "bench" / "fewshot.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cell(
    k: int, seed: int, ours: float, setfit: float, *, ran_at: float | None = None, ratio: float | None = None
) -> dict[str, Any]:
    cell: dict[str, Any] = {
        "dataset": "trec-6",
        "k": k,
        "seed": seed,
        "classifine": {"accuracy": ours, "macro_f1": ours - 0.01, "train_seconds": 50.0, "machine": "a"},
        "setfit": {"accuracy": setfit, "macro_f1": setfit - 0.01, "train_seconds": 100.0, "machine": "b"},
        "tfidf": {"accuracy": 0.4, "macro_f1": 0.3, "C": 0.1},
        "train_seconds_ratio": ratio,
    }
    if ran_at is not None:
        cell["ran_at"] = ran_at
    return cell


def test_summary_means_spreads_and_the_paired_difference(bench: Any) -> None:
    cells = [_cell(8, 0, 0.80, 0.78), _cell(8, 1, 0.70, 0.74), _cell(8, 2, 0.90, 0.87)]
    s = bench._summary(cells)["trec-6"]["8"]
    assert s["classifine"]["accuracy_mean"] == pytest.approx(0.8)
    assert s["classifine"]["accuracy_std"] == pytest.approx(0.0816, abs=1e-4)  # population std of 3 seeds
    assert s["setfit"]["accuracy_mean"] == pytest.approx(0.7967, abs=1e-4)
    assert "machine_mean" not in s["classifine"]  # text fields are not averaged
    paired = s["paired"]
    assert paired["accuracy_diff_mean"] == pytest.approx((0.02 - 0.04 + 0.03) / 3, abs=1e-4)
    assert (paired["at_or_above"], paired["n_seeds"]) == (2, 3)
    assert s["ratio"] == {}  # no cell had comparable times


def test_table_shows_a_ratio_only_where_times_compare(bench: Any) -> None:
    summary = bench._summary([_cell(8, 0, 0.8, 0.7, ratio=0.5), _cell(16, 0, 0.8, 0.9)])
    rows = {line.split("|")[2].strip(): line for line in bench.table(summary).splitlines()[2:]}
    assert "| 0.50 |" in rows["8"]
    assert "n/a (threads or machine differ)" in rows["16"]
    assert "+10.0 ± 0.0 (1 of 1)" in rows["8"] and "-10.0 ± 0.0 (0 of 1)" in rows["16"]


def test_merge_keeps_the_cell_that_ran_last(bench: Any, tmp_path: Path) -> None:
    into, source = tmp_path / "fewshot.json", tmp_path / "other.json"
    into.write_text(
        json.dumps(
            {
                "cells": [_cell(8, 0, 0.50, 0.7, ran_at=200.0), _cell(8, 1, 0.50, 0.7)],
                "notes": ["first"],
            }
        )
    )
    # The source began as a copy (a stale seed 0), re-ran seed 1, and ran seed 2 that the results lack.
    source.write_text(
        json.dumps(
            {
                "cells": [
                    _cell(8, 0, 0.10, 0.7, ran_at=100.0),
                    _cell(8, 1, 0.60, 0.7, ran_at=300.0),
                    _cell(8, 2, 0.65, 0.7, ran_at=300.0),
                ],
                "notes": ["first", "second"],
            }
        )
    )
    bench._merge(source, into, plot_to=None)
    merged = json.loads(into.read_text())
    accuracy = {c["seed"]: c["classifine"]["accuracy"] for c in merged["cells"]}
    assert accuracy == {0: 0.50, 1: 0.60, 2: 0.65}
    assert merged["notes"] == ["first", "second"]
    assert merged["summary"]["trec-6"]["8"]["classifine"]["n_seeds"] == 3
    assert merged["complete"] is False and "movie-reviews K=8 seed=0" in merged["missing_cells"]
