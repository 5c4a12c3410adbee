"""``classifine compare``: three real runs on the same texts, significance re-computed by hand."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from sklearn.metrics import f1_score

from classifine.cli.main import main
from fixtures_models import build_tiny_model, write_toy_csv

pytestmark = pytest.mark.e2e


def _train(root: Path, model: Path, data: Path, name: str, **train: Any) -> Path:
    split = {"validation": 0.2, "test": 0.25, "seed": train.pop("split_seed", 42)}
    cfg = {
        "data": {"source": str(data), "split": split},
        # the transformer alone: a hybrid would mix TF-IDF into the deliberately weak runs
        "model": {"name": str(model), "method": "full", "max_length": 32, "hybrid": "off"},
        "train": {"epochs": 6, "batch_size": 16, "learning_rate": 1e-2, "early_stopping": None,
                  "precision": "fp32", "threads": 1, "warmup_ratio": 0.0, **train},
        "output": {"dir": str(root / "runs"), "name": name},
    }  # fmt: skip
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    assert main(["--quiet", "train", str(path), "--no-evaluate"]) == 0
    return root / "runs" / name


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("cmp")
    model = build_tiny_model("bert", root / "bert")
    data = write_toy_csv(root / "toy.csv", 400, seed=5)
    return [
        _train(root, model, data, "strong", seed=7),
        _train(root, model, data, "gentle", seed=7, learning_rate=3e-3),
        _train(root, model, data, "frozen", seed=7, learning_rate=1e-6),
    ]


def _hand_mcnemar(best_right: np.ndarray, row_right: np.ndarray) -> tuple[int, int, float]:
    b = int(np.sum(best_right & ~row_right))
    c = int(np.sum(~best_right & row_right))
    n = b + c
    if n < 25:
        return b, c, min(1.0, 2 * sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2**n)
    stat = (abs(b - c) - 1) ** 2 / n
    return b, c, math.erfc(math.sqrt(stat / 2))


def _gold_and_predictions(runs: list[Path]) -> tuple[list[str], dict[str, list[str]]]:
    from classifine.config import load_config
    from classifine.data.loading import load_splits
    from classifine.inference.predictor import Classifier

    test = load_splits(load_config(runs[0] / "config.yaml").data).test
    gold = [labels[0] for labels in test.labels]
    preds = {run.name: [p.label for p in Classifier.load(run).predict(test.texts)] for run in runs}
    return gold, preds  # type: ignore[return-value]


def test_leaderboard_significance_matches_hand_computation(
    runs: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["compare", *map(str, runs), "--no-baseline", "--json", "--seed", "3", "--resamples", "400"]
    assert main(args) == 0
    payload = json.loads(capsys.readouterr().out)
    rows = payload["rows"]
    assert [r["name"] for r in rows][0] == "strong" and {r["name"] for r in rows} == {
        "strong",
        "gentle",
        "frozen",
    }
    assert payload["n"] == 100 and payload["best"] == "strong"
    assert rows[0]["mcnemar_vs_best"] is None and rows[0]["macro_f1"] >= 0.9
    gold, preds = _gold_and_predictions(runs)
    labels = ["neg", "pos"]
    best_right = np.array([p == g for p, g in zip(preds["strong"], gold, strict=True)])
    methods = set()
    for row in rows[1:]:
        right = np.array([p == g for p, g in zip(preds[row["name"]], gold, strict=True)])
        b, c, p = _hand_mcnemar(best_right, right)
        test = row["mcnemar_vs_best"]
        assert (test["b"], test["c"]) == (b, c) and test["p_value"] == pytest.approx(p, rel=1e-9)
        methods.add(test["method"])
        assert row["accuracy"] == pytest.approx(right.mean())
        diff = f1_score(gold, preds[row["name"]], labels=labels, average="macro", zero_division=0) - f1_score(
            gold, preds["strong"], labels=labels, average="macro", zero_division=0
        )
        ci = row["macro_f1_diff_vs_best"]
        assert ci["diff"] == pytest.approx(diff) and ci["low"] <= diff <= ci["high"]
        assert ci["resamples"] == 400 and ci["seed"] == 3
        assert row["size_mb"] > 0 and row["ms_per_text"] > 0 and row["train_seconds"] > 0
        assert set(row["per_class_f1"]) == set(labels)
    assert methods == {"exact", "chi2"}  # "gentle" (lr 3e-3) is close to the best, "frozen" (lr 1e-6) far
    frozen = next(r for r in rows if r["name"] == "frozen")
    assert frozen["mcnemar_vs_best"]["method"] == "chi2" and frozen["mcnemar_vs_best"]["p_value"] < 1e-6
    assert frozen["macro_f1_diff_vs_best"]["significant"]
    # the same seed gives the same interval
    assert main(args) == 0
    keys = ("name", "mcnemar_vs_best", "macro_f1_diff_vs_best")
    again = json.loads(capsys.readouterr().out)["rows"]
    assert [[r[k] for k in keys] for r in again] == [[r[k] for k in keys] for r in rows]


def test_table_html_baseline_and_data_option(
    runs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "compare.html"
    assert main(["compare", *map(str, runs), "--html", str(page)]) == 0
    out = capsys.readouterr().out
    assert "McNemar p" in out and "dF1 [95% CI]" in out and "tf-idf + linear svm" in out
    assert "per-class F1" in out and "best" in out
    html = page.read_text()
    assert html.count("data:image/png;base64,") == 4 and "http" not in html  # 3 runs + TF-IDF, offline
    # --data: any labelled file, scored by every run (each cleans the raw texts itself)
    from classifine.config import load_config
    from classifine.data.loading import load_splits

    test = load_splits(load_config(runs[0] / "config.yaml").data).test
    file = tmp_path / "held_out.csv"
    with open(file, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(
            [["text", "label"], *([t, y[0]] for t, y in zip(test.texts[:30], test.labels[:30], strict=True))]
        )
    assert main(["compare", *map(str, runs[:2]), "--data", str(file), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["n"] == 30 and {r["name"] for r in payload["rows"]} == {
        "strong",
        "gentle",
        "tf-idf + linear svm",
    }


def test_runs_that_cannot_be_compared_fail_with_one_line(
    runs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = build_tiny_model("bert", tmp_path / "bert")
    other_labels = _train(
        tmp_path,
        model,
        write_toy_csv(tmp_path / "renamed.csv", 120, seed=5, rename={"pos": "good", "neg": "bad"}),
        "renamed",
        epochs=1,
    )
    other_split = _train(
        tmp_path, model, write_toy_csv(tmp_path / "toy.csv", 400, seed=5), "resplit", epochs=1, split_seed=1
    )
    cases = [
        ([runs[0], other_labels], "runs do not share labels"),
        ([runs[0], other_split], "pass --data SOURCE"),
        ([tmp_path / "missing"], "artifact not found"),
    ]
    for folders, message in cases:
        assert main(["compare", *map(str, folders)]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err


def test_llm_rows_join_the_leaderboard_with_their_own_significance(
    runs: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The LLM is the OpenAI-compatible contract double (no real LLM server runs in the default
    test run); it answers 'pos' only for texts with the word 'good', so its decisions are known."""
    from llm_contract import ContractServer

    monkeypatch.setenv("CLASSIFINE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    server = ContractServer()
    server.rule = lambda text: "pos" if "good" in text.split() else "neg"
    try:
        args = ["compare", str(runs[0]), "--no-baseline", "--llm", "openai:kw", "--llm-base-url", server.url]
        assert main([*args, "--json"]) == 0
    finally:
        server.close()
    rows = {r["kind"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    gold, preds = _gold_and_predictions(runs[:1])
    from classifine.config import load_config
    from classifine.data.loading import load_splits

    texts = load_splits(load_config(runs[0] / "config.yaml").data).test.texts
    llm = ["pos" if "good" in t.split() else "neg" for t in texts]
    llm_right = np.array([p == g for p, g in zip(llm, gold, strict=True)])
    best_right = np.array([p == g for p, g in zip(preds["strong"], gold, strict=True)])
    row = rows["zero-shot"]
    assert row["accuracy"] == pytest.approx(llm_right.mean())
    assert row["accuracy"] < rows["fine-tuned (full)"]["accuracy"] and row["ms_per_text"] > 0
    b, c, p = _hand_mcnemar(best_right, llm_right)
    assert (row["mcnemar_vs_best"]["b"], row["mcnemar_vs_best"]["c"]) == (b, c)
    assert row["mcnemar_vs_best"]["p_value"] == pytest.approx(p, rel=1e-9)
