"""``classifine tune CONFIG [key=value ...] --trials N``: hyperparameter search with Optuna.

Also ``classifine tune --join --storage URL --study NAME``: run trials of a study started elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from classifine.cli.common import echo, print_json, progress_enabled, state
from classifine.errors import ConfigError

if TYPE_CHECKING:
    from classifine.experiments.tune_report import TuneResult


def tune_command(
    config: Path | None = typer.Argument(None, help="YAML config with a tune: section (see examples/)."),
    overrides: list[str] = typer.Argument(None, help="Overrides such as train.epochs=2 tune.pruner=none."),
    trials: int | None = typer.Option(
        None, "--trials", min=1, help="Finished trials the study should have in total [default: tune.trials]."
    ),
    sampler: str | None = typer.Option(
        None, "--sampler", help="tpe, random or grid [default: tune.sampler]."
    ),
    timeout: float | None = typer.Option(
        None, "--timeout", min=0.1, help="Start no new trial after MIN minutes."
    ),
    storage: str | None = typer.Option(
        None,
        "--storage",
        help="Optuna RDB URL, e.g. postgresql+psycopg://user:pass@host/db [default: SQLite file].",
    ),
    study: str | None = typer.Option(
        None, "--study", help="Study name [default: tune.study or the config name]."
    ),
    workers: int = typer.Option(1, "--workers", min=1, help="Local worker processes sharing the cores."),
    join: bool = typer.Option(
        False, "--join", help="Run trials of an existing study (needs --storage and --study, no CONFIG)."
    ),
    refit: bool = typer.Option(
        False, "--refit", help="Retrain the best config (and the baseline's) and score each once on test."
    ),
    track: str | None = typer.Option(
        None, "--track", help="Log trials to none, mlflow, wandb or tensorboard."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the study summary as JSON."),
    worker_index: int | None = typer.Option(None, "--worker-index", hidden=True),
    threads: int | None = typer.Option(None, "--threads", min=1, hidden=True),
    deadline: float | None = typer.Option(None, "--deadline", hidden=True),
) -> None:
    """Search hyperparameters of CONFIG's tune.space on the validation split, prune bad trials, and
    write runs/STUDY/ (trials, report.html, best.yaml). Running it again continues the study."""
    try:
        import optuna
    except ImportError:
        raise ConfigError(
            "classifine tune needs Optuna, which is not installed", hint="pip install 'classifine[tune]'"
        ) from None

    from classifine.experiments.tune import join as join_study
    from classifine.experiments.tune import tune

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if as_json:
        state.quiet = True
    if join:
        from classifine.experiments.tune import STORAGE_ENV

        storage = storage or os.environ.get(STORAGE_ENV)
        if config is not None or not storage or not study:
            raise ConfigError(
                "--join takes no CONFIG and needs --storage URL and --study NAME",
                hint=f"the URL may also come from the {STORAGE_ENV} environment variable",
            )
        ran = join_study(storage, study, worker_index=worker_index, threads=threads, deadline=deadline)
        echo(f"ran {ran} trial(s) of study {study}")
        return
    if config is None:
        raise ConfigError("give a CONFIG with a tune: section", hint="or --join --storage URL --study NAME")
    extra = list(overrides or []) + ([f"track.backend={track}"] if track else [])
    result = tune(
        config,
        extra,
        trials=trials,
        sampler=sampler,
        timeout_minutes=timeout,
        storage=storage,
        study=study,
        workers=workers,
        refit=refit,
        progress=progress_enabled(),
    )
    if as_json:
        print_json(result.summary)
        return
    _print(result)


def _print(result: TuneResult) -> None:
    from classifine.experiments.tune_report import trials_table

    summary = result.summary
    typer.echo(trials_table(summary))
    counts = ", ".join(f"{v} {k.lower()}" for k, v in sorted(summary["counts"].items()))
    echo(f"\nstudy {summary['study']} ({summary['storage']}): {counts}")
    if summary["importances"]:
        shown = ", ".join(f"{k} {v:.2f}" for k, v in summary["importances"].items())
        echo(f"parameter importances: {shown}")
    best = summary.get("best")
    if best:
        typer.echo(f"best: trial {best['number']}, validation {summary['metric']} {best['value']:.4f}")
        typer.echo(f"best config: {summary['best_config']}")
    base = summary.get("baseline")
    if base and base.get("value") is not None:
        verdict = (
            f"the best beats it by {base['gain']:+.4f}" if base["best_beats_baseline"] else "no trial beat it"
        )
        typer.echo(
            f"baseline (the config's own values, same budget): trial {base['number']}, "
            f"validation {summary['metric']} {base['value']:.4f}; {verdict}"
        )
    for label, key in (("refit of the best", "refit"), ("refit of the baseline", "refit_baseline")):
        refit = summary.get(key)
        if refit and refit.get("test"):
            test = refit["test"]
            shown = ", ".join(
                f"{k} {test[k]:.4f}" for k in ("accuracy", "macro_f1", "tfidf_macro_f1") if k in test
            )
            typer.echo(f"{label} (trial {refit['trial']}) on test: {shown} ({refit['run']})")
    echo(f"report: {result.report}")
    echo(f"dashboard: optuna-dashboard {summary['storage']}")


def register(app: typer.Typer) -> None:
    """Add the ``tune`` command."""
    app.command("tune")(tune_command)
