"""``classifine evaluate --llm``: zero/few-shot LLM rows on the same split as the fine-tuned model.

The LLM is an OpenAI-compatible server on 127.0.0.1 that implements the documented
``/v1/chat/completions`` contract (a recorded-contract double: no real LLM server runs in the
default test run; ``make test-llamacpp`` covers a real one). It answers by keyword, so its
accuracy on the test split is known exactly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from classifine.cli.main import main
from e2e.test_cli_evaluate_predict import run  # noqa: F401  (module-scoped run fixture)
from llm_contract import ContractServer

KEYWORDS = {"food": "pasta", "sport": "goal", "tech": "cpu"}


def keyword_label(text: str) -> str:
    """The server's rule: the first topic whose keyword is in the text, else 'food'."""
    return next((label for label, word in KEYWORDS.items() if word in text.split()), "food")


def prompts(server: ContractServer) -> list[str]:
    """The whole user message of every request, in order."""
    return [str(r["body"]["messages"][-1]["content"]) for r in server.requests]


@pytest.fixture()
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ContractServer]:
    monkeypatch.setenv("CLASSIFINE_CACHE", str(tmp_path / "cache"))  # a private answer cache
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    srv = ContractServer()
    srv.rule = keyword_label
    yield srv
    srv.close()


def test_leaderboard_has_finetuned_tfidf_zero_and_few_shot_rows(
    run: Path,  # noqa: F811
    server: ContractServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["evaluate", str(run), "--llm", "openai:kw-model", "--llm-shots", "0,2"]
    assert main([*args, "--llm-base-url", server.url, "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    rows = {r["kind"]: r for r in payload["leaderboard"]}
    assert set(rows) == {"fine-tuned", "tf-idf", "zero-shot", "few-shot"}
    test = pd.read_csv(run.parent / "test.csv")
    hits = sum(keyword_label(t) == g for t, g in zip(test["text"], test["label"], strict=True))
    expected = hits / len(test)
    for kind in ("zero-shot", "few-shot"):
        assert rows[kind]["accuracy"] == pytest.approx(expected)
        assert rows[kind]["abstention_rate"] == 0.0
        assert rows[kind]["texts_per_s"] > 0
    assert len(prompts(server)) == 2 * len(test)  # every test text asked once per row
    train_texts = set(pd.read_csv(run.parent / "train.csv")["text"])
    few_shot_prompts = prompts(server)[len(test) :]
    assert all(any(t in p for t in train_texts) for p in few_shot_prompts)  # examples come from train
    test_texts = set(test["text"])
    assert not any(sum(t in p for t in test_texts) > 1 for p in few_shot_prompts)  # no test text leaks in
    assert payload["metrics"]["n"] == len(test)


def test_limit_scores_every_row_on_the_same_subset(
    run: Path,  # noqa: F811
    server: ContractServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["evaluate", str(run), "--llm", "openai:kw-model", "--limit", "12", "--json"]
    assert main([*args, "--llm-base-url", server.url]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["metrics"]["n"] == 12
    assert all(r.get("n", 12) == 12 for r in payload["leaderboard"] if r["kind"] == "zero-shot")
    assert len(prompts(server)) == 12
    assert any("subset of 12" in note for note in payload["notes"])
    recorded = json.loads((run / "metrics.json").read_text())
    assert recorded["evaluation"]["split"] == "test subset"
    assert recorded.get("test", {}).get("n") != 12  # a subset never overwrites the run's test metrics


def test_llm_rows_are_printed_without_the_baseline(
    run: Path,  # noqa: F811
    server: ContractServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["evaluate", str(run), "--llm", "openai:kw-model", "--no-baseline", "--limit", "6"]
    assert main([*args, "--llm-base-url", server.url]) == 0
    out = capsys.readouterr().out
    assert "kw-model (openai)" in out and "zero-shot" in out


def test_bad_llm_spec_is_one_line(run: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    assert main(["evaluate", str(run), "--llm", "gemma3-270m"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "BACKEND:MODEL" in err[0]
