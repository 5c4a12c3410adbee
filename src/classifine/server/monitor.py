"""Monitoring from the prediction store: volume, confidence, label drift and accuracy on feedback.

The drift statistic is the population stability index (PSI) between the training split's label
shares and the served predictions' label shares: ``PSI = sum((p - q) * ln(p / q))`` with shares
smoothed by 1e-4. Read it as < 0.1 stable, 0.1-0.25 a moderate shift, > 0.25 a large shift.
Predicted labels stand in for the unknown true labels, so a shift can be the traffic or the model.

Example:
    >>> report = monitor("runs/sms-spam-minilm")
    >>> report.models[0]["drift"]["psi"]  # doctest: +SKIP
    0.012
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from classifine.errors import DataError
from classifine.server.store import STORE_FILE, feedback, make_engine, predictions, store_url

logger = logging.getLogger(__name__)

PSI_EPS = 1e-4
_BUCKETS = (60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400)


@dataclass
class MonitorReport:
    """What ``classifine monitor`` reports, per served model found in the store."""

    source: str
    generated_at: str
    low_confidence: float
    models: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "generated_at": self.generated_at,
            "low_confidence_threshold": self.low_confidence,
            "models": self.models,
        }


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def resolve_source(source: str | Path) -> tuple[str, Path | None]:
    """(store URL, run folder or None) for a run folder, a SQLite file or a database URL."""
    text = str(source)
    if "://" in text:
        return text, None
    path = Path(text)
    if path.is_dir():
        if not (path / STORE_FILE).is_file():
            raise DataError(
                f"no {STORE_FILE} in this run folder",
                where=str(path),
                hint="'classifine serve' writes it once the run has served a prediction "
                "(or pass the --store URL)",
            )
        return store_url(path), path
    if not path.is_file():
        raise DataError(
            "store not found", where=str(path), hint="pass a run folder, a .sqlite file or a database URL"
        )
    return store_url(path), None


def read_store(url: str, model: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(predictions, feedback) frames from a store, optionally of one model; texts are not read."""
    engine = make_engine(url)
    try:
        tables = set(sa.inspect(engine).get_table_names())
        if "predictions" not in tables:
            raise DataError("no predictions table: not a classifine store", where=url.split("@")[-1])
        cols = [c for c in predictions.c if c.name != "text"]
        query = sa.select(*cols)
        fb_query = sa.select(*[c for c in feedback.c if c.name != "text"])
        if model is not None:
            query = query.where(predictions.c.model == model)
            fb_query = fb_query.where(feedback.c.model == model)
        with engine.connect() as conn:
            preds = pd.read_sql(query, conn)
            fb = pd.read_sql(fb_query, conn) if "feedback" in tables else pd.DataFrame()
    finally:
        engine.dispose()
    return preds, fb


def training_distribution(run: Path) -> tuple[dict[str, int] | None, str]:
    """Training-split label counts of a run, recomputed from its config; (counts, note)."""
    from classifine.artifact import read_meta
    from classifine.config import load_config
    from classifine.data.loading import load_splits

    try:
        meta = read_meta(run)
        splits = load_splits(load_config(run / "config.yaml").data)
    except Exception as exc:  # the data moved or needs the network: report without drift
        return None, f"training distribution unavailable ({type(exc).__name__}: {str(exc)[:200]})"
    counts = splits.train.class_counts()
    exact = splits.train.fingerprint() == meta.data_fingerprint
    note = (
        "training split recomputed from the run's config (same data fingerprint as the model)"
        if exact
        else "training split recomputed from the run's config; its fingerprint differs from the model's, "
        "so the distribution is approximate"
    )
    return counts, note


def psi(expected: dict[str, float], actual: dict[str, float]) -> float:
    """Population stability index between two label distributions (shares; smoothed by 1e-4).

    Example:
        >>> round(psi({"a": 0.5, "b": 0.5}, {"a": 0.5, "b": 0.5}), 6)
        0.0
    """
    total = 0.0
    for name in sorted(set(expected) | set(actual)):
        p = max(actual.get(name, 0.0), PSI_EPS)
        q = max(expected.get(name, 0.0), PSI_EPS)
        total += (p - q) * math.log(p / q)
    return total


def _psi_reading(value: float) -> str:
    return "stable" if value < 0.1 else "moderate shift" if value < 0.25 else "large shift"


def _label_counts(frame: pd.DataFrame) -> dict[str, int]:
    counts: dict[str, int] = {}
    for label, multi in zip(frame["label"], frame["multi_label"], strict=True):
        for name in (json.loads(label) or ["(none)"]) if multi else [label]:
            counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def _shares(counts: dict[str, int]) -> dict[str, float]:
    total = sum(counts.values()) or 1
    return {k: v / total for k, v in counts.items()}


def _bucket_seconds(span: float) -> int:
    return next((b for b in _BUCKETS if span / b <= 48), _BUCKETS[-1])


def _over_time(frame: pd.DataFrame, low: float) -> dict[str, Any]:
    start, end = float(frame["created_at"].min()), float(frame["created_at"].max())
    size = _bucket_seconds(end - start)
    keys = (frame["created_at"] // size).astype(np.int64)
    rows = []
    for key, part in frame.groupby(keys):
        conf = part["confidence"]
        rows.append(
            {
                "start": _iso(float(key) * size),
                "count": int(len(part)),
                "mean_confidence": round(float(conf.mean()), 4),
                "low_confidence_share": round(float((conf < low).mean()), 4),
            }
        )
    return {"bucket_seconds": size, "buckets": rows}


def summarize_feedback(fb: pd.DataFrame) -> dict[str, Any]:
    """Feedback counts: rows, judged (latest per prediction), confirmed, corrected, accuracy on them.

    Example:
        >>> summarize_feedback(pd.DataFrame())["rows"]  # doctest: +SKIP
        0
    """
    if fb.empty:
        return {"rows": 0, "judged": 0, "confirmed": 0, "corrected": 0, "accuracy": None}
    key = fb["prediction_id"].fillna("text:" + fb["text_sha256"])
    latest = fb.sort_values(["created_at", "id"]).groupby(key).tail(1)  # latest feedback per prediction/text
    judged = latest[latest["predicted_label"].notna()]
    confirmed = int((judged["kind"] == "confirm").sum())
    corrections = latest[latest["kind"] == "correct"]["label"].value_counts()
    return {
        "rows": int(len(fb)),
        "judged": int(len(judged)),
        "confirmed": confirmed,
        "corrected": int(len(judged) - confirmed),
        "labels_without_prediction": int(latest["predicted_label"].isna().sum()),
        "accuracy": round(confirmed / len(judged), 4) if len(judged) else None,
        "corrections_by_label": {str(k): int(v) for k, v in corrections.items()},
    }


def _histogram(conf: pd.Series, bins: int = 20) -> dict[str, list[float]]:
    counts, edges = np.histogram(conf.to_numpy(dtype=np.float64), bins=bins, range=(0.0, 1.0))
    return {"edges": [round(float(e), 4) for e in edges], "counts": [int(c) for c in counts]}


def _model_section(
    name: str, preds: pd.DataFrame, fb: pd.DataFrame, low: float, train: Any
) -> dict[str, Any]:
    conf = preds["confidence"]
    versions = [
        {
            "version": str(v),
            "count": int(len(p)),
            "first": _iso(p["created_at"].min()),
            "last": _iso(p["created_at"].max()),
        }
        for v, p in preds.sort_values("created_at").groupby("model_version", sort=False)
    ]
    counts = _label_counts(preds)
    section: dict[str, Any] = {
        "model": name,
        "predictions": int(len(preds)),
        "first": _iso(float(preds["created_at"].min())),
        "last": _iso(float(preds["created_at"].max())),
        "versions": versions,
        "confidence": {
            "mean": round(float(conf.mean()), 4),
            "p10": round(float(conf.quantile(0.1)), 4),
            "p50": round(float(conf.quantile(0.5)), 4),
            "low_share": round(float((conf < low).mean()), 4),
        },
        "over_time": _over_time(preds, low),
        "label_counts": counts,
        "label_shares": {k: round(v, 4) for k, v in _shares(counts).items()},
        "feedback": summarize_feedback(fb),
        "confidence_histogram": _histogram(conf),
    }
    section["drift"] = _drift(counts, train)
    return section


def _drift(counts: dict[str, int], train: tuple[dict[str, int] | None, str] | None) -> dict[str, Any] | None:
    if train is None:
        return None
    train_counts, note = train
    if train_counts is None:
        return {"statistic": "psi", "psi": None, "note": note}
    expected = _shares(train_counts)
    value = psi(expected, _shares(counts))
    return {
        "statistic": "psi",
        "psi": round(value, 4),
        "reading": _psi_reading(value),
        "training_shares": {k: round(v, 4) for k, v in expected.items()},
        "note": note,
    }


def monitor(
    source: str | Path,
    *,
    run: str | Path | None = None,
    model: str | None = None,
    low_confidence: float = 0.6,
) -> MonitorReport:
    """Summarise a store: a run folder (its ``serving.sqlite``), a SQLite file or a database URL.

    ``run`` supplies the training distribution when ``source`` is not a run folder.

    Example:
        >>> monitor("runs/sms-spam-minilm", low_confidence=0.7).models[0]["predictions"]  # doctest: +SKIP
        1200
    """
    url, run_dir = resolve_source(source)
    run_dir = Path(run) if run is not None else run_dir
    preds, fb = read_store(url, model)
    report = MonitorReport(
        source=str(source) if "://" not in str(source) else url.split("@")[-1],
        generated_at=_iso(datetime.now(UTC).timestamp()),
        low_confidence=low_confidence,
    )
    if preds.empty:
        return report
    train = training_distribution(run_dir) if run_dir is not None else None
    names = sorted(str(n) for n in preds["model"].unique())
    for name in names:
        part = preds[preds["model"] == name]
        model_fb = fb[fb["model"] == name] if not fb.empty else fb
        # A run's training split describes its own model: with several models, the one named after it.
        mine = len(names) == 1 or (run_dir is not None and name == run_dir.resolve().name)
        other = (None, "several models in this store: pass --model NAME with --run RUN for drift")
        report.models.append(
            _model_section(name, part, model_fb, low_confidence, train if mine or train is None else other)
        )
    return report
