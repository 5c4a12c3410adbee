"""Request and response bodies of the HTTP API (pydantic; they define the OpenAPI schema).

``/predict`` follows Hugging Face Text Embeddings Inference's classification endpoint: unknown
fields are ignored as TEI ignores them, ``inputs`` is a string, a pair ``[a, b]`` or a batch
``[[a], [b, c], ...]``.

Example:
    >>> ClassifyRequest(texts=["free prize!"], top_k=1).top_k
    1
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Label = str | list[str]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(BaseModel):
    """Every error: a message saying what was wrong and how to fix it, and its kind."""

    error: str = Field(description="what was wrong, where, and how to fix it")
    error_type: str = Field(description="validation, unauthorized, not_found, limit, empty, model, ...")
    detail: list[dict[str, object]] | None = Field(None, description="per-field problems (validation)")


class ClassifyRequest(_Strict):
    texts: list[str] = Field(description="texts to classify", examples=[["WINNER! Claim your prize now"]])
    model: str | None = Field(None, description="a served model name (default: the first one)")
    top_k: int | None = Field(None, ge=1, description="how many best labels each prediction lists")


class ScoredLabel(BaseModel):
    label: str
    score: float


class ClassifyPrediction(BaseModel):
    id: str = Field(description="prediction id; send it back to POST /v1/feedback")
    label: Label = Field(description="the label, or for multi-label models the labels over threshold")
    scores: dict[str, float] = Field(description="probability of every label")
    top_k: list[ScoredLabel] = Field(description="best labels first")


class ClassifyResponse(BaseModel):
    model: str
    model_version: str
    predictions: list[ClassifyPrediction]


class PredictRequest(BaseModel):
    """Text Embeddings Inference's ``/predict`` body."""

    model_config = ConfigDict(extra="ignore")

    inputs: str | list[str] | list[list[str]] = Field(
        description="a text, a pair [a, b], or a batch [[a], [b], ...]", examples=["WINNER! Claim your prize"]
    )
    truncate: bool | None = Field(None, description="cut texts longer than the model's max length")
    raw_scores: bool = Field(False, description="scores before softmax/sigmoid (see docs/serving.md)")


class TeiPrediction(BaseModel):
    score: float
    label: str


PredictResponse = list[TeiPrediction] | list[list[TeiPrediction]]


class ModelInfo(BaseModel):
    name: str
    version: str
    labels: list[str]
    problem_type: str
    engine: str
    base_model: str
    max_length: int
    metrics: dict[str, float] = Field(description="headline validation metrics recorded at training")
    loaded_at: float = Field(description="unix time this version was loaded")


class ModelsResponse(BaseModel):
    models: list[ModelInfo]


class ReloadResponse(BaseModel):
    model: str
    version: str
    previous_version: str | None
    changed: bool


class FeedbackRequest(_Strict):
    id: str | None = Field(None, description="a prediction id returned by /v1/classify", max_length=64)
    text: str | None = Field(None, description="or the text itself")
    label: Label = Field(description="the right label (a list for multi-label models)")
    model: str | None = Field(None, description="the model the feedback is about (default: found by id)")


class FeedbackResponse(BaseModel):
    feedback_id: int
    kind: Literal["confirm", "correct"]
    prediction_id: str | None
    model: str


class HealthResponse(BaseModel):
    status: str


class ReadyResponse(BaseModel):
    status: str
    models: list[str]
