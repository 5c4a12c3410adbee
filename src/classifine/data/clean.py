"""Text normalisers applied before training and prediction (the same function both times).

Example:
    >>> clean = make_cleaner({"lowercase": True, "strip_urls": True})
    >>> clean("See  https://example.com NOW")
    'see now'
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from typing import Any

from classifine.config import CleanConfig
from classifine.data.dataset import Dataset
from classifine.errors import ConfigError

_URL = re.compile(r"(?:https?://|ftp://|www\.)\S+", re.IGNORECASE)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_TAG = re.compile(r"<[^<>]{0,500}>")
_WS = re.compile(r"\s+")

_LEMMA_HINT = (
    "lemmatize needs spaCy's English lemma table: pip install 'classifine[nlp]' spacy-lookups-data, "
    "or set data.clean.lemmatize=false"
)


def _identity(text: str) -> str:
    return text


def _settings(cfg: CleanConfig | Mapping[str, Any] | None) -> CleanConfig:
    if cfg is None:
        return CleanConfig()
    if isinstance(cfg, CleanConfig):
        return cfg
    try:
        return CleanConfig.model_validate(dict(cfg))
    except Exception as exc:  # pydantic's ValidationError, reported as a config problem
        raise ConfigError(
            f"bad data.clean settings: {exc}".splitlines()[0], hint="see docs/configuration.md"
        ) from None


def is_identity(cfg: CleanConfig | Mapping[str, Any] | None) -> bool:
    """True when no normaliser is switched on.

    Example:
        >>> is_identity({"normalize_whitespace": False})
        True
    """
    return not any(_settings(cfg).model_dump().values())


def load_lemma_table() -> Mapping[str, str]:
    """spaCy's English lookup lemma table (from the ``spacy-lookups-data`` package).

    Example:
        >>> load_lemma_table()["mice"]
        'mouse'
    """
    try:
        from spacy.lookups import load_lookups
    except ImportError:
        raise ConfigError("spaCy is not installed", where="data.clean.lemmatize", hint=_LEMMA_HINT) from None
    try:
        lookups = load_lookups("en", ["lemma_lookup"], strict=True)
    except (ValueError, ImportError, OSError):
        raise ConfigError(
            "the English lemma table is not installed", where="data.clean.lemmatize", hint=_LEMMA_HINT
        ) from None
    return dict(lookups.get_table("lemma_lookup").items())


def _spacy_step(lemmatize: bool, stopwords: bool, table: Mapping[str, str] | None) -> Callable[[str], str]:
    """Tokenise with ``spacy.blank("en")`` and lemmatise (lookup) and/or drop stop words."""
    try:
        import spacy
    except ImportError:
        raise ConfigError(
            "spaCy is not installed",
            where="data.clean",
            hint="pip install 'classifine[nlp]', or switch off lemmatize/remove_stopwords",
        ) from None
    nlp = spacy.blank("en")
    lemmas = (table if table is not None else load_lemma_table()) if lemmatize else {}

    def step(text: str) -> str:
        words = []
        for token in nlp.make_doc(text):
            if token.is_space or (stopwords and token.is_stop):
                continue
            word = token.text
            if lemmatize:
                word = lemmas.get(word, lemmas.get(token.lower_, word))
            words.append(word)
        return " ".join(words)

    return step


def make_cleaner(
    cfg: CleanConfig | Mapping[str, Any] | None, *, lemma_table: Mapping[str, str] | None = None
) -> Callable[[str], str]:
    """Build the text normaliser described by ``cfg`` (a ``CleanConfig`` or its dict).

    Steps run in this order: HTML tags and entities, URLs, e-mail addresses, lowercase, whitespace,
    then spaCy tokenisation for lemmas / stop words. With every step off the identity is returned.
    ``lemma_table`` replaces spaCy's lookup table (word -> lemma).

    Example:
        >>> make_cleaner({"strip_html": True})("<b>Hi</b>&amp; bye")
        'Hi & bye'
    """
    s = _settings(cfg)
    if is_identity(s):
        return _identity
    steps: list[Callable[[str], str]] = []
    if s.strip_html:
        steps.append(lambda t: html.unescape(_TAG.sub(" ", t)))
    if s.strip_urls:
        steps.append(lambda t: _URL.sub(" ", t))
    if s.strip_emails:
        steps.append(lambda t: _EMAIL.sub(" ", t))
    if s.lowercase:
        steps.append(str.lower)
    if s.normalize_whitespace:
        steps.append(lambda t: _WS.sub(" ", t).strip())
    if s.lemmatize or s.remove_stopwords:
        steps.append(_spacy_step(s.lemmatize, s.remove_stopwords, lemma_table))

    def clean(text: str) -> str:
        for step in steps:
            text = step(text)
        return text

    return clean


def clean_dataset(ds: Dataset, cleaner: Callable[[str], str]) -> Dataset:
    """``ds`` with ``cleaner`` applied to every text (``ds`` itself when the cleaner changes nothing).

    Example:
        >>> clean_dataset(ds, make_cleaner({"lowercase": True})).texts[:1]
        ['a b']
    """
    if cleaner is _identity:
        return ds
    return Dataset([cleaner(t) for t in ds.texts], ds.labels, ds.label_set, ds.name, dict(ds.meta))
