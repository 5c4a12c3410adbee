"""The versions/promotions format: the log, what serves, the lock, version 1 as hard links."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from classifine.artifact import model_dir
from classifine.errors import ModelError
from classifine.loop.versions import (
    Promotion,
    append_promotion,
    ensure_version_one,
    existing_versions,
    list_versions,
    next_version,
    promotions_file,
    read_promotions,
    retrain_lock,
    run_root,
    serving_dir,
    serving_version,
    version_dir,
    version_of,
)


def _artifact(folder: Path, marker: str) -> Path:
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "classifine.json").write_text(json.dumps({"marker": marker}))
    (folder / "model" / "weights.bin").write_bytes(marker.encode() * 10)
    (folder / "config.yaml").write_text("output: {name: run}\n")
    (folder / "metrics.json").write_text(json.dumps({"test": {"accuracy": 0.5, "macro_f1": 0.4}}))
    return folder


def _decision(version: int, previous: int, serving: int, decision: str = "promoted") -> Promotion:
    return Promotion(
        action="retrain",
        version=version,
        previous_version=previous,
        serving=serving,
        decision=decision,  # type: ignore[arg-type]
        metric="macro_f1",
        new_score=0.9,
        old_score=0.8,
        reason="test",
        trigger="pytest",
    )


def test_run_without_versions_serves_itself(tmp_path: Path) -> None:
    run = _artifact(tmp_path / "run", "v1")
    assert serving_version(run) == 1
    assert serving_dir(run) is None
    assert model_dir(run) == run / "model"
    assert [(v.version, v.serving, v.path) for v in list_versions(run)] == [(1, True, run)]


def test_promotions_move_what_serves_and_explicit_paths_stay(tmp_path: Path) -> None:
    run = _artifact(tmp_path / "run", "v1")
    v1 = ensure_version_one(run)
    assert v1 == version_dir(run, 1)
    # version 1 is a hard-linked copy of the run's own Artifact, not a second 90 MB copy
    assert os.stat(v1 / "model" / "weights.bin").st_ino == os.stat(run / "model" / "weights.bin").st_ino
    _artifact(version_dir(run, 2), "v2")
    assert existing_versions(run) == [1, 2] and next_version(run) == 3
    append_promotion(run, _decision(2, 1, 2))
    assert serving_version(run) == 2
    assert model_dir(run) == version_dir(run, 2) / "model"
    assert model_dir(version_dir(run, 1)) == version_dir(run, 1) / "model"  # explicit version
    assert model_dir(run / "model") == run / "model"  # explicit model folder
    append_promotion(
        run,
        Promotion(
            action="rollback", version=1, previous_version=2, serving=1, decision="rolled_back", trigger="t"
        ),
    )
    assert model_dir(run) == version_dir(run, 1) / "model"
    log = read_promotions(run)
    assert [(p.action, p.serving) for p in log] == [("retrain", 2), ("rollback", 1)]
    assert log[0].time.endswith("Z") and log[0].user
    listed = {v.version: v for v in list_versions(run)}
    assert listed[1].serving and not listed[2].serving
    assert listed[2].test_metrics == {"accuracy": 0.5, "macro_f1": 0.4}


def test_a_torn_line_is_skipped_and_terminated(tmp_path: Path) -> None:
    run = _artifact(tmp_path / "run", "v1")
    ensure_version_one(run)
    _artifact(version_dir(run, 2), "v2")
    append_promotion(run, _decision(2, 1, 2))
    with open(promotions_file(run), "a", encoding="utf-8") as fh:
        fh.write('{"time": "2026-01-01T00:00:00Z", "action": "rollback", "version": 1, "serv')  # killed
    assert serving_version(run) == 2  # the torn line never counts
    append_promotion(run, _decision(2, 2, 2, "refused"))
    lines = promotions_file(run).read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[2])["decision"] == "refused"
    assert [p.decision for p in read_promotions(run)] == ["promoted", "refused"]


def test_missing_serving_folder_is_a_clear_error(tmp_path: Path) -> None:
    run = _artifact(tmp_path / "run", "v1")
    append_promotion(run, _decision(5, 1, 5))
    with pytest.raises(ModelError, match="version 5 serves.*roll back"):
        model_dir(run)


def test_second_retrain_of_a_run_is_refused(tmp_path: Path) -> None:
    run = _artifact(tmp_path / "run", "v1")
    with (
        retrain_lock(run),
        pytest.raises(ModelError, match=r"already running \(pid \d+"),
        retrain_lock(run),
    ):
        pass
    with retrain_lock(run):  # released on exit
        pass


def test_paths_of_versions() -> None:
    assert run_root("runs/x/versions/3") == Path("runs/x")
    assert run_root("runs/x") == Path("runs/x")
    assert version_of("runs/x/versions/3/model") == 3
    assert version_of("runs/x") is None
