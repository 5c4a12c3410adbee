"""Ollama backend over its native ``POST /api/chat`` API.

Sends ``stream: false`` with a JSON-schema ``format`` holding the label enum (the schema is not
shown to the model, so the prompt lists the labels too), temperature 0 and a fixed seed. Reads
token ``logprobs`` when the server returns them (Ollama >= 0.12.11) and also accepts a streamed
NDJSON body.

Example:
    >>> backend = OllamaBackend(model="llama3.2:1b")
    >>> next(backend.run([request]))[1].raw
    '{"label": "spam"}'
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from classifine.errors import BackendError
from classifine.llm.backends import LLMReply, LLMRequest, TokenLogprob, register_backend
from classifine.llm.http import (
    HttpError,
    RemoteBackend,
    RetryPolicy,
    answer_schema,
    parse_token_logprobs,
    post_json,
    redact_url,
)

logger = logging.getLogger(__name__)

DEFAULT_URL = "http://127.0.0.1:11434"


def _base_url(base_url: str | None) -> str:
    url = base_url or os.environ.get("OLLAMA_HOST") or DEFAULT_URL
    if not url.startswith(("http://", "https://")):
        url = f"http://{url}"
    return url.rstrip("/")


def read_chat_body(text: str) -> tuple[str, list[TokenLogprob] | None, dict[str, Any]]:
    """Content, token logprobs and the final stats of a ``/api/chat`` body, single JSON or NDJSON.

    Example:
        >>> read_chat_body('{"message": {"content": "hi"}, "done": true}')[0]
        'hi'
    """
    chunks: list[dict[str, Any]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            chunk = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BackendError(f"Ollama sent a body that is not JSON: {exc}") from None
        if isinstance(chunk, dict):
            chunks.append(chunk)
    if not chunks:
        raise BackendError("Ollama sent an empty body")
    content = "".join(str((c.get("message") or {}).get("content") or c.get("response") or "") for c in chunks)
    logprobs: list[TokenLogprob] = []
    for c in chunks:
        logprobs.extend(parse_token_logprobs(c.get("logprobs")) or [])
    return content, (logprobs or None), chunks[-1]


@register_backend("ollama")
class OllamaBackend(RemoteBackend):
    """A model served by Ollama (``ollama serve``), one prompt per request, bounded concurrency."""

    name = "ollama"

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        *,
        concurrency: int = 4,
        timeout: float = 120.0,
        seed: int = 42,
        max_tokens: int = 32,
        num_ctx: int = 4096,
        structured: bool = True,
        logprobs: bool = True,
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__(
            model,
            _base_url(base_url),
            concurrency=concurrency,
            timeout=timeout,
            seed=seed,
            max_tokens=max_tokens,
            retry=retry,
        )
        self.num_ctx = num_ctx
        self.structured = structured
        self.logprobs = logprobs

    def identity(self, **extra: Any) -> dict[str, Any]:
        return super().identity(structured=self.structured, **extra)

    def payload(self, request: LLMRequest) -> dict[str, Any]:
        """The ``/api/chat`` request body for one prompt."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": request.messages(),
            "stream": False,
            "options": {
                "temperature": 0,
                "seed": self.seed,
                "num_predict": self.max_tokens,
                "num_ctx": self.num_ctx,
            },
            "keep_alive": "5m",
        }
        if self.structured:
            body["format"] = answer_schema(request.labels, request.multi_label)
        if self.logprobs:
            body["logprobs"] = True
            body["top_logprobs"] = 5
        return body

    def complete(self, request: LLMRequest) -> LLMReply:
        """Answer one request."""
        url = f"{self.base_url}/api/chat"
        try:
            response = post_json(self._client, url, self.payload(request), self.retry)
        except HttpError as exc:
            if exc.status == 404 and "not found" in exc.server_message.lower():
                raise BackendError(
                    f"Ollama at {redact_url(self.base_url)}: {exc.server_message}",
                    hint=f"run `ollama pull {self.model}` on the server, or check --model",
                ) from None
            raise
        content, logprobs, final = read_chat_body(response.text)
        return LLMReply(
            raw=content,
            logprobs=logprobs,
            prompt_tokens=final.get("prompt_eval_count"),
            completion_tokens=final.get("eval_count"),
        )
