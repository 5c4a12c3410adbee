"""Reading tables and turning them into Datasets: formats, label parsing and user-facing errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from classifine.data.hub import read_splits_dir
from classifine.data.io import detect_format, drop_empty, read_table, to_dataset
from classifine.errors import DataError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "data"


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return pd.DataFrame({"text": ["good film", "bad film", "fine film"], "label": ["pos", "neg", "pos"]})


@pytest.mark.parametrize("suffix", ["csv", "tsv", "json", "jsonl", "parquet"])
def test_every_format_round_trips(tmp_path: Path, frame: pd.DataFrame, suffix: str) -> None:
    path = tmp_path / f"data.{suffix}"
    if suffix == "csv":
        frame.to_csv(path, index=False)
    elif suffix == "tsv":
        frame.to_csv(path, sep="\t", index=False)
    elif suffix == "json":
        path.write_text(json.dumps(frame.to_dict(orient="records")), encoding="utf-8")
    elif suffix == "jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path, index=False)
    assert detect_format(path) == suffix
    df = read_table(path)
    assert df["text"].tolist() == frame["text"].tolist()
    assert df["label"].tolist() == frame["label"].tolist()


def test_txt_sniffs_tabs_and_csv_keeps_na_text(tmp_path: Path) -> None:
    tab = tmp_path / "a.txt"
    tab.write_text("text\tlabel\nNA\tx\nnull\ty\n", encoding="utf-8")
    df = read_table(tab)
    assert df["text"].tolist() == ["NA", "null"]  # real messages, not missing values


def test_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbftext,label\nhi,a\n")
    assert list(read_table(path).columns) == ["text", "label"]


def test_save_to_disk_folders(tmp_path: Path) -> None:
    import datasets

    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])}
    )
    single = datasets.Dataset.from_dict({"text": ["a", "b"], "label": [1, 0]}, features=features)
    single.save_to_disk(str(tmp_path / "one"))
    df = read_table(tmp_path / "one")
    assert df["label"].tolist() == ["pos", "neg"]  # ClassLabel ids become names
    datasets.DatasetDict({"train": single, "test": single}).save_to_disk(str(tmp_path / "two"))
    assert sorted(read_splits_dir(tmp_path / "two")) == ["test", "train"]
    with pytest.raises(DataError, match="several splits"):
        read_table(tmp_path / "two")


@pytest.mark.parametrize(
    ("name", "pattern"),
    [
        ("empty.csv", "file is empty"),
        ("header_only.csv", r"no data rows \(only a header\)"),
        ("bad_utf8.csv", r"byte 0xe9 at line 3, byte offset 22.*iconv -f latin1 -t utf-8"),
        ("malformed.jsonl", r"malformed JSONL line 3"),
        ("malformed.csv", r"malformed CSV: .*Expected 2 fields in line 4"),
        ("missing.csv", r"file not found.*check the path"),
    ],
)
def test_read_errors_say_what_and_where(name: str, pattern: str) -> None:
    with pytest.raises(DataError, match=pattern) as info:
        read_table(FIXTURES / name)
    assert name in str(info.value)
    assert "\n" not in str(info.value)


def test_unknown_extension(tmp_path: Path) -> None:
    path = tmp_path / "data.xlsx"
    path.write_bytes(b"x")
    with pytest.raises(DataError, match=r"unknown file type '.xlsx'.*\.jsonl"):
        read_table(path)


def test_unknown_column_suggests_nearest(frame: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"column 'txt' not found.*did you mean 'text'.*--text-column"):
        to_dataset(frame, text_column="txt", where="x.csv")
    with pytest.raises(DataError, match=r"column 'labels' not found.*did you mean 'label'"):
        to_dataset(frame, label_column="labels", where="x.csv")


def test_numeric_labels_become_strings() -> None:
    ds = to_dataset(pd.DataFrame({"text": ["a", "b", "c"], "label": [0, 1, 1.0]}))
    assert ds.label_set.names == ("0", "1")
    assert ds.y().tolist() == [0, 1, 1]


def test_missing_labels_report_count_and_rows() -> None:
    df = pd.DataFrame({"text": list("abcdefgh"), "label": ["x", None, "y", np.nan, "x", " ", "y", "x"]})
    with pytest.raises(DataError, match=r"'label' has 3 missing value\(s\) \(rows 2, 4, 6\)"):
        to_dataset(df, where="f.csv")
    ds = to_dataset(df, where="f.csv", missing="drop")
    assert len(ds) == 5
    assert ds.meta["missing_labels"] == "3"
    assert ds.meta["missing_rows"] == "2, 4, 6"


def test_missing_texts_error_but_empty_texts_load() -> None:
    df = pd.DataFrame({"text": ["a", None, "", "   "], "label": ["x", "y", "x", "y"]})
    with pytest.raises(DataError, match=r"text column 'text' has 1 missing value\(s\) \(rows 2\)"):
        to_dataset(df)
    ds = to_dataset(df.drop(index=1))
    assert len(ds) == 3
    cleaned, dropped = drop_empty(ds)
    assert dropped == 2
    assert cleaned.texts == ["a"]


def test_one_class_is_rejected() -> None:
    df = pd.DataFrame({"text": ["a", "b"], "label": ["ham", "ham"]})
    with pytest.raises(DataError, match=r"only 1 class \('ham'\); a classifier needs at least 2 classes"):
        to_dataset(df, where="f.csv")
    assert len(to_dataset(df, min_classes=0)) == 2
    # An evaluation file may hold one class of a known label set.
    assert to_dataset(df, labels=["ham", "spam"]).class_counts() == {"ham": 2, "spam": 0}


def test_declared_labels_fix_order_and_reject_unknown() -> None:
    df = pd.DataFrame({"text": ["a", "b", "c", "d"], "label": ["pos", "neg", "meh", "meh"]})
    ds = to_dataset(df.iloc[:2], labels=["pos", "neg"])
    assert ds.label_set.names == ("pos", "neg")
    with pytest.raises(DataError, match=r"unknown label\(s\) not in data.labels: 'meh' \(rows 3, 4\)"):
        to_dataset(df, labels=["pos", "neg"], where="f.csv")


@pytest.mark.parametrize(
    ("cells", "kwargs", "expected"),
    [
        (["a|b", "b", "c|a"], {"multi_label": True}, [("a", "b"), ("b",), ("c", "a")]),
        (["a;b", "b", "c"], {"multi_label": True}, [("a", "b"), ("b",), ("c",)]),
        (["a, b", "b", "c"], {"multi_label": True}, [("a", "b"), ("b",), ("c",)]),
        (['["a", "b"]', '["b"]', "[]"], {}, [("a", "b"), ("b",), ()]),
        ([["a", "b"], ["b"], []], {}, [("a", "b"), ("b",), ()]),
        ([np.array(["a"]), np.array(["a", "b"]), np.array([], dtype=object)], {}, [("a",), ("a", "b"), ()]),
        (["a/b", "b", "a"], {"delimiter": "/"}, [("a", "b"), ("b",), ("a",)]),
        ([[1, 2], [2], [1, 1]], {}, [("1", "2"), ("2",), ("1",)]),
    ],
)
def test_multi_label_parsing(
    cells: list[object], kwargs: dict[str, object], expected: list[tuple[str, ...]]
) -> None:
    ds = to_dataset(pd.DataFrame({"text": ["t1", "t2", "t3"], "label": cells}), **kwargs)  # type: ignore[arg-type]
    assert ds.multi_label
    assert ds.labels == expected


def test_delimited_strings_stay_single_label_in_auto_mode() -> None:
    ds = to_dataset(pd.DataFrame({"text": ["a", "b"], "label": ["x|y", "z"]}))
    assert not ds.multi_label
    assert ds.label_set.names == ("x|y", "z")


def test_binary_label_columns() -> None:
    df = pd.DataFrame({"text": ["a", "b", "c"], "sport": [1, 0, 1], "politics": ["0", "1", "1"]})
    ds = to_dataset(df, label_column=["sport", "politics"])
    assert ds.label_set.names == ("sport", "politics")
    assert ds.y().tolist() == [[1, 0], [0, 1], [1, 1]]
    with pytest.raises(DataError, match=r"'politics' holds '2' in row 1"):
        to_dataset(df.assign(politics=[2, 0, 1]), label_column=["sport", "politics"])


def test_single_label_rows_with_several_labels_fail() -> None:
    df = pd.DataFrame({"text": ["a", "b"], "label": [["x", "y"], ["y"]]})
    with pytest.raises(DataError, match=r"row 1 has 2 labels \['x', 'y'\] but the data is single-label"):
        to_dataset(df, multi_label=False)


def test_jsonl_fixture_reads_multi_label() -> None:
    ds = to_dataset(read_table(FIXTURES / "topics.jsonl"), label_column="labels")
    assert ds.label_set.names == ("acq", "crude", "gold")
    assert ds.class_counts() == {"acq": 4, "crude": 4, "gold": 2}
    assert ds.labels[-1] == ()
