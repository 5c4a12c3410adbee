"""The openai backend against a REAL llama.cpp server (llama-cpp-python) serving the packaged SmolLM2.

Opt-in: run ``bash scripts/test-llamacpp.sh`` (``make test-llamacpp``), which builds the server,
starts it on 127.0.0.1 and sets ``CLASSIFINE_LLAMACPP=1`` and ``CLASSIFINE_LLAMACPP_URL``.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from classifine.data.labels import LabelSet
from classifine.errors import BackendError
from classifine.llm import LLMCache, get_backend, label_texts

pytestmark = [
    pytest.mark.llamacpp,
    pytest.mark.skipif(os.environ.get("CLASSIFINE_LLAMACPP") != "1", reason="set CLASSIFINE_LLAMACPP=1"),
]

URL = os.environ.get("CLASSIFINE_LLAMACPP_URL", "http://127.0.0.1:18087")
LABELS = LabelSet(("negative", "positive"))
TEXTS = [
    "A wonderful, moving film with superb acting.",
    "Dull, predictable and far too long.",
    "I loved every minute of it.",
    "A total mess from start to finish.",
]


def test_server_speaks_the_openai_contract() -> None:
    body = httpx.get(f"{URL}/v1/models", timeout=10).json()
    assert body["data"], "the server lists no model"


@pytest.mark.parametrize("structured", ["json_schema", "none"])
def test_labels_come_back_parsed_with_logprobs_tolerated(structured: str, tmp_path: Path) -> None:
    backend = get_backend("openai", model="smollm2-135m", base_url=URL, structured=structured, concurrency=2)
    cache = LLMCache(tmp_path / "c.sqlite")
    preds = label_texts(TEXTS, LABELS, backend, cache=cache)
    assert preds.calls == len(TEXTS)
    assert all(p.label in LABELS.names for p in preds if not p.abstained)
    answered = sum(not p.abstained for p in preds)
    if structured == "json_schema":  # grammar-constrained: every answer is a label
        assert answered == len(TEXTS), [p.raw for p in preds]
    else:  # free text: this small model often echoes the prompt, which is an abstention
        assert answered >= 1, [p.raw for p in preds]
    for p in preds:
        if p.confidence is not None:  # the server returned logprobs
            assert 0.0 < p.confidence <= 1.0
    again = label_texts(TEXTS, LABELS, backend, cache=cache)
    assert again.calls == 0 and again.cache_hits == len(TEXTS)


def test_unknown_route_fails_fast() -> None:
    backend = get_backend("openai", model="smollm2-135m", base_url=f"{URL}/nowhere")
    with pytest.raises(BackendError, match="404"):
        label_texts(TEXTS[:1], LABELS, backend, cache=False)
