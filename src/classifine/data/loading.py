"""From ``DataConfig`` (and any source, see :mod:`classifine.data.sources`) to train/validation/test.

:func:`read_splits` reads and splits (seeded, stratified, leakage-free); :func:`prepare` then
subsamples (``max_rows``), cleans, drops empty texts, balances and takes ``k_per_class``.
:func:`load_splits` does both, and is the one path every entry point trains from.

Example:
    >>> splits = load_splits(DataConfig(source="data/reviews.csv"))
    >>> splits.label_set.names
    ('negative', 'positive')
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from classifine.config import DataConfig
from classifine.data.clean import clean_dataset, is_identity, make_cleaner
from classifine.data.dataset import Dataset, DatasetSplits
from classifine.data.parse import (
    ParsedFrame,
    build_label_set,
    drop_empty,
    parse_frame,
    to_dataset,
    unknown_label_error,
)
from classifine.data.sample import balance, concat, k_per_class, subsample
from classifine.data.sources import SPLITS, SourceLike, open_source
from classifine.data.split import duplicate_stats, split_dataset, split_off, text_key
from classifine.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

OTHER = "other"  # the class rare classes merge into (data.rare_classes: merge)

_ALIASES = {
    "train": ("train", "training"),
    "validation": ("validation", "valid", "val", "dev"),
    "test": ("test", "testing", "eval"),
}


def canonical_splits(
    frames: dict[str, pd.DataFrame], where: str, names: dict[str, str] | None = None
) -> dict[str, pd.DataFrame]:
    """Rename split frames to train/validation/test (``dev`` -> validation, ...); a lone split is train.

    ``names`` maps train/validation/test to the source's own split names (``data.hub_splits``).

    Example:
        >>> sorted(canonical_splits({"train": df, "dev": df}, "x"))
        ['train', 'validation']
    """
    out: dict[str, pd.DataFrame] = {}
    for split, aliases in _ALIASES.items():
        wanted = (names or {}).get(split)
        if wanted is not None and wanted not in frames:
            raise DataError(
                f"no split '{wanted}' (data.hub_splits.{split})",
                where=where,
                hint=f"splits here: {', '.join(frames)}",
            )
        found = wanted or next((a for a in aliases if a in frames), None)
        if found is not None:
            out[split] = frames[found]
    if "train" not in out:
        if len(frames) != 1:
            raise DataError(
                f"no 'train' split among {', '.join(frames)}",
                where=where,
                hint="set data.hub_splits, e.g. {train: NAME, test: NAME}, or name a split 'train'",
            )
        out["train"] = next(iter(frames.values()))
    return out


def _split_error(exc: DataError, where: str) -> DataError:
    return DataError(exc.message, where=exc.where or where, hint=exc.hint)


def _parse(frame: pd.DataFrame, cfg: DataConfig, multi: bool | str, where: str) -> ParsedFrame:
    return parse_frame(
        frame,
        text_column=cfg.text_column,
        label_column=cfg.label_column,
        multi_label=multi,
        delimiter=cfg.label_delimiter,
        where=where,
    )


@dataclass(frozen=True)
class RareClasses:
    """Classes with too few distinct training texts, and what becomes of them (None: dropped)."""

    mapping: dict[str, str | None] = field(default_factory=dict)
    note: str = ""


def rare_classes(train: ParsedFrame, minimum: int | None, action: str) -> RareClasses:
    """The classes of ``train`` with fewer than ``minimum`` distinct texts (``data.min_examples_per_class``).

    ``action`` ``drop`` removes them (their rows, or the label from a multi-label row); ``merge``
    relabels them ``other``. The note says which classes, for logs and reports.

    Example:
        >>> rare_classes(parsed, 3, "drop").note
        "data.min_examples_per_class=3: dropped 'rare' (1 text)"
    """
    if not minimum:
        return RareClasses()
    texts_of: dict[str, set[str]] = {}
    for text, row in zip(train.texts, train.labels, strict=True):
        for name in row:
            texts_of.setdefault(name, set()).add(text_key(text))
    rare = {n: len(t) for n, t in sorted(texts_of.items()) if len(t) < minimum}
    if not rare:
        return RareClasses()
    merged = set().union(*(texts_of[n] for n in rare)) | texts_of.get(OTHER, set())
    target = OTHER if action == "merge" and len(merged) >= minimum else None  # a too-small 'other' goes too
    shown = ", ".join(f"'{n}' ({k} text{'s' * (k != 1)})" for n, k in rare.items())
    note = f"data.min_examples_per_class={minimum}: {'merged into ' + OTHER if target else 'dropped'} {shown}"
    logger.warning("%s", note)
    return RareClasses({n: target for n in rare}, note)


def apply_rare(parsed: ParsedFrame, rare: RareClasses) -> ParsedFrame:
    """``parsed`` with rare classes dropped or merged (see :func:`rare_classes`)."""
    if not rare.mapping:
        return parsed
    texts: list[str] = []
    labels: list[tuple[str, ...]] = []
    for text, row in zip(parsed.texts, parsed.labels, strict=True):
        mapped = tuple(dict.fromkeys(m for n in row if (m := rare.mapping.get(n, n)) is not None))
        if mapped or parsed.multi_label:  # a multi-label row may be left with no label; that is valid
            texts.append(text)
            labels.append(mapped)
    order = parsed.order
    if order is not None:
        order = tuple(m for m in dict.fromkeys(rare.mapping.get(n, n) for n in order) if m is not None)
    return replace(parsed, texts=texts, labels=labels, order=order)


def splits_from_frames(
    frames: dict[str, pd.DataFrame], cfg: DataConfig, where: dict[str, str]
) -> DatasetSplits:
    """Parse train/validation/test frames with one label set; split off whichever split is missing.

    The label set is the training split's (or ``cfg.labels``); a label seen only in validation or
    test is an error naming its rows.

    Example:
        >>> splits_from_frames({"train": df}, DataConfig(), {"train": "x.csv"}).label_set.names
        ('ham', 'spam')
    """
    train = _parse(frames["train"], cfg, cfg.multi_label, where["train"])
    rare = rare_classes(train, cfg.min_examples_per_class, cfg.rare_classes)
    train = apply_rare(train, rare)
    label_set = build_label_set(train, cfg.labels, where["train"])
    meta = {"source": where["train"]} | ({"rare_classes": rare.note} if rare.note else {})
    parts = {"train": Dataset(train.texts, train.labels, label_set, meta=meta)}
    for split in ("validation", "test"):
        if split not in frames:
            continue
        parsed = apply_rare(_parse(frames[split], cfg, train.multi_label, where[split]), rare)
        what = f"in the {split} split, not in {'data.labels' if cfg.labels else 'train'}"
        unknown_label_error(parsed.labels, label_set.names, where[split], what)
        parts[split] = Dataset(parsed.texts, parsed.labels, label_set, meta={"source": where[split]})
    s = cfg.split
    try:
        if "validation" not in parts and "test" not in parts:
            return split_dataset(parts["train"], s.validation, s.test, s.seed)
        if "validation" not in parts:
            parts["train"], parts["validation"] = split_off(
                parts["train"], s.validation, s.seed, "validation"
            )
        elif "test" not in parts:
            parts["train"], parts["test"] = split_off(parts["train"], s.test, s.seed, "test")
    except DataError as exc:
        raise _split_error(exc, where["train"]) from None
    return DatasetSplits(parts["train"], parts["validation"], parts["test"])


def read_splits(cfg: DataConfig, source: SourceLike | Any = None) -> DatasetSplits:
    """Read the splits ``cfg`` names, before :func:`prepare` (no subsampling, cleaning or balancing).

    ``source`` (any spec :func:`~classifine.data.sources.open_source` takes, e.g. a DataFrame)
    replaces ``data.source``; the rest of ``cfg`` says how to read and split it.

    Example:
        >>> read_splits(DataConfig(source="sms-spam")).label_set.names
        ('ham', 'spam')
    """
    if source is None:
        source = _configured_source(cfg)
    if source is None:
        source = {s: getattr(cfg, s) for s in SPLITS if getattr(cfg, s)}
    if isinstance(source, Mapping) and set(source) <= set(SPLITS):  # data per split, e.g. files
        if "train" not in source:
            raise ConfigError("separate splits need a train split", hint="give train data too")
        srcs = {s: open_source(v) for s, v in source.items()}
        frames = {s: src.table() for s, src in srcs.items()}
        return splits_from_frames(frames, cfg, {s: src.where for s, src in srcs.items()})
    src = open_source(source, hub_config=cfg.hub_config)
    ready = src.ready_splits(cfg.split.seed)
    if ready is not None:
        return ready
    frames = canonical_splits(src.frames(), src.where, cfg.hub_splits)
    where = {s: src.where if len(frames) == 1 else f"{src.where} [{s}]" for s in frames}
    return splits_from_frames(frames, cfg, where)


def _configured_source(cfg: DataConfig) -> str | None:
    if cfg.train and cfg.source:
        raise ConfigError(
            "set either data.source or data.train, not both", hint="data.train names separate files"
        )
    if (cfg.validation or cfg.test) and not cfg.train:
        raise ConfigError(
            "data.validation / data.test need data.train", hint="set data.train to the training file"
        )
    if not cfg.train and not cfg.source:
        raise ConfigError("no data given", where="data", hint="set data.source or data.train")
    return cfg.source


def read_dataset(
    source: SourceLike | Any,
    *,
    text_column: str = "text",
    label_column: str | list[str] = "label",
    multi_label: bool | str = "auto",
    delimiter: str | None = None,
    labels: list[str] | None = None,
    missing: str = "error",
    min_classes: int | None = None,
) -> Dataset:
    """One labelled Dataset from any source (a catalog split, a file, a DataFrame, ...).

    ``labels`` fixes the label set (an evaluation file is read against the model's labels).

    Example:
        >>> read_dataset("sms-spam:test").label_set.names
        ('ham', 'spam')
    """
    src = open_source(source)
    ready = src.ready_dataset()
    if ready is not None:
        return ready
    return to_dataset(
        src.table(),
        text_column=text_column,
        label_column=label_column,
        multi_label=multi_label,
        delimiter=delimiter,
        labels=labels,
        where=src.where,
        name=src.name,
        missing=missing,
        min_classes=min_classes,
    )


def prepare(splits: DatasetSplits, cfg: DataConfig) -> DatasetSplits:
    """Apply ``max_rows``, cleaning, empty-text dropping (all splits), balancing and ``k_per_class`` (train).

    Example:
        >>> len(prepare(splits, DataConfig(source="x", max_rows=100)).train)
        100
    """
    seed = cfg.split.seed
    parts = dict(splits.items())
    if cfg.max_rows is not None and len(parts["train"]) > cfg.max_rows:
        logger.info(
            "max_rows=%d: sampling %d of %d training rows", cfg.max_rows, cfg.max_rows, len(parts["train"])
        )
        parts["train"] = subsample(parts["train"], cfg.max_rows, seed)
    if not is_identity(cfg.clean):
        cleaner = make_cleaner(cfg.clean)
        parts = {name: clean_dataset(ds, cleaner) for name, ds in parts.items()}
    for name, ds in parts.items():
        parts[name], dropped = drop_empty(ds)
        if dropped:
            logger.warning("dropped %d %s row(s) with an empty text", dropped, name)
    if cfg.balance != "none":
        parts["train"] = balance(parts["train"], cfg.balance, seed)
    if cfg.k_per_class is not None:
        parts["train"] = k_per_class(parts["train"], cfg.k_per_class, seed)
    return DatasetSplits(parts["train"], parts["validation"], parts["test"])


def load_splits(cfg: DataConfig, source: SourceLike | Any = None) -> DatasetSplits:
    """Read and prepare the train/validation/test splits described by ``cfg``.

    Example:
        >>> splits = load_splits(DataConfig(source="sms-spam", k_per_class=8))
        >>> set(splits.train.class_counts().values())
        {8}
    """
    splits = prepare(read_splits(cfg, source), cfg)
    warn_conflicts(splits)
    logger.info(
        "data: %d train, %d validation, %d test rows; %d classes",
        len(splits.train),
        len(splits.validation),
        len(splits.test),
        len(splits.label_set),
    )
    return splits


def warn_conflicts(splits: DatasetSplits) -> int:
    """Log a warning naming texts that carry different labels in different rows; returns their count.

    A model cannot learn such rows, and when many texts conflict, validation scores fall to chance.

    Example:
        >>> warn_conflicts(splits)
        0
    """
    every = concat([part for _, part in splits.items()], splits.train.name)
    _, _, conflicting, examples = duplicate_stats(every)
    if conflicting:
        shown = "; ".join(f"'{e['text']}' ({e['rows']} rows)" for e in examples)
        logger.warning(
            "%d text(s) appear with different labels, e.g. %s: no model can learn them; "
            "fix the labels (classifine data inspect lists them)",
            conflicting,
            shown,
        )
    return conflicting
