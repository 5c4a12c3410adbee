"""``classifine predict RUN``: label texts given on the command line or a whole file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from classifine.cli.common import echo, print_json, progress_enabled
from classifine.errors import DataError

if TYPE_CHECKING:
    from classifine.inference.predictor import Prediction


def _show(texts: list[str], preds: list[Prediction], top_k: int | None) -> None:
    for text, pred in zip(texts, preds, strict=True):
        label = pred.label if isinstance(pred.label, str) else ", ".join(pred.label) or "(none)"
        shown = text if len(text) <= 60 else text[:57] + "..."
        if top_k:
            ranked = "  ".join(f"{name} {score:.3f}" for name, score in pred.top_k)
            typer.echo(f"{label}\t{ranked}\t{shown}")
        else:
            typer.echo(f"{label}\t{max(pred.scores.values()):.3f}\t{shown}")


def predict(
    run: Path = typer.Argument(..., help="Run folder written by 'classifine train' (or its model/ folder)."),
    text: list[str] | None = typer.Option(None, "--text", help="A text to label (repeatable)."),
    input: str | None = typer.Option(
        None, "--input", help="Data to label: a CSV/TSV/JSON/JSONL/Parquet file, a folder, or NAME:split."
    ),
    output: Path | None = typer.Option(None, "--output", help="Where to write the labelled file."),
    text_column: str = typer.Option("text", "--text-column", help="Text column of --input."),
    top_k: int | None = typer.Option(None, "--top-k", min=1, help="Show the K best labels with scores."),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Texts per forward pass."),
    engine: str = typer.Option(
        "auto",
        "--engine",
        help="torch, onnx, onnx-int8 (after 'classifine export') or auto: the fastest export "
        "that passed its parity check, else torch.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print predictions as JSON."),
    output_format: str = typer.Option(
        "rows", "--format", help="rows (the input's rows with labels) or argilla (Argilla v2 records, JSONL)."
    ),
) -> None:
    """Predict labels for --text TEXT ... or for a file (--input FILE --output FILE).

    --format argilla writes Argilla records with the model's suggestions (push them with
    'classifine argilla push'). Example: classifine predict runs/trec-6 --input new.csv --format argilla
    --output records.jsonl
    """
    from classifine.inference.predictor import Classifier

    if output_format not in ("rows", "argilla"):
        raise DataError(f"unknown --format '{output_format}'", hint="use rows or argilla")
    if output_format == "argilla":
        _argilla(run, text, input, output, text_column, batch_size)
        return

    if bool(text) == (input is not None):
        raise DataError("give either --text (one or more) or --input FILE --output FILE", hint="see --help")
    if input is not None and output is None:
        raise DataError("--input needs --output FILE", hint="e.g. --output predictions.jsonl")
    clf = Classifier.load(run, engine=engine, batch_size=batch_size)
    if input is not None and output is not None:
        rows = clf.predict_file(
            input, output, text_column=text_column, top_k=top_k, progress=progress_enabled()
        )
        if as_json:
            print_json({"rows": rows, "output": str(output)})
        else:
            echo(f"Wrote {rows} predictions to {output}")
        return
    texts = list(text or [])
    preds = clf.predict(texts, top_k=top_k)
    if as_json:
        print_json([{"text": t, **p.to_dict()} for t, p in zip(texts, preds, strict=True)])
    else:
        _show(texts, preds, top_k)


def _argilla(
    run: Path, text: list[str] | None, input: str | None, output: Path | None, column: str, batch_size: int
) -> None:
    from classifine.integrations.argilla import predict_records, write_records

    if output is None or bool(text) == (input is not None):
        raise DataError(
            "--format argilla needs --output FILE and either --text or --input",
            hint="e.g. --input new.csv --format argilla --output records.jsonl",
        )
    texts = list(text or [])
    if input is not None:
        from classifine.data.sources import open_source

        src = open_source(input)
        frame = src.table()
        if column not in frame.columns:
            raise DataError(f"no column '{column}'", where=src.where, hint="set --text-column")
        texts = [str(t) for t in frame[column].fillna("")]
    records = predict_records(run, texts, batch_size=batch_size)
    write_records(output, records)
    echo(f"Wrote {len(records)} Argilla records to {output}")


def register(app: typer.Typer) -> None:
    app.command("predict")(predict)
