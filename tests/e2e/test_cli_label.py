"""``classifine label`` end to end, against an OpenAI-compatible server on 127.0.0.1.

The server is the recorded-contract double of ``/v1/chat/completions`` in ``tests/llm_contract.py``
(the shapes PROTOCOLS.md documents): a real OpenAI-compatible server cannot run in the default test run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from classifine.cli.main import main
from llm_contract import ContractServer

KEY = "sk-e2e-secret"


@pytest.fixture()
def server() -> Iterator[ContractServer]:
    srv = ContractServer()
    srv.api_key = KEY
    yield srv
    srv.close()


@pytest.fixture()
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # These tests are about the answer cache: keep it in a private folder.
    monkeypatch.setenv("CLASSIFINE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    path = tmp_path / "inbox.csv"
    rows = {
        "text": ["You won a prize! Call now", "see you at 6", "claim the prize", "ok thanks"],
        "label": ["spam", "ham", "spam", "spam"],
    }
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _args(server: ContractServer, data: Path, out: Path, *extra: str) -> list[str]:
    return [
        "label", "--backend", "openai", "--model", "tiny", "--base-url", server.url, "--api-key", KEY,
        "--input", str(data), "--output", str(out), *extra,
    ]  # fmt: skip


def test_label_writes_output_and_second_run_hits_cache(
    server: ContractServer, data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "labels.jsonl"
    assert main(_args(server, data, out)) == 0
    assert len(server.requests) == 4
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["label"] for r in rows] == ["spam", "ham", "spam", "ham"]
    assert [r["gold_label"] for r in rows] == ["spam", "ham", "spam", "spam"]
    assert rows[0]["confidence"] == pytest.approx(0.9)
    assert set(rows[0]) >= {"text", "label", "confidence", "scores", "abstained"}
    first = capsys.readouterr().out
    assert "0 cache hits" in first and "accuracy 0.750" in first

    assert main(_args(server, data, out, "--json")) == 0
    assert len(server.requests) == 4  # nothing new was asked
    summary = json.loads(capsys.readouterr().out)
    assert summary["cache_hits"] == 4 and summary["calls"] == 0 and summary["accuracy"] == 0.75


def test_min_confidence_writes_trainable_csv(server: ContractServer, data: Path, tmp_path: Path) -> None:
    out = tmp_path / "weak.csv"
    assert main(_args(server, data, out, "--min-confidence", "0.5")) == 0
    frame = pd.read_csv(out)
    assert list(frame.columns[:2]) == ["text", "label"] and len(frame) == 4
    assert main(_args(server, data, out, "--min-confidence", "0.95")) == 0
    assert len(pd.read_csv(out)) == 0  # every answer had confidence 0.9


def test_dry_run_makes_no_requests(
    server: ContractServer, data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "never.jsonl"
    assert main(_args(server, data, out, "--dry-run", "--few-shot", "1", "--train", str(data))) == 0
    assert server.requests == [] and not out.exists()
    shown = capsys.readouterr().out
    assert "Would make 4 calls for 4 rows" in shown
    assert "Text: You won a prize! Call now" in shown and "Examples:" in shown


def test_few_shot_examples_reach_the_server(server: ContractServer, data: Path, tmp_path: Path) -> None:
    out = tmp_path / "fs.jsonl"
    assert main(_args(server, data, out, "--few-shot", "1", "--train", str(data), "--limit", "2")) == 0
    assert len(server.requests) == 2
    prompt = server.requests[0]["body"]["messages"][-1]["content"]
    assert prompt.count("\nLabel: ") >= 2  # one example per class, then the question
    assert len(out.read_text().splitlines()) == 2


def test_bad_key_exits_2_with_one_line(
    server: ContractServer, data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _args(server, data, tmp_path / "x.jsonl")
    args[args.index(KEY)] = "sk-wrong"
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "401" in err[0] and "API key" in err[0]
    assert "sk-wrong" not in err[0]
    assert len(server.requests) == 1


def test_missing_text_column_exits_2(server: ContractServer, data: Path, tmp_path: Path, capsys: Any) -> None:
    assert main(_args(server, data, tmp_path / "x.jsonl", "--text-column", "txt")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "did you mean 'text'" in err[0]
    assert server.requests == []


def test_catalog_split_dry_run_counts_local_tokens(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["label", "--backend", "local", "--model", "smollm2-135m", "--input", "sms-spam:test"]
    assert main([*args, "--dry-run", "--limit", "5", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["rows"] == 5 and plan["token_count"] == "tokenizer"
    assert "<|im_start|>assistant" in plan["first_prompt"] and "ham, spam" in plan["first_prompt"]
    assert plan["approx_prompt_tokens"] > 5 * 30
