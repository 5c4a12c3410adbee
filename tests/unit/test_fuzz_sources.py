"""Random bytes and random table structures thrown at the source layer and at ``predict --input``.

Whatever the file holds, reading it either succeeds or raises a ClassifineError (a one-line message
for the user); never any other exception.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classifine.data.loading import read_dataset
from classifine.data.sources import iter_records, open_source
from classifine.errors import ClassifineError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fixtures_models import build_tiny_run  # noqa: E402

SUFFIXES = [".csv", ".tsv", ".txt", ".json", ".jsonl", ".parquet"]
cells = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.lists(st.one_of(st.text(max_size=5), st.integers()), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
keys = st.sampled_from(["text", "label", "labels", "body", "", "x"])
records = st.lists(st.dictionaries(keys, cells, max_size=4), max_size=8)


def _render(kind: str, rows: list[dict[str, Any]], draw_bytes: bytes) -> bytes:
    """One file of the given kind built from ``rows`` (or raw bytes for 'bytes')."""
    if kind == "bytes":
        return draw_bytes
    if kind == "json":
        return json.dumps(rows, default=str).encode()
    if kind == "json-columns":
        cols: dict[str, list[Any]] = {}
        for r in rows:
            for k, v in r.items():
                cols.setdefault(k, []).append(v)
        return json.dumps(cols, default=str).encode()
    if kind == "jsonl":
        return "\n".join(json.dumps(r, default=str) for r in rows).encode()
    buf = io.StringIO()
    names = sorted({k for r in rows for k in r})
    writer = csv.writer(buf, delimiter="\t" if kind == "tsv" else ",")
    writer.writerow(names)
    for r in rows:
        writer.writerow([r.get(n) for n in names] + (["extra"] if len(r) == 1 else []))
    return buf.getvalue().encode()


def _read_everything(path: Path) -> None:
    src = open_source(path)
    for _ in iter_records(src, chunk_rows=3):
        pass
    src.table()
    read_dataset(path)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["bytes", "json", "json-columns", "jsonl", "csv", "tsv"]),
    suffix=st.sampled_from(SUFFIXES),
    rows=records,
    raw=st.binary(max_size=200),
)
def test_source_layer_reads_or_explains(
    kind: str, suffix: str, rows: list[dict[str, Any]], raw: bytes
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"data{suffix}"
        path.write_bytes(_render(kind, rows, raw))
        try:
            _read_everything(path)
        except ClassifineError as exc:
            assert "\n" not in str(exc)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_run(tmp_path_factory.mktemp("run"), ["food", "sport", "tech"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kind=st.sampled_from(["bytes", "json", "jsonl", "csv", "tsv"]),
    suffix=st.sampled_from(SUFFIXES),
    out=st.sampled_from([".csv", ".jsonl", ".tsv"]),
    rows=records,
    raw=st.binary(max_size=200),
)
def test_predict_input_predicts_or_exits_2(
    run: Path, kind: str, suffix: str, out: str, rows: list[dict[str, Any]], raw: bytes
) -> None:
    from classifine.cli.main import main

    with tempfile.TemporaryDirectory() as folder:
        src, dst = Path(folder) / f"in{suffix}", Path(folder) / f"out{out}"
        src.write_bytes(_render(kind, rows, raw))
        code = main(["--quiet", "predict", str(run), "--input", str(src), "--output", str(dst)])
        assert code in (0, 2)
        assert dst.exists() == (code == 0)  # nothing half-written on failure
