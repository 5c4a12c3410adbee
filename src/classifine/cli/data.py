"""``classifine data inspect FILE|CATALOG_NAME``: the data report, before any training."""

from __future__ import annotations

from pathlib import Path

import typer

from classifine.cli.common import print_json
from classifine.errors import ClassifineError, DataError

data_app = typer.Typer(help="Look at labelled data before training on it.", no_args_is_help=True)


def _columns(label_column: str) -> str | list[str]:
    """``a,b,c`` names several 0/1 label columns (multi-label); one name is one label column."""
    parts = [p.strip() for p in label_column.split(",") if p.strip()]
    return parts if len(parts) > 1 else label_column


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
    test: str | None = typer.Option(None, "--test", help="A test file (or NAME:test) to check overlap with."),
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
    from classifine.data.parse import Columns
    from classifine.data.sources import open_source
    from classifine.data.validate import inspect_dataset, inspection_data

    columns = Columns(
        text_column, _columns(label_column), "auto" if multi_label is None else multi_label, delimiter
    )
    ds, test_ds, notes = inspection_data(source, split, columns)
    if test is not None:
        src = open_source(test)
        test_ds = columns.dataset(src.table(), where=src.where, missing="drop", min_classes=0)
    folder, max_length = tokenizer_folder(tokenizer) if tokenizer else (None, None)
    report = inspect_dataset(ds, test=test_ds, tokenizer_path=folder, max_length=max_length, name=source)
    report.notes[:0] = notes
    if as_json:
        print_json(report.to_dict())
    else:
        from rich.console import Console

        report.render(Console(width=120))
    if report.errors:
        raise SystemExit(1)


def tokenizer_folder(name: str) -> tuple[Path, int]:
    """A model's tokenizer folder (a local folder, or a preset fetched on first use) and its max length."""
    from classifine.models import zoo

    try:
        spec = zoo.resolve(name)
        return Path(spec.source), spec.max_length
    except ClassifineError as exc:
        if Path(name).expanduser().is_dir():  # a bare tokenizer folder, without a model config
            return Path(name).expanduser(), 512
        raise DataError(
            f"tokenizer not found: {exc.message}", where=f"--tokenizer {name}", hint=exc.hint
        ) from None


def register(app: typer.Typer) -> None:
    """Add the ``data`` verb group to the root app."""
    app.add_typer(data_app, name="data")
