"""The HTTP client shared by remote LLM backends: retries, a bounded pool, errors that leak no secrets.

Server URLs may carry credentials (``https://user:key@host``, ``?api_key=...``) and servers may
echo a key back in an error body: every message built here shows the URL with its credentials
removed, and an authentication error never repeats the server's body.

Example:
    >>> redact_url("https://me:secret@llm.example.com/v1?key=abc")
    'https://***@llm.example.com/v1?***'
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from classifine.errors import BackendError
from classifine.llm.backends import LLMReply, LLMRequest, TokenLogprob

logger = logging.getLogger(__name__)

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
AUTH_STATUS = frozenset({401, 403, 407})


def redact_url(url: str) -> str:
    """``url`` without user, password and query string (they may hold credentials).

    Example:
        >>> redact_url("http://u:p@localhost:8080/v1")
        'http://***@localhost:8080/v1'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<url>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, netloc, parts.path, "***" if parts.query else "", ""))


def estimate_tokens(text: str) -> int:
    """Rough token count for remote models: about four characters a token."""
    return max(1, (len(text) + 3) // 4)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def _server_message(response: httpx.Response) -> str:
    """The error text a server put in its body (Ollama and OpenAI shapes), or the raw body."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason_phrase
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        return str(err.get("message") or err)[:300]
    if err:
        return str(err)[:300]
    return str(body)[:300]


@dataclass
class RetryPolicy:
    """Bounded retries with exponential backoff, only for 429, 5xx and timeouts."""

    attempts: int = 4
    backoff: float = 0.5
    max_wait: float = 30.0

    def delay(self, attempt: int, response: httpx.Response | None) -> float:
        hinted = _retry_after(response) if response is not None else None
        wait_s = hinted if hinted is not None else self.backoff * (2**attempt)
        return min(wait_s, self.max_wait)


class HttpError(BackendError):
    """A non-retryable HTTP error; ``status`` and ``server_message`` as the server gave them."""

    def __init__(self, status: int, server_message: str, url: str) -> None:
        self.status = status
        # An authentication error body may echo the key that was sent: never show it.
        self.server_message = "authentication failed" if status in AUTH_STATUS else server_message
        super().__init__(f"HTTP {status} from {redact_url(url)}: {self.server_message}")


def post_json(client: httpx.Client, url: str, payload: dict[str, Any], policy: RetryPolicy) -> httpx.Response:
    """POST JSON with retries on 429/5xx/timeouts; other 4xx raise :class:`HttpError` at once.

    Example:
        >>> post_json(httpx.Client(), "http://127.0.0.1:11434/api/chat", {...}, RetryPolicy())
    """
    last: str = ""
    for attempt in range(policy.attempts):
        response: httpx.Response | None = None
        try:
            response = client.post(url, json=payload)
        except httpx.TimeoutException:
            last = "timed out"
        except httpx.TransportError as exc:
            raise BackendError(
                f"cannot reach {redact_url(url)}: {exc.__class__.__name__}",
                hint="check that the server is running and --base-url is right",
            ) from None
        if response is not None:
            if response.status_code < 400:
                return response
            if response.status_code not in RETRY_STATUS:
                raise HttpError(response.status_code, _server_message(response), url)
            last = f"HTTP {response.status_code}: {_server_message(response)}"
        if attempt + 1 < policy.attempts:
            pause = policy.delay(attempt, response)
            logger.debug("retrying %s in %.2fs after %s", redact_url(url), pause, last)
            time.sleep(pause)
    raise BackendError(
        f"{redact_url(url)} failed after {policy.attempts} attempts (last: {last})",
        hint="the server is overloaded or down; retry later or lower --concurrency",
    )


def run_concurrently(
    fn: Callable[[LLMRequest], LLMReply], requests: Sequence[LLMRequest], concurrency: int
) -> Iterator[tuple[int, LLMReply]]:
    """Run ``fn`` over requests on a bounded thread pool, yielding results as they finish.

    At most ``concurrency`` requests are in flight; an error cancels what has not started. The
    first request runs alone, so a wrong model name or key fails after exactly one request.
    """
    if not requests:
        return
    yield 0, fn(requests[0])
    if concurrency <= 1:
        for i, req in enumerate(requests[1:], start=1):
            yield i, fn(req)
        return
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        pending: dict[Future[LLMReply], int] = {}
        queue = iter(list(enumerate(requests))[1:])
        try:
            for i, req in queue:
                pending[pool.submit(fn, req)] = i
                if len(pending) >= concurrency:
                    break
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    idx = pending.pop(fut)
                    yield idx, fut.result()
                    nxt = next(queue, None)
                    if nxt is not None:
                        pending[pool.submit(fn, nxt[1])] = nxt[0]
        finally:
            for fut in pending:
                fut.cancel()


def answer_schema(labels: Sequence[str], multi_label: bool) -> dict[str, Any]:
    """JSON schema constraining an answer to the label set (``{"label": ...}`` or ``{"labels": [...]}``).

    Example:
        >>> answer_schema(["ham", "spam"], False)["properties"]["label"]["enum"]
        ['ham', 'spam']
    """
    if multi_label:
        prop: dict[str, Any] = {"type": "array", "items": {"type": "string", "enum": list(labels)}}
        return {"type": "object", "properties": {"labels": prop}, "required": ["labels"]}
    return {
        "type": "object",
        "properties": {"label": {"type": "string", "enum": list(labels)}},
        "required": ["label"],
    }


def parse_token_logprobs(entries: Any) -> list[TokenLogprob] | None:
    """Read ``[{"token", "logprob", "top_logprobs": [...]}]`` (Ollama and OpenAI shapes); None if absent."""
    if not isinstance(entries, list) or not entries:
        return None
    out: list[TokenLogprob] = []
    for item in entries:
        if not isinstance(item, dict) or "logprob" not in item:
            continue
        top = [
            (str(t.get("token", "")), float(t["logprob"]))
            for t in item.get("top_logprobs") or []
            if isinstance(t, dict) and t.get("logprob") is not None
        ]
        out.append(TokenLogprob(str(item.get("token", "")), float(item["logprob"]), top))
    return out or None


class RemoteBackend:
    """What the HTTP backends share: model, server, seed, answer length, retries, a bounded pool.

    Subclasses add ``name``, ``payload(request)`` and ``complete(request)``.
    """

    name = "remote"

    def __init__(
        self,
        model: str,
        base_url: str,
        *,
        concurrency: int,
        timeout: float,
        seed: int,
        max_tokens: int,
        retry: RetryPolicy | None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if not model:
            raise BackendError(f"the {self.name} backend needs a model name", hint="pass --model")
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.concurrency = max(1, int(concurrency))
        self.seed = seed
        self.max_tokens = max_tokens
        self.retry = retry or RetryPolicy()
        limits = httpx.Limits(max_connections=self.concurrency)
        self._client = httpx.Client(timeout=timeout, headers=headers or {}, limits=limits)

    def __repr__(self) -> str:  # never show headers or URL credentials (they may carry a key)
        return f"{type(self).__name__}(model={self.model!r}, base_url={redact_url(self.base_url)!r})"

    def identity(self, **extra: Any) -> dict[str, Any]:
        """What makes two answers comparable in the cache: backend, model, server, decoding settings."""
        base = {"backend": self.name, "model": self.model, "base_url": self.base_url}
        return base | extra | {"seed": self.seed, "max_tokens": self.max_tokens}

    def complete(self, request: LLMRequest) -> LLMReply:
        raise NotImplementedError

    def run(self, requests: Sequence[LLMRequest]) -> Iterator[tuple[int, LLMReply]]:
        return run_concurrently(self.complete, requests, self.concurrency)

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    def close(self) -> None:
        self._client.close()
