"""New labels for a retrain, and how they merge with a run's training data.

New labels come from the server's feedback store (per text the latest feedback wins) or from
Label Studio annotations (:mod:`classifine.integrations.label_studio`). They merge into the
serving version's training rows: a human label wins a conflict, and the ORIGINAL run's test texts
never enter training (compared by the data layer's :func:`~classifine.data.split.text_key`), so
old and new versions are scored on the same held-out texts.

Example:
    >>> labels = labels_from_feedback("runs/trec-6")
    >>> merged = merge_labels(splits, labels)
    >>> merged.stats.excluded_test
    3
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from classifine.data.dataset import Dataset, DatasetSplits
from classifine.data.split import text_key
from classifine.errors import DataError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class NewLabels:
    """Human labels gathered for a retrain: ``(text, labels)`` rows and where they came from."""

    rows: list[tuple[str, tuple[str, ...]]]
    source: str
    missing_text: int = 0  # feedback rows left out because the store kept no text
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows)


@dataclass(frozen=True)
class MergeStats:
    """What a merge did, for the log and the user."""

    new_labels: int  # distinct new texts offered
    excluded_test: int  # new texts that are held-out test texts: never trained on
    added: int  # new texts that were not in the training rows
    relabelled: int  # training texts whose label the human label replaced
    confirmed: int  # training texts the human label agreed with
    moved_from_validation: int  # validation texts that moved into training with their human label
    train_rows: int  # training rows of the new version

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Merged:
    """The splits a new version trains on (same test split as the original run) and the counts."""

    splits: DatasetSplits
    stats: MergeStats


def _label_tuple(value: object) -> tuple[str, ...]:
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    text = str(value)
    if text.startswith("["):
        return tuple(str(v) for v in json.loads(text))
    return (text,)


def labels_from_feedback(store: str | Path, *, model: str | None = None) -> NewLabels:
    """The store's feedback as new labels (latest feedback per text wins; confirmations count too).

    Texts are in the store only when the server ran with ``--store-texts``: feedback without a
    stored text is counted in ``missing_text`` and left out; none at all is a DataError saying so.

    Example:
        >>> len(labels_from_feedback("runs/trec-6", model="trec-6"))
        200
    """
    from classifine.server.feedback import export_feedback

    with tempfile.TemporaryDirectory(prefix="classifine-feedback-") as tmp:
        out = Path(tmp) / "feedback.jsonl"
        result = export_feedback(store, out, model=model)
        rows = []
        with open(out, encoding="utf-8") as fh:
            for line in fh:
                item = json.loads(line)
                rows.append((str(item["text"]), _label_tuple(item["label"])))
    notes = []
    if result.missing_text:
        notes.append(
            f"{result.missing_text} feedback rows were left out: their text is not stored "
            "(serve with --store-texts)"
        )
    return NewLabels(rows, f"feedback store {store}", result.missing_text, notes)


def labels_from_rows(rows: Iterable[tuple[str, Sequence[str] | str]], source: str) -> NewLabels:
    """New labels from ``(text, label or labels)`` pairs (a later row for the same text wins).

    Example:
        >>> len(labels_from_rows([("hi", "ham"), ("hi", "spam")], "a list"))
        1
    """
    latest: dict[str, tuple[str, tuple[str, ...]]] = {}
    for text, label in rows:
        latest[text_key(text)] = (text, _label_tuple(label))
    return NewLabels(list(latest.values()), source)


def _check_labels(new: NewLabels, names: Sequence[str], multi_label: bool) -> None:
    known = set(names)
    for text, labels in new.rows:
        unknown = [name for name in labels if name not in known]
        if unknown or (not multi_label and len(labels) != 1):
            shown = text if len(text) <= 60 else text[:57] + "..."
            raise DataError(
                f"new label {list(labels)!r} for '{shown}' is not one of the model's labels {list(names)}",
                where=new.source,
                hint="correct the label; a retrain keeps the run's label set",
            )


def merge_labels(splits: DatasetSplits, new: NewLabels, test: Dataset | None = None) -> Merged:
    """Merge ``new`` labels into ``splits``' training rows; ``test`` (default ``splits.test``) stays out.

    A new label for a training text replaces its label (a human label wins); a new label for a
    validation text moves that text into training; a new label for a test text is dropped and
    counted (the held-out texts never enter training). Keys are the data layer's ``text_key``.

    Example:
        >>> merge_labels(splits, labels_from_rows([("new text", "ham")], "x")).stats.added
        1
    """
    test = splits.test if test is None else test
    label_set = splits.label_set
    _check_labels(new, label_set.names, label_set.multi_label)
    held_out = {text_key(t) for t in test.texts}
    incoming: dict[str, tuple[str, tuple[str, ...]]] = {}
    excluded = 0
    for text, labels in new.rows:
        key = text_key(text)
        if key in held_out:
            excluded += 1
            continue
        incoming[key] = (text, labels)
    train_texts, train_labels = [], []
    relabelled = confirmed = 0
    for text, labels in splits.train:
        key = text_key(text)
        if key in incoming:
            relabelled += incoming[key][1] != labels
            confirmed += incoming[key][1] == labels
            continue
        if key in held_out:  # never the case for runs classifine split; kept safe for given splits
            continue
        train_texts.append(text)
        train_labels.append(labels)
    val_keep = [i for i, t in enumerate(splits.validation.texts) if text_key(t) not in incoming]
    moved = len(splits.validation) - len(val_keep)
    before = {text_key(t) for t in splits.train.texts} | {text_key(t) for t in splits.validation.texts}
    added = sum(1 for key in incoming if key not in before)
    for text, labels in incoming.values():
        train_texts.append(text)
        train_labels.append(labels)
    if excluded:
        logger.info("%d new labels are for held-out test texts: left out of training", excluded)
    train = Dataset(train_texts, train_labels, label_set, name=splits.train.name)
    stats = MergeStats(
        new_labels=len(new.rows),
        excluded_test=excluded,
        added=added,
        relabelled=relabelled,
        confirmed=confirmed,
        moved_from_validation=moved,
        train_rows=len(train),
    )
    return Merged(DatasetSplits(train, splits.validation.subset(val_keep), test), stats)
