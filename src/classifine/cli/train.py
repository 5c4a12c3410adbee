"""``classifine train CONFIG [key=value ...] [--resume] [--name NAME] [--nproc N]``: fine-tune a model.

With ``--nproc N`` the command starts N data-parallel processes through ``torchrun`` and waits for
them; under ``torchrun`` (``WORLD_SIZE`` set) it is one of those processes, and only rank 0 prints.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from classifine.cli.common import echo, print_json, progress_enabled, state
from classifine.training.memory import process_start

if TYPE_CHECKING:
    from classifine.config import Config


def train_command(
    config: Path = typer.Argument(..., help="YAML config file (see examples/)."),
    overrides: list[str] = typer.Argument(None, help="Overrides such as train.epochs=2 model.method=full."),
    resume: bool = typer.Option(
        False, "--resume", help="Continue an interrupted run from its last checkpoint."
    ),
    name: str | None = typer.Option(None, "--name", help="Run name (folder under output.dir)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only print the run folder and metrics."),
    as_json: bool = typer.Option(False, "--json", help="Print the run folder and metrics as JSON."),
    evaluate: bool = typer.Option(
        True,
        "--evaluate/--no-evaluate",
        help="Score the test split beside TF-IDF; write the report.",
    ),
    track: str | None = typer.Option(
        None, "--track", help="Log the run to none, mlflow, wandb or tensorboard (track.backend)."
    ),
    nproc: int = typer.Option(
        1,
        "--nproc",
        min=1,
        help="Data-parallel processes on this machine, started with torchrun (gloo on CPU, nccl on GPUs). "
        "train.batch_size stays the global batch: each process takes batch_size / N.",
    ),
) -> None:
    """Fine-tune a classifier on the data in CONFIG and write runs/NAME/ (model, metrics, logs).

    With train.max_train_minutes=N the whole command fits in N minutes: reading and tokenising
    the data, training (the learning-rate schedule is planned to end with the budget),
    evaluation, the artifact and the test-split report. Without a terminal, progress is logged
    as a line every tenth of the run or every minute.
    """
    import json

    from classifine.api import train_and_evaluate
    from classifine.config import load_config
    from classifine.training import distributed
    from classifine.training.hybrid import baseline_warning

    if quiet or as_json:
        state.quiet = True
    extra = list(overrides or [])
    if name:
        extra.append(f"output.name={name}")
    if track:
        extra.append(f"track.backend={track}")
    cfg = load_config(config, extra)
    world = distributed.world()
    if nproc > 1 and not world.distributed:
        _launch(config, cfg, extra, nproc, resume=resume, evaluate=evaluate, as_json=as_json)
        return
    if not world.is_main:  # the other ranks train silently; rank 0 reports
        state.quiet = True
        logging.getLogger().setLevel(logging.WARNING)
    try:
        run, report = train_and_evaluate(
            cfg, resume=resume, evaluate=evaluate, progress=progress_enabled(), clock_start=process_start()
        )
    finally:
        distributed.shutdown()
    if not world.is_main:
        return
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    best = metrics.get("validation", {})
    warning = baseline_warning(metrics.get("baseline_check"))
    if as_json:
        print_json(
            {
                "run": str(run),
                "validation": best,
                "train": metrics.get("train", {}),
                "test": metrics.get("test"),
                "baseline_check": metrics.get("baseline_check"),
            }
        )
    else:
        _summary(run, metrics, report, evaluate)
    if warning:
        typer.echo(f"warning: {warning}", err=True)


def _summary(run: Path, metrics: dict[str, Any], report: Any, evaluate: bool) -> None:
    """The human-facing lines after training: run folder, method, validation, test table, next step."""
    best = metrics.get("validation", {})
    train = metrics.get("train", {})
    typer.echo(str(run))
    if train.get("method_reason"):
        echo(f"method: {train['method']} ({train['method_reason']}); {train.get('schedule', '')}")
        echo(f"selection: {train.get('selection', '')}")
    shown = ", ".join(f"{k} {v:.4f}" for k, v in best.items())
    from classifine.evaluation.baseline_check import describe_cross_validated

    cross_validated = describe_cross_validated(metrics.get("baseline_check") or {})
    if shown:
        echo(f"validation: {shown}")
    else:
        echo(cross_validated or "no validation split: nothing to select on")
    if report is not None:
        from classifine.evaluation.report import headline_table

        echo("")
        echo(headline_table(report))
        echo(f"report: {run / 'report.html'}")
    elif evaluate:
        echo(f"no test split to evaluate on; use 'classifine evaluate {run} --data FILE'")
    echo(f'next: classifine predict {run} --text "..."')


def _launch(
    config: Path, cfg: Config, extra: list[str], nproc: int, *, resume: bool, evaluate: bool, as_json: bool
) -> None:
    """Start ``nproc`` ranks of this command with torchrun, all writing the one run folder named here."""
    from classifine.training import distributed
    from classifine.training.runs import run_folder

    run = run_folder(cfg, resume=resume)
    args = ["train", str(config), *extra, f"output.name={run.name}"]
    args += ["--resume"] if resume else []
    args += [] if evaluate else ["--no-evaluate"]
    args += ["--json"] if as_json else (["--quiet"] if state.quiet else [])
    verbose = logging.getLogger().getEffectiveLevel() <= logging.DEBUG
    distributed.launch_training(cfg, ["--verbose", *args] if verbose else args, nproc)


def register(app: typer.Typer) -> None:
    """Add the ``train`` command."""
    app.command("train")(train_command)
