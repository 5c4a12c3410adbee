"""Rank few-shot recipes on held-out *training* rows (never the test split): how the defaults were chosen.

For each dataset, K and sampling seed, K rows per class are drawn from the catalog's train split
(``k_per_class``) and 1,500 other rows of that split are held out; ``classifine.train`` runs on the K
rows with the given config overrides (on one thread) and is scored on the held-out rows. One JSON line
per run is appended to ``--out``. ``__setfit_steps: F`` sets ``train.max_steps`` to F x SetFit's pair
count of the rows the run trains on (a tenth is held out for validation), ``__min_steps`` floors it:
this is how recipes were compared before ``model.fewshot.passes: auto`` existed.

Run:  python bench/fewshot_dev.py NAME '{"model.fewshot.loss": "batch_all"}' [--k 8 16] [--seeds 10 11 12 13]
      [--datasets trec-6 movie-reviews] [--out bench/results/fewshot_dev.jsonl]
      python bench/fewshot_dev.py setfit '{}' --setfit ...   (SetFit's defaults on the same rows, one thread)
      python bench/fewshot_dev.py pooled '{}' --interpolate 0.7 0.8 ...   (also WiSE-FT: variant pooled@a0.8)
      python bench/fewshot_dev.py souprun '{}' --soup 100 ...   (also a second seed and the two runs' soup)
Results of the runs behind docs/training.md's table: bench/results/fewshot_dev.jsonl (variant ``pooled``:
the default with the encoder on every labelled row, ``model.fewshot.encoder_rows: auto``; variant ``unique``:
the same with SetFit's pair sampling - every unordered pair once, shuffled within its kind, the smaller kind
oversampled - tried through a temporary switch in ``training.contrastive``, not kept: no gain on ``pooled``;
``setfit``: ``--setfit``; ``cosent``: ``{"model.fewshot.loss": "cosent"}``; ``steps128``:
``{"train.max_steps": 128}``, SetFit's step count at movie-reviews K = 32; ``lr5e5``:
``{"train.learning_rate": 5e-5}``; ``fp32``: ``{"train.precision": "fp32"}``; ``pooled@aA``:
``--interpolate``; ``wiseraw@aA``: the same computation on the texts as read, before ``--interpolate``
cleaned them as the run does; at movie-reviews K = 64 seeds 12-13 it ran inside ``pooled`` runs, so compare
with those); ``pairfix``: the default after ``balanced_pairs`` gave every text one positive and one
negative pair to anchor in turn (before, with an even number of rows, each text anchored a single kind:
half the texts mostly positive pairs, half mostly negative ones); every later variant includes it;
``souppf``: ``--soup 100`` on it; ``steps2x``: it with ``train.max_steps`` twice its count (256 at
movie-reviews K = 32, 1024 at K = 64); ``hyb``: it again, with ``hyb@hW`` from ``--hybrid W``;
``heads``: it again, with ``heads%H`` from ``--heads``; ``sfexact``:
``{"train.precision": "fp32", "train.warmup_ratio": 0.1}``; ``freezeemb``: the embedding layer frozen in
contrastive training (then a flag of this script, now the default ``model.fewshot.freeze_embeddings: true``;
every variant before it trained that layer: add ``"model.fewshot.freeze_embeddings": false`` to their
overrides to reproduce them); ``llrd8``: ``{"train.learning_rate": 3.5e-5, "model.fewshot.freeze_embeddings":
false} --llrd 0.8`` (layer-wise learning-rate decay, the top layer at 3.5e-5 so that the mean rate over the
embedding layer and the six layers is about 2e-5); ``steps2xf``: ``{"train.max_steps": 960}`` on the
default with the embedding layer frozen (twice its steps at trec-6 K = 16); ``ensf``: ``--soup 100`` on
that default (``ensf+ens``: the ensemble of the two runs, their probabilities averaged);
``heads2``: the default again with ``--heads``, which by then also scored heads on other features
(``heads2%frozen``, ``%concat``, ``%layers``); ``selfpairs``: ``--self-pairs`` on the default;
``headc1``: ``{"model.fewshot.head_c": 1}``; seeds 14-17 of ``freezeemb`` and ``setfit`` ran later, with
``'{}'`` (the default by then) and ``--setfit``, and so did ``freezeemb`` at trec-6 and movie-reviews K = 8
(``'{}'`` with ``model.fewshot.pairs: draw`` the default; every row before ``cover`` sampled pairs so: add
``"model.fewshot.pairs": "draw"`` to reproduce one now that the default is ``auto``); ``sfpairs``:
``--setfit-pairs`` (SetFit's own pair list); ``cover``: ``{"model.fewshot.pairs": "cover"}`` (the same
sampling in classifine's code; at trec-50 K = 8, it and ``freezeemb`` add
``"data.min_examples_per_class": 2``, since one class has a single question);
``ng128`` / ``ng128cover``: ``{"model.max_length": 128, "model.long_text": "truncate"}`` without / with
``"model.fewshot.pairs": "cover"`` at 20newsgroups K = 4 (20 classes; ``draw`` was then the default: ``ng128``
is ``draw``), the texts cut to 128 tokens and K = 4 so that a run takes minutes, not hours;
``draw``: ``{"model.fewshot.pairs": "draw"}`` (the sampling before ``auto``), beside ``cover`` at trec-6
K = 32;
``labelrows``: ``--label-rows`` on the default (each class's name as one more text of it, in the rows
given to the run, so the run's TF-IDF model read it too), before ``model.fewshot.names_as_texts`` existed;
``default``: ``'{}'``, the default at the time (at sms-spam K = 8, stopped after two seeds);
``names``: ``{"model.max_length": 128, "model.long_text": "truncate"}`` at 20newsgroups K = 4 with
``model.fewshot.names_as_texts: auto`` (the run adds the names itself), beside ``ng128cover``;
``setfit`` at trec-6 K = 8 ran on the machine ``pairfix`` ran on, so their seconds compare);
``names`` at movie-reviews: ``'{}'``, the default with ``names_as_texts: auto`` before ``name_pairs``
existed (now ``{"model.fewshot.name_pairs": 0}``); ``namepairs25``: a quarter of the pairs anchoring a text
on the label names, run through a temporary flag of this script that built the same pairs as
``model.fewshot.name_pairs: 0.25``, the default since (now ``'{}'``; at 20newsgroups with the ``names``
overrides), side by side with ``names`` on the other core).
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import classifine

ROOT = Path(__file__).resolve().parents[1]


def _overrides(raw: dict[str, Any], rows: Any) -> dict[str, Any]:
    out = dict(raw) | {"train.threads": 1}
    factor, floor = out.pop("__setfit_steps", None), out.pop("__min_steps", 0)
    if factor:
        counts = np.bincount(rows.y())
        n = len(rows) - max(1, len(rows) // 10)  # about what the run trains on
        positive = sum(c * (c - 1) / 2 for c in counts * n / len(rows))
        negative = n * (n - 1) / 2 - positive
        out["train.max_steps"] = max(int(np.ceil(factor * 2 * max(positive, negative) / 16)), floor)
    return out


def main() -> None:
    import pandas as pd

    from classifine.data.loading import read_dataset
    from classifine.data.sample import k_per_class

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("overrides", help="config overrides as a JSON object")
    parser.add_argument("--k", nargs="+", type=int, default=[8, 16])
    parser.add_argument("--seeds", nargs="+", type=int, default=[10, 11, 12, 13])
    parser.add_argument("--datasets", nargs="+", default=["trec-6", "movie-reviews"])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "fewshot_dev.jsonl")
    parser.add_argument(
        "--interpolate",
        nargs="+",
        type=float,
        default=[],
        metavar="ALPHA",
        help="also score the encoder interpolated with the pretrained one, (1 - a) x pretrained + a x "
        "fine-tuned (WiSE-FT), with the head refit on the K rows: one record per a, variant NAME@aA",
    )
    parser.add_argument(
        "--soup",
        type=int,
        default=None,
        metavar="OFFSET",
        help="also train a second run on the same rows with seed + OFFSET and score the uniform soup of the "
        "two encoders (weights averaged, head refit) and the ensemble of the two runs (their probabilities "
        "averaged): variants NAME+seedOFFSET, NAME+soup and NAME+ens",
    )
    parser.add_argument(
        "--hybrid",
        nargs="+",
        type=float,
        default=[],
        metavar="W",
        help="also score the run's model mixed with its own TF-IDF model at TF-IDF share W (the hybrid "
        "at a fixed share): one record per W, variant NAME@hW",
    )
    parser.add_argument(
        "--heads",
        action="store_true",
        help="also score other heads on the run's encoder: its own (variant NAME%%lr, a check), the "
        "nearest class centroid (NAME%%centroid), the logistic regression fit on the K rows' "
        "embeddings plus four dropout-noised copies of them (NAME%%drop4), and heads on the base "
        "encoder's embeddings (NAME%%frozen), on them beside the run's (NAME%%concat) and on the run's "
        "embedding after three layers beside its last (NAME%%layers)",
    )
    parser.add_argument(
        "--llrd",
        type=float,
        default=None,
        metavar="D",
        help="layer-wise learning-rate decay in contrastive training: the top layer trains at "
        "train.learning_rate, each layer below at D times the one above, the embeddings below the "
        "bottom layer",
    )
    parser.add_argument(
        "--self-pairs",
        action="store_true",
        help="pair a text with itself as often as SetFit's sampler does: a positive pair of a text of a "
        "class of c texts becomes the text and itself with probability 2 / (c + 1) (single-label)",
    )
    parser.add_argument(
        "--setfit-pairs",
        action="store_true",
        help="train on SetFit's own pairs (its ContrastiveDataset, oversampling: every pair with "
        "replacement once in a fixed shuffle, the positive ones cycled to as many as the negative ones), "
        "cut or cycled to the run's pair count (single-label)",
    )
    parser.add_argument(
        "--label-rows",
        action="store_true",
        help="add each label's name as one more labelled text of its class (e.g. 'positive' labelled "
        "positive) to the rows classifine trains on",
    )
    parser.add_argument(
        "--setfit",
        action="store_true",
        help="run SetFit's defaults on the rows instead",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if args.llrd is not None:
        _layer_decay(args.llrd)
    if args.self_pairs:
        _self_pairs()
    if args.setfit_pairs:
        _setfit_pairs()
    raw = json.loads(args.overrides)
    if args.self_pairs or args.setfit_pairs:  # both replace the draw sampler: make it the one that runs
        raw = {"model.fewshot.pairs": "draw"} | raw
    if args.label_rows:  # the rows carry the names: the run adds none of its own
        raw = {"model.fewshot.names_as_texts": False} | raw
    for name in args.datasets:
        full = read_dataset(f"{name}:train")
        for k in args.k:
            for seed in args.seeds:
                rows = k_per_class(full, k, seed)
                used = set(rows.texts)
                rest = [i for i, t in enumerate(full.texts) if t not in used]
                pick = np.random.default_rng(seed).choice(rest, size=min(1500, len(rest)), replace=False)
                held = pd.DataFrame(
                    {"text": [full.texts[i] for i in pick], "label": [full.labels[i][0] for i in pick]}
                )
                frame = pd.DataFrame({"text": rows.texts, "label": [r[0] for r in rows.labels]})
                if args.label_rows:
                    names = sorted(set(frame["label"]))
                    frame = pd.concat(
                        [frame, pd.DataFrame({"text": names, "label": names})], ignore_index=True
                    )
                if args.setfit:
                    _record(args, name, k, seed, _setfit(rows, full.subset(pick), seed))
                    continue
                with tempfile.TemporaryDirectory() as tmp:
                    start = time.perf_counter()
                    result = classifine.train(
                        frame, _overrides(raw, rows), test=held, output_dir=tmp, name="x",
                        evaluate=False, progress=False, seed=seed,
                    )  # fmt: skip
                    seconds = time.perf_counter() - start
                    probs, accuracy = _scored(result.classifier, held)
                    for alpha, acc in _interpolated(
                        Path(tmp) / "x", rows, held, args.interpolate, seed
                    ).items():
                        _record(args, name, k, seed, {"acc": acc, "sec": None, "steps": None}, f"@a{alpha:g}")
                    for w, acc in _hybrid(result.classifier, held, args.hybrid).items():
                        _record(args, name, k, seed, {"acc": acc, "sec": None, "steps": None}, f"@h{w:g}")
                    if args.heads:
                        for head, acc in _heads(Path(tmp) / "x", rows, held, seed).items():
                            _record(args, name, k, seed, {"acc": acc, "sec": None, "steps": None}, f"%{head}")
                    if args.soup is not None:
                        _soup(args, (name, k, seed), frame, held, rows, raw, Path(tmp), probs)
                steps = result.metrics["train"].get("global_step")
                _record(args, name, k, seed, {"acc": accuracy, "sec": round(seconds, 1), "steps": steps})


def _setfit(rows: Any, held: Any, seed: int) -> dict[str, Any]:
    """SetFit 1.2's defaults (``bench/fewshot.py``'s run) on ``rows``, scored on ``held``."""
    import torch
    from fewshot import run_setfit

    from classifine.assets import fetch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        result = run_setfit(rows, held, seed, fetch("minilm-l6"), Path(tmp))
    return {"acc": result["accuracy"], "sec": result["train_seconds"], "steps": None}


def _indices(labels: Any, values: Any) -> np.ndarray:
    """Each of ``values`` (label names) as its index in ``labels``."""
    labels = list(labels)
    return np.array([labels.index(v) for v in values])


def _scored(classifier: Any, held: Any) -> tuple[np.ndarray, float]:
    """The classifier's probabilities on the held-out texts (single-label), and its accuracy there."""
    probs = classifier.predict_proba(list(held["text"]))
    return probs, float(np.mean(probs.argmax(1) == _indices(classifier.labels, held["label"])))


def _self_pairs() -> None:
    """Make contrastive training's positive pairs include a text paired with itself, as SetFit's do.

    SetFit's sampler takes every pair with replacement: a class of c texts gives c self-pairs beside its
    c (c - 1) / 2 others, so a share 2 / (c + 1) of its positive pairs (the two sides embedded under other
    dropout masks). Each positive pair of ``balanced_pairs`` becomes a self-pair with that probability;
    every other pair stays as it was.
    """
    import random

    from classifine.training import contrastive

    original = contrastive.balanced_pairs

    def patched(texts: Any, y: np.ndarray, n_pairs: int, *, multi_label: bool, seed: int) -> dict[str, Any]:
        out = original(texts, y, n_pairs, multi_label=multi_label, seed=seed)
        rng, index = random.Random(seed + 1), {t: i for i, t in enumerate(texts)}
        counts = np.bincount(np.asarray(y, dtype=np.int64))
        for k, (anchor, label) in enumerate(zip(out["sentence1"], out["label"], strict=True)):
            if label == 1.0 and rng.random() < 2 / (counts[y[index[anchor]]] + 1):
                out["sentence2"][k] = anchor
        return out

    contrastive.balanced_pairs = patched


def _setfit_pairs() -> None:
    """Make contrastive training use SetFit 1.2's pair list instead of ``balanced_pairs``' draws.

    SetFit pairs every text with every text (itself included) once, in a fixed shuffle, and cycles the
    positive pairs in that order until there are as many as negative ones: each negative pair appears
    exactly once and each positive pair equally often. ``balanced_pairs`` draws partners at random per
    anchor instead. The list is cut or cycled to the run's ``n_pairs``. It replaces the ``draw``
    sampler, so the script sets ``model.fewshot.pairs: draw`` with it (the default when its rows ran).
    """
    import itertools

    from setfit.sampler import ContrastiveDataset

    from classifine.training import contrastive

    def patched(texts: Any, y: np.ndarray, n_pairs: int, *, multi_label: bool, seed: int) -> dict[str, Any]:
        data = ContrastiveDataset(list(texts), [int(v) for v in y], multilabel=False)
        pairs = list(itertools.islice(itertools.cycle(list(data)), n_pairs))
        return {
            "sentence1": [p["sentence_1"] for p in pairs],
            "sentence2": [p["sentence_2"] for p in pairs],
            "label": [p["label"] for p in pairs],
        }

    contrastive.balanced_pairs = patched


def _layer_decay(decay: float) -> None:
    """Make the contrastive trainer's AdamW give each encoder layer ``decay`` x the rate of the one above."""
    import re

    import torch
    from sentence_transformers import SentenceTransformerTrainer

    def create_optimizer(self: Any, model: Any = None) -> Any:
        model = self.model if model is None else model
        layers = model[0].auto_model.config.num_hidden_layers
        decaying = set(self.get_decay_parameter_names(model))
        groups: dict[tuple[int, bool], list[Any]] = {}
        for name, p in model.named_parameters():
            if not p.requires_grad:
                continue
            found = re.search(r"\.layer\.(\d+)\.", name)
            depth = layers - 1 - int(found.group(1)) if found else (layers if "embeddings" in name else 0)
            groups.setdefault((depth, name in decaying), []).append(p)
        self.optimizer = torch.optim.AdamW(
            [
                {
                    "params": params,
                    "lr": self.args.learning_rate * decay**depth,
                    "weight_decay": self.args.weight_decay if decays else 0.0,
                }
                for (depth, decays), params in groups.items()
            ],
            lr=self.args.learning_rate,
        )
        return self.optimizer

    SentenceTransformerTrainer.create_optimizer = create_optimizer


def _hybrid(classifier: Any, held: Any, weights: list[float]) -> dict[float, float]:
    """Held-out accuracy of the run's model mixed with the run's TF-IDF model at each TF-IDF share."""
    if not weights or classifier.tfidf is None:
        return {}
    from classifine.data.clean import make_cleaner
    from classifine.models.tfidf import mix_probabilities

    clean = make_cleaner(classifier.meta.clean)
    texts = [clean(t) for t in held["text"]]
    p_model, _ = classifier.predict_parts(texts, cleaned=True)
    p_tfidf = classifier.tfidf.predict_proba(texts)
    y = _indices(classifier.labels, held["label"])
    return {w: float(np.mean(mix_probabilities(p_model, p_tfidf, w).argmax(1) == y)) for w in weights}


class _RunParts:
    """What re-scoring a run's encoder needs: meta, tokenizer, encoder, the rows as the run reads them.

    Texts are cleaned as the run cleans them; ``y`` / ``held_y`` are label indices; the head is refit as
    the run fits it (logistic regression at the run's C).
    """

    def __init__(self, run: Path, rows: Any, held: Any) -> None:
        from classifine.artifact import model_dir, read_meta
        from classifine.data.clean import make_cleaner
        from classifine.models.build import load_encoder, load_tokenizer
        from classifine.models.windows import LongText

        folder = model_dir(run)
        self.meta = meta = read_meta(folder)
        clean = make_cleaner(meta.clean)
        self.texts, self.held_texts = [clean(t) for t in rows.texts], [clean(t) for t in held["text"]]
        self.labels = list(meta.labels)
        self.encoder, self.tokenizer = load_encoder(str(folder)), load_tokenizer(str(folder), False)
        self.y = _indices(self.labels, [r[0] for r in rows.labels])
        self.held_y = _indices(self.labels, held["label"])
        self.bf16, self.length, self.c = (
            meta.precision == "bf16",
            meta.max_length,
            float(meta.embedding["head_c"]),
        )
        self.long_text = LongText(**meta.long_text) if meta.long_text else LongText()

    def model(self, encoder: Any = None) -> Any:
        """The run's encoder (or ``encoder``) as the served module (head not fit)."""
        from classifine.models.embedding import EmbeddingClassifier

        encoder = self.encoder if encoder is None else encoder
        n, d = len(self.labels), encoder.config.hidden_size
        return EmbeddingClassifier(encoder, np.zeros((n, d)), np.zeros(n), labels=self.labels).eval()

    def embed(self, model: Any, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        from classifine.training.head import embed_texts

        return embed_texts(model, self.tokenizer, texts, self.length, self.long_text, bf16=self.bf16)

    def fit(self, x: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        from classifine.training.head import fit_head

        return fit_head(x, y, multi_label=False, n_labels=len(self.labels), c=self.c, seed=seed)

    def accuracy(self, hx: np.ndarray, hdoc: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> float:
        from classifine.training.head import head_probabilities

        probs = head_probabilities(hx, hdoc, len(self.held_y), weight, bias, False)
        return float(np.mean(probs.argmax(1) == self.held_y))


def _heads(run: Path, rows: Any, held: Any, seed: int, copies: int = 4) -> dict[str, float]:
    """Held-out accuracy of other heads on the run's encoder (single-label)."""
    import torch

    parts = _RunParts(run, rows, held)
    model = parts.model()
    x, doc = parts.embed(model, parts.texts)
    hx, hdoc = parts.embed(model, parts.held_texts)
    out = {"lr": parts.accuracy(hx, hdoc, *parts.fit(x, parts.y[doc], seed))}
    y = parts.y[doc]
    centroids = np.stack([x[y == k].mean(0) for k in range(len(parts.labels))])
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    out["centroid"] = parts.accuracy(hx, hdoc, centroids * 20.0, np.zeros(len(parts.labels)))
    noisy = [x]
    model.train()  # dropout on: each pass embeds the rows with other units dropped
    model.eval = lambda: model  # embed_texts switches to eval mode; keep dropout for these passes
    for r in range(copies):
        torch.manual_seed(seed * 100 + r)
        noisy.append(parts.embed(model, parts.texts)[0])
    del model.eval
    model.eval()
    out[f"drop{copies}"] = parts.accuracy(
        hx, hdoc, *parts.fit(np.concatenate(noisy), np.tile(y, copies + 1), seed)
    )
    out |= _feature_heads(parts, model, (x, doc), (hx, hdoc), seed)
    return out


def _feature_heads(
    parts: _RunParts,
    model: Any,
    train: tuple[np.ndarray, np.ndarray],
    held: tuple[np.ndarray, np.ndarray],
    seed: int,
) -> dict[str, float]:
    """Heads on other features: the base encoder's embeddings (``frozen``), them beside the run's
    (``concat``), and the run's encoder's embedding after its first three layers beside its last
    (``layers``). Each part is unit length, the head as the run fits it."""
    import copy

    from classifine.models.build import load_encoder

    (x, doc), (hx, hdoc) = train, held
    base = parts.model(load_encoder(parts.meta.base_model_source))
    bx, _ = parts.embed(base, parts.texts)
    bhx, _ = parts.embed(base, parts.held_texts)
    shallow_encoder = copy.deepcopy(parts.encoder)
    shallow_encoder.encoder.layer = shallow_encoder.encoder.layer[:3]
    shallow = parts.model(shallow_encoder)
    sx, _ = parts.embed(shallow, parts.texts)
    shx, _ = parts.embed(shallow, parts.held_texts)
    y = parts.y[doc]
    out = {"frozen": parts.accuracy(bhx, hdoc, *parts.fit(bx, y, seed))}
    for name, (a, b) in {"concat": ((x, bx), (hx, bhx)), "layers": ((x, sx), (hx, shx))}.items():
        joined, held_joined = np.hstack(a) / np.sqrt(2), np.hstack(b) / np.sqrt(2)
        out[name] = parts.accuracy(held_joined, hdoc, *parts.fit(joined, y, seed))
    return out


def _soup(
    args: argparse.Namespace,
    cell: tuple[str, int, int],
    frame: Any,
    held: Any,
    rows: Any,
    raw: Any,
    tmp: Path,
    first: np.ndarray,
) -> None:
    """Train the same rows again at ``seed + args.soup``; score that run, the two runs' weight average and
    their ensemble (``first``: the run at ``seed``'s held-out probabilities, averaged with this run's)."""
    seed = cell[2]
    start = time.perf_counter()
    other = classifine.train(
        frame, _overrides(raw, rows), test=held, output_dir=tmp, name="y",
        evaluate=False, progress=False, seed=seed + args.soup,
    )  # fmt: skip
    seconds = round(time.perf_counter() - start, 1)
    probs, accuracy = _scored(other.classifier, held)
    _record(args, *cell, {"acc": accuracy, "sec": seconds, "steps": None}, f"+seed{args.soup}")
    soup = _interpolated(tmp / "x", rows, held, [0.5], seed, other=tmp / "y")[0.5]
    _record(args, *cell, {"acc": soup, "sec": None, "steps": None}, "+soup")
    y = _indices(other.classifier.labels, held["label"])  # both runs sort the same labels
    ensemble = float(np.mean((first + probs).argmax(1) == y))
    _record(args, *cell, {"acc": ensemble, "sec": None, "steps": None}, "+ens")


def _interpolated(
    run: Path, rows: Any, held: Any, alphas: list[float], seed: int, other: Path | None = None
) -> dict[float, float]:
    """Held-out accuracy of the run's encoder interpolated with its base model at each alpha.

    ``other``: a second run of the same config, whose encoder takes the base model's place (alpha 0.5:
    the two runs' uniform soup).

    The head is refit as the run fits it (logistic regression at the run's C on every K row's
    embedding, texts cleaned as the run cleans them); alpha 1 is the run's own model, and scores within a
    text or two of the run's own predictions (trec-6 K = 8 seed 10: 1,154 vs 1,155 of 1,500; the run embeds
    in other batches, and bf16 sums depend on them: the likely cause, not checked).
    """
    if not alphas:
        return {}
    from classifine.artifact import model_dir
    from classifine.models.build import load_encoder

    parts = _RunParts(run, rows, held)
    base = load_encoder(str(model_dir(other)) if other else parts.meta.base_model_source).state_dict()
    fine = {n: v.clone() for n, v in parts.encoder.state_dict().items()}
    out = {}
    for a in alphas:
        parts.encoder.load_state_dict(
            {n: (1 - a) * base[n] + a * v if v.is_floating_point() else v for n, v in fine.items()}
        )
        model = parts.model()
        x, doc = parts.embed(model, parts.texts)
        hx, hdoc = parts.embed(model, parts.held_texts)
        out[a] = parts.accuracy(hx, hdoc, *parts.fit(x, parts.y[doc], seed))
    return out


def _record(
    args: argparse.Namespace, dataset: str, k: int, seed: int, scores: dict[str, Any], suffix: str = ""
) -> None:
    record = {"variant": args.name + suffix, "dataset": dataset, "k": k, "seed": seed} | scores
    print(json.dumps(record), flush=True)
    with args.out.open("a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
