"""What a study produced: the trial table, parameter importances, plots and a self-contained HTML page.

Plots come from Optuna's matplotlib visualisations (optimisation history, parallel coordinates,
importances, per-epoch validation curves), embedded in the page as PNG, so the report opens
offline with no external asset.

Example:
    >>> summary = study_summary(study, params, "macro_f1")
    >>> print(trials_table(summary))  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import html
import logging
import math
import shutil
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from classifine.artifact import atomic_file, write_json, write_text
from classifine.config import Config, config_from_dict
from classifine.experiments import study as studies
from classifine.experiments.space import (
    Param,
    base_mapping,
    decode_params,
    parse_space,
    set_dotted,
    trial_budget,
)

logger = logging.getLogger(__name__)


@dataclass
class TuneResult:
    """A study's outcome: ``summary`` (as in ``summary.json``), its folder, report and best config."""

    summary: dict[str, Any]
    study_dir: Path
    report: Path | None
    best_config: Path | None


def _seconds(t: optuna.trial.FrozenTrial) -> float | None:
    if t.datetime_start is None or t.datetime_complete is None:
        return None
    return round((t.datetime_complete - t.datetime_start).total_seconds(), 1)


def trial_rows(study: optuna.Study, params: Sequence[Param]) -> list[dict[str, Any]]:
    """One JSON-ready row per trial that started: number, state, value, seconds, params, worker."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.state == TrialState.WAITING:
            continue
        rows.append(
            {
                "number": t.number,
                "state": t.state.name.lower(),
                "value": t.value,
                "evaluations": len(t.intermediate_values),
                "seconds": _seconds(t),
                "params": decode_params(params, t.params),
                "baseline": bool(t.user_attrs.get(studies.BASELINE_ATTR)),
                "worker": t.user_attrs.get("worker"),
                "error": t.user_attrs.get("error"),
            }
        )
    return rows


def param_importances(study: optuna.Study) -> tuple[dict[str, float], str | None]:
    """fANOVA importances of the parameters for the objective, or ``({}, reason)`` when undefined."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 2:
        return {}, "parameter importances need at least 2 completed trials"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = optuna.importance.get_param_importances(study)
    except (ValueError, RuntimeError) as exc:
        return {}, f"parameter importances undefined ({exc})"
    return {k: round(float(v), 4) for k, v in found.items()}, None


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if not math.isnan(value) else "-"
    return str(value)


def _number(row: dict[str, Any]) -> str:
    return f"{row['number']} (baseline)" if row.get("baseline") else str(row["number"])


def baseline_verdict(study: optuna.Study, params: Sequence[Param]) -> dict[str, Any] | None:
    """The baseline trial (the config's own values) and whether the best trial beat it; None without one.

    ``best_beats_baseline`` is True only when another trial scored strictly better under the same
    budget; ``gain`` is best minus baseline (in the direction's sense, positive = better).

    Example:
        >>> baseline_verdict(study, params)["best_beats_baseline"]  # doctest: +SKIP
        True
    """
    base = studies.baseline_trial(study)
    if base is None:
        return None
    out: dict[str, Any] = {
        "number": base.number,
        "state": base.state.name.lower(),
        "value": base.value,
        "params": decode_params(params, base.params),
        "best_beats_baseline": None,
        "gain": None,
    }
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if base.state == TrialState.COMPLETE and base.value is not None and complete:
        best = study.best_trial
        sign = 1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else -1.0
        gain = sign * (float(best.value or 0.0) - base.value)
        out["gain"] = round(gain, 6)
        out["best_beats_baseline"] = best.number != base.number and gain > 0
    return out


def trials_table(summary: dict[str, Any]) -> str:
    """The trials as a fixed-width table, best first (finished trials), then the rest by number."""
    keys = list(summary["space"])
    headers = ["trial", "state", summary["metric"], "epochs", "seconds", *keys]
    rows = [
        [
            _number(r),
            r["state"],
            _cell(r["value"]),
            str(r["evaluations"]),
            _cell(r["seconds"]),
            *(_cell(r["params"].get(k)) for k in keys),
        ]
        for r in _ordered(summary)
    ]
    widths = [max(len(x) for x in col) for col in zip(headers, *rows, strict=True)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in [headers, *rows]
    ]
    return "\n".join(lines)


def _ordered(summary: dict[str, Any]) -> list[dict[str, Any]]:
    sign = -1.0 if summary["direction"] == "maximize" else 1.0
    done = [r for r in summary["trials"] if r["state"] == "complete" and r["value"] is not None]
    rest = [r for r in summary["trials"] if r not in done]
    return sorted(done, key=lambda r: sign * r["value"]) + sorted(rest, key=lambda r: r["number"])


def _plot(name: str, draw: Any, study: optuna.Study, **kwargs: Any) -> tuple[str, bytes] | None:
    from classifine.evaluation.plots import figure_png

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            axes = draw(study, **kwargs)
    except (ValueError, RuntimeError, ImportError) as exc:
        logger.info("%s plot skipped: %s", name, exc)
        return None
    first = axes.flat[0] if hasattr(axes, "flat") else axes
    png = figure_png(first.figure)
    import matplotlib.pyplot as plt  # optuna drew with pyplot: release its figure

    plt.close(first.figure)
    return name, png


def study_plots(study: optuna.Study, folder: Path) -> list[tuple[str, str, str]]:
    """Draw the study's plots, save them as PNGs in ``folder``; ``(title, file, base64)`` each."""
    from optuna.visualization import matplotlib as vis

    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return []
    made = [
        _plot("Optimisation history", vis.plot_optimization_history, study),
        _plot("Parallel coordinates", vis.plot_parallel_coordinate, study),
        _plot("Parameter importances", vis.plot_param_importances, study),
        _plot("Validation score per epoch (pruned trials stop early)", vis.plot_intermediate_values, study),
    ]
    out = []
    for item in made:
        if item is None:
            continue
        title, png = item
        filename = title.split(" (")[0].lower().replace(" ", "_") + ".png"
        with atomic_file(folder / filename) as tmp:
            tmp.write_bytes(png)
        out.append((title, filename, base64.b64encode(png).decode("ascii")))
    return out


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#1a202c;padding:0 1em}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.9em}
th,td{border:1px solid #cbd5e0;padding:.25em .5em;text-align:right}th{background:#edf2f7}
td.l,th.l{text-align:left}img{max-width:100%;margin:.5em 0}.pruned{color:#718096}.fail{color:#c53030}
.wide{overflow-x:auto}"""


def _table_html(headers: list[str], rows: list[list[str]], classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        f'<tr class="{classes[i] if classes else ""}">'
        + "".join(f"<td>{html.escape(c)}</td>" for c in row)
        + "</tr>"
        for i, row in enumerate(rows)
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _trials_html(summary: dict[str, Any]) -> list[str]:
    keys = list(summary["space"])
    ordered = _ordered(summary)
    rows = [
        [_number(r), r["state"], _cell(r["value"]), str(r["evaluations"]), _cell(r["seconds"]),
         *(_cell(r["params"].get(k)) for k in keys)]
        for r in ordered
    ]  # fmt: skip
    classes = [{"pruned": "pruned", "fail": "fail"}.get(r["state"], "") for r in ordered]
    headers = ["trial", "state", summary["metric"], "epochs", "seconds", *keys]
    return ["<h2>Trials</h2>", f'<div class="wide">{_table_html(headers, rows, classes)}</div>']


def _baseline_html(summary: dict[str, Any]) -> list[str]:
    base = summary.get("baseline")
    if not base or base.get("value") is None:
        return []
    verdict = (
        f"the best trial beats it by {base['gain']:+.4f}"
        if base["best_beats_baseline"]
        else "no trial beat it: the best config is the config itself"
    )
    return [
        f"<p>Baseline (the config's own values, same budget): trial {base['number']}, "
        f"validation {html.escape(summary['metric'])} {base['value']:.4f}; {verdict}.</p>"
    ]


def _refit_html(summary: dict[str, Any]) -> list[str]:
    rows = []
    for label, key in (("best config", "refit"), ("baseline", "refit_baseline")):
        refit = summary.get(key)
        if refit and refit.get("test"):
            test = refit["test"]
            rows.append(
                [f"{label} (trial {refit['trial']})"]
                + [_cell(test.get(m)) for m in ("accuracy", "macro_f1", "micro_f1")]
            )
    if not rows:
        return []
    headers = ["refit, scored once on test", "accuracy", "macro_f1", "micro_f1"]
    return ["<h2>Refits</h2>", _table_html(headers, rows)]


def render_html(summary: dict[str, Any], plots: Sequence[tuple[str, str, str]]) -> str:
    """The study report: best trial, counts, refit, trials, importances, plots (all inline)."""
    name = html.escape(summary["study"])
    best = summary.get("best")
    parts = [f"<h1>Study {name}</h1>"]
    counts = ", ".join(f"{v} {k.lower()}" for k, v in sorted(summary["counts"].items()))
    parts.append(
        f"<p>Objective: validation {html.escape(summary['metric'])} ({summary['direction']}), "
        f"sampler {summary['sampler']}, pruner {summary['pruner']}. Trials: {html.escape(counts)}.</p>"
    )
    if best:
        parts.append(
            f"<p>Best: trial {best['number']}, validation {summary['metric']} <b>{best['value']:.4f}</b>. "
            f"Config: <code>{html.escape(str(summary.get('best_config')))}</code></p>"
        )
        rows = [[k, _cell(v)] for k, v in best["params"].items()]
        parts.append(_table_html(["parameter", "best value"], rows))
    parts += _baseline_html(summary)
    parts += _refit_html(summary)
    parts += _trials_html(summary)
    if summary.get("importances"):
        parts.append("<h2>Parameter importances (fANOVA)</h2>")
        parts.append(
            _table_html(
                ["parameter", "importance"], [[k, f"{v:.3f}"] for k, v in summary["importances"].items()]
            )
        )
    elif summary.get("importances_note"):
        parts.append(f"<p>{html.escape(summary['importances_note'])}</p>")
    for title, _, b64 in plots:
        parts.append(
            f'<h2>{html.escape(title)}</h2><img alt="{html.escape(title)}" src="data:image/png;base64,{b64}">'
        )
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>classifine study {name}</title>'
        f"<style>{_CSS}</style></head><body>{''.join(parts)}</body></html>\n"
    )


def write_report(study: optuna.Study, folder: Path, summary: dict[str, Any]) -> Path:
    """Write ``report.html`` (and the plot PNGs) into the study folder; return its path."""
    plots = study_plots(study, folder)
    return write_text(folder / "report.html", render_html(summary, plots))


def best_config(cfg: Config, values: dict[str, Any], name: str) -> Config:
    """The base config with a trial's values and the study's per-trial budget, named ``name``."""
    assert cfg.tune is not None
    raw = base_mapping(cfg)
    for key, value in values.items():
        set_dotted(raw, key, value)
    trial_budget(cfg, raw, values)
    set_dotted(raw, "output.name", name)
    return config_from_dict(raw, "best config")


def _space_summary(cfg: Config) -> dict[str, Any]:
    assert cfg.tune is not None
    return cfg.model_dump(mode="json")["tune"]["space"]


def finish(study: optuna.Study, cfg: Config, url: str, study_dir: Path, target: int) -> TuneResult:
    """Write ``summary.json``, ``report.html`` and ``best.yaml`` for the study as it stands."""
    assert cfg.tune is not None
    t = cfg.tune
    params = parse_space(t.space)
    importances, note = param_importances(study)
    summary: dict[str, Any] = {
        "study": study.study_name,
        "storage": studies.redact(url),
        "metric": t.metric,
        "direction": t.resolved_direction(),
        "sampler": t.sampler,
        "pruner": t.pruner,
        "target_trials": target,
        "counts": studies.counts(study),
        "space": _space_summary(cfg),
        "budget": {"trial_epochs": t.trial_epochs, "trial_minutes": t.trial_minutes},
        "best": None,
        "best_config": None,
        "baseline": baseline_verdict(study, params),
        "importances": importances,
        "importances_note": note,
        "trials": trial_rows(study, params),
    }
    best_path = None
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if complete:
        best = study.best_trial
        values = decode_params(params, best.params)
        summary["best"] = {
            "number": best.number,
            "value": best.value,
            "params": values,
            "run": str(study_dir / f"trial-{best.number}"),
        }
        best_path = study_dir / "best.yaml"
        chosen = best_config(cfg, values, f"{study.study_name}-best")
        header = (
            f"# Best config of study {study.study_name}: trial {best.number}, "
            f"validation {t.metric} {best.value:.4f}.\n# Train it: classifine train {best_path}\n"
        )
        with atomic_file(best_path) as tmp:
            tmp.write_text(header + chosen.to_yaml(), encoding="utf-8")
        summary["best_config"] = str(best_path)
    for failed in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        # A failed trial is never resumed: drop the checkpoints a killed process left behind.
        shutil.rmtree(study_dir / f".trial-{failed.number}.work", ignore_errors=True)
    report = write_study(study, study_dir, summary)
    return TuneResult(summary=summary, study_dir=study_dir, report=report, best_config=best_path)


def write_study(study: optuna.Study, study_dir: Path, summary: dict[str, Any]) -> Path:
    """Write ``summary.json`` and ``report.html`` into the study folder; return the report's path."""
    study_dir.mkdir(parents=True, exist_ok=True)
    write_json(study_dir / "summary.json", summary)
    return write_report(study, study_dir, summary)
