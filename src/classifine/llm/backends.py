"""The LLM backend interface, the backend registry, and the HTTP client shared by remote backends.

A backend turns :class:`LLMRequest` objects (a rendered prompt plus the label list) into
:class:`LLMReply` objects (raw text and, when the backend can give them, per-label scores or
token log-probabilities). Backends register by name next to their code::

    @register_backend("ollama")
    class OllamaBackend: ...

Example:
    >>> backend = get_backend("openai", model="qwen2.5:0.5b", base_url="http://127.0.0.1:8080")
"""

from __future__ import annotations

import email.utils
import inspect
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import httpx

from classifine.errors import BackendError, suggestion

logger = logging.getLogger(__name__)

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class LLMRequest:
    """One prompt to label one text.

    ``system``/``user`` are the chat messages; ``plain`` is the same prompt as one string for
    models without a chat template. ``labels`` is the closed label set the answer must come from.
    """

    system: str
    user: str
    labels: tuple[str, ...]
    multi_label: bool = False

    @property
    def plain(self) -> str:
        """The whole prompt as one string, ending with the answer prefix."""
        head = f"{self.system}\n\n" if self.system else ""
        return f"{head}{self.user}".rstrip()

    def messages(self) -> list[dict[str, str]]:
        """Chat messages (system first when there is one)."""
        out = [{"role": "system", "content": self.system}] if self.system else []
        return [*out, {"role": "user", "content": self.user}]


@dataclass
class TokenLogprob:
    """One generated token with its log-probability and the top alternatives at its position."""

    token: str
    logprob: float
    top: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class LLMReply:
    """What a backend answered for one request.

    ``scores`` is a probability distribution over labels when the backend computes one directly
    (label scoring); ``logprobs`` are token log-probabilities of generated text when a server
    returns them.
    """

    raw: str
    scores: dict[str, float] | None = None
    logprobs: list[TokenLogprob] | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "raw": self.raw,
            "scores": self.scores,
            "logprobs": None
            if self.logprobs is None
            else [[t.token, t.logprob, [list(x) for x in t.top]] for t in self.logprobs],
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LLMReply:
        lps = data.get("logprobs")
        return cls(
            raw=data.get("raw", ""),
            scores=data.get("scores"),
            logprobs=None
            if lps is None
            else [TokenLogprob(t, float(lp), [(a, float(b)) for a, b in top]) for t, lp, top in lps],
            prompt_tokens=data.get("prompt_tokens"),
            completion_tokens=data.get("completion_tokens"),
        )


@runtime_checkable
class LLMBackend(Protocol):
    """What the labeler needs from a backend."""

    name: str

    def identity(self) -> dict[str, Any]:
        """Everything that changes answers (backend, model, base URL, mode): part of the cache key."""
        ...

    def run(self, requests: Sequence[LLMRequest]) -> Iterator[tuple[int, LLMReply]]:
        """Answer requests, yielding ``(index, reply)`` as each finishes (any order)."""
        ...

    def count_tokens(self, text: str) -> int:
        """Exact (local tokenizer) or estimated (remote: chars/4) token count of a prompt."""
        ...

    def close(self) -> None:
        """Release connections or models."""
        ...


_REGISTRY: dict[str, Callable[..., LLMBackend]] = {}


def register_backend(name: str) -> Callable[[type], type]:
    """Class decorator registering a backend under ``name``.

    Example:
        >>> @register_backend("echo")
        ... class Echo: ...
    """

    def deco(cls: type) -> type:
        _REGISTRY[name] = cls
        return cls

    return deco


def _load_builtin() -> None:
    # Importing the modules runs their @register_backend decorators.
    from classifine.llm import local, ollama, openai  # noqa: F401


def backend_names() -> list[str]:
    """Names of all registered backends.

    Example:
        >>> "ollama" in backend_names()
        True
    """
    _load_builtin()
    return sorted(_REGISTRY)


def backend_params(name: str) -> set[str]:
    """The options a backend's constructor takes (what ``get_backend`` accepts for it).

    Example:
        >>> "base_url" in backend_params("openai")
        True
    """
    _load_builtin()
    if name not in _REGISTRY:
        raise BackendError(f"unknown LLM backend '{name}'", hint=suggestion(name, _REGISTRY, "backend"))
    params = inspect.signature(_REGISTRY[name].__init__).parameters.values()
    return {p.name for p in params if p.name != "self" and p.kind is not p.VAR_KEYWORD}


def get_backend(name: str, **options: Any) -> LLMBackend:
    """Build a backend by registry name; unknown names and misspelt options name the nearest valid one.

    Example:
        >>> get_backend("ollama", model="llama3.2:1b")
    """
    accepted = backend_params(name)
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise BackendError(
            f"the {name} backend has no option '{unknown[0]}'",
            hint=suggestion(unknown[0], accepted, "option"),
        )
    return _REGISTRY[name](**options)


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
        self.server_message = server_message
        super().__init__(f"HTTP {status} from {url}: {server_message}")


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
                f"cannot reach {url}: {exc.__class__.__name__}",
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
            logger.debug("retrying %s in %.2fs after %s", url, pause, last)
            time.sleep(pause)
    raise BackendError(
        f"{url} failed after {policy.attempts} attempts (last: {last})",
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

    def __repr__(self) -> str:  # never show headers (they may carry a key)
        return f"{type(self).__name__}(model={self.model!r}, base_url={self.base_url!r})"

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
