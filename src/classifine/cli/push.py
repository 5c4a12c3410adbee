"""``classifine push RUN --repo-id ORG/NAME``: upload a run and its model card to the Hugging Face Hub."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from classifine.cli.common import echo, print_json


def push(
    run: Path = typer.Argument(..., help="Run folder written by 'classifine train'."),
    repo_id: str = typer.Option(..., "--repo-id", help="Model repository ORG/NAME (created if missing)."),
    private: bool = typer.Option(False, "--private", help="Create the repository private."),
    token_env: str | None = typer.Option(
        None,
        "--token-env",
        help="Environment variable holding a write token (default: HF_TOKEN or the login).",
    ),
    endpoint: str | None = typer.Option(
        None, "--endpoint", help="Hub URL (default: HF_ENDPOINT or the Hub)."
    ),
    revision: str | None = typer.Option(None, "--revision", help="Branch to commit to (default: main)."),
    card_only: bool = typer.Option(
        False, "--card-only", help="Print the generated model card; upload nothing."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Upload RUN's model folder, a generated model card, metrics and config in one commit.

    Example: classifine push runs/sms-spam-minilm --repo-id acme/sms-spam --private
    """
    from classifine.errors import ConfigError
    from classifine.hub import model_card, push_run

    if card_only:
        typer.echo(model_card(run, repo_id))
        return
    token = None
    if token_env:
        token = os.environ.get(token_env)
        if not token:
            raise ConfigError(f"--token-env {token_env}: that environment variable is not set")
    result = push_run(run, repo_id, private=private, token=token, endpoint=endpoint, revision=revision)
    if as_json:
        print_json(
            {"repo_id": result.repo_id, "url": result.url, "commit": result.commit, "files": result.files}
        )
        return
    typer.echo(result.url)
    echo(f"commit {result.commit}: {len(result.files)} files")


def register(app: typer.Typer) -> None:
    """Add the ``push`` command."""
    app.command("push")(push)
