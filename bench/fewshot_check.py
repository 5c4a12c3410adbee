"""How the check against TF-IDF reads on the few-shot bench's rows (``bench/fewshot.py``'s cells).

A few-shot run that trains its encoder on every labelled row (``model.fewshot.encoder_rows: auto`` with
a validation split too small to choose on) has no held-out score; its check against TF-IDF scores the
model's starting point, the frozen encoder with a head, against TF-IDF out-of-fold. For every cell
(dataset, K, seed) of ``bench/fewshot.py`` this runs ``classifine.train``'s default on the same rows up to
that check (the run stops there: nothing is trained or written) and records it, beside the test-split
accuracy of the served model and of TF-IDF from ``bench/results/fewshot.json``.

Run:  python bench/fewshot_check.py [--out bench/results/fewshot_check.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import classifine

ROOT = Path(__file__).resolve().parents[1]


class _Checked(Exception):
    """Raised once the check has run: the rest of training is not needed."""


def _checks() -> list[dict[str, Any]]:
    import pandas as pd

    from classifine.data.loading import read_dataset
    from classifine.data.sample import k_per_class
    from classifine.training import fewshot

    seen: list[dict[str, Any] | None] = []
    check = fewshot._cross_validated_check

    def stop_after(*args: Any, **kwargs: Any) -> Any:
        seen.append(check(*args, **kwargs))
        raise _Checked

    fewshot._cross_validated_check = stop_after
    bench = json.loads((ROOT / "bench" / "results" / "fewshot.json").read_text(encoding="utf-8"))
    train = {name: read_dataset(f"{name}:train") for name in {cell["dataset"] for cell in bench["cells"]}}
    out = []
    for cell in bench["cells"]:
        name, k, seed = cell["dataset"], cell["k"], cell["seed"]
        rows = k_per_class(train[name], k, seed)
        frame = pd.DataFrame({"text": rows.texts, "label": [r[0] for r in rows.labels]})
        with tempfile.TemporaryDirectory() as tmp, contextlib.suppress(_Checked):
            classifine.train(frame, {"train.threads": 1}, output_dir=tmp, name="x", evaluate=False,
                             progress=False, seed=seed)  # fmt: skip
        accuracy = {"classifine": cell["classifine"]["accuracy"], "tfidf": cell["tfidf"]["accuracy"]}
        record = {"dataset": name, "k": k, "seed": seed, "check": seen[-1], "test_accuracy": accuracy}
        print(json.dumps(record), flush=True)
        out.append(record)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "fewshot_check.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    records = _checks()
    below = [r for r in records if r["check"] and r["check"]["starting_point_worse"]]
    ahead = [r for r in records if r["test_accuracy"]["classifine"] > r["test_accuracy"]["tfidf"]]
    summary = {
        "cells": len(records),
        "starting_point_below_tfidf": len(below),
        "served_above_tfidf_on_test": len(ahead),
        "starting_point_below_but_served_above": len([r for r in below if r in ahead]),
    }
    text = json.dumps({"summary": summary, "checks": records}, indent=1)
    args.out.write_text(text + "\n", encoding="utf-8")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
