"""``classifine export RUN``: write model.onnx (and model.int8.onnx) and check them against torch."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from classifine.cli.common import echo, print_json

if TYPE_CHECKING:
    from classifine.artifact import ExportRecord
    from classifine.export.run import ExportResult


def _table(result: ExportResult) -> str:
    first = next(iter(result.records.values())).parity
    lines = [
        f"Parity with torch fp32 on {first.texts} {first.split} texts "
        f"(torch accuracy {first.torch_accuracy:.2%}):",
        f"{'engine':<10} {'file':<16} {'size':>8}  {'agreement':>9}  {'max |dp|':>9}  {'accuracy':>8}  ok",
    ]
    for name, r in result.records.items():
        p = r.parity
        lines.append(
            f"{name:<10} {r.file:<16} {r.size_bytes / 1e6:>6.1f}MB  {p.agreement:>9.2%}  "
            f"{p.max_abs_diff:>9.1e}  {p.accuracy:>8.2%}  {'yes' if r.passed else 'NO'}"
        )
    return "\n".join(lines)


def _failure(record: ExportRecord) -> str:
    p = record.parity
    reasons = []
    if p.agreement < p.min_agreement:
        reasons.append(f"label agreement {p.agreement:.2%} < {p.min_agreement:.1%}")
    if p.max_allowed_diff is not None and not p.max_abs_diff <= p.max_allowed_diff:
        reasons.append(f"max |dp| {p.max_abs_diff:.1e} > {p.max_allowed_diff:.0e}")
    why = "; ".join(reasons) or "parity check failed"
    return f"error: {record.file} failed its parity check ({why}); kept, but engine auto will not use it"


def export(
    run: Path = typer.Argument(..., help="Run folder written by 'classifine train' (or its model/ folder)."),
    int8: bool = typer.Option(False, "--int8", help="Also write model.int8.onnx (int8 weights)."),
    max_texts: int = typer.Option(
        1000, "--max-texts", min=1, help="Parity texts: at most this many of the run's validation split."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the export records as JSON."),
) -> None:
    """Export a run to ONNX (fp32, and int8 with --int8) next to its weights.

    Each file is checked against torch fp32 on the run's validation texts (stored in classifine.json).

    fp32 must agree on >= 99.9% of labels with max |dp| <= 1e-3; int8 on >= 99% of labels.

    A file that fails its check is kept but never used by --engine auto; the command exits 1.

    Then predict (or serve) with --engine auto, onnx or onnx-int8.
    """
    from classifine.export import export_run

    result = export_run(run, int8=int8, max_texts=max_texts)
    if as_json:
        print_json(result.to_dict())
    else:
        typer.echo(_table(result))
        if result.passed:
            echo(f"Wrote {', '.join(r.file for r in result.records.values())} in {result.folder}")
    failed = [r for r in result.records.values() if not r.passed]
    for record in failed:
        typer.echo(_failure(record), err=True)
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("export")(export)
