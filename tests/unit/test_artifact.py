"""The Artifact's metadata checks and atomic writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from classifine.artifact import ArtifactMeta, atomic_dir, model_dir, read_meta, write_meta
from classifine.errors import ModelError


def _meta() -> ArtifactMeta:
    return ArtifactMeta(
        labels=["ham", "spam"],
        problem_type="single_label",
        max_length=128,
        base_model="minilm-l6",
        base_model_source="/cache/minilm",
        family="bert",
        method="lora",
    )


def test_meta_round_trip_via_run_folder(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    write_meta(tmp_path / "model", _meta())
    assert model_dir(tmp_path) == tmp_path / "model"
    assert read_meta(tmp_path).labels == ["ham", "spam"]


def test_missing_field_is_named(tmp_path: Path) -> None:
    raw = _meta().model_dump()
    del raw["labels"]
    (tmp_path / "classifine.json").write_text(json.dumps(raw))
    with pytest.raises(ModelError, match="field 'labels'"):
        read_meta(tmp_path)


def test_no_meta_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="interrupted run"):
        read_meta(tmp_path)
    with pytest.raises(ModelError, match="artifact not found"):
        read_meta(tmp_path / "missing")


def test_atomic_dir_leaves_nothing_on_failure(tmp_path: Path) -> None:
    final = tmp_path / "runs" / "r1"
    with pytest.raises(RuntimeError), atomic_dir(final) as tmp:
        (tmp / "half.bin").write_bytes(b"x")
        raise RuntimeError("killed")
    assert not final.exists()
    assert list((tmp_path / "runs").iterdir()) == []
    with atomic_dir(final) as tmp:
        (tmp / "done").write_text("ok")
    assert (final / "done").read_text() == "ok"
    with pytest.raises(ModelError, match="already exists"), atomic_dir(final):
        pass
    with atomic_dir(final, overwrite=True) as tmp:
        (tmp / "new").write_text("2")
    assert (final / "new").exists() and not (final / "done").exists()


def test_atomic_file_replaces_on_success_and_leaves_nothing_on_failure(tmp_path: Path) -> None:
    from classifine.artifact import atomic_file

    target = tmp_path / "out" / "report.md"
    with pytest.raises(RuntimeError), atomic_file(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert not target.exists() and list(target.parent.iterdir()) == []
    with atomic_file(target) as tmp:
        tmp.write_text("done")
    assert target.read_text() == "done" and list(target.parent.iterdir()) == [target]
    assert target.stat().st_mode & 0o044  # readable by others as usual, not mkstemp's 0600
