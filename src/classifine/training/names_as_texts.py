"""Label names as texts: each class's name as one more labelled text of it, for few-shot training.

With a few labels per class, the names often say what a class is ("positive", "spam",
"comp.graphics"), and a sentence encoder reads them as it reads the texts. ``model.fewshot.names_as_texts``
adds each class's name as one more training text of that class, so the contrastive pairs and the head
read it beside the labelled rows. ``auto`` (the default) adds them when the names are informative: the
pretrained encoder, giving each labelled text the class whose name it is nearest to, agrees with the
labels at Cohen's kappa of at least :data:`MIN_KAPPA` ("fair agreement" on the usual scale), and beyond
chance (one-sided, 5 %: with a few texts a kappa of 0.25 is luck as often as not). Codes such as trec-6's
``ABBR``, ``DESC``, ``ENTY`` agree little (kappa about 0.1) and are left out, and so are letters such as
"a" and "b" (kappa 0.03 on 64 reviews). Single-label data only: multi-label data keeps its rows (not
measured).

Example:
    >>> decision = decide_names_as_texts("auto", rows, encoder, tokenizer, plan)
    >>> decision.used, round(decision.kappa, 2)
    (True, 0.28)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from classifine.data.dataset import Dataset

if TYPE_CHECKING:
    from classifine.training.plan import TrainPlan

logger = logging.getLogger(__name__)

MIN_KAPPA = 0.2  # Cohen's kappa of the names' nearest-name labelling against the labels
MIN_Z = 1.645  # and that kappa beyond chance: one-sided 5 % (its standard error under independence)


@dataclass(frozen=True)
class NamesAsTexts:
    """Whether a run trains on its label names as texts, and why."""

    setting: str  # the config's: auto | true | false
    used: bool
    kappa: float | None  # the names' agreement with the labels (None: not measured)
    reason: str

    def describe(self) -> dict[str, object]:
        kappa = None if self.kappa is None else round(self.kappa, 4)
        return {"setting": self.setting, "used": self.used, "kappa": kappa, "reason": self.reason}

    def added_to(self, rows: Dataset) -> Dataset:
        """``rows``, then (when used) each class's name as one more text of that class."""
        if not self.used:
            return rows
        names = list(rows.label_set.names)
        return rows.concat(Dataset(names, [(name,) for name in names], rows.label_set))


def name_agreement(encoder: Any, tokenizer: Any, rows: Dataset, plan: TrainPlan) -> tuple[float, float]:
    """Cohen's kappa between ``rows``' labels and the class whose name each text's embedding is nearest
    to, and its z score against chance (kappa over its standard error under independence, Cohen 1960).

    ``encoder``: an embedding model (``embed(**inputs)``), the pretrained one the run starts from; a
    long text is scored by its windows' mean similarity to each name.
    """
    from classifine.models.windows import pool
    from classifine.training.head import embed_texts

    names = list(rows.label_set.names)

    def embed(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        return embed_texts(encoder, tokenizer, texts, plan.max_length, plan.long_text,
                           batch_size=plan.eval_batch_size, bf16=plan.precision == "bf16")  # fmt: skip

    x, doc = embed(rows.texts)
    e, name_doc = embed(names)
    by_name = pool(e, name_doc, len(names), False)  # a name of several windows: their mean
    nearest = pool(x @ by_name.T, doc, len(rows), False).argmax(axis=1)  # a text's windows: mean similarity
    return kappa_and_z(rows.y(), nearest, len(names))


def kappa_and_z(y: np.ndarray, predicted: np.ndarray, n_classes: int) -> tuple[float, float]:
    """Cohen's kappa of ``predicted`` against ``y`` and its z score under independence.

    Example:
        >>> kappa_and_z(np.array([0, 0, 1, 1]), np.array([0, 0, 1, 1]), 2)  # chance agreement 0.5
        (1.0, 2.0)
    """
    n = len(y)
    observed = float(np.mean(y == predicted))
    expected = float(np.bincount(y, minlength=n_classes) @ np.bincount(predicted, minlength=n_classes)) / n**2
    if expected >= 1.0:  # one class everywhere: no agreement beyond chance to measure
        return 0.0, 0.0
    kappa = (observed - expected) / (1 - expected)
    return kappa, float(kappa / np.sqrt(expected / (n * (1 - expected))))


def decide_names_as_texts(
    setting: str | bool, rows: Dataset, encoder: Any, tokenizer: Any, plan: TrainPlan
) -> NamesAsTexts:
    """Whether the run trains on its label names as texts (``model.fewshot.names_as_texts``), and why."""
    shown = str(setting).lower()
    if setting is False:
        return NamesAsTexts(shown, False, None, "names_as_texts: false")
    if setting is True:
        return NamesAsTexts(shown, True, None, "names_as_texts: true")
    if rows.multi_label:
        return NamesAsTexts(shown, False, None, "multi-label data (auto adds names to single-label data)")
    kappa, z = name_agreement(encoder, tokenizer, rows, plan)
    used = kappa >= MIN_KAPPA and z >= MIN_Z
    verdict = "added as texts" if used else "left out"
    reason = (
        f"the label names, nearest-name on the {len(rows)} labelled texts, agree with the labels at "
        f"kappa {kappa:.2f}, z {z:.2f} (added at kappa >= {MIN_KAPPA} and z >= {MIN_Z}): {verdict}"
    )
    logger.info("label names as texts: %s", reason)
    return NamesAsTexts(shown, used, kappa, reason)
