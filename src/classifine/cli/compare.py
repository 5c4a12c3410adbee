"""``classifine compare RUN [RUN ...]``: one leaderboard of runs on the same texts, with significance."""

from __future__ import annotations

from pathlib import Path

import typer

from classifine.cli.common import echo, print_json, progress_enabled


def compare(
    runs: list[Path] = typer.Argument(..., help="Run folders written by 'classifine train' (same labels)."),
    data: str | None = typer.Option(
        None, "--data", help="Labelled file or catalog NAME:split [default: the runs' shared test split]."
    ),
    text_column: str | None = typer.Option(None, "--text-column", help="Text column of --data."),
    label_column: str | None = typer.Option(None, "--label-column", help="Label column of --data."),
    html: Path | None = typer.Option(None, "--html", help="Also write an HTML page with confusion matrices."),
    as_json: bool = typer.Option(False, "--json", help="Print the leaderboard as JSON."),
    no_baseline: bool = typer.Option(False, "--no-baseline", help="Leave out the TF-IDF row."),
    llm: list[str] = typer.Option([], "--llm", help="Add an LLM labeller BACKEND:MODEL (repeatable)."),
    llm_shots: str = typer.Option("0", "--llm-shots", help="Shots per LLM row, e.g. 0,4 (0 = zero-shot)."),
    llm_base_url: str | None = typer.Option(None, "--llm-base-url", help="Server URL for ollama/openai."),
    resamples: int = typer.Option(
        1000, "--resamples", min=100, help="Bootstrap resamples for the F1 interval."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap."),
) -> None:
    """Score every run (plus TF-IDF and any LLM) on the same texts and print one leaderboard: accuracy,
    macro/micro-F1, per-class F1, latency, size, training time, and McNemar's test and a paired
    bootstrap interval of the macro-F1 difference against the best row."""
    from classifine.cli.evaluate import _shots
    from classifine.experiments.compare import parse_llm_spec
    from classifine.experiments.comparison import compare_runs
    from classifine.experiments.comparison_report import leaderboard_text, write_html

    result = compare_runs(
        runs,
        data=data,
        text_column=text_column,
        label_column=label_column,
        include_baseline=not no_baseline,
        llms=[parse_llm_spec(item, base_url=llm_base_url) for item in llm],
        shots=_shots(llm_shots),
        resamples=resamples,
        seed=seed,
        progress=progress_enabled(),
    )
    if html is not None:
        write_html(result, html)
    if as_json:
        print_json(result.to_dict())
        return
    typer.echo(leaderboard_text(result))
    if html is not None:
        echo(f"HTML: {html}")


def register(app: typer.Typer) -> None:
    """Add the ``compare`` command."""
    app.command("compare")(compare)
