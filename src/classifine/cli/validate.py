"""``classifine validate CONFIG [key=value ...]``: check a config and its data without loading weights."""

from __future__ import annotations

from pathlib import Path

import typer

from classifine.cli.common import print_json


def validate(
    config: Path = typer.Argument(..., help="A YAML config file."),
    overrides: list[str] | None = typer.Argument(
        None, help="Overrides such as train.epochs=2 data.max_rows=500."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON only."),
) -> None:
    """Load a config, read and split its data, resolve its model; print rows per split, classes, warnings.

    A misspelt key, unreadable data or an unknown model exits 2 with one line naming the fix.

    A data report with errors (e.g. a single class) exits 1.
    """
    from classifine.config import load_config
    from classifine.training.check import validate_config_data

    cfg = load_config(config, list(overrides or []))
    check = validate_config_data(cfg)
    if as_json:
        print_json(check.to_dict())
    else:
        from rich.console import Console

        check.render(Console(width=120))
    if check.report.errors:
        raise SystemExit(1)


def register(app: typer.Typer) -> None:
    """Add the ``validate`` verb to the root app."""
    app.command("validate")(validate)
