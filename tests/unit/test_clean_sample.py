"""Text normalisers and seeded resampling (balance, k per class, stratified subsample)."""

from __future__ import annotations

import importlib.util

import pytest

from classifine.config import CleanConfig
from classifine.data.clean import clean_dataset, is_identity, load_lemma_table, make_cleaner
from classifine.data.dataset import Dataset
from classifine.data.labels import LabelSet
from classifine.data.sample import balance, concat, k_per_class, primary_labels, subsample
from classifine.errors import ConfigError

OFF = {k: False for k in CleanConfig.model_fields}


def test_all_off_is_the_identity() -> None:
    cleaner = make_cleaner(OFF)
    text = "  Keep <b>THIS</b>  as is  "
    assert is_identity(OFF)
    assert cleaner(text) is text
    assert not is_identity(None)  # whitespace normalising is on by default


@pytest.mark.parametrize(
    ("settings", "text", "expected"),
    [
        ({"normalize_whitespace": True}, "  a \t b\n\nc ", "a b c"),
        ({"lowercase": True}, "Hello WORLD", "hello world"),
        (
            {"strip_urls": True, "normalize_whitespace": True},
            "go https://a.example/x?q=1 or www.b.org now",
            "go or now",
        ),
        (
            {"strip_emails": True, "normalize_whitespace": True},
            "mail jo.doe+x@mail.example.com today",
            "mail today",
        ),
        (
            {"strip_html": True, "normalize_whitespace": True},
            "<p>Fish &amp; chips</p><br/>tonight",
            "Fish & chips tonight",
        ),
        ({"strip_urls": True}, "a http://x.example b", "a   b"),  # whitespace left alone when asked
    ],
)
def test_each_normaliser(settings: dict[str, bool], text: str, expected: str) -> None:
    assert make_cleaner({**OFF, **settings})(text) == expected


def test_steps_compose_in_order() -> None:
    cfg = CleanConfig(lowercase=True, strip_urls=True, strip_emails=True, strip_html=True)
    ds = Dataset(["<i>WIN</i> at http://spam.example or a@b.co!"], [("spam",)], LabelSet(("ham", "spam")))
    assert clean_dataset(ds, make_cleaner(cfg)).texts == ["win at or !"]
    assert clean_dataset(ds, make_cleaner({"normalize_whitespace": False})) is ds  # nothing to do: no copy


def test_stopwords_with_spacy_blank() -> None:
    pytest.importorskip("spacy")
    cleaner = make_cleaner({**OFF, "remove_stopwords": True})
    assert cleaner("this is the best film of the year") == "best film year"


def test_lemmatize_with_a_given_table() -> None:
    pytest.importorskip("spacy")
    cleaner = make_cleaner(
        {**OFF, "lemmatize": True, "lowercase": True}, lemma_table={"mice": "mouse", "ran": "run"}
    )
    assert cleaner("The MICE ran") == "the mouse run"


@pytest.mark.skipif(
    importlib.util.find_spec("spacy_lookups_data") is not None, reason="lemma table installed"
)
def test_lemmatize_without_lookup_tables_names_the_package() -> None:
    with pytest.raises(ConfigError, match=r"data.clean.lemmatize: .*spacy-lookups-data"):
        make_cleaner({"lemmatize": True})
    with pytest.raises(ConfigError, match="classifine\\[nlp\\]"):
        load_lemma_table()


def test_bad_clean_settings_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="bad data.clean settings"):
        make_cleaner({"lowercse": True})


def _ds(counts: dict[str, int]) -> Dataset:
    texts, labels = [], []
    for name, n in counts.items():
        for i in range(n):
            texts.append(f"{name} text {i}")
            labels.append((name,))
    return Dataset(texts, labels, LabelSet(tuple(counts)))


def test_undersample_and_oversample() -> None:
    ds = _ds({"a": 30, "b": 10, "c": 5})
    under = balance(ds, "undersample", seed=1)
    assert under.class_counts() == {"a": 5, "b": 5, "c": 5}
    assert set(under.texts) <= set(ds.texts)
    over = balance(ds, "oversample", seed=1)
    assert over.class_counts() == {"a": 30, "b": 30, "c": 30}
    assert len(set(over.texts)) == 45  # every original row kept, copies added
    assert balance(ds, "undersample", seed=1).texts == under.texts
    assert balance(ds, "undersample", seed=2).texts != under.texts
    assert balance(ds, "none", seed=1) is ds
    with pytest.raises(ConfigError, match="unknown balance method 'smote'"):
        balance(ds, "smote")


def test_k_per_class_keeps_small_classes_whole(caplog: pytest.LogCaptureFixture) -> None:
    ds = _ds({"a": 30, "b": 10, "c": 3})
    few = k_per_class(ds, 8, seed=0)
    assert few.class_counts() == {"a": 8, "b": 8, "c": 3}
    assert "c (3)" in caplog.text
    assert k_per_class(ds, 8, seed=0).texts == few.texts


def test_multi_label_rows_group_by_their_rarest_label() -> None:
    labels = [("common",)] * 6 + [("common", "rare")] * 2 + [()]
    ds = Dataset([f"t{i}" for i in range(9)], labels, LabelSet(("common", "rare"), multi_label=True))
    assert primary_labels(ds)[5:] == ["common", "rare", "rare", ""]
    few = k_per_class(ds, 2, seed=0)
    assert few.class_counts() == {"common": 4, "rare": 2}  # rare rows also carry "common"
    under = balance(ds, "undersample", seed=0)
    assert len(under) == 5  # 2 common + 2 rare + the unlabelled row


def test_subsample_is_exact_and_stratified() -> None:
    ds = _ds({"a": 70, "b": 25, "c": 5})
    sub = subsample(ds, 20, seed=3)
    assert len(sub) == 20
    assert sub.class_counts() == {"a": 14, "b": 5, "c": 1}
    assert len(subsample(ds, 2, seed=3)) == 2
    assert subsample(ds, 500, seed=3) is ds


def test_concat_keeps_label_set() -> None:
    a, b = _ds({"x": 2, "y": 1}), _ds({"x": 1, "y": 2})
    joined = concat([a, b])
    assert len(joined) == 6
    assert joined.class_counts() == {"x": 3, "y": 3}
