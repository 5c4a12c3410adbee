"""Few labels with the real packaged MiniLM: 8 questions per class of trec-6, the default config.

``classifine.train`` with nothing set picks the few-shot method from the labelled rows per class and
must beat the run's own TF-IDF row by a wide margin on a fixed subset of the catalog's test split.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

import classifine
from classifine.config import config_from_dict
from classifine.data.dataset import Dataset, DatasetSplits
from classifine.data.labels import LabelSet
from classifine.data.loading import read_dataset
from classifine.data.sample import k_per_class, subsample
from classifine.models.build import load_tokenizer
from classifine.training.contrastive import sentence_encoder
from classifine.training.fewshot import _blank
from classifine.training.names_as_texts import MIN_KAPPA, decide_names_as_texts
from classifine.training.plan import make_plan

pytestmark = pytest.mark.integration


def _frame(ds: Dataset) -> pd.DataFrame:
    return pd.DataFrame({"text": ds.texts, "label": [row[0] for row in ds.labels]})


def test_eight_questions_per_class_beat_tfidf_with_the_default(tmp_path: Path) -> None:
    train = k_per_class(read_dataset("trec-6:train"), 8, seed=0)  # 48 labelled questions
    test = subsample(read_dataset("trec-6:test"), 300, seed=0)  # a fixed, stratified test subset
    result = classifine.train(
        _frame(train), test=_frame(test), output_dir=tmp_path, name="k8", progress=False
    )

    info = result.metrics["train"]
    assert info["method"] == "fewshot" and info["method_reason"].startswith("auto: 7 labelled rows per class")
    assert "fixed schedule" in info["selection"]  # 5 validation rows choose nothing
    fewshot = result.metrics["fewshot"]
    assert fewshot["contrastive_loss"] == "cosine" and fewshot["contrastive_steps"] == 200  # the step floor
    assert fewshot["contrastive_pairs"] == "cover"  # pairs: auto covers with six classes
    names = fewshot["names_as_texts"]  # ABBR, DESC, ...: codes that say little about their questions
    assert names["setting"] == "auto" and not names["used"] and names["kappa"] < MIN_KAPPA
    assert fewshot["contrastive_name_pairs"] == 0  # no names among the texts: no pairs on them
    assert fewshot["last_loss"] < fewshot["first_loss"]
    # 5 validation rows choose nothing: the encoder trains on all 48; the TF-IDF check is cross-validated
    assert fewshot["encoder_trained_on"] == "train+validation"
    check = result.metrics["baseline_check"]
    assert check["estimate"] == "cross-validation" and check["validation_texts"] == 48
    assert check["worse"] is None and not check["starting_point_worse"]  # the served model is not held out
    assert check["served"] > check["tfidf"]  # its starting point, the frozen head, wins out-of-fold

    report = result.report
    assert report is not None and report.baseline is not None
    accuracy, tfidf = report.metrics["accuracy"], report.baseline["accuracy"]
    # chance is 1/6 and the largest class is 23% of the test rows; TF-IDF on 48 questions reaches ~45%
    assert accuracy >= 0.62, accuracy
    assert accuracy >= tfidf + 0.15, (accuracy, tfidf)
    assert "method: fewshot" in (result.run_dir / "report.md").read_text()

    meta = json.loads((result.run_dir / "model" / "classifine.json").read_text())
    assert meta["method"] == "fewshot" and meta["embedding"]["head"] == "head.safetensors"
    assert result.classifier.predict(["How far away is the moon?"])[0].label == "NUM"


def _plan(rows: Dataset) -> Any:
    """The default plan for training on ``rows`` (the packaged MiniLM)."""
    return make_plan(config_from_dict({"train": {"threads": 2}}), DatasetSplits(rows, rows.subset([]), rows))


def test_label_names_are_trained_on_when_they_say_what_a_class_is() -> None:
    rows = k_per_class(read_dataset("movie-reviews:train"), 8, seed=0)  # 'negative' / 'positive'
    plan = _plan(rows)
    encoder = _blank(sentence_encoder(plan.spec.source, plan.max_length)[0].auto_model, plan)
    tokenizer = load_tokenizer(plan.spec.source, False)
    sentiment = decide_names_as_texts("auto", rows, encoder, tokenizer, plan)
    assert sentiment.used and sentiment.kappa is not None and sentiment.kappa >= MIN_KAPPA, sentiment
    added = sentiment.added_to(rows)
    assert added.texts[len(rows) :] == ["negative", "positive"] and added.texts[: len(rows)] == rows.texts
    assert added.labels[len(rows) :] == [("negative",), ("positive",)]
    assert not decide_names_as_texts(False, rows, encoder, tokenizer, plan).used

    # 32 reviews a class under names that say nothing: they agree with the labels by chance only
    more = k_per_class(read_dataset("movie-reviews:train"), 32, seed=0)
    codes = Dataset(more.texts, [("a",) if y == ("positive",) else ("b",) for y in more.labels],
                    LabelSet(("a", "b")))  # fmt: skip
    plan = _plan(codes)
    coded = decide_names_as_texts("auto", codes, encoder, tokenizer, plan)
    assert not coded.used and coded.kappa is not None and coded.kappa < MIN_KAPPA, coded
    assert coded.added_to(codes) is codes
    forced = decide_names_as_texts(True, codes, encoder, tokenizer, plan)
    assert forced.used and forced.added_to(codes).texts[len(codes) :] == ["a", "b"]


def test_a_run_on_the_label_names_anchors_a_share_of_its_pairs_on_them(tmp_path: Path) -> None:
    rows = k_per_class(read_dataset("movie-reviews:train"), 8, seed=0)
    overrides = {"model.fewshot.names_as_texts": True, "train.max_steps": 10, "train.threads": 2}
    result = classifine.train(_frame(rows), overrides, output_dir=tmp_path, name="names", progress=False)
    fewshot = result.metrics["fewshot"]
    assert fewshot["names_as_texts"]["used"] and fewshot["contrastive_steps"] == 10
    assert fewshot["contrastive_name_pairs"] == 40  # a quarter of 10 steps of 16 pairs
    off = classifine.train(_frame(rows), overrides | {"model.fewshot.name_pairs": 0}, output_dir=tmp_path,
                           name="off", progress=False)  # fmt: skip
    assert off.metrics["fewshot"]["contrastive_name_pairs"] == 0
    assert (
        yaml.safe_load((result.run_dir / "config.yaml").read_text())["model"]["fewshot"]["name_pairs"] == 0.25
    )
