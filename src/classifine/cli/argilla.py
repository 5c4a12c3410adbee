"""``classifine argilla push RECORDS``: log Argilla records written by ``predict --format argilla``."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from classifine.cli.common import echo
from classifine.errors import ConfigError

argilla_app = typer.Typer(help="Argilla: push the model's suggestions to a dataset.", no_args_is_help=True)


@argilla_app.command("push")
def push(
    records: Path = typer.Argument(..., help="JSONL records from 'classifine predict --format argilla'."),
    run: Path = typer.Option(..., "--run", help="The run that made them (its labels define the question)."),
    dataset: str = typer.Option(..., "--dataset", help="Argilla dataset name (created when missing)."),
    api_url: str = typer.Option(..., "--api-url", help="Argilla server URL, e.g. http://localhost:6900."),
    api_key_env: str = typer.Option("ARGILLA_API_KEY", "--api-key-env", help="Variable holding the API key."),
    workspace: str | None = typer.Option(None, "--workspace", help="Argilla workspace."),
) -> None:
    """Log records with suggestions into an Argilla dataset (needs the argilla extra and a server).

    Example: classifine argilla push records.jsonl --run runs/trec-6 --dataset trec-6 --api-url http://localhost:6900
    """
    from classifine.artifact import model_dir, read_meta
    from classifine.integrations.argilla import push_records, read_records

    key = os.environ.get(api_key_env, "")
    if not key:
        raise ConfigError(
            f"environment variable {api_key_env} is not set", hint="export your Argilla API key"
        )
    meta = read_meta(model_dir(run))
    count = push_records(
        read_records(records), api_url=api_url, api_key=key, dataset=dataset, labels=list(meta.labels),
        multi_label=meta.multi_label, workspace=workspace,
    )  # fmt: skip
    echo(f"Logged {count} records into Argilla dataset {dataset}")


def register(app: typer.Typer) -> None:
    app.add_typer(argilla_app, name="argilla")
