"""``classifine label-studio RUN`` (the ML backend) and ``classifine label-studio prelabel RUN``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from classifine.cli.common import echo, print_json, progress_enabled

TOKEN_ENV = "CLASSIFINE_LABEL_STUDIO_TOKEN"


class _ServeByDefault(TyperGroup):
    """``label-studio RUN ...`` means ``label-studio serve RUN ...``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["serve", *args]
        return super().parse_args(ctx, args)


label_studio_app = typer.Typer(
    cls=_ServeByDefault,
    no_args_is_help=True,
    help="Label Studio: serve a run as its ML backend (label-studio RUN), or pre-label a project.",
)


@label_studio_app.command("serve")
def serve(
    run: Path = typer.Argument(..., help="The run folder to serve (its serving version)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(9090, "--port", help="Port (Label Studio's default for ML backends)."),
    retrain_every: int = typer.Option(
        20, "--retrain-every", help="Start a retrain after this many new annotations (0: only on request)."
    ),
    metric: str = typer.Option(
        "macro_f1", "--metric", help="Promotion metric: macro_f1, accuracy, micro_f1."
    ),
    min_delta: float = typer.Option(0.0, "--min-delta", help="The new version must beat the old by this."),
    label_studio_url: str | None = typer.Option(
        None, "--label-studio-url", help="Label Studio URL to read annotations from (default: from /setup)."
    ),
    token_env: str | None = typer.Option(
        None, "--token-env", help="Variable holding a Label Studio token (default: the one /setup sends)."
    ),
    server: str | None = typer.Option(
        None, "--server", help="A classifine serve URL to reload on promotion."
    ),
    served_name: str | None = typer.Option(None, "--served-name", help="Model name on --server."),
    api_key_env: str | None = typer.Option(
        None, "--api-key-env", help="Variable holding the server's API key."
    ),
) -> None:
    """Serve RUN as a Label Studio ML backend: /health, /setup, /predict, /webhook, /train.

    Connect it in Label Studio (Settings > Model > Connect Model, URL http://HOST:PORT).
    Example: classifine label-studio runs/trec-6 --port 9090 --retrain-every 50
    """
    import uvicorn

    from classifine.integrations.label_studio_backend import BackendSettings, create_backend_app

    settings = BackendSettings(
        run=run, retrain_every=retrain_every, metric=metric, min_delta=min_delta,
        label_studio_url=label_studio_url, token_env=token_env, server=server, served_name=served_name,
        api_key_env=api_key_env,
    )  # fmt: skip
    from classifine.artifact import model_dir

    model_dir(run)  # a clear error now, not at the first request
    echo(f"Label Studio ML backend for {run} on http://{host}:{port}")
    uvicorn.run(create_backend_app(settings), host=host, port=port, log_level="warning")


@label_studio_app.command("prelabel")
def prelabel(
    run: Path = typer.Argument(..., help="The run folder whose serving version pre-labels."),
    url: str = typer.Option(..., "--url", help="Label Studio URL, e.g. http://127.0.0.1:8080."),
    token: str = typer.Option(..., "--token", envvar=TOKEN_ENV, help="Label Studio access token."),
    project: int = typer.Option(..., "--project", help="Project id."),
    batch_size: int = typer.Option(32, "--batch-size", min=1, help="Tasks per forward pass."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Pre-label every task of a project that has no prediction from this model version.

    Resumable: run it again after an interruption and it skips the tasks already done.
    Example: classifine label-studio prelabel runs/trec-6 --url http://127.0.0.1:8080 --token $T --project 3
    """
    from classifine.integrations.label_studio import LabelStudioClient
    from classifine.integrations.label_studio import prelabel as run_prelabel

    client = LabelStudioClient(url, token)
    try:
        result = run_prelabel(run, client, project, batch_size=batch_size, progress=progress_enabled())
    finally:
        client.close()
    if as_json:
        print_json(result.__dict__)
        return
    echo(
        f"Pre-labelled {result.predicted} of {result.tasks} tasks with {result.model_version} "
        f"({result.skipped} already had its prediction)"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(label_studio_app, name="label-studio")
