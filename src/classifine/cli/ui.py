"""``classifine ui --server URL``: the web page (Streamlit), a client of a running ``classifine serve``."""

from __future__ import annotations

import typer

from classifine.cli.common import echo


def ui(
    server: str = typer.Option(
        ..., "--server", help="URL of a running 'classifine serve', e.g. http://127.0.0.1:8000."
    ),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address the page listens on (0.0.0.0: every interface)."
    ),
    port: int = typer.Option(8501, "--port", min=1, max=65535, help="Port of the page."),
    api_key_env: str | None = typer.Option(
        None, "--api-key-env", help="Name of an environment variable holding the server's API key."
    ),
) -> None:
    """Open a web page on a server: predict, batch files, monitoring charts, the model card.

    Example: classifine ui --server http://127.0.0.1:8000 --port 8501
    """
    from classifine.ui.launch import check_options, run_page

    check_options(server, api_key_env)
    echo(f"Web page on http://{host}:{port} for the server {server} (Ctrl-C stops it)")
    run_page(server, host=host, port=port, api_key_env=api_key_env)


def register(app: typer.Typer) -> None:
    app.command("ui")(ui)
