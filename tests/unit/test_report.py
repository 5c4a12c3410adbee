"""Report files: merged metrics.json, Markdown tables, a self-contained HTML page, plots."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest

from classifine.data.labels import LabelSet
from classifine.evaluation.metrics import compute_metrics
from classifine.evaluation.plots import confusion_matrix_png
from classifine.evaluation.report import EvalReport, headline_table, leaderboard_row, write_report

SPAM = LabelSet(("ham", "spam"))


def _probs(pred: list[int], n: int) -> np.ndarray:
    p = np.full((len(pred), n), 0.1 / (n - 1))
    p[np.arange(len(pred)), pred] = 0.9
    return p


@pytest.fixture()
def spam_report() -> EvalReport:
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    model = compute_metrics(y, _probs([0, 0, 0, 0, 1, 1, 1, 0], 2), SPAM)  # acc 7/8
    base = compute_metrics(y, _probs([0, 0, 0, 1, 1, 1, 0, 0], 2), SPAM)  # acc 5/8
    report = EvalReport("minilm-l6 (lora)", "sms-spam", "test", model, baseline=base)
    report.add_row(leaderboard_row("minilm-l6 (lora)", "fine-tuned", model, texts_per_s=120.0))
    report.add_row(leaderboard_row("tf-idf + logreg", "tf-idf", base))
    report.add_row(
        {
            "name": "smollm2 zero-shot",
            "kind": "zero-shot",
            "accuracy": 0.5,
            "macro_f1": 0.4,
            "micro_f1": 0.5,
            "abstention_rate": 0.25,
            "texts_per_s": 3.0,
        }
    )
    return report


def test_headline_table_shows_model_baseline_and_difference(spam_report: EvalReport) -> None:
    table = headline_table(spam_report)
    lines = table.splitlines()
    assert lines[0].split() == ["accuracy", "macro-F1", "spam", "F1"]
    assert lines[1].startswith("fine-tuned minilm-l6 (lora)") and "0.8750" in lines[1]
    assert lines[2].startswith("TF-IDF") and "0.6250" in lines[2]
    assert lines[3].startswith("difference") and "+0.2500" in lines[3]
    # spam F1: model P 1 R 3/4 -> 6/7 ; baseline P 2/3 R 2/4 -> 4/7 ; difference 2/7
    assert f"{6 / 7:.4f}" in lines[1] and f"{4 / 7:.4f}" in lines[2] and f"{2 / 7:+.4f}" in lines[3]
    assert "n=8" in lines[-1]


def test_write_report_merges_metrics_and_writes_files(spam_report: EvalReport, tmp_path: Path) -> None:
    (tmp_path / "metrics.json").write_text(json.dumps({"best": {"macro_f1": 0.9}, "history": [1, 2]}))
    write_report(tmp_path, spam_report)
    data = json.loads((tmp_path / "metrics.json").read_text())
    assert data["best"] == {"macro_f1": 0.9} and data["history"] == [1, 2]  # training keys kept
    assert data["test"]["accuracy"] == pytest.approx(0.875)
    assert data["test"]["tfidf_macro_f1"] == pytest.approx(spam_report.baseline["macro_f1"])  # type: ignore[index]
    assert data["evaluation"]["metrics"]["confusion_matrix"] == [[4, 0], [1, 3]]
    assert [r["name"] for r in data["evaluation"]["leaderboard"]][-1] == "smollm2 zero-shot"
    for name in (
        "report.md",
        "report.html",
        "confusion_matrix.png",
        "confusion_matrix_normalized.png",
        "per_class_f1.png",
        "reliability.png",
    ):
        assert (tmp_path / name).stat().st_size > 0, name
    assert (tmp_path / "reliability.png").read_bytes()[:4] == b"\x89PNG"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # atomic writes left no temp


def test_markdown_tables(spam_report: EvalReport, tmp_path: Path) -> None:
    write_report(tmp_path, spam_report)
    md = (tmp_path / "report.md").read_text()
    assert "| difference | +0.2500 | " in md
    assert "| **spam** | 1 | 3 |" in md  # confusion matrix row: 1 spam called ham, 3 caught
    assert "| smollm2 zero-shot | zero-shot | 0.5000 | 0.4000 | 0.5000 | 0.250 | 3.0 |" in md
    assert "beats the TF-IDF baseline" in md
    assert "![Reliability diagram](reliability.png)" in md


def test_html_is_self_contained(spam_report: EvalReport, tmp_path: Path) -> None:
    write_report(tmp_path, spam_report)
    page = (tmp_path / "report.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    text = re.sub(r"base64,[A-Za-z0-9+/=]+", "base64,", page)
    assert "http" not in text and "<link" not in text and "<script" not in text
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 4
    assert base64.b64decode(images[0])[:4] == b"\x89PNG"
    assert "<style>" in page and "0.8750" in page


def test_honest_verdict_when_baseline_wins(spam_report: EvalReport, tmp_path: Path) -> None:
    spam_report.metrics, spam_report.baseline = spam_report.baseline, spam_report.metrics  # type: ignore[assignment]
    write_report(tmp_path, spam_report)
    assert "does not beat the TF-IDF baseline on macro-F1 (-" in (tmp_path / "report.md").read_text()


def test_many_classes_and_multi_label(tmp_path: Path) -> None:
    names = tuple(f"class_{i:02d}" for i in range(25))
    y = np.arange(100) % 25
    m = compute_metrics(y, _probs(list((y + (y % 3 == 0)) % 25), 25), LabelSet(names))
    report = EvalReport("tiny", "synthetic", "test", m)
    write_report(tmp_path / "many", report)
    md = (tmp_path / "many" / "report.md").read_text()
    assert "Confusion matrix (rows" not in md  # > 10 classes: no table, the plot only
    assert "TF-IDF" not in headline_table(report)
    assert (tmp_path / "many" / "confusion_matrix.png").stat().st_size > 0

    ml = LabelSet(("a", "b", "c"), multi_label=True)
    y_ml = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 0]])
    p_ml = np.array([[0.9, 0.2, 0.4], [0.1, 0.7, 0.2], [0.8, 0.6, 0.55], [0.3, 0.1, 0.1]])
    report = EvalReport("tiny", "reuters", "test", compute_metrics(y_ml, p_ml, ml))
    write_report(tmp_path / "ml", report)
    md = (tmp_path / "ml" / "report.md").read_text()
    assert "Hamming loss 0.1667" in md and "micro-F1" in headline_table(report)
    assert not (tmp_path / "ml" / "confusion_matrix.png").exists()


def test_confusion_png_normalised_and_large() -> None:
    assert confusion_matrix_png([[3, 1], [0, 0]], ["a", "b"], normalize=True)[:4] == b"\x89PNG"
    big = np.eye(30, dtype=int).tolist()
    assert confusion_matrix_png(big, [f"c{i}" for i in range(30)])[:4] == b"\x89PNG"
