"""``classifine label``: zero/few-shot labelling of a file or a catalog split with an LLM.

Example:
    classifine label --backend local --model smollm2-135m --input sms-spam:test --output spam.jsonl
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, cast

import typer

from classifine.cli.common import echo, print_json, progress_enabled
from classifine.data.labels import LabelSet
from classifine.errors import ConfigError
from classifine.llm.backends import backend_params
from classifine.llm.io import LabelInput, dry_run, gold_metrics, resolve_input, write_predictions

logger = logging.getLogger(__name__)


def _backend_options(backend: str, opts: dict[str, Any]) -> dict[str, Any]:
    """The command-line options this backend takes (the others do not apply to it)."""
    keep = backend_params(backend)
    out = {k: v for k, v in opts.items() if k in keep and v is not None}
    if backend == "ollama" and "structured" in out:
        out["structured"] = out["structured"] != "none"
    return out


def label(
    backend: str = typer.Option(
        ..., "--backend", help="ollama, openai (any OpenAI-compatible server) or local."
    ),
    model: str = typer.Option(..., "--model", help="Model name on the server, or a local preset/folder."),
    input: str = typer.Option(
        ..., "--input", help="CSV/TSV/JSON/JSONL/Parquet file, or a catalog split NAME:split."
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
    train: str | None = typer.Option(None, "--train", help="Labelled file to draw few-shot examples from."),
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
    seed: int = typer.Option(42, "--seed", help="Seed for few-shot example choice and decoding."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Label only the first N rows."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the answer cache."),
    dry: bool = typer.Option(False, "--dry-run", help="Show the first prompt and the calls; call nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Label texts with an LLM (zero-shot, or few-shot with --few-shot K)."""
    from classifine.llm import LLMCache, get_backend, label_texts, make_builder
    from classifine.llm.prompts import load_descriptions, load_synonyms, load_template

    if output is None and not dry:
        raise ConfigError("--output FILE is required (or use --dry-run)", hint="e.g. --output labels.jsonl")
    output = output or Path("labels.jsonl")  # only a dry run gets here without one, and writes nothing
    inp = resolve_input(
        input, text_column=text_column, label_column=label_column, labels=labels, config=config,
        train_file=train, multi_label=multi_label, need_train=few_shot > 0,
    )  # fmt: skip
    if limit is not None:
        inp.texts = inp.texts[:limit]
        inp.gold = inp.gold[:limit] if inp.gold is not None else None
    label_set = cast(LabelSet, inp.label_set)  # resolve_input raises when there is none
    builder = make_builder(
        label_set, "few-shot" if few_shot else "zero-shot", train=inp.train, k=max(few_shot, 1),
        similar=similar, seed=seed, template=load_template(template) if template else None,
        descriptions=load_descriptions(descriptions, label_set.names) if descriptions else None,
    )  # fmt: skip
    opts = {"base_url": base_url, "api_key": api_key, "concurrency": concurrency, "mode": mode,
            "structured": structured, "batch_size": batch_size, "seed": seed}  # fmt: skip
    llm = get_backend(backend, model=model, **_backend_options(backend, opts))
    cache = None if no_cache else LLMCache()
    try:
        if dry:
            _show_plan(dry_run(llm, builder, inp.texts, cache), inp.where, as_json)
            return
        result = label_texts(
            inp.texts,
            label_set,
            llm,
            builder=builder,
            cache=cache if cache is not None else False,
            calibrate=calibrate,
            synonyms=load_synonyms(synonyms, label_set.names) if synonyms else None,
            progress=progress_enabled(),
        )
    finally:
        llm.close()
    written, dropped = write_predictions(output, inp, list(result), min_confidence)
    _summarise(inp, result, output, written, dropped, min_confidence, as_json)


def _show_plan(plan: dict[str, Any], where: str, as_json: bool) -> None:
    if as_json:
        print_json(plan)
        return
    typer.echo(f"First prompt ({where}, row 1):\n{plan['first_prompt']}\n")
    typer.echo(
        f"Would make {plan['calls']} calls for {plan['rows']} rows ({plan['cached']} cached), "
        f"~{plan['approx_prompt_tokens']} prompt tokens ({plan['token_count']}). No calls made."
    )


def _summarise(
    inp: LabelInput,
    result: Any,
    output: Path,
    written: int,
    dropped: int,
    min_conf: float | None,
    as_json: bool,
) -> None:
    summary: dict[str, Any] = {
        "rows": len(result),
        "abstentions": result.abstentions,
        "cache_hits": result.cache_hits,
        "calls": result.calls,
        "seconds": round(result.seconds, 3),
        "docs_per_s": round(len(result) / max(result.seconds, 1e-9), 2),
        "written": written,
        "dropped_below_min_confidence": dropped if min_conf is not None else 0,
        "output": str(output),
    }
    if min_conf is not None and all(p.confidence is None for p in result):
        logger.warning("the backend gave no confidences, so --min-confidence dropped every row")
    gold = gold_metrics(inp, list(result))
    if gold:
        summary.update(gold)
    if as_json:
        print_json(summary)
        return
    line = (
        f"Labelled {summary['rows']} rows: {summary['abstentions']} abstentions, "
        f"{summary['cache_hits']} cache hits, {summary['calls']} calls, {summary['docs_per_s']} docs/s"
    )
    if gold:
        line += f", accuracy {gold['accuracy']:.3f}, macro-F1 {gold['macro_f1']:.3f}"
        line += f" ({gold['scored_rows']} gold rows)"
    echo(line)
    echo(
        f"Wrote {written} rows to {output}"
        + (f" ({dropped} below --min-confidence dropped)" if min_conf else "")
    )


def register(app: typer.Typer) -> None:
    app.command("label")(label)
