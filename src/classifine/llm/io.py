"""Inputs and outputs of a labelling job: any data source in, JSONL/CSV out, a dry-run plan.

Example:
    >>> job = resolve_input("sms-spam:test")
    >>> job.label_set.names
    ('ham', 'spam')
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from classifine.artifact import atomic_file
from classifine.data.dataset import Dataset
from classifine.data.labels import LabelSet
from classifine.errors import ConfigError


@dataclass
class LabelInput:
    """What to label: texts, optional gold labels, the label set and optional few-shot TRAIN data."""

    texts: list[str]
    gold: list[tuple[str, ...]] | None
    label_set: LabelSet | None
    train: Dataset | None
    where: str

    def sample(self, n: int, seed: int) -> LabelInput:
        """A seeded sample of ``n`` rows, stratified by gold label when there is one, in input order."""
        if n >= len(self.texts):
            return self
        if self.gold is not None and self.label_set is not None and all(self.gold):
            from classifine.data.sample import subsample

            ds = subsample(Dataset(self.texts, self.gold, self.label_set), n, seed)
            return replace(self, texts=list(ds.texts), gold=list(ds.labels))
        keep = sorted(random.Random(seed).sample(range(len(self.texts)), n))
        gold = [self.gold[i] for i in keep] if self.gold is not None else None
        return replace(self, texts=[self.texts[i] for i in keep], gold=gold)


def _read_source(spec: str, text_column: str, label_column: str, multi_label: bool) -> LabelInput:
    """Texts and optional gold labels of a file or ``NAME:split`` (plus the catalog's train split)."""
    from classifine.data.parse import check_columns, label_cells
    from classifine.data.sources import CatalogSource, open_source

    src = open_source(spec)
    if isinstance(src, CatalogSource):
        from classifine.data.catalog import load_catalog

        part = src.ready_dataset()
        assert part is not None
        splits = load_catalog(src.dataset_name)
        return LabelInput(list(part.texts), list(part.labels), splits.label_set, splits.train, spec)
    df = src.table()
    check_columns(df, [text_column], "--text-column", src.where)
    texts = ["" if v is None or (isinstance(v, float) and v != v) else str(v) for v in df[text_column]]
    gold = None
    if label_column in df.columns:  # gold labels are optional; parsed exactly as training data is
        cells, _, _ = label_cells(df, label_column, multi_label, None, src.where)
        gold = [cell or () for cell in cells]
    return LabelInput(texts, gold, None, None, src.where)


def _read_train(
    path: str, text_column: str, label_column: str, names: list[str] | None, multi: bool
) -> Dataset:
    from classifine.data.loading import read_dataset

    return read_dataset(
        path, text_column=text_column, label_column=label_column, labels=names, multi_label=multi
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
    inp = _read_source(spec, text_column, label_column, multi_label)
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
