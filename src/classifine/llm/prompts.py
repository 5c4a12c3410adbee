"""Prompts for zero- and few-shot labelling: templates, label descriptions and example selection.

A template is text with named fields ``{labels}``, ``{descriptions}``, ``{examples}`` and
``{text}`` (``str.format`` style), or ``$labels``/``$text``... (``string.Template`` style when the
template has no brace fields). ``{text}`` is required; an unknown field is a ConfigError.

Example:
    >>> builder = PromptBuilder(labels=("ham", "spam"))
    >>> print(builder.build("WIN a prize now").user)  # doctest: +ELLIPSIS
    Classify the text into exactly one of these labels: ham, spam...
"""

from __future__ import annotations

import hashlib
import json
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from classifine.config import read_yaml_mapping
from classifine.data.dataset import Dataset
from classifine.errors import ConfigError, suggestion
from classifine.llm.backends import LLMRequest

FIELDS = ("labels", "descriptions", "examples", "text")

DEFAULT_SYSTEM = "You are a careful text classifier. Answer with the label only."
DEFAULT_TEMPLATE = """Classify the text into exactly one of these labels: {labels}.
{descriptions}
{examples}
Text: {text}
Label:"""
DEFAULT_MULTI_TEMPLATE = """Tag the text with every label that applies, from: {labels}.
Answer with the labels separated by commas.
{descriptions}
{examples}
Text: {text}
Labels:"""

Example = tuple[str, tuple[str, ...]]


def template_fields(template: str) -> tuple[str, list[str]]:
    """The template style ("format" or "dollar") and the field names it uses.

    Example:
        >>> template_fields("Text: {text}")
        ('format', ['text'])
    """
    try:
        names = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise ConfigError(f"template is not valid: {exc}", hint="write literal braces as {{ and }}") from None
    if names:
        return "format", names
    ids = string.Template(template).get_identifiers()
    return "dollar", ids


def check_template(template: str, where: str = "template") -> str:
    """Validate a template's fields; returns its style. Raises ConfigError naming the bad field.

    Example:
        >>> check_template("Labels: {labels}\\nText: {text}")
        'format'
    """
    style, names = template_fields(template)
    for name in names:
        if name not in FIELDS:
            raise ConfigError(
                f"unknown template field '{name}'", where=where, hint=suggestion(name, FIELDS, "field")
            )
    if "text" not in names:
        raise ConfigError(
            "template has no {text} field", where=where, hint="add {text} where the text to label goes"
        )
    return style


def load_template(path: str | Path) -> str:
    """Read a template file and validate it."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError("template file not found", where=str(p), hint="check the --template path")
    text = p.read_text(encoding="utf-8")
    check_template(text, where=str(p))
    return text


def load_descriptions(path: str | Path, labels: Sequence[str]) -> dict[str, str]:
    """Read ``{label: description}`` from a YAML or JSON file; unknown labels are a ConfigError.

    Example:
        >>> load_descriptions("labels.yaml", ["ham", "spam"])
        {'spam': 'unsolicited advertising or scams'}
    """
    p = Path(path)
    data = read_yaml_mapping(p, "descriptions", "the --descriptions path")
    for key in data:
        if str(key) not in labels:
            raise ConfigError(
                f"description for unknown label '{key}'",
                where=str(p),
                hint=suggestion(str(key), labels, "label"),
            )
    return {str(k): str(v).strip() for k, v in data.items()}


def load_synonyms(path: str | Path, labels: Sequence[str]) -> dict[str, str]:
    """Read ``{answer word: label}`` from YAML/JSON; a target that is not a label is a ConfigError.

    Example:
        >>> load_synonyms("synonyms.yaml", ["ham", "spam"])
        {'junk': 'spam', 'legit': 'ham'}
    """
    p = Path(path)
    data = read_yaml_mapping(p, "synonyms", "the --synonyms path")
    out = {str(k): str(v) for k, v in data.items()}
    for word, label in out.items():
        if label not in labels:
            raise ConfigError(
                f"synonym '{word}' maps to unknown label '{label}'",
                where=str(p),
                hint=suggestion(label, labels, "label"),
            )
    return out


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


@dataclass
class FewShotPool:
    """Examples from a TRAIN split: ``k`` per class, seeded, or the ``k`` most similar per class.

    Example:
        >>> pool = FewShotPool(splits.train, k=2, seed=42)
        >>> len(pool.for_texts(["hello"])[0])  # 2 per class
        4
    """

    train: Dataset
    k: int
    seed: int = 42
    similar: bool = False
    _fixed: list[Example] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ConfigError(f"few-shot k must be >= 1, got {self.k}")
        if len(self.train) == 0:
            raise ConfigError("few-shot needs training examples, but the train split is empty")
        rng = np.random.default_rng(self.seed)
        self._by_class: dict[str, list[int]] = {}
        for name in self.train.label_set.names:
            rows = [
                i for i, labs in enumerate(self.train.labels) if name in labs and self.train.texts[i].strip()
            ]
            self._by_class[name] = rows
        if not self.similar:
            chosen: list[int] = []
            for rows in self._by_class.values():
                picks = rng.permutation(len(rows))[: self.k]
                chosen.extend(rows[int(j)] for j in picks if rows[int(j)] not in chosen)
            order = rng.permutation(len(chosen))
            self._fixed = [
                (self.train.texts[chosen[int(j)]], self.train.labels[chosen[int(j)]]) for j in order
            ]
        else:
            from sklearn.feature_extraction.text import TfidfVectorizer

            self._vectorizer = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=1)
            self._matrix = self._vectorizer.fit_transform(self.train.texts)

    def signature(self) -> str:
        """Identity of the example selection (for cache keys)."""
        return f"k={self.k};seed={self.seed};similar={self.similar};train={self.train.fingerprint()}"

    def for_texts(self, texts: Sequence[str]) -> list[list[Example]]:
        """Examples for each text (the same fixed list unless ``similar``)."""
        if not self.similar:
            return [self._fixed for _ in texts]
        sims = (self._vectorizer.transform(list(texts)) @ self._matrix.T).toarray()  # (N, T)
        out: list[list[Example]] = []
        for row in sims:
            picked: list[tuple[float, int]] = []
            for rows in self._by_class.values():
                if not rows:
                    continue
                idx = np.asarray(rows)
                best = idx[np.argsort(-row[idx], kind="stable")[: self.k]]
                picked.extend((float(row[i]), int(i)) for i in best if all(int(i) != j for _, j in picked))
            # Most similar last, nearest to the text being labelled.
            picked.sort(key=lambda p: (p[0], p[1]))
            out.append([(self.train.texts[i], self.train.labels[i]) for _, i in picked])
        return out


@dataclass
class PromptBuilder:
    """Renders one :class:`LLMRequest` per text from a template, descriptions and examples."""

    labels: tuple[str, ...]
    multi_label: bool = False
    template: str | None = None
    system: str = DEFAULT_SYSTEM
    descriptions: Mapping[str, str] | None = None
    pool: FewShotPool | None = None
    max_example_chars: int = 300
    max_text_chars: int = 2000

    def __post_init__(self) -> None:
        if len(self.labels) < 2:
            raise ConfigError(f"labelling needs at least 2 labels, got {list(self.labels)}")
        if self.template is None:
            self.template = DEFAULT_MULTI_TEMPLATE if self.multi_label else DEFAULT_TEMPLATE
        self._style = check_template(self.template)

    @property
    def kind(self) -> str:
        return "few-shot" if self.pool is not None else "zero-shot"

    def template_hash(self) -> str:
        """sha256 over the template, system prompt, labels and descriptions."""
        blob = json.dumps(
            [self.template, self.system, list(self.labels), dict(self.descriptions or {}), self.multi_label],
            ensure_ascii=False,
        )
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]

    def _examples_block(self, examples: list[Example]) -> str:
        if not examples:
            return ""
        head = "Examples:\n" if examples else ""
        lines = [
            f"Text: {_clip(t, self.max_example_chars)}\nLabel: {', '.join(labs)}" for t, labs in examples
        ]
        return head + "\n\n".join(lines) + "\n"

    def _descriptions_block(self) -> str:
        if not self.descriptions:
            return ""
        lines = [f"- {name}: {self.descriptions[name]}" for name in self.labels if name in self.descriptions]
        return "Label meanings:\n" + "\n".join(lines) + "\n"

    def render(self, text: str, examples: list[Example] | None = None) -> str:
        """The user message for one text."""
        values = {
            "labels": ", ".join(self.labels),
            "descriptions": self._descriptions_block(),
            "examples": self._examples_block(examples or []),
            "text": _clip(text, self.max_text_chars),
        }
        template = self.template or ""
        if self._style == "format":
            out = template.format(**values)
        else:
            out = string.Template(template).safe_substitute(values)
        return re.sub(r"\n{3,}", "\n\n", out).strip()

    def build_all(self, texts: Sequence[str]) -> list[LLMRequest]:
        """One request per text (few-shot examples chosen per text when the pool is ``similar``)."""
        shots = self.pool.for_texts(texts) if self.pool is not None else [[] for _ in texts]
        return [
            LLMRequest(
                system=self.system,
                user=self.render(text, ex),
                labels=self.labels,
                multi_label=self.multi_label,
            )
            for text, ex in zip(texts, shots, strict=True)
        ]

    def build(self, text: str) -> LLMRequest:
        """One request for one text."""
        return self.build_all([text])[0]
