"""Data in the ``datasets`` library's forms: hub dataset ids (``datasets.load_dataset``, the path
online users take) and ``save_to_disk`` folders; ``ClassLabel`` ids become label names.

Example:
    >>> sorted(load_hub("ag_news"))  # doctest: +SKIP
    ['test', 'train']
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from classifine.errors import DataError

logger = logging.getLogger(__name__)

DISK_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")


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
        from classifine.data import catalog

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


def is_disk_folder(path: Path) -> bool:
    """True when ``path`` is a folder written by ``Dataset.save_to_disk`` or ``DatasetDict.save_to_disk``."""
    return path.is_dir() and any((path / m).is_file() for m in DISK_MARKERS)


def read_splits_dir(path: str | Path) -> dict[str, pd.DataFrame]:
    """Read a ``save_to_disk`` folder (Dataset -> ``{"train": df}``; DatasetDict -> one frame per split).

    Label columns stored as ``ClassLabel`` come back as label names.

    Example:
        >>> sorted(read_splits_dir("data/saved"))
        ['test', 'train']
    """
    p = Path(path)
    if not p.exists():
        raise DataError("folder not found", where=str(p), hint="check the path")
    if not is_disk_folder(p):
        raise DataError(
            "folder is not a datasets save_to_disk folder",
            where=str(p),
            hint="use a folder of train/test data files as data.source, or pass a single file",
        )
    import datasets

    try:
        loaded = datasets.load_from_disk(str(p))
    except Exception as exc:  # corrupt or partial folders raise assorted errors
        raise DataError(f"cannot read saved dataset: {exc}", where=str(p), hint="save it again") from None
    if isinstance(loaded, datasets.DatasetDict):
        return {name: hf_to_frame(split) for name, split in loaded.items()}
    return {"train": hf_to_frame(loaded)}


def hf_to_frame(ds: Any) -> pd.DataFrame:
    """Convert a ``datasets.Dataset`` to a DataFrame, mapping ``ClassLabel`` ids (and lists of them) to names.

    Example:
        >>> hf_to_frame(datasets.Dataset.from_dict({"text": ["a"], "label": [0]})).shape
        (1, 2)
    """
    import datasets

    df: pd.DataFrame = ds.to_pandas()
    for column, feature in ds.features.items():
        inner = getattr(feature, "feature", None)  # List / Sequence / LargeList of ClassLabel
        if isinstance(feature, datasets.ClassLabel):
            names = feature.names
            df[column] = [names[int(v)] if v is not None and int(v) >= 0 else None for v in df[column]]
        elif isinstance(inner, datasets.ClassLabel):
            names = inner.names
            df[column] = [None if v is None else [names[int(i)] for i in v] for v in df[column]]
    return df
