"""Tolerant parsing of free-text LLM answers, and turning replies into predictions."""

from __future__ import annotations

import math

import pytest

from classifine.llm.backends import LLMReply, TokenLogprob
from classifine.llm.labeler import interpret
from classifine.llm.parsing import normalise, parse_answer
from classifine.llm.scoring import first_token_scores, label_confidence

SPAM = ["ham", "spam"]
TREC = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("spam", "spam"),
        ("  SPAM \n", "spam"),
        ('"ham"', "ham"),
        ("'Spam'.", "spam"),
        ("Label: spam", "spam"),
        ("label = ham", "ham"),
        ("**Label:** Spam", "spam"),
        ("Answer: ham\nBecause it is a normal message.", "ham"),
        ('{"label": "spam"}', "spam"),
        ('{"Label": "HAM"}', "ham"),
        ('```json\n{"label": "spam"}\n```', "spam"),
        ('Sure! {"category": "spam"} is my answer', "spam"),
        ("spam. It promises a prize.", "spam"),
        ("sp", "spam"),  # an unambiguous prefix
        ("I think this message is spam", "spam"),
    ],
)
def test_single_label_answers(raw: str, expected: str) -> None:
    assert parse_answer(raw, SPAM) == (expected,)


@pytest.mark.parametrize("raw", ["", "   ", "I cannot tell.", "it is either ham or spam", "{}", "x"])
def test_unparseable_answers_abstain(raw: str) -> None:
    assert parse_answer(raw, SPAM) is None


def test_uppercase_and_compound_labels() -> None:
    assert parse_answer("hum", TREC) == ("HUM",)
    assert parse_answer("Label: LOC.", TREC) == ("LOC",)
    assert parse_answer("not_spam", ["spam", "not spam"]) == ("not spam",)
    assert parse_answer("this is not spam", ["spam", "not spam"]) == ("not spam",)
    assert parse_answer("positive sentiment", ["negative", "positive"]) == ("positive",)


def test_prefix_must_be_unambiguous() -> None:
    assert parse_answer("ne", ["negative", "neutral", "positive"]) is None
    assert parse_answer("neg", ["negative", "neutral", "positive"]) == ("negative",)


def test_synonyms_map_to_labels() -> None:
    synonyms = {"junk": "spam", "legit": "ham", "nonsense": "unknown-label"}
    assert parse_answer("Junk!", SPAM, synonyms=synonyms) == ("spam",)
    assert parse_answer("legit", SPAM, synonyms=synonyms) == ("ham",)
    assert parse_answer("nonsense", SPAM, synonyms=synonyms) is None


def test_multi_label_lists() -> None:
    labels = ["acq", "crude", "earn", "ship"]
    assert parse_answer("crude, acq", labels, multi_label=True) == ("acq", "crude")
    assert parse_answer("Labels: ship; earn and crude", labels, multi_label=True) == ("crude", "earn", "ship")
    assert parse_answer('{"labels": ["Crude", "acq", "gold"]}', labels, multi_label=True) == ("acq", "crude")
    assert parse_answer('["earn"]', labels, multi_label=True) == ("earn",)
    assert parse_answer("none of these", labels, multi_label=True) is None


def test_normalise() -> None:
    assert normalise('  "Not_Spam!" ') == "not spam"
    assert normalise("Sci/Tech") == "sci/tech"


def _tokens(*pairs: tuple[str, float, list[tuple[str, float]]]) -> list[TokenLogprob]:
    return [TokenLogprob(t, lp, top) for t, lp, top in pairs]


def test_confidence_and_scores_from_token_logprobs() -> None:
    toks = _tokens(
        ('{"label":"', 0.0, []),
        ("sp", math.log(0.7), [("sp", math.log(0.7)), ("ham", math.log(0.2)), ("x", math.log(0.1))]),
        ("am", math.log(0.9), []),
        ('"}', 0.0, []),
    )
    assert label_confidence(toks, "spam") == pytest.approx(0.63)
    scores = first_token_scores(toks, "spam", SPAM)
    assert scores == pytest.approx({"ham": 0.2 / 0.9, "spam": 0.7 / 0.9})
    assert label_confidence(toks, "ham") is None


def test_scores_when_label_shares_a_token_with_a_quote() -> None:
    toks = _tokens(
        ('{"label": ', 0.0, []), ('"spam', math.log(0.6), [('"spam', math.log(0.6)), ('"ham', -1.2)])
    )
    scores = first_token_scores(toks, "spam", SPAM)
    assert scores is not None and scores["spam"] == pytest.approx(0.6 / (0.6 + math.exp(-1.2)))


def test_interpret_prefers_backend_scores() -> None:
    pred = interpret(LLMReply(raw="spam", scores={"ham": 0.25, "spam": 0.75}), SPAM)
    assert (pred.label, pred.confidence, pred.abstained) == ("spam", 0.75, False)
    multi = interpret(
        LLMReply(raw="", scores={"a": 0.45, "b": 0.4, "c": 0.15}), ["a", "b", "c"], multi_label=True
    )
    assert multi.labels == ("a", "b") and multi.confidence == pytest.approx(0.4)


def test_interpret_abstains_without_crashing() -> None:
    pred = interpret(LLMReply(raw="¯\\_(ツ)_/¯"), SPAM)
    assert pred.abstained and pred.label is None and pred.confidence is None and pred.chosen() == ()
