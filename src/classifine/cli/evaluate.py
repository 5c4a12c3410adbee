"""``classifine evaluate RUN``: score a run beside the TF-IDF baseline and write its report."""

from __future__ import annotations

from pathlib import Path

import typer

from classifine.cli.common import echo, print_json


def evaluate(
    run: Path = typer.Argument(..., help="Run folder written by 'classifine train' (or its model/ folder)."),
    data: Path | None = typer.Option(None, "--data", help="Evaluate on this labelled file instead."),
    text_column: str | None = typer.Option(None, "--text-column", help="Text column of --data."),
    label_column: str | None = typer.Option(None, "--label-column", help="Label column of --data."),
    split: str = typer.Option("test", "--split", help="Split of the run's data: test or validation."),
    no_baseline: bool = typer.Option(False, "--no-baseline", help="Skip the TF-IDF baseline."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
) -> None:
    """Score a trained run on held-out data beside a TF-IDF baseline; write report.md/html."""
    from classifine.evaluation.report import evaluate_run, headline_table

    report = evaluate_run(
        run,
        data_file=data,
        split=split,
        text_column=text_column,
        label_column=label_column,
        include_baseline=not no_baseline,
    )
    if as_json:
        print_json(report.to_dict())
        return
    typer.echo(headline_table(report))
    if report.run_dir is not None:
        echo(f"Report: {report.run_dir / 'report.html'} (and report.md, metrics.json)")


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
