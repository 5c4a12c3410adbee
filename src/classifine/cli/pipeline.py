"""``classifine pipeline compile CONFIG --out pipeline.yaml``: a Kubeflow Pipelines v2 pipeline."""

from __future__ import annotations

from pathlib import Path

import typer

from classifine.cli.common import echo

app = typer.Typer(help="Kubeflow Pipelines: compile the train -> evaluate -> export -> promote pipeline.")


@app.command("compile")
def compile_command(
    config: Path = typer.Argument(..., help="YAML config file (see examples/); compiled into the pipeline."),
    overrides: list[str] = typer.Argument(None, help="Overrides such as train.epochs=2."),
    out: Path = typer.Option(Path("pipeline.yaml"), "--out", "-o", help="Where to write the pipeline YAML."),
    metric: str = typer.Option("macro_f1", "--metric", help="Test metric the promotion gate compares."),
    threshold: float = typer.Option(
        0.0, "--threshold", help="Promote when the metric reaches this (or beats the current model)."
    ),
    image: str = typer.Option(
        "classifine:train", "--image", help="Image every step runs in (the Dockerfile's train target)."
    ),
    int8: bool = typer.Option(True, "--int8/--no-int8", help="Also export the int8 ONNX model."),
    tune: int = typer.Option(
        0, "--tune", min=0, help="Tune instead of train: N trials of the config's tune.space, best refit."
    ),
) -> None:
    """Compile data check -> train -> evaluate beside TF-IDF -> export -> promotion gate for CONFIG.

    Example: classifine pipeline compile examples/sms-spam.yaml --out pipeline.yaml --threshold 0.95
    """
    from classifine.pipeline import compile_pipeline

    written = compile_pipeline(
        config,
        out,
        overrides or [],
        metric=metric,
        threshold=threshold,
        image=image,
        int8=int8,
        tune_trials=tune,
    )
    typer.echo(str(written))
    echo("upload it to Kubeflow Pipelines, or run it here: see docs/deploy.md")


def register(root: typer.Typer) -> None:
    """Add the ``pipeline`` command group."""
    root.add_typer(app, name="pipeline")
