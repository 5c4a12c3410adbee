"""Datasets on the dataset hub, read through ``datasets.load_dataset`` (the path online users take).

Example:
    >>> sorted(load_hub("ag_news"))  # doctest: +SKIP
    ['test', 'train']
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from classifine.data import catalog
from classifine.data.io import hf_to_frame, is_disk_folder, read_splits_dir
from classifine.errors import DataError

logger = logging.getLogger(__name__)


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
