"""``classifine feedback export STORE --output corrections.csv``: feedback as training data."""

from __future__ import annotations

from pathlib import Path

import typer

from classifine.cli.common import echo, print_json

feedback_app = typer.Typer(
    help="Work with the feedback recorded by 'classifine serve'.", no_args_is_help=True
)


@feedback_app.command("export")
def export(
    store: str = typer.Argument(
        ..., help="A served run folder, a .sqlite file, or a database URL (--store)."
    ),
    output: Path = typer.Option(..., "--output", "-o", help="CSV (text,label) or .jsonl file to write."),
    model: str | None = typer.Option(None, "--model", help="Only feedback about this served model."),
    only_corrections: bool = typer.Option(
        False, "--only-corrections", help="Leave out confirmations (feedback that agreed with the model)."
    ),
    texts: Path | None = typer.Option(
        None, "--texts", help="A file with the original texts, matched by sha256 when the store kept none."
    ),
    text_column: str = typer.Option("text", "--text-column", help="Text column of --texts."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Write text,label rows that 'classifine train' accepts; per text the latest feedback wins.

    Texts are in the store only when the server ran with --store-texts; otherwise pass --texts.
    Example: classifine feedback export runs/sms-spam-minilm --output corrections.csv
    """
    from classifine.cli.serve import require_server_extra

    require_server_extra("sqlalchemy")
    from classifine.server.feedback import export_feedback

    result = export_feedback(
        store, output, model=model, only_corrections=only_corrections, texts=texts, text_column=text_column
    )
    if as_json:
        print_json(
            {
                "output": str(result.output),
                "rows": result.rows,
                "corrections": result.corrections,
                "missing_text": result.missing_text,
            }
        )
        return
    echo(f"Wrote {result.rows} rows ({result.corrections} corrections) to {result.output}")
    if result.missing_text:
        echo(
            f"{result.missing_text} feedback rows were left out: their text is not stored "
            "(serve with --store-texts, or pass --texts FILE)"
        )


def register(app: typer.Typer) -> None:
    app.add_typer(feedback_app, name="feedback")
