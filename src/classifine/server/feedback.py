"""Export the store's feedback as training data: ``text,label`` rows ``classifine train`` reads.

Per text (by its sha256) the LATEST feedback wins. The text comes from the feedback row, else
from a stored prediction of the same text; both exist only when the server ran with
``--store-texts``. Without stored texts, ``texts=FILE`` (a file holding the original texts)
recovers them by hash.

Example:
    >>> export_feedback("runs/sms-spam-minilm", "corrections.csv").rows
    42
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from classifine.artifact import atomic_file
from classifine.errors import DataError
from classifine.server.monitor import resolve_source
from classifine.server.store import feedback, make_engine, predictions, text_hash


@dataclass(frozen=True)
class FeedbackExport:
    """What an export wrote: rows, corrections among them, and rows left out for lack of a text."""

    output: Path
    rows: int
    corrections: int
    missing_text: int


def _latest(engine: sa.Engine, model: str | None) -> pd.DataFrame:
    query = sa.select(feedback)
    if model is not None:
        query = query.where(feedback.c.model == model)
    with engine.connect() as conn:
        frame = pd.read_sql(query, conn)
    if frame.empty:
        return frame
    return frame.sort_values(["created_at", "id"]).groupby("text_sha256").tail(1)


def _stored_texts(engine: sa.Engine, hashes: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    with engine.connect() as conn:
        for start in range(0, len(hashes), 500):
            chunk = hashes[start : start + 500]
            query = sa.select(predictions.c.text_sha256, predictions.c.text).where(
                predictions.c.text_sha256.in_(chunk), predictions.c.text.is_not(None)
            )
            found.update({h: t for h, t in conn.execute(query)})
    return found


def _texts_from_file(path: Path, column: str) -> dict[str, str]:
    from classifine.data.io import read_table

    frame = read_table(path)
    if column not in frame.columns:
        raise DataError(f"no column '{column}'", where=str(path), hint="set --text-column")
    return {text_hash(str(t)): str(t) for t in frame[column].dropna()}


def _resolve_texts(
    store: str | Path, model: str | None, only_corrections: bool, texts: str | Path | None, column: str
) -> tuple[pd.DataFrame, dict[str, str]]:
    """(latest feedback per text, text by sha256 for those whose text is known)."""
    url, _run = resolve_source(store)
    engine = make_engine(url)
    try:
        latest = _latest(engine, model)
        if latest.empty:
            raise DataError(
                "no feedback in this store", where=str(store), hint="POST /v1/feedback records some"
            )
        if only_corrections:
            latest = latest[latest["kind"] == "correct"]
        known = {
            h: t for h, t in zip(latest["text_sha256"], latest["text"], strict=True) if isinstance(t, str)
        }
        known.update(_stored_texts(engine, [h for h in latest["text_sha256"] if h not in known]))
    finally:
        engine.dispose()
    if texts is not None:
        from_file = _texts_from_file(Path(texts), column)
        known.update({h: from_file[h] for h in latest["text_sha256"] if h not in known and h in from_file})
    return latest, known


def _write_rows(out: Path, rows: list[tuple[str, str]]) -> None:
    with atomic_file(out) as tmp:
        if out.suffix.lower() == ".jsonl":
            with open(tmp, "w", encoding="utf-8") as fh:
                for text, label in rows:
                    value = json.loads(label) if label.startswith("[") else label
                    fh.write(json.dumps({"text": text, "label": value}, ensure_ascii=False) + "\n")
        else:
            pd.DataFrame(rows, columns=["text", "label"]).to_csv(tmp, index=False)


def export_feedback(
    store: str | Path,
    output: str | Path,
    *,
    model: str | None = None,
    only_corrections: bool = False,
    texts: str | Path | None = None,
    text_column: str = "text",
) -> FeedbackExport:
    """Write the store's feedback to ``output`` (CSV with ``text,label``; ``.jsonl`` also works).

    Example:
        >>> export_feedback("sqlite:///serving.sqlite", "fixes.csv", only_corrections=True).corrections
        7
    """
    latest, known = _resolve_texts(store, model, only_corrections, texts, text_column)
    rows = [
        (known[h], label, kind)  # multi-label labels stay a JSON list, which train reads
        for h, label, kind in zip(latest["text_sha256"], latest["label"], latest["kind"], strict=True)
        if h in known
    ]
    missing_text = len(latest) - len(rows)
    if not rows and missing_text:
        raise DataError(
            f"none of the {missing_text} feedback rows has its text stored: "
            "the server ran without --store-texts",
            where=str(store),
            hint="pass --texts FILE holding the original texts (matched by sha256), "
            "or serve with --store-texts",
        )
    out = Path(output)
    _write_rows(out, [(text, label) for text, label, _ in rows])
    corrections = sum(1 for _, _, kind in rows if kind == "correct")
    return FeedbackExport(out, len(rows), corrections, missing_text)
