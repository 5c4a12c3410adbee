"""The classifine command line (Typer); one small module per verb."""
