"""The LLM backend interface and the backend registry (the HTTP client is in :mod:`classifine.llm.http`).

A backend turns :class:`LLMRequest` objects (a rendered prompt plus the label list) into
:class:`LLMReply` objects (raw text and, when the backend can give them, per-label scores or
token log-probabilities). Backends register by name next to their code::

    @register_backend("ollama")
    class OllamaBackend: ...

Example:
    >>> backend = get_backend("openai", model="qwen2.5:0.5b", base_url="http://127.0.0.1:8080")
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from classifine.errors import BackendError, suggestion

logger = logging.getLogger(__name__)


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
