"""``classifine tune``: real Optuna studies of a tiny model on real SQLite and PostgreSQL storage.

Trials train a tiny random BERT on a learnable toy task; learning rate 1e-6 cannot learn it in a
few epochs, 1e-2 can, so the pruner has real bad trials to stop. The random sampler is seeded
(seed 10 draws good, good, bad, ... learning rates), so which trials get pruned is reproducible.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from classifine.cli.main import main
from fixtures_models import build_tiny_model, write_toy_csv

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model("bert", tmp_path_factory.mktemp("m") / "bert")


def write_config(tmp_path: Path, model: Path, *, epochs: int = 6, **tune: Any) -> Path:
    """A tune config of the tiny model; ``tune`` entries override the tune section."""
    cfg = {
        "data": {
            "source": str(write_toy_csv(tmp_path / "toy.csv", 240)),
            "split": {"validation": 0.2, "test": 0.2},
        },
        "model": {"name": str(model), "method": "full", "max_length": 32},
        "train": {
            "epochs": epochs,
            "batch_size": 16,
            "early_stopping": None,
            "precision": "fp32",
            "threads": 1,
            "warmup_ratio": 0.0,
        },
        "output": {"dir": str(tmp_path / "runs")},
        "tune": {
            "sampler": "random",
            "pruner": "median",
            "startup_trials": 2,
            "seed": 10,
            "space": {
                "train.learning_rate": [0.01, 1.0e-6],
                "train.weight_decay": {"low": 0.0, "high": 0.1},
                "train.batch_size": [8, 16],
            },
            **tune,
        },
    }
    path = tmp_path / "tune.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def load_trials(url: str, name: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=name, storage=url).get_trials()


def sqlite_url(tmp_path: Path, name: str) -> str:
    return f"sqlite:///{tmp_path / 'runs' / name / 'study.db'}"


def test_tune_prunes_writes_best_config_and_report_then_continues(
    tiny_bert: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config(tmp_path, tiny_bert)
    assert main(["tune", str(cfg), "--trials", "6"]) == 0
    out = capsys.readouterr().out
    study_dir = tmp_path / "runs" / "tune"
    trials = load_trials(sqlite_url(tmp_path, "tune"), "tune")
    states = [t.state for t in trials]
    assert len(trials) == 6 and all(s in (TrialState.COMPLETE, TrialState.PRUNED) for s in states)
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert pruned, "the median pruner stopped no trial"
    for t in pruned:  # stopped early, from per-epoch validation scores
        assert t.params["train.learning_rate"] == 1e-6 or len(t.intermediate_values) < 6
        assert len(t.intermediate_values) < 6
    good = [t for t in trials if t.state == TrialState.COMPLETE and t.params["train.learning_rate"] == 0.01]
    best = max((t for t in trials if t.state == TrialState.COMPLETE), key=lambda t: t.value or 0)
    assert good and best.params["train.learning_rate"] == 0.01 and best.value >= 0.9
    # only the best trial keeps its weights; every trial keeps its metrics
    for t in trials:
        folder = study_dir / f"trial-{t.number}"
        record = json.loads((folder / "trial.json").read_text())
        assert record["state"] == t.state.name.lower() and record["params"]["train.batch_size"] in (8, 16)
        assert (folder / "model").is_dir() == (t.number == best.number)
    # the objective is validation macro-F1, never a test score
    metrics = json.loads((study_dir / f"trial-{best.number}" / "metrics.json").read_text())
    assert "test" not in metrics and metrics["validation"]["macro_f1"] == pytest.approx(best.value)
    assert f"best: trial {best.number}" in out and "parameter importances:" in out
    summary = json.loads((study_dir / "summary.json").read_text())
    assert summary["counts"] == {"COMPLETE": 6 - len(pruned), "PRUNED": len(pruned)}
    assert set(summary["importances"]) == {"train.learning_rate", "train.weight_decay", "train.batch_size"}
    report = (study_dir / "report.html").read_text()
    assert "Optimisation history" in report and "Parallel coordinates" in report
    assert report.count("data:image/png;base64,") >= 3 and "http" not in report  # no network assets
    best_yaml = study_dir / "best.yaml"
    chosen = yaml.safe_load(best_yaml.read_text())
    assert chosen["train"]["learning_rate"] == 0.01 and "tune" not in chosen
    assert main(["validate", str(best_yaml)]) == 0

    # the same command with a larger target continues the study: two more trials, nothing re-run;
    # this time every trial is also logged to MLflow
    assert main(["--quiet", "tune", str(cfg), "--trials", "8", "--track", "mlflow"]) == 0
    again = load_trials(sqlite_url(tmp_path, "tune"), "tune")
    assert [t.number for t in again] == list(range(8))
    assert [(t.state, t.value) for t in again[:6]] == [(t.state, t.value) for t in trials]
    seen = {json.dumps(t.params, sort_keys=True) for t in again[:6]}
    assert all(json.dumps(t.params, sort_keys=True) not in seen for t in again[6:])  # no replayed samples
    _check_mlflow_trials(tmp_path, again[6:])
    assert main(["--quiet", "tune", str(cfg), "--trials", "8"]) == 0  # target reached: no new trial
    assert len(load_trials(sqlite_url(tmp_path, "tune"), "tune")) == 8
    capsys.readouterr()

    # refit the best config once on train, score it once on test
    assert main(["tune", str(cfg), "--trials", "8", "--refit", "--json"]) == 0
    refit = json.loads(capsys.readouterr().out)["refit"]
    run = Path(refit["run"])
    assert run.name == f"refit-trial-{refit['trial']}" and (run / "model" / "classifine.json").is_file()
    assert refit["test"]["accuracy"] >= 0.8 and "tfidf_macro_f1" in refit["test"]


def _check_mlflow_trials(tmp_path: Path, trials: list[optuna.trial.FrozenTrial]) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("classifine")
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    assert set(runs) == {f"tune-trial-{t.number}" for t in trials} | {"tune"}
    study = runs["tune"]  # the study as a whole
    assert study.data.tags["kind"] == "tune" and study.data.params["tune.sampler"] == "random"
    assert study.data.metrics["trials/complete"] + study.data.metrics.get("trials/pruned", 0) == 8
    assert {"report.html", "best.yaml", "summary.json"} <= {
        a.path for a in client.list_artifacts(study.info.run_id)
    }
    for t in trials:
        run = runs[f"tune-trial-{t.number}"]
        assert run.data.tags["study"] == "tune" and run.data.tags["trial"] == str(t.number)
        assert run.data.params["train.batch_size"] == str(t.params["train.batch_size"])
        epochs = client.get_metric_history(run.info.run_id, "validation/macro_f1")
        assert [e.value for e in epochs] == pytest.approx(list(t.intermediate_values.values()))
        if t.state == TrialState.COMPLETE:
            assert run.info.status == "FINISHED" and run.data.metrics["objective/macro_f1"] == pytest.approx(
                t.value
            )
        else:
            assert run.info.status == "KILLED"  # pruned


def test_killed_trial_is_marked_failed_and_replaced_on_resume(
    tiny_bert: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config(tmp_path, tiny_bert, epochs=10, heartbeat_seconds=1, pruner="none")
    cmd = [sys.executable, "-m", "classifine.cli.main", "--quiet", "tune", str(cfg), "--trials", "3"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    study_dir = tmp_path / "runs" / "tune"
    try:
        deadline = time.monotonic() + 120
        while not list(study_dir.glob(".trial-*.work")):  # a trial is training
            assert proc.poll() is None, "tune ended before a trial trained"
            assert time.monotonic() < deadline, "no trial started within 120 s"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    url = sqlite_url(tmp_path, "tune")
    running = [t.number for t in load_trials(url, "tune") if t.state == TrialState.RUNNING]
    assert len(running) == 1  # dead, but nobody knows yet
    killed = running[0]

    assert main(["--quiet", "tune", str(cfg), "--trials", "3", "tune.space.train.batch_size=[4, 8]"]) == 2
    assert "different search space" in capsys.readouterr().err
    assert main(["--quiet", "tune", str(cfg), "--trials", "3"]) == 0  # the same command continues
    trials = load_trials(url, "tune")
    assert trials[killed].state == TrialState.FAIL
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 3 and len(trials) == 4
    assert not list(study_dir.glob(".trial-*.work"))
    study = optuna.load_study(study_name="tune", storage=url)
    assert "no heartbeat" in study.user_attrs[f"lost_trial_{killed}"]


def test_the_baseline_runs_first_under_the_trial_budget_and_is_refit_beside_the_best(
    tiny_bert: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The config's own learning rate (1e-6) cannot learn the task; the grid's other point can.
    cfg = write_config(
        tmp_path,
        tiny_bert,
        epochs=6,
        sampler="grid",
        baseline=True,
        trial_epochs=4,
        space={"train.learning_rate": [0.01, 1.0e-6], "train.batch_size": [8]},
    )
    raw = yaml.safe_load(cfg.read_text())
    raw["train"].update(learning_rate=1.0e-6, batch_size=8)
    raw["model"]["hybrid"] = "off"  # the transformer's own score (TF-IDF alone solves the toy task)
    cfg.write_text(yaml.safe_dump(raw))
    assert main(["tune", str(cfg), "--trials", "2", "--refit"]) == 0
    out = capsys.readouterr().out
    study_dir = tmp_path / "runs" / "tune"
    trials = load_trials(sqlite_url(tmp_path, "tune"), "tune")
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    base, other = trials
    assert base.user_attrs["baseline"] and not other.user_attrs.get("baseline")
    assert base.params == {"train.learning_rate": 1e-6, "train.batch_size": 8}
    assert other.params["train.learning_rate"] == 0.01 and other.value > base.value  # type: ignore[operator]
    for t in trials:  # every trial trained the study's budget (4 epochs), not the config's 6
        metrics = json.loads((study_dir / f"trial-{t.number}" / "metrics.json").read_text())
        assert metrics["train"]["epochs"] == pytest.approx(4.0)
    summary = json.loads((study_dir / "summary.json").read_text())
    verdict = summary["baseline"]
    assert verdict["number"] == 0 and verdict["best_beats_baseline"] is True
    assert verdict["gain"] == pytest.approx(other.value - base.value, abs=1e-6)  # type: ignore[operator]
    assert summary["budget"] == {"trial_epochs": 4.0, "trial_minutes": None}
    assert summary["refit"]["trial"] == 1 and summary["refit_baseline"]["trial"] == 0
    for key in ("refit", "refit_baseline"):  # both refits: same budget, scored once on test
        assert summary[key]["epochs"] == pytest.approx(4.0) and 0 <= summary[key]["test"]["macro_f1"] <= 1
    assert summary["refit"]["test"]["macro_f1"] > summary["refit_baseline"]["test"]["macro_f1"]
    assert yaml.safe_load((study_dir / "best.yaml").read_text())["train"]["epochs"] == 4.0
    assert "0 (baseline)" in out and "trial 0, validation macro_f1" in out and "the best beats it by +" in out
    assert "refit of the baseline (trial 0) on test: accuracy" in out
    report = (study_dir / "report.html").read_text()
    assert "Baseline (the config's own values, same budget)" in report and "Refits" in report


def _two_workers(cfg: Path, url: str, name: str, n: int) -> list[optuna.trial.FrozenTrial]:
    args = [
        "--quiet",
        "tune",
        str(cfg),
        "--trials",
        str(n),
        "--workers",
        "2",
        "--storage",
        url,
        "--study",
        name,
    ]
    assert main(args) == 0
    return load_trials(url, name)


def _check_shared(trials: list[optuna.trial.FrozenTrial], n: int, study_dir: Path) -> None:
    assert sorted(t.number for t in trials) == list(range(n))  # none lost, none extra
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    workers = {t.user_attrs["worker"] for t in trials}
    assert len(workers) == 2, f"one worker ran every trial: {workers}"
    for t in trials:  # each trial ran exactly once, by the worker that recorded it
        record = json.loads((study_dir / f"trial-{t.number}" / "trial.json").read_text())
        assert record["worker"] == t.user_attrs["worker"] and record["trial"] == t.number
    logs = sorted(study_dir.glob("worker-*.log"))
    ran = [
        int(line.split()[1])
        for log in logs
        for line in log.read_text().splitlines()
        if line.startswith("ran ")
    ]
    assert len(logs) == 2 and sum(ran) == n


def test_two_workers_share_one_sqlite_study(tiny_bert: Path, tmp_path: Path) -> None:
    cfg = write_config(tmp_path, tiny_bert, epochs=3, pruner="hyperband")
    url = sqlite_url(tmp_path, "shared")
    _check_shared(_two_workers(cfg, url, "shared", 6), 6, tmp_path / "runs" / "shared")


def test_two_workers_share_one_postgresql_study_on_a_grid(
    tiny_bert: Path, tmp_path: Path, postgres_url: str
) -> None:
    grid = {
        "train.learning_rate": [0.01, 0.003],
        "train.batch_size": [8, 16],
        "train.weight_decay": {"low": 0.0, "high": 0.1, "step": 0.05},
    }
    cfg = write_config(tmp_path, tiny_bert, epochs=3, sampler="grid", space=grid)
    trials = _two_workers(cfg, postgres_url, "pg-grid", 6)
    _check_shared(trials, 6, tmp_path / "runs" / "pg-grid")
    points = {json.dumps(t.params, sort_keys=True) for t in trials}
    assert len(points) == 6  # six different points of the 2 x 2 x 3 grid
    assert {t.params["train.weight_decay"] for t in trials} <= {0.0, 0.05, 0.1}


def test_user_errors_are_one_line(
    tiny_bert: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config(tmp_path, tiny_bert)
    missing = f"sqlite:///{tmp_path / 'none.db'}"
    other = f"sqlite:///{tmp_path / 'other.db'}"
    optuna.create_study(storage=other, study_name="other")
    cases = [
        (["tune", "--join", "--storage", missing, "--study", "x"], "no such study database file"),
        (
            ["tune", "--join", "--storage", other, "--study", "x"],
            "no study named 'x' in this storage. known studies: other",
        ),
        (["tune", "--join", "--study", "x"], "--join takes no CONFIG and needs --storage"),
        (
            ["tune", str(cfg), "--sampler", "grid"],
            "grid search cannot enumerate the range of 'train.weight_decay'",
        ),
        (["tune", str(cfg), "--sampler", "bayes"], "bad value 'bayes' for tune.sampler"),
        (["tune", str(cfg), "tune.space.train.learnig_rate=[0.1]"], "did you mean 'train.learning_rate'"),
        (["tune", str(cfg), "tune.space.model.lora.r=[0, 4]"], "the value 0 is rejected"),
        (["tune", str(cfg), "tune.metric=test_macro_f1"], "never on test"),
        (["tune", str(cfg), "data.split.validation=0"], "tuning needs a validation split"),
        (["tune", str(cfg), "--track", "mlfow"], "did you mean 'mlflow'"),
    ]
    for args, message in cases:
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (args, err)
    assert not (tmp_path / "runs" / "tune" / "study.db").exists()  # nothing was created by a bad config
