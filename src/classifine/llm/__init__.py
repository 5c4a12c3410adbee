"""Zero- and few-shot labelling with LLMs: backends (ollama, openai-compatible, local), prompts, cache.

Example:
    >>> from classifine.llm import get_backend, label_texts
    >>> preds = label_texts(texts, label_set, get_backend("local", model="smollm2-135m"))
"""

from __future__ import annotations

from classifine.llm.backends import (
    LLMBackend,
    LLMReply,
    LLMRequest,
    backend_names,
    get_backend,
    register_backend,
)
from classifine.llm.cache import LLMCache, cache_key
from classifine.llm.http import RetryPolicy
from classifine.llm.labeler import LabelResult, LLMPrediction, interpret, label_texts, make_builder
from classifine.llm.parsing import parse_answer
from classifine.llm.prompts import FewShotPool, PromptBuilder
from classifine.llm.scoring import llm_leaderboard_row, prediction_matrix

__all__ = [
    "FewShotPool",
    "LLMBackend",
    "LLMCache",
    "LLMPrediction",
    "LLMReply",
    "LLMRequest",
    "LabelResult",
    "PromptBuilder",
    "RetryPolicy",
    "backend_names",
    "cache_key",
    "get_backend",
    "interpret",
    "label_texts",
    "llm_leaderboard_row",
    "make_builder",
    "parse_answer",
    "prediction_matrix",
    "register_backend",
]
