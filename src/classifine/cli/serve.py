"""``classifine serve RUN [RUN ...]``: an HTTP server for trained runs (FastAPI on uvicorn)."""

from __future__ import annotations

import logging

import typer

from classifine.cli.common import echo

logger = logging.getLogger(__name__)
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def require_server_extra(*modules: str) -> None:
    """A clear error naming the extra when a serving dependency is not installed."""
    import importlib.util

    from classifine.errors import ConfigError

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(
            f"this command needs {', '.join(missing)}, which is not installed",
            hint="install the server extra: pip install 'classifine[server]'",
        )


def serve(
    runs: list[str] = typer.Argument(
        ..., help="Run folders to serve; name one with NAME=RUN (default name: the folder's name)."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0: every interface)."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to listen on."),
    engine: str = typer.Option("auto", "--engine", help="auto, torch, onnx or onnx-int8."),
    max_batch_size: int = typer.Option(32, "--max-batch-size", min=1, help="Texts per shared forward pass."),
    max_wait_ms: float = typer.Option(
        5.0,
        "--max-wait-ms",
        min=0.0,
        help="How long a request may wait for others to share its forward pass.",
    ),
    forward_workers: int | None = typer.Option(
        None, "--forward-workers", min=1, help="Batches running side by side (default: 2, at most the CPUs)."
    ),
    api_key_env: str | None = typer.Option(
        None, "--api-key-env", help="Name of an environment variable holding the API key (Bearer auth)."
    ),
    workers: int = typer.Option(1, "--workers", min=1, help="Server processes (each loads the models)."),
    store: str | None = typer.Option(
        None, "--store", help="Database URL for predictions and feedback (default: RUN/serving.sqlite)."
    ),
    store_texts: bool = typer.Option(
        False, "--store-texts", help="Also store the texts (default: their sha256)."
    ),
    no_store: bool = typer.Option(False, "--no-store", help="Record no predictions and accept no feedback."),
    cors_origin: list[str] = typer.Option(
        [], "--cors-origin", help="Allow browser calls from this origin (repeatable; CORS is off by default)."
    ),
    max_body_bytes: int = typer.Option(
        2_097_152, "--max-body-bytes", min=1024, help="Largest request body (413)."
    ),
    max_texts: int = typer.Option(64, "--max-texts", min=1, help="Most texts in one request (422)."),
    max_text_chars: int = typer.Option(
        20_000, "--max-text-chars", min=1, help="Most characters per text (422)."
    ),
    auto_truncate: bool = typer.Option(
        False,
        "--auto-truncate",
        help="/predict truncates long texts unless a request says otherwise (as TEI).",
    ),
    access_log: bool = typer.Option(
        False, "--access-log", help="Log one line per request (method, path, status)."
    ),
) -> None:
    """Serve runs over HTTP: /v1/classify, /predict (TEI), /v1/feedback, /v1/models, /metrics.

    Example: classifine serve runs/sms-spam-minilm --port 8000
    """
    require_server_extra("fastapi", "uvicorn", "prometheus_client", "sqlalchemy")
    from classifine.server.app import check_store, run_server
    from classifine.server.models import check_runs
    from classifine.server.settings import ENGINES, Limits, ServerSettings

    if engine not in ENGINES:
        from classifine.errors import ConfigError, suggestion

        raise ConfigError(f"unknown engine '{engine}'", hint=suggestion(engine, ENGINES, "engine"))
    settings = ServerSettings.for_runs(
        runs,
        engine=engine,
        max_batch_size=max_batch_size,
        max_wait_ms=max_wait_ms,
        **({"forward_workers": forward_workers} if forward_workers else {}),
        api_key_env=api_key_env,
        cors_origins=cors_origin,
        limits=Limits(max_body_bytes=max_body_bytes, max_texts=max_texts, max_text_chars=max_text_chars),
        store=store,
        store_enabled=not no_store,
        store_texts=store_texts,
        auto_truncate=auto_truncate,
    ).with_key_from_env()
    check_runs(settings)
    if settings.store and settings.store_enabled:
        check_store(settings.store)
    if host not in _LOOPBACK and settings.api_key is None:
        logger.warning("listening on %s without an API key: anyone who can reach it can use it", host)
    names = ", ".join(m.name for m in settings.models)
    echo(f"Serving {names} on http://{host}:{port} (docs: /docs, metrics: /metrics)")
    run_server(settings, host=host, port=port, workers=workers, access_log=access_log)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
