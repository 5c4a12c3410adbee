"""One exception tree for everything classifine reports to a user.

Every error carries *what* went wrong, *where* (file, row, column, key) and *how to fix it*.
The CLI maps :class:`ClassifineError` to exit code 2 and a single line on stderr; the server
maps it to a 4xx JSON body.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ClassifineError(Exception):
    """Base class of every error a user can act on.

    Example:
        >>> raise DataError("column 'txt' not found", where="data.csv", hint="use --text-column text")
    """

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None) -> None:
        self.message = message
        self.where = where
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        text = self.message
        if self.where:
            text = f"{self.where}: {text}"
        if self.hint:
            text = f"{text}. {self.hint}" if not text.endswith((".", "!", "?")) else f"{text} {self.hint}"
        return text


class ConfigError(ClassifineError):
    """A configuration file, key or value is wrong."""


class DataError(ClassifineError):
    """Input data is missing, unreadable or unsuitable."""


class AssetError(ClassifineError):
    """A packaged model or dataset could not be fetched, verified or unpacked."""


class ModelError(ClassifineError):
    """A model or artifact could not be built, loaded or used."""


class BackendError(ClassifineError):
    """An LLM backend or remote server failed."""


class ServingError(ClassifineError):
    """The HTTP service received a bad request or could not answer."""


def nearest(name: str, choices: Iterable[str]) -> str | None:
    """Return the closest match to ``name`` among ``choices``, or ``None``.

    Example:
        >>> nearest("lables", ["labels", "text"])
        'labels'
    """
    options = list(choices)
    found = difflib.get_close_matches(name, options, n=1, cutoff=0.5)
    if found:
        return found[0]
    lowered = {o.lower(): o for o in options}
    return lowered.get(name.lower())


def suggestion(name: str, choices: Iterable[str], what: str = "name") -> str:
    """Build a hint such as "did you mean 'labels'? Known: a, b, c".

    Example:
        >>> suggestion("lables", ["labels", "text"], "column")
        "did you mean 'labels'? Known columns: labels, text"
    """
    options = sorted(choices)
    best = nearest(name, options)
    known = ", ".join(options[:30]) + (", ..." if len(options) > 30 else "")
    head = f"did you mean '{best}'? " if best else ""
    return f"{head}Known {what}s: {known}"
