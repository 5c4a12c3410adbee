"""``classifine push RUN --repo-id ORG/NAME`` against a local double of the Hub's upload API.

The Hugging Face Hub cannot be reached from the machines that run this suite, so the upload goes to
``tests/hub_double.py``: a small real HTTP server speaking the endpoints ``huggingface_hub`` calls
(create repository, preupload, commit). The real ``huggingface_hub`` client does the work; the test
checks what arrived: the model folder byte for byte, a model card the Hub's own parser reads, and
that the uploaded files load in ``transformers.pipeline``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from fixtures_models import build_tiny_model, toy_splits
from hub_double import hub_double

TOKEN = "hf_test_write_token"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from classifine.api import train

    root = tmp_path_factory.mktemp("push")
    model = build_tiny_model("bert", root / "tiny-bert")
    splits = toy_splits(96, 32)
    frames = [
        pd.DataFrame({"text": splits[s].texts, "label": [y[0] for y in splits[s].labels]})
        for s in ("train", "validation", "test")
    ]
    result = train(
        frames[0], validation=frames[1], test=frames[2], model=str(model), method="full", max_length=32,
        epochs=6, batch_size=16, learning_rate=6e-3, output_dir=root, name="toy", progress=False,
        overrides={"train.early_stopping": None, "train.precision": "fp32", "model.hybrid": "off"},
    )  # fmt: skip
    return result.run_dir


def test_push_uploads_model_folder_and_card(
    run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import ModelCard
    from transformers import pipeline

    from classifine.cli.main import main

    monkeypatch.setenv("PUSH_TOKEN", TOKEN)
    with hub_double(TOKEN) as hub:
        args = ["push", str(run), "--repo-id", "acme/toy-sentiment", "--endpoint", hub.url]
        assert main([*args, "--token-env", "PUSH_TOKEN", "--private"]) == 0
        assert main([*args, "--token-env", "PUSH_TOKEN"]) == 0  # again: the repository exists, a new commit
    assert hub.unknown == []
    repo = hub.repos["acme/toy-sentiment"]
    assert repo.private and len(repo.commits) == 2

    model = run / "model"
    local = {p.relative_to(model).as_posix(): p.read_bytes() for p in model.rglob("*") if p.is_file()}
    for name, data in local.items():
        assert repo.files[name] == data, name
    assert json.loads(repo.files["classifine/metrics.json"]) == json.loads((run / "metrics.json").read_text())
    assert repo.files["classifine/config.yaml"] == (run / "config.yaml").read_bytes()

    card = ModelCard(repo.files["README.md"].decode())  # the Hub's own parser
    assert card.data.pipeline_tag == "text-classification" and "classifine" in card.data.tags
    text = card.text
    metrics = json.loads((run / "metrics.json").read_text())["evaluation"]
    assert (
        f"| macro_f1 | {metrics['metrics']['macro_f1']:.4f} | {metrics['baseline']['macro_f1']:.4f} |" in text
    )
    meta = json.loads((model / "classifine.json").read_text())
    assert meta["data_fingerprint"] in text and "| 0 | neg |" in text and "| 1 | pos |" in text
    assert "## Training config" in text and "learning_rate: 0.006" in text and "## Limitations" in text

    pulled = tmp_path / "pulled"
    for name, data in repo.files.items():
        (pulled / name).parent.mkdir(parents=True, exist_ok=True)
        (pulled / name).write_bytes(data)
    clf = pipeline("text-classification", model=str(pulled), device="cpu")
    assert clf(["a great and happy film"])[0]["label"] == "pos"


def test_push_with_a_refused_token_is_one_clear_error(
    run: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from classifine.cli.main import main

    monkeypatch.setenv("PUSH_TOKEN", "hf_wrong")
    with hub_double(TOKEN) as hub:
        code = main(
            ["push", str(run), "--repo-id", "acme/x", "--endpoint", hub.url, "--token-env", "PUSH_TOKEN"]
        )
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "refused the upload to acme/x (HTTP 401)" in err[0] and "hf_wrong" not in err[0]
    assert hub.repos == {}
    assert main(["push", str(run), "--repo-id", "not a repo id"]) == 2
