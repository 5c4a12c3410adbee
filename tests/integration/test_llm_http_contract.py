"""HTTP contract tests of the ollama and openai backends over real HTTP on 127.0.0.1.

The server here is a recorded-contract double: it answers with the request/response shapes that
Ollama's ``/api/chat`` and the OpenAI ``/v1/chat/completions`` API document (see PROTOCOLS.md),
because a real Ollama or OpenAI server cannot run on this machine. Scripted failures (404, 429,
5xx, 400, 401, slow answers) check retries, fast failures and the messages a user sees.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from classifine.data.labels import LabelSet
from classifine.errors import BackendError
from classifine.llm import LLMCache, RetryPolicy, get_backend, label_texts
from llm_contract import ContractServer, openai_answer

LABELS = LabelSet(("ham", "spam"))
TEXTS = ["WIN a cash prize now, call 0900", "are we still on for lunch?", "claim your prize today"]
FAST = RetryPolicy(attempts=4, backoff=0.01)


@pytest.fixture()
def server() -> Iterator[ContractServer]:
    srv = ContractServer()
    yield srv
    srv.close()


@pytest.fixture()
def cache(tmp_path: Path) -> LLMCache:
    return LLMCache(tmp_path / "llm_cache.sqlite")


Factory = Callable[..., Any]


def ollama(server: ContractServer, **kw: Any) -> Any:
    return get_backend("ollama", model="llama3.2:1b", base_url=server.url, retry=FAST, **kw)


def openai(server: ContractServer, **kw: Any) -> Any:
    return get_backend("openai", model="smollm2", base_url=server.url, api_key="sk-test", retry=FAST, **kw)


# -- ollama ------------------------------------------------------------------------------------


def test_ollama_success_sends_schema_enum_and_reads_logprobs(server: ContractServer) -> None:
    preds = label_texts(TEXTS, LABELS, ollama(server), cache=False)
    assert [p.label for p in preds] == ["spam", "ham", "spam"]
    assert len(server.requests) == 3
    body = server.requests[0]["body"]
    assert server.requests[0]["path"] == "/api/chat"
    assert body["stream"] is False
    assert body["format"]["properties"]["label"]["enum"] == ["ham", "spam"]
    assert body["options"]["temperature"] == 0 and body["options"]["seed"] == 42
    assert body["logprobs"] is True and body["top_logprobs"] == 5
    assert "ham, spam" in body["messages"][-1]["content"]  # the schema is not shown to the model
    assert preds[0].confidence == pytest.approx(0.9, abs=1e-6)
    assert preds[0].scores == pytest.approx({"ham": 0.1, "spam": 0.9}, abs=1e-6)
    assert preds[1].confidence == pytest.approx(0.9, abs=1e-6)


def test_ollama_reads_streamed_ndjson(server: ContractServer) -> None:
    chunks = [
        {"model": "m", "message": {"role": "assistant", "content": '{"lab'}, "done": False},
        {"model": "m", "message": {"role": "assistant", "content": 'el": "spam"}'}, "done": False},
        {"model": "m", "message": {"role": "assistant", "content": ""}, "done": True, "eval_count": 7},
    ]
    ndjson = "\n".join(json.dumps(c) for c in chunks) + "\n"
    server.script = [(200, ndjson, {"Content-Type": "application/x-ndjson"}, 0.0)]
    preds = label_texts(TEXTS[:1], LABELS, ollama(server), cache=False)
    assert preds[0].label == "spam" and preds[0].raw == '{"label": "spam"}'
    assert preds[0].confidence is None  # no logprobs in this stream


def test_ollama_model_not_found_fails_fast(server: ContractServer) -> None:
    server.script = [(404, {"error": "model 'llama3.2:1b' not found"}, {}, 0.0)]
    with pytest.raises(BackendError) as info:
        label_texts(TEXTS[:1], LABELS, ollama(server, concurrency=1), cache=False)
    assert "model 'llama3.2:1b' not found" in str(info.value)
    assert "ollama pull llama3.2:1b" in str(info.value)
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("status", "headers"), [(429, {"Retry-After": "0"}), (500, {}), (503, {})], ids=["429", "500", "503"]
)
def test_ollama_retries_429_and_5xx(server: ContractServer, status: int, headers: dict[str, str]) -> None:
    server.script = [(status, {"error": "busy"}, headers, 0.0)]
    preds = label_texts(TEXTS[:1], LABELS, ollama(server, concurrency=1), cache=False)
    assert preds[0].label == "spam"
    assert len(server.requests) == 2


def test_ollama_retries_a_timeout(server: ContractServer) -> None:
    server.script = [(200, {"error": "late"}, {}, 1.0)]
    preds = label_texts(TEXTS[:1], LABELS, ollama(server, concurrency=1, timeout=0.3), cache=False)
    assert preds[0].label == "spam"
    assert len(server.requests) == 2


def test_ollama_400_is_not_retried(server: ContractServer) -> None:
    server.script = [(400, {"error": "invalid format schema"}, {}, 0.0)]
    with pytest.raises(BackendError, match="invalid format schema"):
        label_texts(TEXTS[:1], LABELS, ollama(server, concurrency=1), cache=False)
    assert len(server.requests) == 1


def test_retries_are_bounded(server: ContractServer) -> None:
    server.script = [(503, {"error": "overloaded"}, {}, 0.0)] * 4
    with pytest.raises(BackendError, match="after 4 attempts"):
        label_texts(TEXTS[:1], LABELS, ollama(server, concurrency=1), cache=False)
    assert len(server.requests) == 4


def test_concurrency_is_bounded(server: ContractServer) -> None:
    server.delay = 0.15
    texts = [f"message number {i} about a prize" for i in range(8)]
    preds = label_texts(texts, LABELS, ollama(server, concurrency=3), cache=False)
    assert [p.label for p in preds] == ["spam"] * 8
    assert server.max_in_flight == 3


def test_second_run_is_served_from_cache(server: ContractServer, cache: LLMCache) -> None:
    first = label_texts(TEXTS, LABELS, ollama(server), cache=cache)
    assert len(server.requests) == 3 and first.calls == 3 and first.cache_hits == 0
    second = label_texts(TEXTS, LABELS, ollama(server), cache=cache)
    assert len(server.requests) == 3  # no new request
    assert second.calls == 0 and second.cache_hits == 3 and all(p.cached for p in second)
    assert [p.label for p in second] == [p.label for p in first]
    assert second[0].confidence == pytest.approx(first[0].confidence)
    # A different model is a different cache key.
    label_texts(TEXTS, LABELS, get_backend("ollama", model="other", base_url=server.url), cache=cache)
    assert len(server.requests) == 6


def test_identical_texts_are_asked_once(server: ContractServer) -> None:
    preds = label_texts(["a prize"] * 4 + ["hello"], LABELS, ollama(server), cache=False)
    assert len(server.requests) == 2 and preds.calls == 2
    assert [p.label for p in preds] == ["spam"] * 4 + ["ham"]


# -- openai-compatible -------------------------------------------------------------------------


def test_openai_success_bearer_schema_and_logprobs(server: ContractServer) -> None:
    server.api_key = "sk-test"
    preds = label_texts(TEXTS, LABELS, openai(server), cache=False)
    assert [p.label for p in preds] == ["spam", "ham", "spam"]
    req = server.requests[0]
    assert req["path"] == "/v1/chat/completions"
    assert req["headers"]["Authorization"] == "Bearer sk-test"
    fmt = req["body"]["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["schema"]["properties"]["label"]["enum"] == ["ham", "spam"]
    assert req["body"]["logprobs"] is True and req["body"]["top_logprobs"] == 5
    assert req["body"]["temperature"] == 0 and req["body"]["stream"] is False
    assert preds[0].confidence == pytest.approx(0.9, abs=1e-6)


def test_openai_tolerates_missing_logprobs(server: ContractServer) -> None:
    server.logprobs = False
    preds = label_texts(TEXTS, LABELS, openai(server), cache=False)
    assert [p.label for p in preds] == ["spam", "ham", "spam"]
    assert all(p.confidence is None and p.scores is None and not p.abstained for p in preds)


def test_openai_bad_key_fails_fast_without_leaking_it(server: ContractServer) -> None:
    server.api_key = "sk-right"
    url = server.url.replace("http://", "http://user:pa55word@")
    backend = get_backend("openai", model="m", base_url=url, api_key="sk-wrong-secret", retry=FAST)
    with pytest.raises(BackendError) as info:
        label_texts(TEXTS[:1], LABELS, backend, cache=False)
    assert "401" in str(info.value) and "refused the API key" in str(info.value)
    for secret in ("sk-wrong-secret", "pa55word"):  # the server echoes the key; the URL holds a password
        assert secret not in str(info.value) and secret not in repr(backend)
    assert len(server.requests) == 1


@pytest.mark.parametrize("status", [429, 502])
def test_openai_retries(server: ContractServer, status: int) -> None:
    server.script = [(status, {"error": {"message": "slow down"}}, {"Retry-After": "0"}, 0.0)]
    preds = label_texts(TEXTS[:1], LABELS, openai(server, concurrency=1), cache=False)
    assert preds[0].label == "spam" and len(server.requests) == 2


def test_openai_env_base_url_and_key(server: ContractServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    server.api_key = "sk-env"
    preds = label_texts(TEXTS[:1], LABELS, get_backend("openai", model="m", retry=FAST), cache=False)
    assert preds[0].label == "spam"
    assert server.requests[0]["path"] == "/v1/chat/completions"


def test_openai_vllm_choice_mode(server: ContractServer) -> None:
    server.script = [(200, openai_answer({"model": "m", "messages": [{"content": "Text: prize"}]}), {}, 0.0)]
    server.script[0][1]["choices"][0]["message"]["content"] = "spam"
    preds = label_texts(TEXTS[:1], LABELS, openai(server, structured="choice"), cache=False)
    body = server.requests[0]["body"]
    assert body["structured_outputs"] == {"choice": ["ham", "spam"]}
    assert "response_format" not in body
    assert preds[0].label == "spam"


def test_unparseable_answer_is_an_abstention(server: ContractServer) -> None:
    bad = openai_answer({"model": "m", "messages": [{"content": "x"}]}, with_logprobs=False)
    bad["choices"][0]["message"]["content"] = "I cannot decide."
    server.script = [(200, bad, {}, 0.0)]
    preds = label_texts(TEXTS[:1], LABELS, openai(server), cache=False)
    assert preds[0].abstained and preds[0].label is None and preds.abstentions == 1


def test_unknown_backend_lists_known_ones() -> None:
    with pytest.raises(BackendError, match="did you mean 'ollama'"):
        get_backend("olama", model="x")


def test_misspelt_backend_option_names_the_nearest() -> None:
    with pytest.raises(BackendError, match="no option 'concurency'.*did you mean 'concurrency'"):
        get_backend("openai", model="m", concurency=1)
    with pytest.raises(BackendError, match="no option 'base_url'"):
        get_backend("local", model="smollm2-135m", base_url="http://127.0.0.1:1")


def test_openai_falls_back_to_json_object_when_json_schema_is_refused(server: ContractServer) -> None:
    refusal = {"error": {"message": "response_format.type: Input should be 'text' or 'json_object'"}}
    server.script = [(400, refusal, {}, 0.0)]
    backend = openai(server, concurrency=1)
    preds = label_texts(TEXTS[:2], LABELS, backend, cache=False)
    assert [p.label for p in preds] == ["spam", "ham"]
    formats = [r["body"]["response_format"] for r in server.requests]
    assert formats[0]["type"] == "json_schema" and len(server.requests) == 3
    assert formats[1] == {"type": "json_object", "schema": formats[0]["json_schema"]["schema"]}
    assert formats[2]["type"] == "json_object"  # the fallback sticks for the rest of the run


def test_fallback_keeps_the_cache_identity(server: ContractServer, cache: LLMCache) -> None:
    server.script = [(400, {"error": {"message": "unsupported response_format json_schema"}}, {}, 0.0)]
    backend = openai(server, concurrency=1)
    label_texts(TEXTS, LABELS, backend, cache=cache)
    again = label_texts(TEXTS, LABELS, backend, cache=cache)
    assert again.calls == 0 and len(server.requests) == 4
