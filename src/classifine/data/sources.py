"""The one place where a data source becomes data.

A *source spec* is whatever a user points classifine at: a catalog name (``sms-spam``) or one of its
splits (``sms-spam:test``), a data file of any supported format, a folder (one data file per split,
or a ``save_to_disk`` folder), a hub dataset id, or an object in memory: a pandas DataFrame, a
``datasets.Dataset`` / ``DatasetDict``, a list of dicts, a ``(texts, labels)`` pair, a list of
texts, or classifine's own :class:`Dataset` / :class:`DatasetSplits`. :func:`open_source` turns any
of them into a :class:`Source`, which gives raw tables by split, one table, a stream of chunks (files
are never read whole for streaming), or ready-made splits when the source has them (catalog data).
Every reading error is a :class:`~classifine.errors.DataError` naming the file, line and fix.

Example:
    >>> src = open_source("data/reviews.csv")
    >>> src.table().shape
    (40, 2)
    >>> open_source("sms-spam:test").dataset().label_set.names
    ('ham', 'spam')
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeAlias

import pandas as pd

from classifine.data import catalog
from classifine.data.dataset import Dataset, DatasetSplits
from classifine.data.hub import hf_to_frame, is_disk_folder, read_splits_dir
from classifine.data.io import FORMATS, detect_format, iter_chunks, no_rows_error, read_table
from classifine.errors import DataError, suggestion

logger = logging.getLogger(__name__)

#: What :func:`open_source` accepts (``datasets`` objects are accepted too; they are not imported here).
SourceLike: TypeAlias = (
    str
    | Path
    | pd.DataFrame
    | Dataset
    | DatasetSplits
    | Sequence[Mapping[str, Any]]
    | Sequence[str]
    | tuple[Sequence[str], Sequence[Any]]
)
SPLITS = ("train", "validation", "test")
_TYPO_SIMILARITY = 0.75
_SHARD = re.compile(r"-\d{3,}-of-\d{3,}$")


class Source:
    """Data from one source spec. Subclasses say how each kind is read; see :func:`open_source`."""

    kind = "source"

    def __init__(self, where: str, name: str) -> None:
        self.where = where  # for messages: a path, ``NAME:split`` or a description of the object
        self.name = name  # short name for run folders and reports

    def frames(self) -> dict[str, pd.DataFrame]:
        """Raw tables by the source's own split names; a single table is ``{"train": table}``."""
        raise NotImplementedError

    def table(self) -> pd.DataFrame:
        """The one table of this source; a source with several splits must name one."""
        frames = self.frames()
        if len(frames) != 1:
            raise DataError(
                f"this source holds several splits ({', '.join(frames)})",
                where=self.where,
                hint=f"pick one, e.g. {self.where}:{next(iter(frames))}, or pass a single file",
            )
        return next(iter(frames.values()))

    def chunks(self, chunk_rows: int = 1000) -> Iterator[pd.DataFrame]:
        """The table as frames of at most ``chunk_rows`` rows (files stream; the first may be empty)."""
        df = self.table()
        yield from (df.iloc[i : i + chunk_rows] for i in range(0, max(len(df), 1), chunk_rows))

    def ready_splits(self, seed: int) -> DatasetSplits | None:
        """Train/validation/test when the source comes split and parsed (catalog data), else None."""
        return None

    def ready_dataset(self) -> Dataset | None:
        """A parsed Dataset when the source is one (a catalog split, a classifine Dataset), else None."""
        return None


class FileSource(Source):
    """One data file (CSV, TSV, TXT, JSON, JSONL, Parquet) or a one-split ``save_to_disk`` folder."""

    kind = "file"

    def __init__(self, path: Path) -> None:
        super().__init__(str(path), _slug(path.stem))
        self.path = path

    def frames(self) -> dict[str, pd.DataFrame]:
        return {"train": read_table(self.path)}

    def table(self) -> pd.DataFrame:
        return read_table(self.path)

    def chunks(self, chunk_rows: int = 1000) -> Iterator[pd.DataFrame]:
        yield from iter_chunks(self.path, chunk_rows=chunk_rows)


class FolderSource(Source):
    """A folder of split files (``train.csv``, ``test.jsonl``, shards ``train-00000-of-00002.parquet``)
    or a ``save_to_disk`` folder (a Dataset or a DatasetDict)."""

    kind = "folder"

    def __init__(self, path: Path) -> None:
        super().__init__(str(path), _slug(path.name))
        self.path = path

    def frames(self) -> dict[str, pd.DataFrame]:
        if is_disk_folder(self.path):
            return read_splits_dir(self.path)
        files: dict[str, list[Path]] = {}
        for p in sorted(self.path.iterdir()):
            if p.is_file() and p.suffix.lower() in FORMATS:
                files.setdefault(_SHARD.sub("", p.stem), []).append(p)
        if not files:
            raise DataError(
                "folder holds no data files",
                where=str(self.path),
                hint=f"put one file per split in it (train.csv, test.csv; formats: {', '.join(FORMATS)})",
            )
        return {split: _concat([read_table(p) for p in paths]) for split, paths in files.items()}


class HubSource(Source):
    """A dataset id on the dataset hub (loaded through ``datasets.load_dataset``; needs network)."""

    kind = "hub"

    def __init__(self, dataset_id: str, config_name: str | None = None) -> None:
        super().__init__(dataset_id, _slug(dataset_id))
        self.config_name = config_name

    def frames(self) -> dict[str, pd.DataFrame]:
        from classifine.data.hub import load_hub

        return load_hub(self.where, config_name=self.config_name)


class CatalogSource(Source):
    """A catalog dataset (its seeded splits) or one split of it (``NAME:split``)."""

    kind = "catalog"

    def __init__(self, name: str, split: str | None) -> None:
        super().__init__(f"{name}:{split}" if split else name, name)
        self.dataset_name, self.split = name, split

    def ready_splits(self, seed: int) -> DatasetSplits | None:
        if self.split is not None:
            raise DataError(
                f"'{self.where}' is one split; training needs the whole dataset",
                hint=f"use data.source={self.dataset_name}",
            )
        return catalog.load_catalog(self.dataset_name, seed=seed)

    def ready_dataset(self) -> Dataset | None:
        if self.split is None:
            raise DataError(
                f"'{self.dataset_name}' has several splits: name one",
                hint=f"e.g. {self.dataset_name}:test",
            )
        return catalog.load_catalog(self.dataset_name)[self.split]

    def frames(self) -> dict[str, pd.DataFrame]:
        splits = catalog.load_catalog(self.dataset_name)
        if self.split is not None:
            return {self.split: dataset_frame(splits[self.split])}
        return {name: dataset_frame(ds) for name, ds in splits.items()}


class MemorySource(Source):
    """Data already in memory: frames by split, or a parsed Dataset / DatasetSplits."""

    kind = "memory"

    def __init__(
        self,
        what: str,
        frames: dict[str, pd.DataFrame] | None = None,
        dataset: Dataset | None = None,
        splits: DatasetSplits | None = None,
    ) -> None:
        super().__init__(what, "memory")
        self._frames, self._dataset, self._splits = frames, dataset, splits

    def frames(self) -> dict[str, pd.DataFrame]:
        if self._frames is not None:
            return self._frames
        if self._splits is not None:
            return {name: dataset_frame(ds) for name, ds in self._splits.items()}
        assert self._dataset is not None
        return {"train": dataset_frame(self._dataset)}

    def ready_splits(self, seed: int) -> DatasetSplits | None:
        return self._splits

    def ready_dataset(self) -> Dataset | None:
        return self._dataset


def dataset_frame(ds: Dataset) -> pd.DataFrame:
    """A parsed Dataset as a table: ``text`` and ``label`` (or ``labels``, lists, when multi-label)."""
    if ds.multi_label:
        return pd.DataFrame({"text": ds.texts, "labels": [list(r) for r in ds.labels]})
    return pd.DataFrame({"text": ds.texts, "label": [r[0] if r else None for r in ds.labels]})


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text.rstrip("/").rsplit("/", 1)[-1]).strip("._") or "data"


def _looks_like_path(spec: str) -> bool:
    return (
        Path(spec).suffix.lower() in FORMATS
        or spec.startswith((".", "/", "~"))
        or "\\" in spec
        or spec.count("/") > 1
    )


def _catalog_split(spec: str) -> CatalogSource | None:
    """``NAME`` or ``NAME:split`` of a catalog dataset, else None (an existing path always wins)."""
    name, _, split = spec.partition(":")
    if not catalog.is_catalog_name(name) or Path(spec).exists():
        return None
    if ":" in spec and split not in SPLITS:
        raise DataError(f"unknown split '{split}' in '{spec}'", hint=suggestion(split, SPLITS, "split"))
    return CatalogSource(name, split or None)


def _from_string(spec: str, hub_config: str | None) -> Source:
    found = _catalog_split(spec)
    if found is not None:
        return found
    path = Path(spec).expanduser()
    if path.is_file():
        return FileSource(path)
    if path.is_dir():
        return FileSource(path) if _one_split_disk(path) else FolderSource(path)
    names = [e.name for e in catalog.list_entries()]
    if _looks_like_path(spec):
        detect_format(path)  # an unknown extension gets its own message
        raise DataError(
            "file not found",
            where=spec,
            hint=f"check the path; catalog datasets are named {', '.join(names)}",
        )
    head = spec.partition(":")[0]
    if any(difflib.SequenceMatcher(None, head, n).ratio() >= _TYPO_SIMILARITY for n in names):
        catalog.get_entry(head)  # raises: unknown dataset, did you mean ...
    return HubSource(spec, hub_config)


def _one_split_disk(path: Path) -> bool:
    return is_disk_folder(path) and (path / "dataset_info.json").is_file()


def _from_sequence(obj: Sequence[Any], what: str) -> Source:
    if len(obj) == 0:
        raise DataError(f"{what} is empty", hint="pass at least one row")
    if all(isinstance(r, Mapping) for r in obj):
        return MemorySource(what, frames={"train": pd.DataFrame.from_records(list(obj))})
    if all(isinstance(t, str) for t in obj):
        return MemorySource(what, frames={"train": pd.DataFrame({"text": list(obj)})})
    raise DataError(
        f"{what} mixes rows of different kinds",
        hint="pass a list of texts, a list of dicts, or a (texts, labels) pair",
    )


def _from_pair(obj: tuple[Any, ...]) -> Source:
    texts, labels = obj
    if isinstance(texts, str) or not isinstance(texts, Sequence) or not isinstance(labels, Sequence):
        raise DataError(
            "a (texts, labels) pair needs two lists", hint="e.g. (['hi', 'win'], ['ham', 'spam'])"
        )
    if len(texts) != len(labels):
        raise DataError(
            f"{len(texts)} texts but {len(labels)} labels", hint="give exactly one label (or list) per text"
        )
    return MemorySource("(texts, labels)", frames={"train": pd.DataFrame({"text": texts, "label": labels})})


def open_source(spec: SourceLike | Any, *, hub_config: str | None = None) -> Source:
    """Turn any source spec into a :class:`Source` (nothing is read until a method asks for data).

    Args:
        spec: a catalog name or ``NAME:split``, a file or folder path, a hub dataset id, a pandas
            DataFrame, a ``datasets.Dataset``/``DatasetDict``, a list of dicts, a list of texts, a
            ``(texts, labels)`` pair, or a classifine Dataset / DatasetSplits.
        hub_config: the configuration name of a hub dataset (``data.hub_config``).

    Example:
        >>> open_source(pd.DataFrame({"text": ["a"], "label": ["x"]})).table().shape
        (1, 2)
    """
    if isinstance(spec, Source):
        return spec
    if isinstance(spec, (str, Path)):
        text = str(spec).strip()
        if not text:
            raise DataError("empty data source", hint="pass a file path, a catalog name or a hub dataset id")
        return _from_string(text, hub_config)
    if isinstance(spec, pd.DataFrame):
        return MemorySource("DataFrame", frames={"train": spec})
    if isinstance(spec, DatasetSplits):
        return MemorySource("DatasetSplits", splits=spec)
    if isinstance(spec, Dataset):
        return MemorySource(f"Dataset {spec.name}".strip(), dataset=spec)
    hf = _hf_frames(spec)
    if hf is not None:
        return MemorySource(type(spec).__name__, frames=hf)
    if isinstance(spec, tuple) and len(spec) == 2:
        return _from_pair(spec)
    if isinstance(spec, Sequence):
        return _from_sequence(spec, "the list of rows")
    raise DataError(
        f"cannot read data from a {type(spec).__name__}",
        hint="pass a file path, a catalog name, a DataFrame, a datasets.Dataset, a list of dicts "
        "or a (texts, labels) pair",
    )


def _hf_frames(obj: Any) -> dict[str, pd.DataFrame] | None:
    """Frames of a ``datasets.Dataset`` / ``DatasetDict`` (ClassLabel ids become names), else None."""
    module = type(obj).__module__
    if not module.startswith("datasets"):
        return None
    import datasets

    if isinstance(obj, datasets.DatasetDict):
        return {name: hf_to_frame(split) for name, split in obj.items()}
    if isinstance(obj, datasets.Dataset):
        return {"train": hf_to_frame(obj)}
    return None


def iter_records(source: SourceLike | Any, chunk_rows: int = 1000) -> Iterator[list[dict[str, Any]]]:
    """Stream a source as lists of row dicts (files are read chunk by chunk, never whole).

    A source without any data row is a DataError naming it.

    Example:
        >>> next(iter_records("inbox.csv", chunk_rows=2))
        [{'text': 'hi', 'label': 'ham'}, {'text': 'win', 'label': 'spam'}]
    """
    src = open_source(source)
    rows = 0
    columns: Any = ()
    for chunk in src.chunks(chunk_rows):
        columns = columns or list(chunk.columns)
        if len(chunk):
            rows += len(chunk)
            yield chunk.to_dict("records")
    if rows == 0:
        raise no_rows_error(src.where, columns)
