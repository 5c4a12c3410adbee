"""Retrain, compare on the same held-out texts, promote or refuse, roll back: with real tiny-BERT runs."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from classifine.artifact import model_dir
from classifine.cli.main import main
from classifine.config import load_config
from classifine.data.loading import load_splits
from classifine.errors import DataError, ModelError
from classifine.loop.data import labels_from_rows
from classifine.loop.promote import promote
from classifine.loop.retrain import held_out_test, retrain
from classifine.loop.versions import read_promotions, retrain_lock, serving_version
from fixtures_models import toy_texts


@pytest.fixture()
def run(toy_run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(toy_run, tmp_path / "toy"))


def test_retrain_promotes_and_never_trains_on_test_texts(run: Path) -> None:
    test = held_out_test(run)
    texts, labels = toy_texts(120, seed=11)
    rows = [(t, y[0]) for t, y in zip(texts, labels, strict=True)]
    rows += [(test.texts[0], "pos"), (test.texts[1].upper(), "neg")]  # test texts: by text_key, any case
    result = retrain(run, labels_from_rows(rows, "pytest"), metric="accuracy", progress=False)
    assert result.version == 2
    assert result.stats.excluded_test == 2
    trained = load_splits(load_config(run / "versions" / "2" / "config.yaml").data)
    keys = {t.casefold() for t in trained.train.texts} | {t.casefold() for t in trained.validation.texts}
    assert not keys & {t.casefold() for t in test.texts}
    assert trained.test.texts == test.texts  # scored on the original test split
    entry = read_promotions(run)[-1]
    assert entry.action == "retrain" and entry.held_out is not None and entry.held_out.texts == len(test)
    assert entry.old_score is not None and entry.new_score is not None
    assert (entry.decision == "promoted") == (entry.new_score >= entry.old_score)
    assert entry.decision == "promoted" and entry.new_score > entry.old_score  # 8 -> 128 rows
    assert model_dir(run) == run / "versions" / "2" / "model"
    info = json.loads((run / "versions" / "2" / "retrain.json").read_text())
    assert info["excluded_test"] == 2 and info["added"] == 120


def test_a_worse_model_is_refused(run: Path) -> None:
    splits = load_splits(load_config(run / "config.yaml").data)
    flip = {"pos": "neg", "neg": "pos"}
    texts, labels = toy_texts(120, seed=12)
    rows = [(t, flip[y[0]]) for t, y in zip(texts, labels, strict=True)]  # wrong on purpose
    rows += [(t, flip[y[0]]) for t, y in splits.train]
    result = retrain(run, labels_from_rows(rows, "pytest"), metric="accuracy", progress=False)
    entry = result.promotion
    assert entry.decision == "refused" and entry.serving == 1
    assert entry.new_score is not None and entry.old_score is not None and entry.new_score < entry.old_score
    assert serving_version(run) == 1 and model_dir(run) == run / "versions" / "1" / "model"
    assert result.stats.relabelled == len(splits.train)


def test_promote_rollback_and_lock(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    texts, labels = toy_texts(40, seed=13)
    new = labels_from_rows([(t, y[0]) for t, y in zip(texts, labels, strict=True)], "pytest")
    retrain(run, new, min_delta=1.0, progress=False)  # refused: nothing beats 1.0 more
    assert serving_version(run) == 1
    promote(run, 2, reason="checked by hand")
    assert serving_version(run) == 2
    assert main(["rollback", str(run)]) == 0
    assert serving_version(run) == 1 and read_promotions(run)[-1].decision == "rolled_back"
    assert main(["rollback", str(run), "--to", "7"]) == 2
    assert "no version 7" in capsys.readouterr().err
    with retrain_lock(run), pytest.raises(ModelError, match="already running"):
        retrain(run, new, progress=False)
    bad = labels_from_rows([("a new text", "maybe")], "corrections.csv")
    with pytest.raises(DataError, match="not one of the model's labels"):
        retrain(run, bad, progress=False)
    assert [p.action for p in read_promotions(run)] == ["retrain", "promote", "rollback"]
    assert main(["versions", str(run), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [v["serving"] for v in listed["versions"]] == [True, False]


def test_detached_retrain_runs_in_the_background(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    texts, labels = toy_texts(40, seed=14)
    new = tmp_path / "labels.csv"
    new.write_text(
        "text,label\n" + "\n".join(f"{t},{y[0]}" for t, y in zip(texts, labels, strict=True)) + "\n"
    )
    assert main(["retrain", str(run), "--labels", str(new), "--detach"]) == 0
    out = capsys.readouterr().out
    assert "in the background" in out
    log = Path(out.rsplit("log: ", 1)[1].strip())
    deadline = time.monotonic() + 300
    while not read_promotions(run) and time.monotonic() < deadline:
        time.sleep(0.5)
    (entry,) = read_promotions(run)
    assert entry.data["new_labels"] == 40 and entry.data["source"] == str(new), log.read_text()
