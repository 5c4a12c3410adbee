"""``classifine data inspect FILE|CATALOG_NAME``: the data report, before any training."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from classifine.cli.common import print_json
from classifine.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from classifine.data.dataset import Dataset

data_app = typer.Typer(help="Look at labelled data before training on it.", no_args_is_help=True)

_SPLIT_CHOICES = ("train", "validation", "test", "all")


@dataclass(frozen=True)
class _Read:
    """How to read the columns of a file; missing values are counted, not fatal."""

    text_column: str
    label_column: str | list[str]
    multi_label: bool | str
    delimiter: str | None

    def dataset(self, frame: pd.DataFrame, where: str, name: str = "") -> Dataset:
        from classifine.data.io import to_dataset

        return to_dataset(
            frame,
            text_column=self.text_column,
            label_column=self.label_column,
            multi_label=self.multi_label,
            delimiter=self.delimiter,
            where=where,
            name=name,
            missing="drop",
            min_classes=0,
        )


def _columns(label_column: str) -> str | list[str]:
    """``a,b,c`` names several 0/1 label columns (multi-label); one name is one label column."""
    parts = [p.strip() for p in label_column.split(",") if p.strip()]
    return parts if len(parts) > 1 else label_column


def _catalog_target(name: str, split: str | None) -> tuple[Dataset, Dataset | None, list[str]]:
    from classifine.data import catalog
    from classifine.data.sample import concat

    if split == "all":
        splits = catalog.load_catalog(name)
        return concat([ds for _, ds in splits.items()], name), None, ["all splits together"]
    if split in ("validation", "test"):
        return catalog.load_catalog(name)[split], None, [f"the catalog's {split} split"]
    if catalog.get_entry(name).split.startswith("official"):
        note = "the official train file as shipped (the catalog's train + validation splits)"
        return catalog.load_raw(name), catalog.load_catalog(name).test, [note]
    return catalog.load_raw(name), None, ["all rows as shipped, before the catalog's deduplication and split"]


def _folder_target(source: str, split: str | None, read: _Read) -> tuple[Dataset, Dataset | None, list[str]]:
    import pandas as pd

    from classifine.data.loading import canonical_splits, load_hub

    raw = load_hub(source)
    if split == "all":
        frame = pd.concat(list(raw.values()), ignore_index=True)
        return read.dataset(frame, source, source), None, ["all splits together"]
    if split is not None and split in raw:  # the source's own split name, e.g. train_2021
        return read.dataset(raw[split], f"{source} [{split}]", source), None, [f"the {split} split"]
    frames = canonical_splits(raw, source)
    chosen = split or "train"
    if chosen not in frames:
        raise ConfigError(f"no '{chosen}' split", where=source, hint=f"splits here: {', '.join(raw)}")
    ds = read.dataset(frames[chosen], f"{source} [{chosen}]", source)
    test = read.dataset(frames["test"], f"{source} [test]") if chosen != "test" and "test" in frames else None
    return ds, test, [f"the {chosen} split"]


def _target(source: str, split: str | None, read: _Read) -> tuple[Dataset, Dataset | None, list[str]]:
    """The dataset to report on, the test set to check overlap against, and notes for the reader."""
    from classifine.data.io import read_table
    from classifine.data.loading import source_kind

    kind = source_kind(source)
    if kind == "catalog":
        if split is not None and split not in _SPLIT_CHOICES:
            raise ConfigError(
                f"unknown split '{split}'", where="--split", hint=f"use one of {', '.join(_SPLIT_CHOICES)}"
            )
        return _catalog_target(source, split)
    if kind == "file":
        if split not in (None, "all"):
            raise ConfigError(
                f"--split {split} needs a catalog dataset or a folder of splits",
                where=source,
                hint="drop --split",
            )
        return read.dataset(read_table(source), source, Path(source).stem), None, []
    return _folder_target(source, split, read)


@data_app.command("inspect")
def inspect(
    source: str = typer.Argument(..., help="A data file, a folder of splits, or a catalog dataset name."),
    text_column: str = typer.Option("text", "--text-column", help="Column holding the text."),
    label_column: str = typer.Option(
        "label", "--label-column", help="Column holding the label(s); a,b,c names 0/1 columns (multi-label)."
    ),
    multi_label: bool | None = typer.Option(
        None, "--multi-label/--single-label", help="Force the problem type (default: detect)."
    ),
    delimiter: str | None = typer.Option(
        None, "--delimiter", help="Separator of labels in one cell, e.g. '|'."
    ),
    test: Path | None = typer.Option(None, "--test", help="A test file to check for overlap with the data."),
    tokenizer: str | None = typer.Option(
        None, "--tokenizer", help="A model folder or packaged preset: adds token-length percentiles."
    ),
    split: str | None = typer.Option(
        None,
        "--split",
        help="train | validation | test | all, or a folder's own split name (not for one file).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON only."),
) -> None:
    """Report rows, classes, imbalance, empty texts, duplicates, conflicts, lengths, train/test overlap.

    Catalog datasets: the report covers the official training data and its overlap with the test split.

    Exits 1 when the report holds an error (e.g. a single class), so scripts can gate on it.
    """
    from classifine.data.io import read_table
    from classifine.data.validate import inspect_dataset

    read = _Read(
        text_column, _columns(label_column), "auto" if multi_label is None else multi_label, delimiter
    )
    ds, test_ds, notes = _target(source, split, read)
    if test is not None:
        test_ds = read.dataset(read_table(test), str(test))
    report = inspect_dataset(ds, test=test_ds, tokenizer_path=tokenizer, name=source)
    report.notes[:0] = notes
    if as_json:
        print_json(report.to_dict())
    else:
        from rich.console import Console

        report.render(Console(width=120))
    if report.errors:
        raise SystemExit(1)


def register(app: typer.Typer) -> None:
    """Add the ``data`` verb group to the root app."""
    app.add_typer(data_app, name="data")
