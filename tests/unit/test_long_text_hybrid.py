"""Long documents read in windows, the TF-IDF hybrid, and rare classes: units and a tiny end-to-end run."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import numpy as np
import pytest

from classifine.config import DataConfig
from classifine.data.dataset import Dataset, DatasetSplits
from classifine.data.labels import LabelSet
from classifine.data.loading import read_splits
from classifine.errors import DataError
from classifine.models.windows import LongText, choose_mode, encode_windows, length_batches, pool
from classifine.training.hybrid import decide

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fixtures_models import FILLER, NEGATIVE, POSITIVE, build_tiny_model, tiny_config  # noqa: E402


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model("bert", tmp_path_factory.mktemp("m") / "bert")


@pytest.fixture(scope="module")
def tokenizer(tiny_bert: Path):  # type: ignore[no-untyped-def]
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_bert))


def _content(tok, ids: list[int]) -> list[int]:  # type: ignore[no-untyped-def]
    return [i for i in ids if i not in tok.all_special_ids]


def test_windows_cover_a_long_text_and_pool_per_text(tokenizer) -> None:  # type: ignore[no-untyped-def]
    long_text = " ".join(FILLER[i % len(FILLER)] for i in range(70))
    texts = [long_text, "good film", ""]
    whole = tokenizer(texts, add_special_tokens=False)["input_ids"]
    cut = encode_windows(tokenizer, texts, 16, LongText("truncate"))
    assert (
        cut.doc == [0, 1, 2]
        and [r["input_ids"] for r in cut.rows]
        == tokenizer(texts, truncation=True, max_length=16)["input_ids"]
    )
    chunks = encode_windows(tokenizer, texts, 16, LongText("chunks", stride=4, max_windows=50))
    assert chunks.doc.count(0) > 1 and chunks.doc[-2:] == [1, 2]
    assert all(len(r["input_ids"]) <= 16 for r in chunks.rows)
    first = [
        _content(tokenizer, r["input_ids"]) for r, d in zip(chunks.rows, chunks.doc, strict=True) if d == 0
    ]
    assert first[0][-4:] == first[1][:4]  # neighbours share `stride` tokens
    assert set(whole[0]) <= {t for w in first for t in w} and first[-1][-1] == whole[0][-1]  # read whole
    capped = encode_windows(tokenizer, texts, 16, LongText("chunks", stride=4, max_windows=3))
    kept = [
        _content(tokenizer, r["input_ids"]) for r, d in zip(capped.rows, capped.doc, strict=True) if d == 0
    ]
    assert len(kept) == 3 and kept[0] == first[0] and kept[-1] == first[-1]  # spread: start and end kept
    ends = encode_windows(tokenizer, texts, 16, LongText("head_tail", head=5))
    row = _content(tokenizer, ends.rows[0]["input_ids"])
    assert len(ends.rows[0]["input_ids"]) == 16 and row[:5] == whole[0][:5] and row[5:] == whole[0][-9:]
    probs = np.array([[0.9, 0.1], [0.5, 0.5], [0.2, 0.8]])
    np.testing.assert_allclose(pool(probs, [0, 0, 1], 2, False), [[0.7, 0.3], [0.2, 0.8]])
    np.testing.assert_allclose(pool(probs, [0, 0, 1], 2, True), [[0.9, 0.5], [0.2, 0.8]])


def test_auto_reads_whole_only_when_many_texts_are_long() -> None:
    assert choose_mode([10] * 96 + [500] * 4, 256) == "truncate"
    assert choose_mode([10] * 80 + [500] * 20, 256) == "chunks"


def test_hybrid_kept_only_when_it_beats_the_transformer_on_validation() -> None:
    y = np.array([0, 0, 1, 1, 0, 1])
    weak = np.array([[0.6, 0.4], [0.4, 0.6], [0.4, 0.6], [0.6, 0.4], [0.6, 0.4], [0.45, 0.55]])
    good_tfidf = np.array([[0.7, 0.3], [0.8, 0.2], [0.3, 0.7], [0.2, 0.8], [0.6, 0.4], [0.4, 0.6]])
    kept = decide("auto", y, weak, good_tfidf, multi_label=False, metric="accuracy")
    assert kept.kept and 0 < kept.weight < 1 and kept.scores["hybrid"] > kept.scores["transformer"]
    perfect = np.eye(2)[y] * 0.9 + 0.05
    assert not decide("auto", y, perfect, good_tfidf, multi_label=False, metric="accuracy").kept
    assert decide("on", y, perfect, good_tfidf, multi_label=False).kept
    assert decide("off", y, weak, good_tfidf, multi_label=False).weight == 0.0


def _long_docs(n: int, seed: int) -> Dataset:
    """Texts whose label word comes after 24 filler words: invisible to a 16-token window at the start."""
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        cue = rng.choice(POSITIVE if label == "pos" else NEGATIVE)
        texts.append(" ".join(rng.choices(FILLER, k=24) + [cue, cue]))
        labels.append((label,))
    return Dataset(texts, labels, LabelSet(("neg", "pos")))


def test_chunks_learn_what_truncation_cannot_see(tiny_bert: Path, tmp_path: Path) -> None:
    from classifine.inference.predictor import Classifier
    from classifine.training.fit import fit

    splits = DatasetSplits(_long_docs(96, 0), _long_docs(32, 1), _long_docs(32, 2))
    scores = {}
    for mode in ("truncate", "chunks"):
        cfg = tiny_config(tiny_bert, "full", epochs=12, learning_rate=1e-2)
        cfg.model.max_length, cfg.model.long_text = 16, mode  # type: ignore[assignment]
        cfg.train.selection = (
            "validation"  # 32 texts would only report (a fixed schedule); lr 1e-2 needs the best epoch
        )
        run = fit(splits, cfg, tmp_path / mode, progress=False)
        recorded = json.loads((run / "metrics.json").read_text())["validation"]["accuracy"]
        clf = Classifier.load(run)
        assert clf.meta.long_text["mode"] == mode
        served = float((clf.predict_proba(splits.validation.texts).argmax(1) == splits.validation.y()).mean())
        assert served == pytest.approx(recorded)  # prediction reads texts exactly as validation did
        scores[mode] = served
    assert scores["chunks"] >= 0.9 and scores["truncate"] <= 0.7, scores


def test_rare_classes_are_dropped_or_merged_and_reported(tmp_path: Path) -> None:
    rows = [(f"common text {i}", "a" if i % 2 else "b") for i in range(40)] + [("only one", "rare")]
    rows += [("first c", "c"), ("second c", "c"), ("first d", "d"), ("second d", "d")]
    (tmp_path / "d.csv").write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in rows), encoding="utf-8")
    source = str(tmp_path / "d.csv")
    with pytest.raises(DataError, match=r"class '\w+' has only \d.*min_examples_per_class"):
        read_splits(DataConfig(source=source))
    dropped = read_splits(DataConfig(source=source, min_examples_per_class=3))
    assert dropped.label_set.names == ("a", "b")
    assert "dropped 'c' (2 texts), 'd' (2 texts), 'rare' (1 text)" in dropped.train.meta["rare_classes"]
    merged = read_splits(DataConfig(source=source, min_examples_per_class=3, rare_classes="merge"))
    assert merged.label_set.names == ("a", "b", "other")  # 5 rare texts together make a class
    assert sum(merged[s].class_counts()["other"] for s in ("train", "validation", "test")) == 5
    # test rows from their own file: splitting validation off train names the validation split
    (tmp_path / "test.csv").write_text("text,label\nx,a\ny,b\n", encoding="utf-8")
    small = tmp_path / "train.csv"
    small.write_text(
        "text,label\n" + "".join(f"t{i},{'a' if i else 'b'}\n" for i in range(10)), encoding="utf-8"
    )
    with pytest.raises(DataError, match=r"class 'b' has only 1 distinct text.*splitting off validation rows"):
        read_splits(DataConfig(train=str(small), test=str(tmp_path / "test.csv")))


@pytest.mark.parametrize("mode", ["chunks", "head_tail", "truncate"])
def test_a_split_is_tokenised_in_slices_with_the_same_windows(
    tokenizer, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    import classifine.models.windows as windows

    rng = random.Random(3)
    texts = [
        " ".join(rng.choice(POSITIVE + NEGATIVE + FILLER) for _ in range(rng.randint(3, 90)))
        for _ in range(23)
    ]
    lt = LongText(mode, stride=4, max_windows=3, head=6)  # type: ignore[arg-type]
    whole = encode_windows(tokenizer, texts, 16, lt)
    monkeypatch.setattr(windows, "ENCODE_SLICE", 5)  # 23 texts in 5 slices, the last one short
    sliced = encode_windows(tokenizer, texts, 16, lt)
    assert sliced.rows == whole.rows and sliced.doc == whole.doc and sliced.n_docs == 23
    assert sorted(set(sliced.doc)) == list(range(23))


def test_forward_batches_keep_to_the_token_budget_and_cover_every_row_once() -> None:
    rng = np.random.default_rng(0)
    lengths = [int(x) for x in rng.integers(1, 300, 500)]
    batches = length_batches(lengths, max_rows=64, budget=4096)
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(500))
    for b in batches:
        width = max(lengths[i] for i in b)
        assert len(b) <= 64 and (len(b) * width <= 4096 or len(b) == 1)
    assert [len(b) for b in length_batches([5] * 100, max_rows=64)] == [64, 36]  # short texts: rows cap
    assert [len(b) for b in length_batches([256] * 40, max_rows=64)] == [16, 16, 8]  # long: tokens cap
    assert length_batches([5000, 3], max_rows=8, budget=100) == [[0], [1]]  # longer than the budget: alone
