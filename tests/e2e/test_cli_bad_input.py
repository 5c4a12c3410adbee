"""Bad input, tried as a new user would: every case ends in a clear exit-2 error or a correct result."""

from __future__ import annotations

import json
import shutil
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from classifine.cli.main import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fixtures_models import build_tiny_run, toy_texts  # noqa: E402

pytestmark = pytest.mark.e2e


def _error(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 2) -> str:
    assert main(argv) == code
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    return err


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_run(tmp_path_factory.mktemp("run"), ["food", "sport", "tech"])


def _config(tmp_path: Path, source: Path) -> Path:
    cfg = {"data": {"source": str(source)}, "model": {"name": "minilm-l6"}, "output": {"dir": str(tmp_path)}}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def test_json_columns_of_unequal_length(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "cols.json"
    data.write_text(json.dumps({"text": ["a", "b"], "label": ["x"]}), encoding="utf-8")
    cfg = _config(tmp_path, data)
    for argv in (["data", "inspect", str(data)], ["validate", str(cfg)], ["train", str(cfg)]):
        err = _error(capsys, argv)
        assert "JSON columns have different lengths ('text': 2, 'label': 1)" in err and "cols.json" in err


def test_predict_on_a_header_only_csv(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "empty.csv"
    src.write_text("text,label\n", encoding="utf-8")
    err = _error(capsys, ["predict", str(run), "--input", str(src), "--output", str(tmp_path / "o.csv")])
    assert "empty.csv: file has no data rows (only a header)" in err
    assert not (tmp_path / "o.csv").exists()


def test_predict_on_non_utf8_names_the_line(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "latin.csv"
    src.write_bytes(b"text\ngoal match\ncaf\xe9 bread\n")
    err = _error(capsys, ["predict", str(run), "--input", str(src), "--output", str(tmp_path / "o.jsonl")])
    assert "byte 0xe9 at line 3" in err and "iconv" in err


def test_conflicting_labels_are_reported_by_validate_and_train(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    texts, labels = toy_texts(60, seed=2)
    rows = [(t, y[0]) for t, y in zip(texts, labels, strict=True)]
    rows += [("is this spam or not", "pos"), ("is this spam or not", "neg")] * 20
    data = tmp_path / "conflicts.csv"
    data.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in rows), encoding="utf-8")
    cfg = _config(tmp_path, data)
    assert main(["validate", str(cfg), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)["report"]
    assert report["conflicting_texts"] == 1
    assert any(w["code"] == "conflicting_duplicates" for w in report["warnings"])
    from classifine.config import load_config
    from classifine.data.loading import load_splits

    with caplog.at_level("WARNING"):
        load_splits(load_config(cfg).data)  # what train loads
    assert "1 text(s) appear with different labels, e.g. 'is this spam or not' (40 rows)" in caplog.text


def test_a_run_naming_a_hub_base_never_downloads(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "untrusted"
    shutil.copytree(run, copy)
    meta_file = copy / "model" / "classifine.json"
    meta = json.loads(meta_file.read_text())
    meta.update(adapter=True, base_model="someorg/some-model", base_model_source="someorg/some-model")
    meta_file.write_text(json.dumps(meta))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # any download attempt would fail loudly
    err = _error(capsys, ["predict", str(copy), "--text", "goal match"])
    assert "base model 'someorg/some-model' is not available locally" in err
    assert "never downloads" in err


def test_label_limit_is_a_stratified_sample(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["label", "--backend", "openai", "--model", "m", "--base-url", "http://127.0.0.1:9"]
    argv += ["--input", "movie-reviews:test", "--limit", "100", "--dry-run", "--json", "--no-cache"]
    assert main(argv) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["rows"] == 100
    from classifine.llm.io import resolve_input

    inp = resolve_input("movie-reviews:test").sample(100, seed=42)
    counts = Counter(g[0] for g in inp.gold or [])
    assert abs(counts["positive"] - counts["negative"]) <= 2  # the split is balanced; so is the sample
