"""From DataConfig to splits: files, separate split files, local folders through the hub code path."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from classifine.config import DataConfig
from classifine.data.hub import load_hub
from classifine.data.loading import load_splits
from classifine.data.sources import open_source
from classifine.data.split import overlap
from classifine.errors import ConfigError, DataError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "data"
REVIEWS = FIXTURES / "reviews.csv"


def _cfg(**kw: object) -> DataConfig:
    return DataConfig.model_validate(kw)


def test_single_file_is_split_stratified_and_leakage_free() -> None:
    splits = load_splits(_cfg(source=str(REVIEWS)))
    sizes = {name: len(ds) for name, ds in splits.items()}
    assert sizes == {"train": 28, "validation": 4, "test": 8}
    assert splits.label_set.names == ("negative", "positive")
    for _, ds in splits.items():
        assert ds.class_counts()["negative"] == ds.class_counts()["positive"]
    assert overlap(splits.train, splits.test) == 0
    again = load_splits(_cfg(source=str(REVIEWS)))
    assert again.test.texts == splits.test.texts
    other = load_splits(_cfg(source=str(REVIEWS), split={"seed": 7}))
    assert other.test.texts != splits.test.texts


def test_separate_files_split_off_validation(tmp_path: Path) -> None:
    cfg = _cfg(
        train=str(FIXTURES / "split_folder" / "train.csv"), test=str(FIXTURES / "split_folder" / "test.csv")
    )
    splits = load_splits(cfg)
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (26, 4, 10)
    assert splits.test.label_set is splits.train.label_set


def test_label_only_in_test_is_an_error(tmp_path: Path) -> None:
    test = tmp_path / "test.csv"
    pd.DataFrame({"text": ["x", "y", "z"], "label": ["positive", "neutral", "neutral"]}).to_csv(
        test, index=False
    )
    cfg = _cfg(train=str(FIXTURES / "split_folder" / "train.csv"), test=str(test))
    with pytest.raises(
        DataError, match=r"unknown label\(s\) in the test split, not in train: 'neutral' \(rows 2, 3\)"
    ):
        load_splits(cfg)


def test_config_needs_a_source() -> None:
    with pytest.raises(ConfigError, match="set data.source or data.train"):
        load_splits(_cfg())
    with pytest.raises(ConfigError, match="not both"):
        load_splits(_cfg(source=str(REVIEWS), train=str(REVIEWS)))


def test_class_too_small_for_split_names_the_file() -> None:
    with pytest.raises(DataError, match=r"tiny_class.csv: class 'spam' has only 1 distinct text"):
        load_splits(_cfg(source=str(FIXTURES / "tiny_class.csv")))
    splits = load_splits(_cfg(source=str(FIXTURES / "tiny_class.csv"), split={"validation": 0, "test": 0}))
    assert len(splits.train) == 11


def test_source_kinds_and_their_errors() -> None:
    assert open_source("sms-spam").kind == "catalog"
    assert open_source("sms-spam:test").kind == "catalog"
    assert open_source(str(REVIEWS)).kind == "file"
    assert open_source(str(FIXTURES / "split_folder")).kind == "folder"
    assert open_source("owner/some-dataset").kind == "hub"
    with pytest.raises(DataError, match=r"unknown catalog dataset 'sms-spma'.*did you mean 'sms-spam'"):
        open_source("sms-spma")
    with pytest.raises(DataError, match=r"nowhere.csv: file not found"):
        open_source("data/nowhere.csv")
    with pytest.raises(DataError, match=r"unknown split 'tset'.*did you mean 'test'"):
        open_source("sms-spam:tset")


def test_local_csv_folder_reads_like_the_hub_loader() -> None:
    """A folder of split files is read by classifine's own readers; the hub loader agrees on it."""
    frames = load_hub(str(FIXTURES / "split_folder"))
    assert sorted(frames) == ["test", "train"]
    assert sorted(open_source(str(FIXTURES / "split_folder")).frames()) == ["test", "train"]
    splits = load_splits(_cfg(source=str(FIXTURES / "split_folder")))
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (26, 4, 10)


def test_parquet_folder_with_dev_split_and_numeric_labels(tmp_path: Path) -> None:
    rows = pd.read_csv(REVIEWS)
    rows["stars"] = (rows["label"] == "positive").astype(int) * 4 + 1
    rows = rows.rename(columns={"text": "review"})[["review", "stars"]]
    rows.iloc[:24].to_parquet(tmp_path / "train.parquet")
    rows.iloc[24:32].to_parquet(tmp_path / "dev.parquet")
    rows.iloc[32:].to_parquet(tmp_path / "test.parquet")
    splits = load_splits(_cfg(source=str(tmp_path), text_column="review", label_column="stars"))
    assert splits.label_set.names == ("1", "5")
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (24, 8, 8)


def test_save_to_disk_folder_with_class_labels(tmp_path: Path) -> None:
    import datasets

    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])}
    )
    texts = [f"text number {i}" for i in range(20)]
    train = datasets.Dataset.from_dict(
        {"text": texts, "label": [i % 2 for i in range(20)]}, features=features
    )
    test = datasets.Dataset.from_dict({"text": ["new one", "new two"], "label": [0, 1]}, features=features)
    datasets.DatasetDict({"train": train, "test": test}).save_to_disk(str(tmp_path / "saved"))
    splits = load_splits(_cfg(source=str(tmp_path / "saved"), split={"validation": 0.2}))
    assert splits.label_set.names == ("neg", "pos")
    assert splits.test.labels == [("neg",), ("pos",)]
    assert (len(splits.train), len(splits.validation)) == (16, 4)


def test_unreachable_hub_says_how_to_work_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets
    import huggingface_hub.constants

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(DataError, match=r"owner/dataset: .*hub is unreachable.*pass its file path.*sms-spam"):
        load_splits(_cfg(source="owner/dataset"))


def test_prepare_max_rows_clean_balance(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    df = pd.read_csv(REVIEWS)
    df.loc[0, "text"] = "   "
    df.loc[1, "text"] = "<b>The acting</b>   was   DULL. http://x.example"
    path = tmp_path / "r.csv"
    df.to_csv(path, index=False)
    cfg = _cfg(
        source=str(path),
        split={"validation": 0.0, "test": 0.0},
        clean={"lowercase": True, "strip_html": True, "strip_urls": True},
    )
    with caplog.at_level(logging.WARNING, logger="classifine.data.loading"):
        splits = load_splits(cfg)
    assert "dropped 1 train row(s) with an empty text" in caplog.text
    assert len(splits.train) == 39
    assert "the acting was dull." in splits.train.texts
    sub = load_splits(_cfg(source=str(REVIEWS), split={"validation": 0.0, "test": 0.0}, max_rows=10))
    assert sub.train.class_counts() == {"negative": 5, "positive": 5}


def test_prepare_k_per_class_and_undersample(tmp_path: Path) -> None:
    df = pd.read_csv(REVIEWS)
    df = pd.concat([df[df.label == "positive"], df[df.label == "negative"].iloc[:6]])
    path = tmp_path / "imbalanced.csv"
    df.to_csv(path, index=False)
    base = {"source": str(path), "split": {"validation": 0.0, "test": 0.0}}
    assert load_splits(_cfg(**base, balance="undersample")).train.class_counts() == {
        "negative": 6,
        "positive": 6,
    }
    assert load_splits(_cfg(**base, balance="oversample")).train.class_counts() == {
        "negative": 20,
        "positive": 20,
    }
    few = load_splits(_cfg(**base, k_per_class=4)).train
    assert few.class_counts() == {"negative": 4, "positive": 4}


def test_split_names_are_mapped_to_train_validation_test() -> None:
    from classifine.data.loading import canonical_splits

    df = pd.DataFrame({"text": ["a"], "label": ["x"]})
    assert sorted(canonical_splits({"train": df, "dev": df, "testing": df}, "x")) == [
        "test",
        "train",
        "validation",
    ]
    assert list(canonical_splits({"only": df}, "x")) == ["train"]
    dated = {"train_2020": df, "train_2021": df, "test_2021": df}
    with pytest.raises(
        DataError, match=r"no 'train' split among train_2020, train_2021, test_2021.*hub_splits"
    ):
        canonical_splits(dated, "owner/tweets")
    picked = canonical_splits(dated, "owner/tweets", {"train": "train_2021", "test": "test_2021"})
    assert sorted(picked) == ["test", "train"]
    with pytest.raises(DataError, match=r"no split 'dev_2021' \(data.hub_splits.validation\)"):
        canonical_splits(dated, "owner/tweets", {"train": "train_2021", "validation": "dev_2021"})


def test_declared_labels_do_not_excuse_a_one_class_training_set(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="at least 2 classes"):
        load_splits(_cfg(source=str(FIXTURES / "one_class.csv"), labels=["ham", "spam"]))
