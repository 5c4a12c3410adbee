"""Tolerant parsing of an LLM's free-text answer into labels from a closed set.

Accepts what small models actually write: any case, stray whitespace, quotes and punctuation,
JSON (``{"label": "spam"}``), ``Label: spam``, a label followed by an explanation, an
unambiguous prefix (``pos`` -> ``positive``), synonyms from an optional map, and comma/semicolon
lists for multi-label tasks. Anything else is an abstention (``None``), never an exception.

Example:
    >>> parse_answer('Label: "Spam".', ["ham", "spam"])
    ('spam',)
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

_ANSWER_KEYS = ("label", "labels", "category", "categories", "class", "answer", "prediction", "sentiment")
_PREFIX = re.compile(
    r"(?:^|\n)\s*\**\s*(?:label|labels|answer|category|class|sentiment)s?\s*\**\s*[:=-]\s*", re.I
)
_LIST_SPLIT = re.compile(r"\s*(?:[,;|/\n]|\band\b)\s*")
_STRIP = " \t\r\n\"'`*.,;:!?()[]{}<>"
_WORD = re.compile(r"[\w]+(?:[:\-_/][\w]+)*", re.UNICODE)


def normalise(text: str) -> str:
    """Case-fold, unify separators and strip quotes/punctuation at the ends.

    Example:
        >>> normalise('  "Not_Spam!" ')
        'not spam'
    """
    text = text.strip().strip(_STRIP).casefold()
    text = re.sub(r"[_\s]+", " ", text)
    return text.strip()


def _lookup(labels: Sequence[str], synonyms: Mapping[str, str] | None) -> dict[str, str]:
    table = {normalise(syn): label for syn, label in (synonyms or {}).items() if label in labels}
    table.update({normalise(label): label for label in labels})
    return table


def _match_one(candidate: str, table: dict[str, str]) -> str | None:
    """One label for one answer fragment: exact, then label-as-prefix, then unique prefix of a label."""
    norm = normalise(candidate)
    if not norm:
        return None
    if norm in table:
        return table[norm]
    # The answer starts with a label and then explains itself ("spam. it offers a prize").
    starts = [k for k in table if norm.startswith(k) and not norm[len(k) : len(k) + 1].isalnum()]
    if starts:
        return table[max(starts, key=len)]
    # A truncated label ("pos" for "positive"): only when unambiguous.
    if len(norm) >= 2:
        owners = {table[k] for k in table if k.startswith(norm)}
        if len(owners) == 1:
            return owners.pop()
    return None


def _from_json(raw: str) -> Any:
    """The answer value of the first JSON object (or a bare JSON string/list) in ``raw``, else None."""
    text = raw.strip()
    fence = re.search(r"```(?:json)?\s*(.*?)```", text, re.S)
    if fence:
        text = fence.group(1).strip()
    candidates = [text]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for cand in candidates:
        try:
            value = json.loads(cand)
        except (json.JSONDecodeError, ValueError):
            continue
        if isinstance(value, dict):
            lowered = {str(k).casefold(): v for k, v in value.items()}
            for key in _ANSWER_KEYS:
                if key in lowered:
                    return lowered[key]
            if len(value) == 1:
                return next(iter(value.values()))
            return None
        if isinstance(value, str | list):
            return value
    return None


def _mentioned(text: str, table: dict[str, str]) -> list[str]:
    """Labels that occur as whole words in ``text``, in order of first mention."""
    norm = " " + re.sub(r"[^\w:\-/ ]+", " ", normalise(text)) + " "
    norm = re.sub(r"\s+", " ", norm)
    hits: list[tuple[int, int, str]] = []
    for key, label in table.items():
        pos = norm.find(f" {key} ")
        while pos >= 0:
            hits.append((pos, pos + len(key) + 1, label))
            pos = norm.find(f" {key} ", pos + 1)
    # A label inside a longer mentioned label ("spam" in "not spam") is not a mention of its own.
    hits = [h for h in hits if not any(o[0] <= h[0] and h[1] <= o[1] and o != h for o in hits)]
    seen: list[str] = []
    for _, _, label in sorted(hits):
        if label not in seen:
            seen.append(label)
    return seen


def _fragments(value: Any, multi_label: bool) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    text = str(value)
    return [p for p in _LIST_SPLIT.split(text) if p.strip()] if multi_label else [text]


def parse_answer(
    raw: str,
    labels: Sequence[str],
    *,
    multi_label: bool = False,
    synonyms: Mapping[str, str] | None = None,
) -> tuple[str, ...] | None:
    """Labels named by ``raw``; ``None`` when the answer names none (or, single-label, is ambiguous).

    Example:
        >>> parse_answer('{"labels": ["Crude", "acq"]}', ["acq", "crude", "earn"], multi_label=True)
        ('acq', 'crude')
    """
    if not raw or not raw.strip():
        return None
    table = _lookup(labels, synonyms)
    value = _from_json(raw)
    if value is None:
        found = list(_PREFIX.finditer(raw))
        value = raw[found[0].end() :] if found else raw
        if not multi_label:
            value = str(value).strip().split("\n", 1)[0]
    matched: list[str] = []
    for frag in _fragments(value, multi_label):
        label = _match_one(frag, table)
        if label is not None and label not in matched:
            matched.append(label)
    if not matched:
        mentioned = _mentioned(
            str(value) if not isinstance(value, list) else " ".join(map(str, value)), table
        )
        if multi_label or len(mentioned) == 1:
            matched = mentioned
    if not matched:
        return None
    if not multi_label:
        return (matched[0],)
    order = {label: i for i, label in enumerate(labels)}
    return tuple(sorted(matched, key=order.__getitem__))
