"""The data report: exact counts of duplicates, conflicts, empties, lengths, overlap and sorted warnings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from classifine.data.dataset import Dataset
from classifine.data.io import read_table, to_dataset
from classifine.data.labels import LabelSet
from classifine.data.validate import SEVERITIES, duplicate_stats, inspect_dataset, overlap_stats

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "data"


@pytest.fixture(scope="module")
def messy() -> Dataset:
    df = read_table(FIXTURES / "messy.csv")
    return to_dataset(df, text_column="message", label_column="category", where="messy.csv", name="messy")


def test_counts_of_the_messy_fixture(messy: Dataset) -> None:
    r = inspect_dataset(messy)
    assert r.rows == 12
    assert r.classes == {"ham": 7, "spam": 5}
    assert r.imbalance_ratio == 1.4
    assert (r.empty_texts, r.whitespace_texts) == (2, 1)
    assert (r.duplicate_rows, r.duplicate_texts, r.conflicting_texts) == (3, 2, 1)
    assert r.conflict_examples == [
        {"text": "Call me when you land", "labels": [["ham"], ["spam"]], "rows": 2}
    ]
    assert r.chars["max"] == 28.0
    assert r.chars["p50"] == 20.5  # lengths 0 3 12 16 19 [20 21] 21 25 25 25 28
    assert r.overlap is None and r.tokens is None


def test_warnings_are_sorted_by_severity_and_coded(messy: Dataset) -> None:
    r = inspect_dataset(messy)
    codes = [w.code for w in r.warnings]
    assert codes == ["empty_texts", "conflicting_duplicates", "duplicates"]
    ranks = [SEVERITIES.index(w.severity) for w in r.warnings]
    assert ranks == sorted(ranks)
    assert "'Call me when you land' (ham vs spam)" in r.warnings[1].message
    assert not r.errors


def test_duplicate_stats_on_multi_label_rows() -> None:
    ls = LabelSet(("a", "b"), multi_label=True)
    ds = Dataset(["x", "x", "x", "y", "y", "z"], [("a",), ("a", "b"), ("a",), ("b",), ("b",), ()], ls)
    rows, texts, conflicts, examples = duplicate_stats(ds)
    assert (rows, texts, conflicts) == (3, 2, 1)
    assert examples[0]["labels"] == [["a"], ["a", "b"]]


def test_overlap_is_case_and_space_insensitive() -> None:
    ls = LabelSet(("a", "b"))
    train = Dataset(["Hello  world", "bye"], [("a",), ("b",)], ls)
    test = Dataset(["hello world", "new", "NEW", "bye"], [("a",), ("a",), ("a",), ("b",)], ls)
    assert overlap_stats(train, test) == {"shared_texts": 2, "test_rows": 2, "fraction": 0.5}
    r = inspect_dataset(train, test=test)
    assert r.overlap == {"shared_texts": 2, "test_rows": 2, "fraction": 0.5}
    assert any(w.code == "train_test_overlap" and "2 test row(s) (50.0%)" in w.message for w in r.warnings)


def test_imbalance_one_class_and_small_classes() -> None:
    ls = LabelSet(("ham", "spam", "rare"))
    ds = Dataset([f"t{i}" for i in range(63)], [("ham",)] * 60 + [("spam",)] * 2 + [("rare",)], ls)
    r = inspect_dataset(ds)
    assert r.imbalance_ratio == 60.0
    by_code = {w.code: w for w in r.warnings}
    assert by_code["imbalance"].severity == "warning"
    assert "('rare', 1 rows)" in by_code["imbalance"].message
    assert "spam (2), rare (1)" in by_code["small_classes"].message
    single = inspect_dataset(Dataset(["a", "b"], [("ham",), ("ham",)], LabelSet(("ham",))))
    assert [w.code for w in single.errors] == ["too_few_classes"]


def test_missing_values_are_counted_in_drop_mode() -> None:
    df = read_table(FIXTURES / "missing_labels.csv")
    ds = to_dataset(df, missing="drop", min_classes=0)
    r = inspect_dataset(ds)
    assert (r.rows, r.missing_labels, r.missing_rows) == (2, 2, "2, 4")
    assert r.errors[0].code == "missing_values"
    assert "(rows 2, 4)" in r.errors[0].message


def test_token_lengths_with_a_local_tokenizer(tmp_path: Path, messy: Dataset) -> None:
    from transformers import BertTokenizerFast

    vocab = tmp_path / "vocab.txt"
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "free", "entry", "to", "win", "a", "prize"]
    vocab.write_text("\n".join(words) + "\n", encoding="utf-8")
    BertTokenizerFast(vocab_file=str(vocab)).save_pretrained(str(tmp_path / "tok"))
    ds = Dataset(["free entry", "win a prize now", ""], [("a",), ("b",), ("a",)], LabelSet(("a", "b")))
    r = inspect_dataset(ds, tokenizer_path=str(tmp_path / "tok"))
    assert r.tokens is not None
    assert r.tokens["max"] == 6.0  # [CLS] win a prize now(unk) [SEP]
    assert r.tokens["p50"] == 4.0


def test_to_dict_is_json_and_render_shows_bars(messy: Dataset) -> None:
    r = inspect_dataset(messy)
    payload = json.loads(json.dumps(r.to_dict()))
    assert payload["classes"] == {"ham": 7, "spam": 5}
    assert payload["warnings"][0] == {
        "severity": "warning",
        "code": "empty_texts",
        "message": "2 empty text(s) (1 whitespace only); training drops them",
    }
    console = Console(record=True, width=100)
    r.render(console)
    out = console.export_text()
    assert "messy: 12 rows, 2 classes (single-label)" in out
    assert "█" * 30 in out  # the largest class gets the full bar
    assert "duplicate rows 3" in out


def test_tokenizer_errors_name_the_option(tmp_path: Path, messy: Dataset) -> None:
    from classifine.cli.data import tokenizer_folder
    from classifine.errors import DataError

    with pytest.raises(DataError, match=r"--tokenizer nothing-here: tokenizer not found: unknown model"):
        tokenizer_folder("nothing-here")
    with pytest.raises(DataError, match=r"nothing-here: tokenizer folder not found"):
        inspect_dataset(messy, tokenizer_path="nothing-here")
    with pytest.raises(DataError, match=r"cannot load a tokenizer.*save_pretrained"):
        inspect_dataset(messy, tokenizer_path=str(tmp_path))
