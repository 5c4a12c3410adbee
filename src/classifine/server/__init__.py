"""The HTTP server: ``create_app(settings)``, its routes, auth, limits, metrics and the feedback store.

Example:
    >>> from classifine.server import ServerSettings, create_app
    >>> app = create_app(ServerSettings.for_runs(["runs/sms-spam-minilm"]))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from classifine.server.app import create_app
    from classifine.server.settings import ServerSettings

# Loaded on first use: the store, monitor and feedback export work without FastAPI installed.
_LAZY = {"create_app": "classifine.server.app", "ServerSettings": "classifine.server.settings"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'classifine.server' has no attribute {name!r}")


__all__ = ["ServerSettings", "create_app"]
