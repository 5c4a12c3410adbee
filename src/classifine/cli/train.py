"""``classifine train CONFIG [key=value ...] [--resume] [--name NAME]``: fine-tune and write a run folder."""

from __future__ import annotations

from pathlib import Path

import typer

from classifine.cli.common import echo, print_json, progress_enabled, state
from classifine.training.memory import process_start


def train_command(
    config: Path = typer.Argument(..., help="YAML config file (see examples/)."),
    overrides: list[str] = typer.Argument(None, help="Overrides such as train.epochs=2 model.method=full."),
    resume: bool = typer.Option(
        False, "--resume", help="Continue an interrupted run from its last checkpoint."
    ),
    name: str | None = typer.Option(None, "--name", help="Run name (folder under output.dir)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only print the run folder and metrics."),
    as_json: bool = typer.Option(False, "--json", help="Print the run folder and metrics as JSON."),
    evaluate: bool = typer.Option(
        True,
        "--evaluate/--no-evaluate",
        help="Score the test split beside TF-IDF; write the report.",
    ),
    track: str | None = typer.Option(
        None, "--track", help="Log the run to none, mlflow, wandb or tensorboard (track.backend)."
    ),
) -> None:
    """Fine-tune a classifier on the data in CONFIG and write runs/<name>/ (model, metrics, logs).

    With train.max_train_minutes=N the whole command fits in N minutes: reading and tokenising
    the data, training (the learning-rate schedule is planned to end with the budget),
    evaluation, the artifact and the test-split report. Without a terminal, progress is logged
    as a line every tenth of the run or every minute.
    """
    import json

    from classifine.api import train_and_evaluate
    from classifine.config import load_config

    if quiet or as_json:
        state.quiet = True
    extra = list(overrides or [])
    if name:
        extra.append(f"output.name={name}")
    if track:
        extra.append(f"track.backend={track}")
    cfg = load_config(config, extra)
    run, report = train_and_evaluate(
        cfg, resume=resume, evaluate=evaluate, progress=progress_enabled(), clock_start=process_start()
    )
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    best = metrics.get("validation", {})
    if as_json:
        print_json(
            {
                "run": str(run),
                "validation": best,
                "train": metrics.get("train", {}),
                "test": metrics.get("test"),
            }
        )
        return
    typer.echo(str(run))
    shown = ", ".join(f"{k} {v:.4f}" for k, v in best.items())
    echo(f"best validation: {shown}" if shown else "no validation split: nothing to select on")
    if report is not None:
        from classifine.evaluation.report import headline_table

        echo("")
        echo(headline_table(report))
        echo(f"report: {run / 'report.html'}")
    elif evaluate:
        echo(f"no test split to evaluate on; use 'classifine evaluate {run} --data FILE'")
    echo(f'next: classifine predict {run} --text "..."')


def register(app: typer.Typer) -> None:
    """Add the ``train`` command."""
    app.command("train")(train_command)
