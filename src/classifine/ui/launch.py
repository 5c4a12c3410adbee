"""Start the web page: Streamlit headless and offline (no telemetry, no browser, no file watcher).

Example:
    >>> streamlit_command("http://127.0.0.1:8000", port=8501)[:4]  # doctest: +ELLIPSIS
    ['...python...', '-m', 'streamlit', 'run']
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from classifine.errors import ConfigError

APP = Path(__file__).resolve().parent / "app.py"
_WILDCARD = {"0.0.0.0", "::", ""}


def check_options(server: str, api_key_env: str | None) -> None:
    """Clear errors before Streamlit starts: Streamlit missing, a malformed URL, an unset key variable."""
    if importlib.util.find_spec("streamlit") is None:
        raise ConfigError(
            "the web page needs streamlit, which is not installed",
            hint="install the ui extra: pip install 'classifine[ui]'",
        )
    if not server.startswith(("http://", "https://")) or len(server.split("://", 1)[1].strip("/")) == 0:
        raise ConfigError(
            f"--server must be the server's http(s) URL, got '{server}'", hint="e.g. http://127.0.0.1:8000"
        )
    if api_key_env is not None and not os.environ.get(api_key_env):
        raise ConfigError(
            f"the environment variable {api_key_env} (--api-key-env) is not set",
            hint=f"export {api_key_env}=<the server's API key>",
        )


def streamlit_command(
    server: str, *, host: str = "127.0.0.1", port: int = 8501, api_key_env: str | None = None
) -> list[str]:
    """The ``streamlit run`` command line of the page (the key stays in the environment, never argv)."""
    # Naming the address keeps Streamlit from looking up this machine's external IP on start.
    shown = "localhost" if host in _WILDCARD else host
    options = {
        "server.headless": "true",
        "server.address": host,
        "server.port": str(port),
        "browser.serverAddress": shown,
        "browser.gatherUsageStats": "false",
        "server.fileWatcherType": "none",
        "server.runOnSave": "false",
        "global.developmentMode": "false",
        "client.showErrorDetails": "none",
        "client.toolbarMode": "minimal",
        "server.maxUploadSize": "50",
    }
    page_args = ["--server", server] + (["--api-key-env", api_key_env] if api_key_env else [])
    flags = [f"--{name}={value}" for name, value in options.items()]
    return [sys.executable, "-m", "streamlit", "run", str(APP), *flags, "--", *page_args]


def run_page(
    server: str, *, host: str = "127.0.0.1", port: int = 8501, api_key_env: str | None = None
) -> None:
    """Replace this process with the Streamlit server of the page (so signals reach it directly).

    Example:
        >>> run_page("http://127.0.0.1:8000", port=8501)  # doctest: +SKIP
    """
    check_options(server, api_key_env)
    command = streamlit_command(server, host=host, port=port, api_key_env=api_key_env)
    env = {**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(command[0], command, env)
