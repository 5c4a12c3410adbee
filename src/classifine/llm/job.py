"""A labelling job as one typed object: what ``classifine label`` runs, callable from Python too.

Example:
    >>> job = LabelJob(backend="local", model="smollm2-135m", input="sms-spam:test", output=Path("o.jsonl"))
    >>> summary = run_label_job(job)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from classifine.data.labels import LabelSet
from classifine.errors import ConfigError
from classifine.llm.backends import backend_params
from classifine.llm.io import LabelInput, dry_run, gold_metrics, resolve_input, write_predictions

logger = logging.getLogger(__name__)


@dataclass
class LabelJob:
    """Everything a labelling run needs; ``connection`` holds backend options such as ``base_url``."""

    backend: str
    model: str
    input: str
    output: Path | None = None
    labels: str | None = None
    config: Path | None = None
    text_column: str = "text"
    label_column: str = "label"
    multi_label: bool = False
    few_shot: int = 0
    train: str | None = None
    similar: bool = False
    template: Path | None = None
    descriptions: Path | None = None
    synonyms: Path | None = None
    calibrate: bool = False
    min_confidence: float | None = None
    seed: int = 42
    limit: int | None = None
    cache: bool = True
    dry_run: bool = False
    connection: dict[str, Any] = field(default_factory=dict)


def backend_options(backend: str, opts: dict[str, Any]) -> dict[str, Any]:
    """The options this backend takes (the others do not apply to it); unset options are dropped."""
    keep = backend_params(backend)
    out = {k: v for k, v in opts.items() if k in keep and v is not None}
    if backend == "ollama" and "structured" in out:
        out["structured"] = out["structured"] != "none"
    return out


def _input(job: LabelJob) -> LabelInput:
    inp = resolve_input(
        job.input,
        text_column=job.text_column,
        label_column=job.label_column,
        labels=job.labels,
        config=job.config,
        train_file=job.train,
        multi_label=job.multi_label,
        need_train=job.few_shot > 0,
    )
    return inp.sample(job.limit, job.seed) if job.limit is not None else inp


def _builder(job: LabelJob, inp: LabelInput, label_set: LabelSet) -> Any:
    from classifine.llm import make_builder
    from classifine.llm.prompts import load_descriptions, load_template

    return make_builder(
        label_set,
        "few-shot" if job.few_shot else "zero-shot",
        train=inp.train,
        k=max(job.few_shot, 1),
        similar=job.similar,
        seed=job.seed,
        template=load_template(job.template) if job.template else None,
        descriptions=load_descriptions(job.descriptions, label_set.names) if job.descriptions else None,
    )


def run_label_job(job: LabelJob, *, progress: bool = False) -> dict[str, Any]:
    """Label the job's input and write the output file; returns a summary (or the plan of a dry run).

    Example:
        >>> run_label_job(LabelJob("local", "smollm2-135m", "sms-spam:test", Path("o.jsonl")))["rows"]
        903
    """
    from classifine.llm import LLMCache, get_backend, label_texts
    from classifine.llm.prompts import load_synonyms

    if job.output is None and not job.dry_run:
        raise ConfigError("--output FILE is required (or use --dry-run)", hint="e.g. --output labels.jsonl")
    inp = _input(job)
    label_set = cast(LabelSet, inp.label_set)  # resolve_input raises when there is none
    builder = _builder(job, inp, label_set)
    options = backend_options(job.backend, {**job.connection, "seed": job.seed})
    llm = get_backend(job.backend, model=job.model, **options)
    cache = LLMCache() if job.cache else None
    try:
        if job.dry_run:
            return {"dry_run": True, "where": inp.where, **dry_run(llm, builder, inp.texts, cache)}
        result = label_texts(
            inp.texts,
            label_set,
            llm,
            builder=builder,
            cache=cache if cache is not None else False,
            calibrate=job.calibrate,
            synonyms=load_synonyms(job.synonyms, label_set.names) if job.synonyms else None,
            progress=progress,
        )
    finally:
        llm.close()
    assert job.output is not None
    written, dropped = write_predictions(job.output, inp, list(result), job.min_confidence)
    return _summary(job, inp, result, written, dropped)


def _summary(job: LabelJob, inp: LabelInput, result: Any, written: int, dropped: int) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "rows": len(result),
        "abstentions": result.abstentions,
        "cache_hits": result.cache_hits,
        "calls": result.calls,
        "seconds": round(result.seconds, 3),
        "docs_per_s": round(len(result) / max(result.seconds, 1e-9), 2),
        "written": written,
        "dropped_below_min_confidence": dropped if job.min_confidence is not None else 0,
        "output": str(job.output),
    }
    if job.min_confidence is not None and all(p.confidence is None for p in result):
        logger.warning("the backend gave no confidences, so --min-confidence dropped every row")
    gold = gold_metrics(inp, list(result))
    if gold:
        summary.update(gold)
    return summary
