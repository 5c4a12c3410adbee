"""A typed HTTP client of ``classifine serve``: everything the web page shows comes through it.

Failures become :class:`~classifine.errors.ServingError` subclasses whose message a person can act
on: the server is down (:class:`ServerUnreachable`), the API key is missing or wrong
(:class:`KeyRejected`), or the server refused the request (:class:`ServerRefused`, with its status
and its own explanation).

Example:
    >>> client = ServerClient("http://127.0.0.1:8000")
    >>> client.classify(["Who wrote Hamlet?"]).predictions[0].label  # doctest: +SKIP
    'HUM'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from classifine.errors import ServingError

Label = str | list[str]


class ServerUnreachable(ServingError):
    """No classifine server answers at the URL."""


class KeyRejected(ServingError):
    """The server wants an API key and did not get the right one (401)."""


class ServerRefused(ServingError):
    """The server answered with an error status (its message says why)."""

    def __init__(self, status: int, message: str, error_type: str = "", **kwargs: Any) -> None:
        self.status = status
        self.error_type = error_type
        super().__init__(message, **kwargs)


@dataclass(frozen=True)
class ModelSummary:
    """One served model as ``GET /v1/models`` lists it."""

    name: str
    version: str
    labels: list[str]
    problem_type: str
    engine: str
    base_model: str

    @property
    def multi_label(self) -> bool:
        return self.problem_type == "multi_label"


@dataclass(frozen=True)
class Prediction:
    """One classified text: its id (for feedback), label(s) and every label's probability."""

    id: str
    label: Label
    scores: dict[str, float]

    @property
    def confidence(self) -> float:
        return max(self.scores.values()) if self.scores else 0.0


@dataclass(frozen=True)
class Classified:
    model: str
    model_version: str
    predictions: list[Prediction]


@dataclass(frozen=True)
class FeedbackResult:
    feedback_id: int
    kind: str  # confirm | correct
    prediction_id: str | None
    model: str


class ServerClient:
    """Calls one classifine server. ``key_env`` only names the variable in error messages.

    Example:
        >>> ServerClient("http://127.0.0.1:8000", api_key="s3cret").models()[0].name  # doctest: +SKIP
        'demo'
    """

    def __init__(
        self, url: str, *, api_key: str | None = None, key_env: str | None = None, timeout: float = 60.0
    ) -> None:
        self.url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._key_env = key_env
        self._timeout = timeout

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = httpx.request(
                method, self.url + path, headers=self._headers, timeout=self._timeout, **kwargs
            )
        except httpx.TimeoutException:
            raise ServerUnreachable(
                f"the classifine server at {self.url} did not answer in {self._timeout:g} s",
                hint="it may be overloaded or still loading its model; try again",
            ) from None
        except httpx.HTTPError as exc:
            raise ServerUnreachable(
                f"cannot reach the classifine server at {self.url} ({type(exc).__name__})",
                hint="start it with 'classifine serve RUN', or give the right address with --server",
            ) from None
        return self._body(response)

    def _body(self, response: httpx.Response) -> Any:
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code == 401:
            raise KeyRejected(self._key_message(body), hint=self._key_hint())
        if response.status_code >= 400:
            error = body.get("error") if isinstance(body, dict) else None
            kind = str(body.get("error_type", "")) if isinstance(body, dict) else ""
            message = f"the server answered {response.status_code}: {error or response.reason_phrase}"
            raise ServerRefused(response.status_code, message, kind)
        if body is None:
            raise ServerUnreachable(
                f"{self.url} answered, but not like a classifine server",
                hint="check the --server address (e.g. http://127.0.0.1:8000)",
            )
        return body

    def _key_message(self, body: Any) -> str:
        reason = body.get("error") if isinstance(body, dict) else None
        given = "no API key was sent" if not self._headers else "the API key was refused"
        return f"the server needs its API key and {given}" + (f" ({reason})" if reason else "")

    def _key_hint(self) -> str:
        if self._key_env:
            return f"set the environment variable {self._key_env} to the server's key and restart the page"
        return "start the page with --api-key-env NAME, NAME holding the server's key"

    def ready(self) -> dict[str, Any]:
        """``GET /ready`` (503 while the server loads its models becomes :class:`ServerRefused`)."""
        body: dict[str, Any] = self._call("GET", "/ready")
        return body

    def models(self) -> list[ModelSummary]:
        """The served models."""
        keys = ("name", "version", "labels", "problem_type", "engine", "base_model")
        return [ModelSummary(**{k: m[k] for k in keys}) for m in self._call("GET", "/v1/models")["models"]]

    def classify(self, texts: list[str], model: str | None = None) -> Classified:
        """Classify texts with a served model (the server's default when ``model`` is None)."""
        body = self._call("POST", "/v1/classify", json={"texts": texts, "model": model})
        preds = [Prediction(p["id"], p["label"], dict(p["scores"])) for p in body["predictions"]]
        return Classified(body["model"], body["model_version"], preds)

    def classify_all(
        self,
        texts: list[str],
        model: str | None = None,
        *,
        batch_size: int = 32,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> list[Prediction]:
        """Classify many texts in requests of ``batch_size`` (halved when the server's limit is lower).

        Example:
            >>> len(client.classify_all(["a", "b", "c"], batch_size=2))  # doctest: +SKIP
            3
        """
        out: list[Prediction] = []
        while len(out) < len(texts):
            part = texts[len(out) : len(out) + batch_size]
            try:
                out += self.classify(part, model).predictions
            except ServerRefused as exc:
                if exc.error_type != "limit" or batch_size == 1 or "texts exceed" not in exc.message:
                    raise
                batch_size = max(1, batch_size // 2)
                continue
            if on_progress is not None:
                on_progress(len(out), len(texts))
        return out

    def feedback(self, label: Label, *, prediction_id: str) -> FeedbackResult:
        """Confirm or correct a prediction by its id."""
        body = self._call("POST", "/v1/feedback", json={"id": prediction_id, "label": label})
        return FeedbackResult(body["feedback_id"], body["kind"], body["prediction_id"], body["model"])

    def feedback_summary(self, model: str) -> dict[str, Any]:
        """Feedback counts of a model: rows, judged, confirmed, corrected, accuracy."""
        body: dict[str, Any] = self._call("GET", "/v1/feedback/summary", params={"model": model})
        return body

    def card(self, model: str) -> dict[str, Any]:
        """The model card: labels, test metrics beside TF-IDF (and LLMs), confusion matrix, versions."""
        body: dict[str, Any] = self._call("GET", f"/v1/models/{model}/card")
        return body

    def monitor(self, model: str, low_confidence: float = 0.6) -> dict[str, Any] | None:
        """The monitoring section of a model, or None when it has served no prediction yet."""
        params = {"model": model, "low_confidence": low_confidence}
        sections = self._call("GET", "/v1/monitor", params=params)["models"]
        return sections[0] if sections else None

    def lowest_confidence(self, model: str, limit: int = 10) -> dict[str, Any]:
        """The least confident recent predictions without feedback, and whether texts are stored."""
        body: dict[str, Any] = self._call(
            "GET", "/v1/monitor/lowest-confidence", params={"model": model, "limit": limit}
        )
        return body
