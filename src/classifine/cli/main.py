"""Entry point of the ``classifine`` command: registers the verbs and maps errors to exit codes."""

from __future__ import annotations

import importlib
import logging
import os
import sys
import warnings

import typer

from classifine import _env  # noqa: F401  (importing the package already sets the thread policy)
from classifine.cli.common import state
from classifine.errors import ClassifineError

app = typer.Typer(
    name="classifine",
    help="From a labelled text file to a deployed, measured text classifier.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # a docstring's paragraphs reflow to the terminal's width
)

# Each verb lives in its own module exposing ``register(app)``.
_VERBS = (
    "demo",
    "datasets",
    "data",
    "validate",
    "models",
    "train",
    "evaluate",
    "predict",
    "export",
    "label",
    "tune",
    "compare",
    "serve",
    "monitor",
    "feedback",
    "ui",
    "retrain",
    "label_studio",
    "argilla",
    "pipeline",
    "push",
)


@app.callback()
def _root(
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only print results and errors."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show debug logs."),
) -> None:
    """classifine: load and check data, fine-tune, evaluate, predict."""
    state.quiet = quiet
    if not verbose:
        # Library progress bars and deprecation chatter drown the CLI's own progress and errors.
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        for category in (FutureWarning, DeprecationWarning):
            warnings.filterwarnings("ignore", category=category)
        warnings.filterwarnings("ignore", module="(transformers|peft|torch|accelerate)")
    level = logging.WARNING if quiet else (logging.DEBUG if verbose else logging.INFO)
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr)
    for noisy in ("httpx", "urllib3", "filelock", "datasets", "transformers", "torch", "huggingface_hub"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def _register_verbs() -> None:
    for verb in _VERBS:
        try:
            module = importlib.import_module(f"classifine.cli.{verb}")
        except ModuleNotFoundError as exc:
            if exc.name == f"classifine.cli.{verb}":
                continue
            raise
        module.register(app)


_register_verbs()


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; user errors exit with code 2 and one line on stderr."""
    try:
        result = app(args=argv, standalone_mode=False)
    except ClassifineError as exc:
        typer.echo(f"error: {exc}", err=True)
        return 2
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    except SystemExit as exc:  # typer.Exit inside commands
        return int(exc.code or 0)
    except Exception as exc:  # click usage errors arrive as ClickException
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            return 2
        if isinstance(exc, click.exceptions.Abort):
            return 130
        raise
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
