"""Argilla v2 records with the model's suggestions, as JSONL, and a push through the ``argilla`` SDK.

A record (one per text)::

    {"id": "0", "fields": {"text": "..."}, "metadata": {"model_version": "trec-6-v2"},
     "suggestions": [{"question_name": "label", "value": "billing", "score": 0.91,
                      "agent": "trec-6-v2", "type": "model"}]}

Multi-label records suggest a list of labels with a list of scores (one per suggested label).
The Argilla server needs Elasticsearch; ``push_records`` talks to a server the user runs.

Example:
    >>> records = predict_records("runs/trec-6", ["how far is the moon?"])
    >>> records[0]["suggestions"][0]["value"]
    'NUM'
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from classifine.errors import ClassifineError, ConfigError


class ArgillaError(ClassifineError):
    """The Argilla server refused the records or could not be reached."""


def to_records(
    texts: Sequence[str],
    probs: np.ndarray,
    labels: Sequence[str],
    *,
    agent: str,
    thresholds: Sequence[float] | None = None,
    question: str = "label",
    field: str = "text",
    ids: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Argilla records for ``texts`` from probabilities; ``thresholds`` given means multi-label.

    Example:
        >>> records = to_records(["hi"], np.array([[0.2, 0.8]]), ["ham", "spam"], agent="v1")
        >>> records[0]["suggestions"][0]["value"]
        'spam'
    """
    out = []
    for i, (text, row) in enumerate(zip(texts, probs, strict=True)):
        if thresholds is None:
            best = int(row.argmax())
            value: Any = labels[best]
            score: Any = round(float(row[best]), 6)
        else:
            idx = [j for j, (p, t) in enumerate(zip(row, thresholds, strict=True)) if p >= t]
            value = [labels[j] for j in idx]
            score = [round(float(row[j]), 6) for j in idx]
        suggestion = {
            "question_name": question,
            "value": value,
            "score": score,
            "agent": agent,
            "type": "model",
        }
        record_id = str(ids[i]) if ids is not None else str(i)
        out.append({"id": record_id, "fields": {field: text}, "metadata": {"model_version": agent},
                    "suggestions": [suggestion]})  # fmt: skip
    return out


def predict_records(run: str | Path, texts: Sequence[str], *, batch_size: int = 64) -> list[dict[str, Any]]:
    """Predict ``texts`` with the run's serving version and return Argilla records.

    Example:
        >>> len(predict_records("runs/trec-6", texts))
        500
    """
    from classifine.inference.predictor import Classifier
    from classifine.integrations.label_studio import model_version_of

    clf = Classifier.load(run, batch_size=batch_size)
    probs = clf.predict_proba(list(texts))
    thresholds = [float(t) for t in clf.thresholds] if clf.multi_label else None
    return to_records(texts, probs, clf.labels, agent=model_version_of(run), thresholds=thresholds)


def write_records(path: str | Path, records: Sequence[dict[str, Any]]) -> Path:
    """Write records as JSONL, atomically."""
    from classifine.artifact import atomic_file

    out = Path(path)
    with atomic_file(out) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    return out


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """Records from a JSONL file written by :func:`write_records`."""
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def sdk_records(records: Sequence[dict[str, Any]]) -> list[Any]:
    """The records as the SDK's own ``rg.Record`` objects (with ``rg.Suggestion``)."""
    try:
        import argilla as rg
    except ImportError:
        raise ConfigError(
            "pushing to Argilla needs the argilla SDK", hint="pip install 'classifine[argilla]'"
        ) from None
    return [
        rg.Record(
            id=r["id"],
            fields=r["fields"],
            metadata=r.get("metadata") or {},
            suggestions=[rg.Suggestion(**s) for s in r.get("suggestions", [])],
        )  # fmt: skip
        for r in records
    ]


def label_question(labels: Sequence[str], multi_label: bool, question: str = "label") -> Any:
    """The SDK question the suggestions answer: ``LabelQuestion``, or ``MultiLabelQuestion``."""
    import argilla as rg

    kind = rg.MultiLabelQuestion if multi_label else rg.LabelQuestion
    return kind(name=question, labels=list(labels))


def dataset_settings(labels: Sequence[str], multi_label: bool, field: str = "text") -> Any:
    """Argilla dataset settings for these records (the SDK builds them against a connected client)."""
    import argilla as rg

    return rg.Settings(fields=[rg.TextField(name=field)], questions=[label_question(labels, multi_label)])


def push_records(
    records: Sequence[dict[str, Any]], *, api_url: str, api_key: str, dataset: str,
    labels: Sequence[str], multi_label: bool, workspace: str | None = None,
) -> int:  # fmt: skip
    """Log the records into an Argilla dataset (created with matching settings when missing).

    Example:
        >>> push_records(records, api_url="http://localhost:6900", api_key=key, dataset="trec-6",
        ...              labels=labels, multi_label=False)
        500
    """
    import argilla as rg

    objects = sdk_records(records)
    try:
        client = rg.Argilla(api_url=api_url, api_key=api_key)
        found = client.datasets(name=dataset, workspace=workspace)
        if found is None:
            settings = dataset_settings(labels, multi_label)
            found = rg.Dataset(name=dataset, workspace=workspace, settings=settings, client=client).create()
        found.records.log(objects)
    except Exception as exc:  # the SDK raises its own errors (connection, auth, validation)
        raise ArgillaError(
            f"Argilla refused or could not be reached: {type(exc).__name__}: {exc}"[:500],
            where=api_url,
            hint="check --api-url, the API key and the workspace",
        ) from None
    return len(objects)
