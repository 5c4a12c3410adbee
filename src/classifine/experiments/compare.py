"""Put zero/few-shot LLM labellers on the same leaderboard as the fine-tuned model and TF-IDF.

An LLM is named ``BACKEND:MODEL`` (``local:gemma3-270m``, ``ollama:mistral-openorca``,
``openai:gpt-4o-mini``); each requested number of shots adds one row (0 = zero-shot).
Few-shot examples come from the run's train split, so the test texts are never shown to the LLM.

Example:
    >>> rows = llm_rows([parse_llm_spec("local:smollm2-135m")], [0, 2], test, splits)
    >>> [r["kind"] for r in rows]
    ['zero-shot', 'few-shot']
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from classifine.data.dataset import Dataset, DatasetSplits
from classifine.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LLMSpec:
    """One LLM labeller: registry backend name, model, and backend options (base_url, api_key, ...)."""

    backend: str
    model: str
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.model} ({self.backend})"


def parse_llm_spec(text: str, **options: Any) -> LLMSpec:
    """Parse ``BACKEND:MODEL`` (the model may itself contain ':' as in ``llama3.2:1b``).

    Example:
        >>> parse_llm_spec("ollama:llama3.2:1b").model
        'llama3.2:1b'
    """
    backend, sep, model = text.partition(":")
    if not sep or not backend or not model:
        raise ConfigError(
            f"LLM '{text}' is not of the form BACKEND:MODEL",
            hint="e.g. local:gemma3-270m, ollama:mistral-openorca, openai:gpt-4o-mini",
        )
    return LLMSpec(backend.strip(), model.strip(), {k: v for k, v in options.items() if v is not None})


def llm_predictions(
    specs: Sequence[LLMSpec],
    shots: Sequence[int],
    test: Dataset,
    splits: DatasetSplits | None,
    *,
    seed: int = 42,
    progress: bool = False,
) -> Iterator[tuple[str, str, Sequence[Any]]]:
    """Label ``test`` with every LLM and shot count: ``(row name, kind, predictions)`` each.

    Few-shot examples come from ``splits.train`` only, so no test text is shown to the LLM.
    """
    from classifine.llm import get_backend, label_texts

    if any(k > 0 for k in shots) and splits is None:
        raise ConfigError(
            "few-shot rows need the run's train split",
            hint="evaluate on the run's own split, or use --llm-shots 0 with --data",
        )
    for spec in specs:
        backend = get_backend(spec.backend, model=spec.model, **spec.options)
        for k in shots:
            kind = "zero-shot" if k == 0 else "few-shot"
            log.info("labelling %d texts with %s, %s (k=%d)", len(test), spec.name, kind, k)
            train = splits.train if splits is not None and k > 0 else None
            preds = label_texts(
                test.texts, test.label_set, backend, kind, train=train, k=k, seed=seed, progress=progress
            )
            yield (spec.name if k == 0 else f"{spec.name}, {k}-shot"), kind, preds


def llm_rows(
    specs: Sequence[LLMSpec],
    shots: Sequence[int],
    test: Dataset,
    splits: DatasetSplits | None,
    *,
    seed: int = 42,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Label ``test`` with every LLM and shot count; return one leaderboard row each.

    Abstentions count as wrong; ``texts_per_s`` is measured (cached answers make re-runs fast).
    """
    from classifine.llm import llm_leaderboard_row

    return [
        llm_leaderboard_row(name, kind, preds, test)
        for name, kind, preds in llm_predictions(specs, shots, test, splits, seed=seed, progress=progress)
    ]


def llm_row_factory(
    specs: Sequence[LLMSpec], shots: Sequence[int], *, progress: bool = False
) -> Callable[[Dataset, DatasetSplits | None], list[dict[str, Any]]]:
    """A callable for ``evaluate_run(extra_rows=...)`` that scores the LLMs on the evaluated texts."""

    def rows(test: Dataset, splits: DatasetSplits | None) -> list[dict[str, Any]]:
        return llm_rows(specs, shots, test, splits, progress=progress)

    return rows
