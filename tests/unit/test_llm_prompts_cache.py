"""Prompt rendering, few-shot example choice, the answer cache and leaderboard rows."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from classifine.data.dataset import Dataset
from classifine.data.labels import LabelSet
from classifine.errors import ConfigError, DataError
from classifine.llm import (
    FewShotPool,
    LLMCache,
    LLMPrediction,
    LLMReply,
    LLMRequest,
    PromptBuilder,
    cache_key,
    label_texts,
    llm_leaderboard_row,
    make_builder,
    prediction_matrix,
)
from classifine.llm.prompts import check_template, load_descriptions, load_template

LS = LabelSet(("ham", "spam"))


def _train() -> Dataset:
    spam = [f"win a free prize number {i}" for i in range(6)] + ["cheap loans approved today"]
    ham = [f"see you at dinner {i}" for i in range(6)] + ["the meeting moved to monday"]
    return Dataset(spam + ham, [("spam",)] * 7 + [("ham",)] * 7, LS)


class CountingBackend:
    """A backend that answers 'spam' when the text mentions a prize and counts its calls."""

    name = "counting"

    def __init__(self, model: str = "m") -> None:
        self.model = model
        self.calls = 0
        self.seen: list[LLMRequest] = []

    def identity(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model}

    def run(self, requests: Sequence[LLMRequest]) -> Iterator[tuple[int, LLMReply]]:
        for i, req in enumerate(requests):
            self.calls += 1
            self.seen.append(req)
            text = req.user.rsplit("Text:", 1)[-1]
            yield i, LLMReply(raw="Label: spam" if "prize" in text else "ham")

    def count_tokens(self, text: str) -> int:
        return len(text) // 4

    def close(self) -> None:
        pass


# -- templates and prompts ---------------------------------------------------------------------


def test_default_prompt_lists_labels_and_text() -> None:
    req = PromptBuilder(labels=LS.names).build("Hello there")
    assert "ham, spam" in req.user and req.user.endswith("Text: Hello there\nLabel:")
    assert req.messages()[0]["role"] == "system"
    assert req.plain.startswith(req.system) and req.plain.endswith("Label:")


def test_template_fields_are_checked() -> None:
    assert check_template("Labels: {labels}\n{text}") == "format"
    assert check_template("Labels: $labels\n$text") == "dollar"
    with pytest.raises(ConfigError, match="unknown template field 'lables'.*did you mean 'labels'"):
        check_template("{lables} {text}")
    with pytest.raises(ConfigError, match=r"no \{text\} field"):
        check_template("Choose one of {labels}")


def test_user_templates_in_both_styles(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text('Reply with JSON {{"label": ...}} using {labels}.\nMessage: {text}\nAnswer:')
    req = PromptBuilder(labels=LS.names, template=load_template(path)).build("hi")
    assert req.user == 'Reply with JSON {"label": ...} using ham, spam.\nMessage: hi\nAnswer:'
    dollar = PromptBuilder(labels=LS.names, template="Pick $labels for: $text").build("yo {x}")
    assert dollar.user == "Pick ham, spam for: yo {x}"


def test_descriptions_render_and_unknown_labels_fail(tmp_path: Path) -> None:
    good = tmp_path / "d.yaml"
    good.write_text("spam: unsolicited advertising or scams\nham: a normal personal message\n")
    desc = load_descriptions(good, LS.names)
    user = PromptBuilder(labels=LS.names, descriptions=desc).build("x").user
    assert "- ham: a normal personal message\n- spam: unsolicited advertising or scams" in user
    bad = tmp_path / "b.json"
    bad.write_text(json.dumps({"spma": "typo"}))
    with pytest.raises(ConfigError, match="did you mean 'spam'"):
        load_descriptions(bad, LS.names)
    latin1 = tmp_path / "l.yaml"
    latin1.write_bytes("spam: r\xe9clame\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_descriptions(latin1, LS.names)


def test_few_shot_is_seeded_k_per_class_from_train() -> None:
    train = _train()
    a = FewShotPool(train, k=2, seed=1).for_texts(["q"])[0]
    b = FewShotPool(train, k=2, seed=1).for_texts(["q"])[0]
    c = FewShotPool(train, k=2, seed=2).for_texts(["q"])[0]
    assert a == b and a != c
    assert sorted(lab[0] for _, lab in a) == ["ham", "ham", "spam", "spam"]
    assert all(text in train.texts for text, _ in a)
    user = make_builder(LS, "few-shot", train=train, k=2, seed=1).build("q").user
    assert user.count("\nLabel: ") == 4 and "Examples:" in user  # 4 examples, then the bare "Label:"


def test_similar_examples_are_the_nearest_per_class() -> None:
    pool = FewShotPool(_train(), k=1, similar=True)
    shots = pool.for_texts(["cheap loans", "meeting on monday"])
    assert shots[0][-1] == ("cheap loans approved today", ("spam",))  # most similar comes last
    assert shots[1][-1] == ("the meeting moved to monday", ("ham",))
    assert {lab for _, (lab,) in shots[0]} == {"ham", "spam"}


def test_few_shot_without_train_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="needs training examples"):
        make_builder(LS, "few-shot")
    with pytest.raises(ConfigError, match="unknown labelling mode"):
        make_builder(LS, "one-shot")


# -- cache -------------------------------------------------------------------------------------


def test_cache_key_covers_everything_that_changes_an_answer() -> None:
    base = dict(identity={"backend": "ollama", "model": "a"}, template_hash="t", labels=["x", "y"],
                mode={"kind": "zero-shot"}, prompt="p", text="hello")  # fmt: skip
    key = cache_key(**base)  # type: ignore[arg-type]
    assert key == cache_key(**base)  # type: ignore[arg-type]
    changes = [
        ("identity", {"backend": "ollama", "model": "b"}),
        ("template_hash", "u"),
        ("labels", ["y", "x"]),
        ("mode", {"kind": "few-shot"}),
        ("prompt", "q"),
        ("text", "hello!"),
    ]
    for field, value in changes:
        assert cache_key(**{**base, field: value}) != key, field  # type: ignore[arg-type]


def test_cache_round_trip_and_wal(tmp_path: Path) -> None:
    cache = LLMCache(tmp_path / "c.sqlite")
    reply = LLMReply(raw='{"label": "spam"}', scores={"ham": 0.2, "spam": 0.8}, prompt_tokens=12)
    cache.put("k1", reply)
    assert cache.get("k1") == reply and cache.get("nope") is None
    assert set(cache.get_many(["k1", "k2"])) == {"k1"} and len(cache) == 1
    mode = sqlite3.connect(tmp_path / "c.sqlite").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def _writer(path: str, start: int) -> None:
    cache = LLMCache(path)
    for i in range(start, start + 50):
        cache.put(f"key-{i}", LLMReply(raw=str(i)))


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "c.sqlite")
    LLMCache(path)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, s)) for s in (0, 50, 100)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    cache = LLMCache(path)
    assert len(cache) == 150 and cache.get("key-120") == LLMReply(raw="120")


def test_rerun_costs_no_backend_call(tmp_path: Path) -> None:
    cache = LLMCache(tmp_path / "c.sqlite")
    texts = ["a prize for you", "lunch?", "a prize for you"]
    backend = CountingBackend()
    first = label_texts(texts, LS, backend, cache=cache)
    assert backend.calls == 2 and first.calls == 2  # the duplicate text is asked once
    second = label_texts(texts, LS, backend, cache=cache)
    assert (
        backend.calls == 2 and second.cache_hits == 3 and [p.label for p in second] == ["spam", "ham", "spam"]
    )
    label_texts(texts, LS, backend, cache=cache, template="Classify: {text}\nLabel:")
    assert backend.calls == 4  # a new template is a new key
    label_texts(texts, LS, CountingBackend(model="other"), cache=cache)
    assert len(cache) == 6


# -- rows for the leaderboard ------------------------------------------------------------------


def _pred(label: str | None, conf: float | None = None) -> LLMPrediction:
    return LLMPrediction(label, None, None, conf, label or "?", label is None)


def test_leaderboard_row_counts_abstentions_as_wrong() -> None:
    ds = Dataset(["a", "b", "c", "d"], [("ham",), ("ham",), ("spam",), ("spam",)], LS)
    preds = [_pred("ham"), _pred(None), _pred("spam"), _pred("ham")]
    row = llm_leaderboard_row("m", "zero-shot", preds, ds, seconds=2.0)
    assert row["accuracy"] == 0.5 and row["abstention_rate"] == 0.25 and row["texts_per_s"] == 2.0
    # ham: P=1/2 R=1/2 F1=.5; spam: P=1 R=1/2 F1=2/3
    assert row["macro_f1"] == pytest.approx((0.5 + 2 / 3) / 2)
    assert set(row) >= {"name", "kind", "accuracy", "macro_f1", "micro_f1", "abstention_rate", "texts_per_s"}
    with pytest.raises(DataError):
        llm_leaderboard_row("m", "zero-shot", preds[:3], ds)


def test_prediction_matrix_rows() -> None:
    preds = [
        _pred("spam", 0.9),
        _pred(None),
        LLMPrediction("ham", None, {"ham": 0.6, "spam": 0.4}, 0.6, "", False),
    ]
    probs = prediction_matrix(preds, LS.names)
    assert probs.ravel().tolist() == pytest.approx([0.1, 0.9, 0.5, 0.5, 0.6, 0.4])


class BiasedScorer(CountingBackend):
    """Gives label scores that prefer 'ham' for every text, a little less for spammy ones."""

    name = "biased"

    def run(self, requests: Sequence[LLMRequest]) -> Iterator[tuple[int, LLMReply]]:
        for i, req in enumerate(requests):
            self.calls += 1
            spam = 0.3 if "prize" in req.user.rsplit("Text:", 1)[-1] else 0.1
            yield i, LLMReply(raw="", scores={"ham": 1 - spam, "spam": spam})


def test_calibration_removes_a_constant_label_bias(tmp_path: Path) -> None:
    texts = ["a prize for you", "lunch?"]
    backend = BiasedScorer()
    cache = LLMCache(tmp_path / "c.sqlite")
    raw = label_texts(texts, LS, backend, cache=cache)
    assert [p.label for p in raw] == ["ham", "ham"]
    calibrated = label_texts(texts, LS, backend, cache=cache, calibrate=True)
    assert [p.label for p in calibrated] == ["spam", "ham"]
    # prior from the content-free inputs is (0.9, 0.1): "a prize" -> (0.7/0.9, 0.3/0.1) normalised
    assert calibrated[0].scores == pytest.approx({"ham": (7 / 9) / (7 / 9 + 3), "spam": 3 / (7 / 9 + 3)})
    assert backend.calls == 2 + 3  # the texts once, then only the three content-free prompts
    assert calibrated.cache_hits == 2


def test_gold_labels_of_a_labelling_input_parse_like_training_data(tmp_path: Path) -> None:
    from classifine.llm.io import resolve_input

    path = tmp_path / "in.csv"
    path.write_text('text,label\nfirst,"x,y"\nsecond,x\nthird,\n', encoding="utf-8")
    inp = resolve_input(str(path), multi_label=True)
    assert inp.gold == [("x", "y"), ("x",), ()]
    assert inp.label_set is not None and inp.label_set.names == ("x", "y")


def test_builder_and_prompt_options_together_are_refused() -> None:
    from classifine.llm import label_texts, make_builder

    builder = make_builder(LS)
    with pytest.raises(ConfigError, match="both a prompt builder and prompt options"):
        label_texts(["x"], LS, object(), builder=builder, template="{labels} {text}")  # type: ignore[arg-type]
