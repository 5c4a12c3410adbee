"""``classifine label``: zero/few-shot labelling of any data source with an LLM.

Example:
    classifine label --backend local --model smollm2-135m --input sms-spam:test --output spam.jsonl
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from classifine.cli.common import echo, print_json, progress_enabled


def label(
    backend: str = typer.Option(
        ..., "--backend", help="ollama, openai (any OpenAI-compatible server) or local."
    ),
    model: str = typer.Option(..., "--model", help="Model name on the server, or a local preset/folder."),
    input: str = typer.Option(
        ..., "--input", help="CSV/TSV/JSON/JSONL/Parquet file, a folder, or a catalog split NAME:split."
    ),
    output: Path | None = typer.Option(None, "--output", help="Where to write labels (.jsonl or .csv)."),
    base_url: str | None = typer.Option(
        None, "--base-url", help="Server URL (env OPENAI_BASE_URL / OLLAMA_HOST)."
    ),
    api_key: str | None = typer.Option(None, "--api-key", help="API key (default: env OPENAI_API_KEY)."),
    labels: str | None = typer.Option(None, "--labels", help="Comma-separated label names."),
    config: Path | None = typer.Option(None, "--config", help="A classifine config naming the dataset."),
    text_column: str = typer.Option("text", "--text-column", help="Text column of --input/--train."),
    label_column: str = typer.Option("label", "--label-column", help="Gold label column (optional)."),
    multi_label: bool = typer.Option(False, "--multi-label", help="Several labels per text."),
    few_shot: int = typer.Option(0, "--few-shot", min=0, help="K examples per class from the train split."),
    train: str | None = typer.Option(None, "--train", help="Labelled data to draw few-shot examples from."),
    similar: bool = typer.Option(
        False, "--similar", help="Pick the most similar examples per text (TF-IDF)."
    ),
    template: Path | None = typer.Option(
        None, "--template", help="Prompt template file ({labels} {text} ...)."
    ),
    descriptions: Path | None = typer.Option(None, "--descriptions", help="YAML/JSON {label: description}."),
    concurrency: int = typer.Option(4, "--concurrency", min=1, help="Requests in flight (remote backends)."),
    mode: str = typer.Option("score", "--mode", help="local backend: score (label likelihoods) or generate."),
    structured: str = typer.Option(
        "json_schema", "--structured", help="json_schema, json_object (llama.cpp), choice (vLLM) or none."
    ),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Prompts per forward pass (local)."),
    min_confidence: float | None = typer.Option(
        None, "--min-confidence", min=0.0, max=1.0, help="Keep only rows at least this confident."
    ),
    calibrate: bool = typer.Option(
        False, "--calibrate", help="Remove the model's label bias (local scoring; see docs/llm.md)."
    ),
    synonyms: Path | None = typer.Option(None, "--synonyms", help="YAML/JSON {answer word: label}."),
    seed: int = typer.Option(42, "--seed", help="Seed for few-shot examples, --limit samples and decoding."),
    limit: int | None = typer.Option(
        None,
        "--limit",
        min=1,
        help="Label a seeded random sample of N rows (stratified by gold label when the input has one).",
    ),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the answer cache."),
    dry: bool = typer.Option(False, "--dry-run", help="Show the first prompt and the calls; call nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Label texts with an LLM (zero-shot, or few-shot with --few-shot K)."""
    from classifine.llm.job import LabelJob, run_label_job

    connection = {"base_url": base_url, "api_key": api_key, "concurrency": concurrency, "mode": mode,
                  "structured": structured, "batch_size": batch_size}  # fmt: skip
    job = LabelJob(
        backend, model, input, output, labels, config, text_column, label_column, multi_label, few_shot,
        train, similar, template, descriptions, synonyms, calibrate, min_confidence, seed, limit,
        not no_cache, dry, connection,
    )  # fmt: skip
    summary = run_label_job(job, progress=progress_enabled())
    if as_json:
        print_json(summary)
    elif dry:
        _show_plan(summary)
    else:
        _show_summary(summary, min_confidence)


def _show_plan(plan: dict[str, Any]) -> None:
    typer.echo(f"First prompt ({plan['where']}, row 1):\n{plan['first_prompt']}\n")
    typer.echo(
        f"Would make {plan['calls']} calls for {plan['rows']} rows ({plan['cached']} cached), "
        f"~{plan['approx_prompt_tokens']} prompt tokens ({plan['token_count']}). No calls made."
    )


def _show_summary(summary: dict[str, Any], min_conf: float | None) -> None:
    line = (
        f"Labelled {summary['rows']} rows: {summary['abstentions']} abstentions, "
        f"{summary['cache_hits']} cache hits, {summary['calls']} calls, {summary['docs_per_s']} docs/s"
    )
    if "accuracy" in summary:
        line += f", accuracy {summary['accuracy']:.3f}, macro-F1 {summary['macro_f1']:.3f}"
        line += f" ({summary['scored_rows']} gold rows)"
    echo(line)
    dropped = summary["dropped_below_min_confidence"]
    echo(
        f"Wrote {summary['written']} rows to {summary['output']}"
        + (f" ({dropped} below --min-confidence dropped)" if min_conf else "")
    )


def register(app: typer.Typer) -> None:
    app.command("label")(label)
