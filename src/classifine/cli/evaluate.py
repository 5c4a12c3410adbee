"""``classifine evaluate RUN``: score a run beside the TF-IDF baseline and write its report."""

from __future__ import annotations

from pathlib import Path

import typer

from classifine.cli.common import echo, print_json, progress_enabled
from classifine.errors import ConfigError


def evaluate(
    run: Path = typer.Argument(..., help="Run folder written by 'classifine train' (or its model/ folder)."),
    data: str | None = typer.Option(
        None, "--data", help="Evaluate on this labelled data instead: a file, a folder or NAME:split."
    ),
    text_column: str | None = typer.Option(None, "--text-column", help="Text column of --data."),
    label_column: str | None = typer.Option(None, "--label-column", help="Label column of --data."),
    split: str = typer.Option("test", "--split", help="Split of the run's data: test or validation."),
    no_baseline: bool = typer.Option(False, "--no-baseline", help="Skip the TF-IDF baseline."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
    llm: list[str] = typer.Option(
        [], "--llm", help="Add an LLM labeller BACKEND:MODEL to the leaderboard (repeatable)."
    ),
    llm_shots: str = typer.Option("0", "--llm-shots", help="Shots per LLM row, e.g. 0,4 (0 = zero-shot)."),
    llm_base_url: str | None = typer.Option(None, "--llm-base-url", help="Server URL for ollama/openai."),
    limit: int | None = typer.Option(
        None, "--limit", min=1, help="Score every row on the same seeded subset of N texts."
    ),
    track: str | None = typer.Option(
        None, "--track", help="Log to none, mlflow, wandb or tensorboard [default: the run's track section]."
    ),
) -> None:
    """Score a trained run on held-out data beside a TF-IDF baseline; write report.md/html."""
    from classifine.api import evaluate_run
    from classifine.evaluation.report import headline_table, leaderboard_table
    from classifine.experiments.compare import llm_row_factory, parse_llm_spec

    specs = [parse_llm_spec(item, base_url=llm_base_url) for item in llm]
    shots = _shots(llm_shots)
    report = evaluate_run(
        run,
        data_file=data,
        split=split,
        text_column=text_column,
        label_column=label_column,
        include_baseline=not no_baseline,
        extra_rows=llm_row_factory(specs, shots, progress=progress_enabled()) if specs else (),
        limit=limit,
        track=track,
    )
    if as_json:
        print_json(report.to_dict())
        return
    typer.echo(headline_table(report))
    if any(row["kind"] not in ("fine-tuned", "tf-idf") for row in report.leaderboard):
        typer.echo("")
        typer.echo(leaderboard_table(report))
    if report.run_dir is not None:
        echo(f"Report: {report.run_dir / 'report.html'} (and report.md, metrics.json)")


def _shots(text: str) -> list[int]:
    try:
        shots = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise ConfigError(f"--llm-shots '{text}' is not a list of integers", hint="e.g. 0,4") from None
    if not shots or min(shots) < 0:
        raise ConfigError(f"--llm-shots '{text}' needs integers >= 0", hint="e.g. 0,4")
    return shots


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
