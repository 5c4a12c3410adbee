"""``classifine retrain | promote | rollback | versions``: new versions of a run and which one serves."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from classifine.cli.common import echo, print_json, progress_enabled
from classifine.errors import ConfigError

if TYPE_CHECKING:
    from classifine.loop.data import NewLabels

TOKEN_ENV = "CLASSIFINE_LABEL_STUDIO_TOKEN"


def _api_key(name: str | None) -> str | None:
    if not name:
        return None
    key = os.environ.get(name, "")
    if not key:
        raise ConfigError(f"environment variable {name} is not set", hint="export it, or drop --api-key-env")
    return key


def _gather(
    from_feedback: str | None,
    from_label_studio: str | None,
    labels: Path | None,
    project: int | None,
    token: str | None,
    model: str | None,
) -> NewLabels:
    given = [x for x in (from_feedback, from_label_studio, labels) if x is not None]
    if len(given) != 1:
        raise ConfigError(
            "give exactly one source of new labels",
            hint="--from-feedback STORE, --from-label-studio URL --project ID, or --labels FILE",
        )
    from classifine.loop.data import labels_from_feedback, labels_from_rows

    if from_feedback is not None:
        return labels_from_feedback(from_feedback, model=model)
    if labels is not None:
        from classifine.data.loading import read_dataset

        ds = read_dataset(labels)
        return labels_from_rows(((t, list(y)) for t, y in ds), str(labels))
    if project is None or not token:
        raise ConfigError(
            "--from-label-studio needs --project ID and a token",
            hint=f"pass --token or set {TOKEN_ENV}",
        )
    from classifine.integrations.label_studio import LabelStudioClient, labels_from_label_studio

    assert from_label_studio is not None
    return labels_from_label_studio(LabelStudioClient(from_label_studio, token), project)


def retrain(
    run: Path = typer.Argument(..., help="The run folder (runs/NAME) to train a new version of."),
    from_feedback: str | None = typer.Option(
        None, "--from-feedback", help="A served run folder, .sqlite file or database URL holding feedback."
    ),
    from_label_studio: str | None = typer.Option(
        None, "--from-label-studio", help="Label Studio URL: its project's annotations are the new labels."
    ),
    labels: Path | None = typer.Option(None, "--labels", help="A text,label file of new labels."),
    project: int | None = typer.Option(None, "--project", help="Label Studio project id."),
    token: str | None = typer.Option(None, "--token", envvar=TOKEN_ENV, help="Label Studio access token."),
    model: str | None = typer.Option(None, "--model", help="Only feedback about this served model name."),
    metric: str = typer.Option("macro_f1", "--metric", help="macro_f1, accuracy or micro_f1."),
    min_delta: float = typer.Option(0.0, "--min-delta", help="The new version must beat the old by this."),
    server: str | None = typer.Option(
        None, "--server", help="A classifine serve URL to reload on promotion."
    ),
    served_name: str | None = typer.Option(
        None, "--served-name", help="Model name on --server (default: run name)."
    ),
    api_key_env: str | None = typer.Option(
        None, "--api-key-env", help="Variable holding the server's API key."
    ),
    detach: bool = typer.Option(False, "--detach", help="Start the retrain in the background and return."),
    as_json: bool = typer.Option(False, "--json", help="Print the decision as JSON."),
) -> None:
    """Train the next version on the run's data plus new labels; serve it only if it is not worse.

    Old and new versions are scored on the run's test texts, which never enter training. Every
    decision, with both scores, goes to runs/NAME/versions/promotions.jsonl.
    Example: classifine retrain runs/trec-6 --from-feedback runs/trec-6 --server http://127.0.0.1:8000
    """
    if detach:
        from classifine.loop.jobs import start_retrain_job

        options = {
            "--from-feedback": from_feedback, "--from-label-studio": from_label_studio, "--labels": labels,
            "--project": project, "--model": model, "--metric": metric, "--min-delta": min_delta,
            "--server": server, "--served-name": served_name, "--api-key-env": api_key_env,
        }  # fmt: skip
        args = [x for k, v in options.items() if v is not None for x in (k, str(v))]
        job = start_retrain_job(run, args, env={TOKEN_ENV: token} if token else None)
        echo(f"Retrain started in the background (pid {job.pid}); log: {job.log}")
        return
    from classifine.loop.retrain import retrain as run_retrain

    new = _gather(from_feedback, from_label_studio, labels, project, token, model)
    result = run_retrain(
        run, new, metric=metric, min_delta=min_delta, server=server, model_name=served_name,
        api_key=_api_key(api_key_env), trigger="classifine retrain", progress=progress_enabled(),
    )  # fmt: skip
    if as_json:
        print_json(
            {
                "version": result.version,
                "promotion": result.promotion.model_dump(),
                "reloaded": result.reloaded,
            }
        )
        return
    for note in new.notes:
        echo(note)
    s = result.stats
    echo(
        f"Version {result.version}: {s.train_rows} training rows ({s.added} new texts, "
        f"{s.relabelled} relabelled, {s.excluded_test} held-out test texts left out)"
    )
    echo(result.promotion.reason)
    if result.reloaded is not None:
        echo(f"Server now serves version {result.reloaded.get('version')}")


def promote(
    run: Path = typer.Argument(..., help="The run folder."),
    version: int = typer.Argument(..., help="The version to serve."),
    reason: str = typer.Option("", "--reason", help="Why (written to the promotions log)."),
) -> None:
    """Serve VERSION of RUN (logged). Example: classifine promote runs/trec-6 3 --reason 'checked'"""
    from classifine.loop.promote import promote as do_promote

    echo(do_promote(run, version, reason=reason).reason)


def rollback(
    run: Path = typer.Argument(..., help="The run folder."),
    to: int | None = typer.Option(None, "--to", help="The version to serve (default: the one before)."),
    reason: str = typer.Option("", "--reason", help="Why (written to the promotions log)."),
    server: str | None = typer.Option(None, "--server", help="A classifine serve URL to reload."),
    served_name: str | None = typer.Option(
        None, "--served-name", help="Model name on --server (default: run name)."
    ),
    api_key_env: str | None = typer.Option(
        None, "--api-key-env", help="Variable holding the server's API key."
    ),
) -> None:
    """Serve an earlier version again, in one command (logged). Example: classifine rollback runs/trec-6"""
    from classifine.loop.promote import reload_server
    from classifine.loop.promote import rollback as do_rollback

    entry = do_rollback(run, to, reason=reason)
    echo(entry.reason)
    if server:
        body = reload_server(server, served_name or Path(run).name, _api_key(api_key_env))
        echo(f"Server now serves version {body.get('version')}")


def versions(
    run: Path = typer.Argument(..., help="The run folder."),
    as_json: bool = typer.Option(False, "--json", help="Print versions and the promotions log as JSON."),
) -> None:
    """List the versions of RUN, which one serves, and the promotions log.

    Example: classifine versions runs/trec-6
    """
    from classifine.loop.versions import list_versions, read_promotions

    listed = list_versions(run)
    log = read_promotions(run)
    if as_json:
        print_json(
            {
                "versions": [v.model_dump(mode="json") for v in listed],
                "promotions": [p.model_dump() for p in log],
            }
        )
        return
    for v in listed:
        scores = ", ".join(
            f"{k} {val:.4f}" for k, val in v.test_metrics.items() if k in ("accuracy", "macro_f1")
        )
        echo(f"{'*' if v.serving else ' '} version {v.version}  {v.created}  {scores}")
    for p in log:
        echo(f"  {p.time} {p.action} v{p.version}: {p.decision} ({p.reason})")


def register(app: typer.Typer) -> None:
    app.command("retrain")(retrain)
    app.command("promote")(promote)
    app.command("rollback")(rollback)
    app.command("versions")(versions)
