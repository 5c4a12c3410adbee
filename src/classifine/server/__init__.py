"""The HTTP server: ``create_app(settings)``, its routes, auth, limits, metrics and the feedback store.

Example:
    >>> from classifine.server import ServerSettings, create_app
    >>> app = create_app(ServerSettings.for_runs(["runs/sms-spam-minilm"]))
"""

from __future__ import annotations

from classifine.server.app import create_app
from classifine.server.settings import ServerSettings

__all__ = ["ServerSettings", "create_app"]
