"""Helpers shared by the CLI verbs: output mode, JSON printing, progress bars."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

import typer


@dataclass
class _State:
    quiet: bool = False


state = _State()


def echo(message: str = "") -> None:
    """Print a human-facing line unless --quiet."""
    if not state.quiet:
        typer.echo(message)


def print_json(payload: Any) -> None:
    """Print a JSON document on stdout (always, even with --quiet)."""
    sys.stdout.write(json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n")


def progress_enabled() -> bool:
    """Progress bars only when stderr is a terminal and output is not quiet."""
    return not state.quiet and sys.stderr.isatty()
