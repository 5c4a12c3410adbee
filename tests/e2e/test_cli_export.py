"""``classifine export`` on a tiny random BERT run whose config.yaml points at CSV splits."""

from __future__ import annotations

import contextlib
import io
import json
import random
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from classifine.artifact import read_meta
from classifine.cli.main import main
from classifine.config import Config, DataConfig
from classifine.data.dataset import Dataset
from classifine.data.labels import LabelSet
from classifine.errors import ModelError
from classifine.export import export_run
from classifine.inference.engines import OnnxEngine
from classifine.inference.predictor import Classifier
from fixtures_models import build_tiny_run
from unit.test_predictor import mixed_texts

LABELS = ["food", "sport", "tech"]


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = random.Random(seed)
    return pd.DataFrame({"text": mixed_texts(n, seed), "label": [rng.choice(LABELS) for _ in range(n)]})


def _make_run(root: Path) -> Path:
    files = {}
    for i, (split, n) in enumerate((("train", 30), ("validation", 120), ("test", 20))):
        files[split] = root / f"{split}.csv"
        _frame(n, i).to_csv(files[split], index=False)
    run = build_tiny_run(root / "run", LABELS)
    data = DataConfig(train=str(files["train"]), validation=str(files["validation"]), test=str(files["test"]))
    (run / "config.yaml").write_text(Config(data=data).to_yaml())
    return run


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A tiny run exported once with --int8 through the CLI; (run, the --json payload)."""
    torch.set_num_threads(1)
    run = _make_run(tmp_path_factory.mktemp("export"))
    args = ["export", str(run), "--int8", "--json", "--max-texts", "100"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(args)
    return run, {"code": code, **json.loads(out.getvalue())}


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("error: ")
    return err[0]


def test_export_writes_files_and_records(exported: tuple[Path, dict]) -> None:
    run, payload = exported
    folder = run / "model"
    fp32 = payload["exports"]["onnx"]
    assert payload["family"] == "bert" and fp32["passed"]
    assert fp32["parity"]["split"] == "validation" and fp32["parity"]["texts"] == 100  # capped from 120
    assert fp32["parity"]["agreement"] == 1.0 and fp32["parity"]["max_abs_diff"] < 1e-5
    assert fp32["parity"]["accuracy"] == fp32["parity"]["torch_accuracy"]
    meta = read_meta(run)
    assert set(meta.exports) == {"onnx", "onnx-int8"}
    for name, file in (("onnx", "model.onnx"), ("onnx-int8", "model.int8.onnx")):
        record = meta.exports[name]
        assert record.file == file and (folder / file).stat().st_size == record.size_bytes
        assert record.opset >= 18 and record.versions["onnxruntime"]
    assert meta.exports["onnx-int8"].size_bytes < meta.exports["onnx"].size_bytes
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []  # no temporary files left


def test_clean_export_exits_0_and_auto_takes_int8(exported: tuple[Path, dict]) -> None:
    run, payload = exported
    int8 = payload["exports"]["onnx-int8"]
    assert payload["code"] == 0 and payload["passed"] and int8["passed"]
    assert int8["parity"]["agreement"] >= 0.99 and 0 < int8["parity"]["max_abs_diff"] < 0.05
    assert Classifier.load(run).engine == "onnx-int8"


def test_engines_give_the_same_predictions(exported: tuple[Path, dict]) -> None:
    run, _ = exported
    texts = mixed_texts(40, seed=21)
    torch_clf, onnx_clf = Classifier.load(run, engine="torch"), Classifier.load(run, engine="onnx")
    assert (torch_clf.engine, onnx_clf.engine) == ("torch", "onnx")
    expected, got = torch_clf.predict(texts, top_k=2), onnx_clf.predict(texts, top_k=2)
    assert [p.label for p in got] == [p.label for p in expected]
    assert [[n for n, _ in p.top_k] for p in got] == [[n for n, _ in p.top_k] for p in expected]
    np.testing.assert_allclose(onnx_clf.predict_proba(texts), torch_clf.predict_proba(texts), atol=1e-5)
    auto = Classifier.load(run)
    assert auto.engine == ("onnx-int8" if read_meta(run).exports["onnx-int8"].passed else "onnx")


def _near_ties(run: Path, quantile: float) -> None:
    """Put the ham/spam-like boundary between labels 0 and 1 at this quantile of the validation texts.

    This random model barely tells texts apart (logit spread ~0.004), so texts near the boundary
    sit within int8 rounding of a tie: at the median about half flip, at the 3rd percentile a few.
    """
    from transformers import AutoTokenizer, BertForSequenceClassification

    model = BertForSequenceClassification.from_pretrained(run / "model").eval()
    tokenizer = AutoTokenizer.from_pretrained(run / "model")
    texts = list(pd.read_csv(run.parent / "validation.csv")["text"])
    with torch.no_grad():
        logits = model(**tokenizer(texts, padding=True, return_tensors="pt")).logits  # (N, 3)
        model.classifier.bias[1] -= float(torch.quantile(logits[:, 1] - logits[:, 0], quantile))
        model.classifier.bias[2] = -100.0
    model.save_pretrained(run / "model")


def test_failed_int8_parity_exits_1_keeps_the_file_and_auto_skips_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _make_run(tmp_path)
    _near_ties(run, 0.5)
    capsys.readouterr()
    assert main(["-q", "export", str(run), "--int8"]) == 1
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: model.int8.onnx failed its parity check")
    assert "label agreement" in err[0] and "< 99.0%" in err[0] and "auto will not use it" in err[0]
    table = captured.out.splitlines()
    assert table[0].startswith("Parity with torch fp32 on 120 validation texts")
    assert table[2].startswith("onnx ") and table[2].endswith("yes")
    assert table[3].startswith("onnx-int8") and table[3].endswith("NO")
    meta = read_meta(run)
    int8 = meta.exports["onnx-int8"]
    assert meta.exports["onnx"].passed and not int8.passed and int8.parity.agreement < 0.99
    assert int8.quantization is not None and int8.quantization.startswith("block-wise")  # both schemes tried
    assert (run / "model" / "model.int8.onnx").is_file()  # kept for inspection
    assert Classifier.load(run).engine == "onnx"  # auto never picks a failed export
    assert Classifier.load(run, engine="onnx-int8").engine == "onnx-int8"  # asked for: loaded, with a warning


def test_int8_falls_back_to_blockwise_when_dynamic_fails(tmp_path: Path) -> None:
    run = _make_run(tmp_path)
    _near_ties(run, 0.03)  # dynamic int8 flips ~3% of these labels, block-wise none
    result = export_run(run, int8=True)
    int8 = result.records["onnx-int8"]
    assert result.passed and int8.passed and int8.parity.agreement >= 0.99
    assert int8.quantization is not None and int8.quantization.startswith("block-wise")
    from classifine.export.quantize import quantize_int8

    quantize_int8(run / "model" / "model.onnx", tmp_path / "dynamic.onnx", "dynamic")
    texts = list(pd.read_csv(run.parent / "validation.csv")["text"])
    reference = Classifier.load(run, engine="torch")
    dynamic = Classifier(OnnxEngine(tmp_path / "dynamic.onnx"), reference.tokenizer, reference.meta)
    agree = np.mean(dynamic.predict_proba(texts).argmax(1) == reference.predict_proba(texts).argmax(1))
    assert agree < 0.99  # the scheme tried first really failed here
    assert Classifier.load(run).engine == "onnx-int8"


def test_replaced_file_is_not_trusted(exported: tuple[Path, dict], tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(exported[0], run)
    shutil.copy(run / "model" / "model.onnx", run / "model" / "model.int8.onnx")
    assert Classifier.load(run).engine == "onnx"  # the int8 file no longer matches its record
    with pytest.raises(ModelError, match="differs from the export recorded"):
        Classifier.load(run, engine="onnx-int8")


def test_reexport_replaces_cleanly(exported: tuple[Path, dict], tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(exported[0], run)
    before = read_meta(run).exports
    (run / "model" / "model.onnx").write_bytes(b"not a graph")  # a damaged file is replaced, not trusted
    assert Classifier.load(run).engine in ("onnx-int8", "torch")
    result = export_run(run, max_texts=50)
    after = read_meta(run).exports
    assert set(result.records) == {"onnx"} and after["onnx"].passed and after["onnx"].parity.texts == 50
    assert after["onnx-int8"] == before["onnx-int8"]  # the int8 export (same weights) is kept as it was
    assert Classifier.load(run, engine="onnx").predict(["goal match"])[0].label in LABELS
    assert sorted(p.name for p in (run / "model").iterdir() if "onnx" in p.name) == [
        "model.int8.onnx",
        "model.onnx",
    ]


def test_multi_label_export_uses_sigmoid_and_thresholds(tmp_path: Path) -> None:
    labels = ["x", "y", "z"]
    run = build_tiny_run(tmp_path / "ml", labels, multi_label=True, thresholds=[0.3, 0.5, 0.7], seed=1)
    rng = random.Random(4)
    texts = mixed_texts(60, seed=4)
    gold = [tuple(sorted(rng.sample(labels, rng.randint(1, 2)))) for _ in texts]
    data = Dataset(texts, gold, LabelSet(tuple(labels), multi_label=True), name="ml")
    result = export_run(run, int8=True, data=data)
    fp32 = result.records["onnx"]
    assert fp32.passed and fp32.parity.split == "given" and fp32.parity.max_abs_diff < 1e-5
    torch_clf, onnx_clf = Classifier.load(run, engine="torch"), Classifier.load(run, engine="onnx")
    probs = onnx_clf.predict_proba(texts)
    assert not np.allclose(probs.sum(axis=1), 1.0)  # sigmoid per label, not softmax
    assert [p.label for p in onnx_clf.predict(texts)] == [p.label for p in torch_clf.predict(texts)]
    assert any(len(p.label) >= 2 for p in onnx_clf.predict(texts))  # real multi-label decisions


def test_export_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-q", "export", str(tmp_path / "nope")]) == 2
    assert "artifact not found" in _one_error_line(capsys)
    bare = build_tiny_run(tmp_path / "bare", LABELS)  # no config.yaml: its validation texts are unknown
    capsys.readouterr()
    assert main(["-q", "export", str(bare)]) == 2
    assert "no config.yaml" in _one_error_line(capsys)
    assert not (bare / "model" / "model.onnx").exists()
    assert main(["-q", "predict", str(bare), "--engine", "onnx", "--text", "goal"]) == 2
    assert "classifine export RUN" in _one_error_line(capsys)
    assert main(["-q", "predict", str(bare), "--engine", "int8", "--text", "goal"]) == 2
    assert "did you mean 'onnx-int8'" in _one_error_line(capsys)


def test_exporter_failure_is_a_model_error_naming_the_family(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forced failure: the exporter raises as it does on an untraceable model; nothing is written."""
    run = _make_run(tmp_path)
    before = (run / "model" / "classifine.json").read_text()
    capsys.readouterr()

    def untraceable(*args: object, **kwargs: object) -> None:
        raise RuntimeError("Could not guard on data-dependent expression Eq(u0, 1)\nmore detail")

    monkeypatch.setattr(torch.onnx, "export", untraceable)
    assert main(["-q", "export", str(run), "--int8"]) == 2
    line = _one_error_line(capsys)
    assert "the bert model cannot be exported to ONNX" in line and "data-dependent" in line
    assert "more detail" not in line
    assert (run / "model" / "classifine.json").read_text() == before
    assert sorted(p.name for p in (run / "model").iterdir() if "onnx" in p.name) == []
