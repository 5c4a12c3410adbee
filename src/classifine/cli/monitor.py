"""``classifine monitor RUN_OR_STORE``: volume, confidence, label drift and accuracy on feedback."""

from __future__ import annotations

from pathlib import Path

import typer

from classifine.cli.common import echo, print_json


def monitor(
    source: str = typer.Argument(
        ..., help="A served run folder (its serving.sqlite), a .sqlite file, or a database URL (--store)."
    ),
    run: Path | None = typer.Option(
        None, "--run", help="Run whose training split the labels are compared with."
    ),
    model: str | None = typer.Option(None, "--model", help="Only this served model."),
    low_confidence: float = typer.Option(
        0.6, "--low-confidence", min=0.0, max=1.0, help="Predictions below this top probability count as low."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    html: Path | None = typer.Option(None, "--html", help="Write an HTML report with plots to this file."),
) -> None:
    """Report on served predictions: volume and confidence over time, drift (PSI), feedback accuracy.

    Example: classifine monitor runs/sms-spam-minilm --html monitor.html
    """
    from classifine.cli.serve import require_server_extra

    require_server_extra("sqlalchemy", "matplotlib")
    from classifine.server.monitor import monitor as build
    from classifine.server.monitor_html import summary_lines, write_html

    report = build(source, run=run, model=model, low_confidence=low_confidence)
    if html is not None:
        write_html(report, html)
    if as_json:
        print_json(report.to_dict())
        return
    for line in summary_lines(report):
        typer.echo(line)
    if html is not None:
        echo(f"\nWrote {html}")


def register(app: typer.Typer) -> None:
    app.command("monitor")(monitor)
