"""Read-only views a person needs to review a served model: its card, feedback counts, the
lowest-confidence recent predictions. The web page (``classifine ui``) shows them over HTTP.

Everything here reads files the run already holds (``metrics.json`` written by
``classifine evaluate``) or the prediction store; nothing trains or loads weights.

Example:
    >>> card = model_card(Path("runs/sms-spam-minilm"))
    >>> [row["kind"] for row in card["evaluation"]["leaderboard"]]  # doctest: +SKIP
    ['hybrid', 'fine-tuned', 'tf-idf']
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from classifine.artifact import model_dir
from classifine.loop.versions import existing_versions, list_versions, read_promotions, run_root
from classifine.server.monitor import summarize_feedback
from classifine.server.store import decode_label, feedback, make_engine, predictions

logger = logging.getLogger(__name__)

# The evaluation keys a card carries (metrics.json's "evaluation" section has plots, reliability bins...).
_CARD_METRICS = ("accuracy", "macro_f1", "micro_f1", "weighted_f1", "positive_label", "positive_f1", "n")


def run_folder(path: Path) -> Path:
    """The run folder of a served path: the run itself, its ``model/``, or a ``versions/N`` of it.

    Example:
        >>> run_folder(Path("runs/trec-6/versions/2/model"))
        PosixPath('runs/trec-6')
    """
    return run_root(path.parent if path.name == "model" else path)


def _read_json(file: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        logger.warning("cannot read %s: %s", file.name, type(exc).__name__)
        return None
    return data if isinstance(data, dict) else None


def _evaluation(metrics: dict[str, Any]) -> dict[str, Any] | None:
    """The recorded evaluation (model, TF-IDF and LLM rows on the same texts), or None."""
    ev = metrics.get("evaluation")
    if not isinstance(ev, dict) or not isinstance(ev.get("metrics"), dict):
        return None
    m, base = ev["metrics"], ev.get("baseline") or {}
    per_class = {
        name: {k: scores.get(k) for k in ("precision", "recall", "f1", "support")}
        | {"tfidf_f1": (base.get("per_class") or {}).get(name, {}).get("f1")}
        for name, scores in (m.get("per_class") or {}).items()
    }
    return {
        "model": ev.get("model"),
        "dataset": ev.get("dataset"),
        "split": ev.get("split"),
        "metrics": {k: m[k] for k in _CARD_METRICS if k in m},
        "leaderboard": list(ev.get("leaderboard") or []),
        "per_class": per_class,
        "labels": list(m.get("labels") or []),
        "confusion_matrix": m.get("confusion_matrix"),
        "notes": list(ev.get("notes") or []),
    }


def model_card(path: Path) -> dict[str, Any]:
    """What a run says about its model: test evaluation (beside TF-IDF and LLM rows), training facts.

    ``evaluation`` is None until ``classifine evaluate RUN`` has written one.

    Example:
        >>> model_card(Path("runs/demo"))["evaluation"]["split"]  # doctest: +SKIP
        'test'
    """
    folder = model_dir(path)  # the serving version's model/ when the run has versions
    metrics = _read_json(folder.parent / "metrics.json") or {}
    train = metrics.get("train")
    train = train if isinstance(train, dict) else {}
    return {
        "evaluation": _evaluation(metrics),
        "validation": metrics.get("validation") if isinstance(metrics.get("validation"), dict) else {},
        "training": {k: train.get(k) for k in ("seconds", "epochs", "method", "learning_rate", "batch_size")},
    } | version_history(run_folder(path))


def version_history(run: Path) -> dict[str, Any]:
    """The run's versions and its promotions log, as the page shows them (the loop's own reader).

    A run that was never retrained has neither: ``{"versions": [], "promotions": []}``.

    Example:
        >>> [v["version"] for v in version_history(Path("runs/trec-6"))["versions"]]  # doctest: +SKIP
        [1, 2]
    """
    promotions = [p.model_dump(mode="json", exclude={"data"}) for p in read_promotions(run)]
    if not promotions and not existing_versions(run):
        return {"versions": [], "promotions": []}
    versions = [
        {
            "version": v.version,
            "serving": v.serving,
            "created": v.created,
            "test_accuracy": v.test_metrics.get("accuracy"),
            "test_macro_f1": v.test_metrics.get("macro_f1"),
        }
        for v in list_versions(run)
    ]
    return {"versions": versions, "promotions": promotions}


def feedback_summary(url: str, model: str) -> dict[str, Any]:
    """Feedback counts of one model (rows, judged, confirmed, corrected, accuracy), as ``monitor`` counts.

    Example:
        >>> feedback_summary("sqlite:///runs/demo/serving.sqlite", "demo")["corrected"]  # doctest: +SKIP
        3
    """
    import pandas as pd

    engine = make_engine(url)
    try:
        query = sa.select(*[c for c in feedback.c if c.name != "text"]).where(feedback.c.model == model)
        with engine.connect() as conn:
            frame = pd.read_sql(query, conn)
    finally:
        engine.dispose()
    return summarize_feedback(frame)


def lowest_confidence(
    url: str, model: str, *, limit: int = 20, recent: int = 500, unreviewed: bool = True
) -> list[dict[str, Any]]:
    """The ``limit`` least confident of the model's ``recent`` latest predictions, least confident first.

    With ``unreviewed`` the predictions that already have feedback are left out. ``text`` is None
    unless the server stores texts (``--store-texts``).

    Example:
        >>> lowest_confidence("sqlite:///runs/demo/serving.sqlite", "demo")[0]["confidence"]  # doctest: +SKIP
        0.51
    """
    latest = (
        sa.select(predictions)
        .where(predictions.c.model == model)
        .order_by(predictions.c.created_at.desc())
        .limit(recent)
        .subquery()
    )
    query = sa.select(latest)
    if unreviewed:
        judged = sa.select(feedback.c.prediction_id).where(feedback.c.prediction_id.is_not(None))
        query = query.where(latest.c.id.not_in(judged))
    query = query.order_by(latest.c.confidence.asc(), latest.c.created_at.desc()).limit(limit)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
    finally:
        engine.dispose()
    return [
        {
            "id": row["id"],
            "created_at": row["created_at"],
            "model_version": row["model_version"],
            "label": decode_label(row["label"], bool(row["multi_label"])),
            "confidence": row["confidence"],
            "text": row["text"],
        }
        for row in rows
    ]
