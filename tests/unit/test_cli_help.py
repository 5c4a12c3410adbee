"""``--help`` shows every option's help text whole, and a command's description reflows to the terminal."""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from classifine.cli.main import app

RUNNER = CliRunner()


def _flat(text: str) -> str:
    """The words of a rendered help page, without the panels' borders."""
    return " ".join(re.sub(r"[│─╭╮╰╯]", " ", text).split())


def _commands() -> list[Any]:
    """Every command as (its argv, its click command), sub-commands included."""
    root = typer.main.get_command(app)
    out = []
    for name, command in root.commands.items():  # type: ignore[attr-defined]
        out.append(pytest.param([name], command, id=name))
        for sub, inner in getattr(command, "commands", {}).items():
            out.append(pytest.param([name, sub], inner, id=f"{name}-{sub}"))
    return out


@pytest.mark.parametrize("argv,command", _commands())
def test_every_option_help_is_shown_whole(argv: list[str], command: Any) -> None:
    page = RUNNER.invoke(app, [*argv, "--help"], env={"COLUMNS": "400"})  # one line per option
    assert page.exit_code == 0, page.output
    shown = _flat(page.output)
    for param in command.params:
        text = getattr(param, "help", None)
        if text:
            # e.g. "[default: the runs' shared test split]" and "runs/NAME" were once eaten as markup
            assert " ".join(text.split()) in shown, f"{' '.join(argv)} {param.name}: {text!r}"


def test_the_description_reflows_to_the_terminal_width() -> None:
    page = RUNNER.invoke(app, ["train", "--help"], env={"COLUMNS": "200"}).output
    # The docstring breaks this sentence after "tokenising"; the page wraps it at the terminal's width.
    assert any("tokenising the data" in line for line in page.splitlines())
    assert "runs/NAME/" in page
