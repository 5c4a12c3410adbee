"""Inputs and outputs of a labelling job: files or catalog splits in, JSONL/CSV out, a dry-run plan.

Example:
    >>> job = resolve_input("sms-spam:test")
    >>> job.label_set.names
    ('ham', 'spam')
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from classifine.artifact import atomic_file
from classifine.data.dataset import Dataset
from classifine.data.labels import LabelSet
from classifine.errors import ConfigError, DataError, suggestion

_SPLITS = ("train", "validation", "test")


@dataclass
class LabelInput:
    """What to label: texts, optional gold labels, the label set and optional few-shot TRAIN data."""

    texts: list[str]
    gold: list[tuple[str, ...]] | None
    label_set: LabelSet | None
    train: Dataset | None
    where: str


def _catalog_spec(spec: str) -> tuple[str, str] | None:
    """``NAME:split`` for a catalog dataset, else None (an existing path always wins)."""
    if ":" not in spec or Path(spec).exists():
        return None
    from classifine.data.catalog import is_catalog_name

    name, split = spec.rsplit(":", 1)
    if not is_catalog_name(name):
        return None
    if split not in _SPLITS:
        raise DataError(f"unknown split '{split}' in '{spec}'", hint=suggestion(split, _SPLITS, "split"))
    return name, split


def _read_file(path: str, text_column: str, label_column: str, multi_label: bool) -> LabelInput:
    from classifine.data.io import read_table
    from classifine.data.parse import check_columns, label_cells

    df = read_table(path)
    check_columns(df, [text_column], "--text-column", path)
    texts = ["" if v is None or (isinstance(v, float) and v != v) else str(v) for v in df[text_column]]
    gold = None
    if label_column in df.columns:  # gold labels are optional; parsed exactly as training data is
        cells, _, _ = label_cells(df, label_column, multi_label, None, path)
        gold = [cell or () for cell in cells]
    return LabelInput(texts, gold, None, None, path)


def _read_train(
    path: str, text_column: str, label_column: str, names: list[str] | None, multi: bool
) -> Dataset:
    from classifine.data.io import read_table, to_dataset

    df = read_table(path)
    return to_dataset(
        df, text_column=text_column, label_column=label_column, labels=names, where=path, multi_label=multi
    )


def resolve_input(
    spec: str,
    *,
    text_column: str = "text",
    label_column: str = "label",
    labels: str | None = None,
    config: Path | None = None,
    train_file: str | None = None,
    multi_label: bool = False,
    need_train: bool = False,
) -> LabelInput:
    """Texts, gold labels, label set and train split from a file or ``NAME:split`` plus the options.

    Example:
        >>> resolve_input("sms-spam:test").label_set.names
        ('ham', 'spam')
    """
    cat = _catalog_spec(spec)
    if cat is not None:
        from classifine.data.catalog import load_catalog

        splits = load_catalog(cat[0])
        part = splits[cat[1]]
        inp = LabelInput(list(part.texts), list(part.labels), splits.label_set, splits.train, spec)
    else:
        inp = _read_file(spec, text_column, label_column, multi_label)
    if config is not None:
        from classifine.config import load_config
        from classifine.data.loading import load_splits

        splits = load_splits(load_config(config).data)
        inp.label_set = inp.label_set or splits.label_set
        inp.train = inp.train or splits.train
    if labels:
        names = tuple(dict.fromkeys(n.strip() for n in labels.split(",") if n.strip()))
        inp.label_set = LabelSet(names, multi_label or bool(inp.label_set and inp.label_set.multi_label))
    if train_file:
        names_ = list(inp.label_set.names) if inp.label_set else None
        inp.train = _read_train(train_file, text_column, label_column, names_, multi_label)
        inp.label_set = inp.label_set or inp.train.label_set
    if inp.label_set is None and inp.gold:
        seen = [row for row in inp.gold if row]
        if seen:
            inp.label_set = LabelSet.from_labels(seen, multi_label=multi_label)
    if inp.label_set is None:
        raise ConfigError(
            "no label set: the input has no label column to take it from",
            hint="pass --labels a,b,c or --config CONFIG",
        )
    if need_train and inp.train is None:
        raise ConfigError("--few-shot needs training examples", hint="pass --train FILE or --config CONFIG")
    return inp


def gold_metrics(inp: LabelInput, preds: list[Any]) -> dict[str, Any] | None:
    from classifine.llm.scoring import llm_leaderboard_row

    if not inp.gold or inp.label_set is None:
        return None
    known = set(inp.label_set.names)
    rows = [i for i, g in enumerate(inp.gold) if g and set(g) <= known]
    if not rows:
        return None
    ds = Dataset([inp.texts[i] for i in rows], [inp.gold[i] for i in rows], inp.label_set)
    row = llm_leaderboard_row("llm", "eval", [preds[i] for i in rows], ds, seconds=1.0)
    return {"accuracy": row["accuracy"], "macro_f1": row["macro_f1"], "scored_rows": len(rows)}


def write_predictions(
    path: Path, inp: LabelInput, preds: list[Any], min_confidence: float | None
) -> tuple[int, int]:
    """Write JSONL or CSV (by extension) atomically; returns (rows written, rows dropped).

    With ``min_confidence`` only confident, non-abstained rows are kept, so the file is ready
    to train on (columns ``text`` and ``label``/``labels``).
    """
    import pandas as pd

    multi = bool(inp.label_set and inp.label_set.multi_label)
    records: list[dict[str, Any]] = []
    for i, (text, p) in enumerate(zip(inp.texts, preds, strict=True)):
        if min_confidence is not None and (
            p.abstained or p.confidence is None or p.confidence < min_confidence
        ):
            continue
        rec: dict[str, Any] = {"text": text}
        rec["labels" if multi else "label"] = list(p.labels or ()) if multi else p.label
        rec.update(confidence=p.confidence, scores=p.scores, abstained=p.abstained)
        if inp.gold is not None:
            rec["gold_labels" if multi else "gold_label"] = (
                list(inp.gold[i]) if multi else (inp.gold[i] or [None])[0]
            )
        records.append(rec)
    with atomic_file(path) as tmp:
        if path.suffix.lower() in (".csv", ".tsv"):
            frame = pd.DataFrame.from_records(records, columns=_columns(records, multi, inp.gold is not None))
            for col in ("scores", "labels", "gold_labels"):
                if col in frame:
                    frame[col] = [json.dumps(v) if v is not None else "" for v in frame[col]]
            frame.to_csv(tmp, index=False, sep="\t" if path.suffix.lower() == ".tsv" else ",")
        else:
            with open(tmp, "w", encoding="utf-8") as fh:
                for rec in records:
                    fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return len(records), len(preds) - len(records)


def _columns(records: list[dict[str, Any]], multi: bool, gold: bool) -> list[str]:
    cols = ["text", "labels" if multi else "label", "confidence", "scores", "abstained"]
    return cols + (["gold_labels" if multi else "gold_label"] if gold else [])


def _prompt_of(backend: Any, request: Any) -> str:
    if hasattr(backend, "prompt_text"):
        return str(backend.prompt_text(request))
    return f"[system]\n{request.system}\n\n[user]\n{request.user}" if request.system else request.user


def dry_run(backend: Any, builder: Any, texts: list[str], cache: Any) -> dict[str, Any]:
    """What a run would do: the first prompt, the calls it would make and their approximate tokens."""
    from classifine.llm.labeler import request_keys

    requests = builder.build_all(texts)
    keys = request_keys(backend, builder, requests, texts)
    cached = set(cache.get_many(keys)) if cache is not None else set()
    todo = {k: r for k, r in zip(keys, requests, strict=True) if k not in cached}
    tokens = sum(backend.count_tokens(_prompt_of(backend, r)) for r in todo.values())
    return {
        "rows": len(texts),
        "calls": len(todo),
        "cached": len(texts) - sum(k not in cached for k in keys),
        "approx_prompt_tokens": tokens,
        "token_count": "tokenizer" if backend.name == "local" else "estimate (chars/4)",
        "first_prompt": _prompt_of(backend, requests[0]) if requests else "",
    }
