"""Backend for any OpenAI-compatible chat-completions server (llama.cpp, vLLM, Ollama /v1, LM Studio, ...).

``POST {base}/v1/chat/completions`` with ``response_format`` = a JSON schema holding the label
enum (or vLLM's ``structured_outputs.choice``), ``logprobs: true`` and ``top_logprobs: 5``.
The base URL and key come from arguments or ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY``; the key
is sent as a Bearer header and never logged. Servers that return no logprobs are fine.

Example:
    >>> backend = OpenAIBackend(model="smollm2", base_url="http://127.0.0.1:8080")
"""

from __future__ import annotations

import logging
import os
from typing import Any, Literal

import httpx

from classifine.errors import BackendError
from classifine.llm.backends import LLMReply, LLMRequest, register_backend
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

DEFAULT_URL = "https://api.openai.com"
Structured = Literal["json_schema", "json_object", "choice", "none"]


def chat_url(base_url: str) -> str:
    """``{base}/v1/chat/completions``, accepting a base that already ends in ``/v1``.

    Example:
        >>> chat_url("http://127.0.0.1:8080/v1")
        'http://127.0.0.1:8080/v1/chat/completions'
    """
    base = base_url.rstrip("/")
    if not base.endswith("/v1"):
        base = f"{base}/v1"
    return f"{base}/chat/completions"


@register_backend("openai")
class OpenAIBackend(RemoteBackend):
    """A model behind an OpenAI-compatible ``/v1/chat/completions`` endpoint."""

    name = "openai"

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        concurrency: int = 4,
        timeout: float = 120.0,
        seed: int = 42,
        max_tokens: int = 32,
        structured: Structured | bool = "json_schema",
        logprobs: bool = True,
        retry: RetryPolicy | None = None,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        super().__init__(
            model,
            base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_URL,
            concurrency=concurrency,
            timeout=timeout,
            seed=seed,
            max_tokens=max_tokens,
            retry=retry,
            headers={"Authorization": f"Bearer {key}"} if key else None,
        )
        if structured is True:
            structured = "json_schema"
        elif structured is False:
            structured = "none"
        if structured not in ("json_schema", "json_object", "choice", "none"):
            raise BackendError(
                f"unknown structured-output mode '{structured}'",
                hint="use json_schema, json_object, choice or none",
            )
        self.structured: Structured = structured
        self._requested: Structured = structured  # the cache identity, even after a fallback
        self.logprobs = logprobs

    def identity(self, **extra: Any) -> dict[str, Any]:
        return super().identity(structured=self._requested, **extra)

    def payload(self, request: LLMRequest) -> dict[str, Any]:
        """The chat-completions request body for one prompt."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": request.messages(),
            "temperature": 0,
            "seed": self.seed,
            "max_tokens": self.max_tokens,
            "stream": False,
        }
        if self.structured == "choice" and not request.multi_label:
            body["structured_outputs"] = {"choice": list(request.labels)}
        elif self.structured == "json_object":  # llama-cpp-python's form: the schema beside the type
            schema = answer_schema(request.labels, request.multi_label)
            body["response_format"] = {"type": "json_object", "schema": schema}
        elif self.structured != "none":
            schema = answer_schema(request.labels, request.multi_label)
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "label", "strict": True, "schema": schema},
            }
        if self.logprobs:
            body["logprobs"] = True
            body["top_logprobs"] = 5
        return body

    def _post(self, url: str, request: LLMRequest) -> httpx.Response:
        """POST, falling back once from ``json_schema`` to ``json_object`` when the server refuses it."""
        try:
            return post_json(self._client, url, self.payload(request), self.retry)
        except BackendError as exc:
            if self.structured != "json_schema" or "response_format" not in str(exc):
                raise
            logger.warning(
                "%s does not take a json_schema response_format; using json_object + schema", redact_url(url)
            )
            self.structured = "json_object"
            return post_json(self._client, url, self.payload(request), self.retry)

    def complete(self, request: LLMRequest) -> LLMReply:
        """Answer one request."""
        url = chat_url(self.base_url)
        try:
            response = self._post(url, request)
        except HttpError as exc:
            if exc.status in (401, 403):
                raise BackendError(
                    f"{redact_url(url)} refused the API key (HTTP {exc.status})",
                    hint="set OPENAI_API_KEY or --api-key to a valid key",
                ) from None
            if exc.status == 404:
                raise BackendError(
                    f"{redact_url(url)}: HTTP 404: {exc.server_message}",
                    hint="check --base-url and that the server serves --model",
                ) from None
            raise
        try:
            body = response.json()
            choice = body["choices"][0]
            content = choice["message"].get("content") or ""
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise BackendError(
                f"{redact_url(url)} answered with a body that is not a chat completion: "
                f"{response.text[:200]!r}"
            ) from None
        logprobs = parse_token_logprobs((choice.get("logprobs") or {}).get("content"))
        usage = body.get("usage") or {}
        return LLMReply(
            raw=str(content),
            logprobs=logprobs,
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
        )
