"""From ``DataConfig`` to ready train/validation/test splits.

A source is a catalog name, a file, a folder (data files named by split, or a ``save_to_disk``
folder) or a hub dataset id. Folders and hub ids go through the same code (:func:`load_hub`), so
what online users hit is what the tests exercise on local folders. After reading, :func:`prepare`
subsamples (``max_rows``), cleans, drops empty texts, balances and takes ``k_per_class``.

Example:
    >>> splits = load_splits(DataConfig(source="data/reviews.csv"))
    >>> splits.label_set.names
    ('negative', 'positive')
"""

from __future__ import annotations

import difflib
import logging
from pathlib import Path

import pandas as pd

from classifine.config import DataConfig
from classifine.data import catalog
from classifine.data.clean import clean_dataset, is_identity, make_cleaner
from classifine.data.dataset import Dataset, DatasetSplits
from classifine.data.io import (
    FORMATS,
    ParsedFrame,
    build_label_set,
    drop_empty,
    hf_to_frame,
    is_disk_folder,
    parse_frame,
    read_splits_dir,
    read_table,
    unknown_label_error,
)
from classifine.data.sample import balance, k_per_class, subsample
from classifine.data.split import split_dataset, split_off
from classifine.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
_ALIASES = {
    "train": ("train", "training"),
    "validation": ("validation", "valid", "val", "dev"),
    "test": ("test", "testing", "eval"),
}
_TYPO_SIMILARITY = 0.75


def _looks_like_path(source: str) -> bool:
    return (
        Path(source).suffix.lower() in FORMATS
        or source.startswith((".", "/", "~"))
        or "\\" in source
        or source.count("/") > 1
    )


def source_kind(source: str) -> str:
    """Classify a ``data.source``: ``catalog``, ``file``, ``folder`` or ``hub``.

    A path that does not exist and a near-miss of a catalog name raise a DataError.

    Example:
        >>> source_kind("sms-spam"), source_kind("imdb")
        ('catalog', 'hub')
    """
    if catalog.is_catalog_name(source):
        return "catalog"
    path = Path(source).expanduser()
    if path.is_file():
        return "file"
    if path.is_dir():
        return "folder"
    names = [e.name for e in catalog.list_entries()]
    if _looks_like_path(source):
        raise DataError(
            "file not found",
            where=source,
            hint=f"check the path; catalog datasets are named {', '.join(names)}",
        )
    if any(difflib.SequenceMatcher(None, source, n).ratio() >= _TYPO_SIMILARITY for n in names):
        catalog.get_entry(source)  # raises: unknown dataset, did you mean ...
    return "hub"


def load_hub(path_or_id: str, *, config_name: str | None = None) -> dict[str, pd.DataFrame]:
    """Frames of every split of a hub dataset, a local folder of split files, or a ``save_to_disk`` folder.

    ``ClassLabel`` columns come back as label names.

    Example:
        >>> sorted(load_hub("data/reviews"))  # holds train.csv and test.csv
        ['test', 'train']
    """
    path = Path(path_or_id).expanduser()
    if is_disk_folder(path):
        return read_splits_dir(path)
    import datasets

    target = str(path) if path.is_dir() else path_or_id
    if not path.is_dir():
        logger.info("loading '%s' from the dataset hub", path_or_id)
    bars_were_on = not datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        loaded = datasets.load_dataset(target, config_name)
    except ConnectionError:
        names = ", ".join(e.name for e in catalog.list_entries())
        raise DataError(
            "not a local file or folder, not a catalog dataset, and the dataset hub is unreachable",
            where=path_or_id,
            hint=f"download the dataset and pass its file path, or use a catalog dataset ({names})",
        ) from None
    except (FileNotFoundError, ValueError) as exc:
        raise DataError(
            f"cannot load dataset: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
            where=path_or_id,
            hint="check the id (and data.hub_config), or pass a local file",
        ) from None
    finally:
        if bars_were_on:
            datasets.enable_progress_bars()
    return {name: hf_to_frame(split) for name, split in loaded.items()}


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
    label_set = build_label_set(train, cfg.labels, where["train"])
    parts = {"train": Dataset(train.texts, train.labels, label_set, meta={"source": where["train"]})}
    for split in ("validation", "test"):
        if split not in frames:
            continue
        parsed = _parse(frames[split], cfg, train.multi_label, where[split])
        what = f"in the {split} split, not in {'data.labels' if cfg.labels else 'train'}"
        unknown_label_error(parsed.labels, label_set.names, where[split], what)
        parts[split] = Dataset(parsed.texts, parsed.labels, label_set, meta={"source": where[split]})
    s = cfg.split
    try:
        if "validation" not in parts and "test" not in parts:
            return split_dataset(parts["train"], s.validation, s.test, s.seed)
        if "validation" not in parts:
            parts["train"], parts["validation"] = split_off(parts["train"], s.validation, s.seed)
        elif "test" not in parts:
            parts["train"], parts["test"] = split_off(parts["train"], s.test, s.seed)
    except DataError as exc:
        raise _split_error(exc, where["train"]) from None
    return DatasetSplits(parts["train"], parts["validation"], parts["test"])


def _files(cfg: DataConfig) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    frames: dict[str, pd.DataFrame] = {}
    where: dict[str, str] = {}
    for split in SPLITS:
        path = getattr(cfg, split)
        if path:
            frames[split] = read_table(Path(path).expanduser())
            where[split] = str(path)
    return frames, where


def read_splits(cfg: DataConfig) -> DatasetSplits:
    """Read the splits ``cfg`` names, before :func:`prepare` (no subsampling, cleaning or balancing).

    Example:
        >>> read_splits(DataConfig(source="sms-spam")).label_set.names
        ('ham', 'spam')
    """
    if cfg.train and cfg.source:
        raise ConfigError(
            "set either data.source or data.train, not both", hint="data.train names separate files"
        )
    if (cfg.validation or cfg.test) and not cfg.train:
        raise ConfigError(
            "data.validation / data.test need data.train", hint="set data.train to the training file"
        )
    if cfg.train:
        frames, where = _files(cfg)
        return splits_from_frames(frames, cfg, where)
    if not cfg.source:
        raise ConfigError("no data given", where="data", hint="set data.source or data.train")
    kind = source_kind(cfg.source)
    if kind == "catalog":
        return catalog.load_catalog(cfg.source, seed=cfg.split.seed)
    if kind == "file":
        return splits_from_frames(
            {"train": read_table(Path(cfg.source).expanduser())}, cfg, {"train": cfg.source}
        )
    # data.hub_splits (split renames) is read defensively so older configs keep working.
    names = getattr(cfg, "hub_splits", None)
    frames = canonical_splits(load_hub(cfg.source, config_name=cfg.hub_config), cfg.source, names)
    return splits_from_frames(frames, cfg, {s: f"{cfg.source} [{s}]" for s in SPLITS})


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


def load_splits(cfg: DataConfig) -> DatasetSplits:
    """Read and prepare the train/validation/test splits described by ``cfg``.

    Example:
        >>> splits = load_splits(DataConfig(source="sms-spam", k_per_class=8))
        >>> set(splits.train.class_counts().values())
        {8}
    """
    splits = prepare(read_splits(cfg), cfg)
    logger.info(
        "data: %d train, %d validation, %d test rows; %d classes",
        len(splits.train),
        len(splits.validation),
        len(splits.test),
        len(splits.label_set),
    )
    return splits
