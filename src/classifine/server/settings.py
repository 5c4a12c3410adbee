"""Typed server settings: which runs to serve, batching, limits, auth, CORS and the store.

Example:
    >>> settings = ServerSettings.for_runs(["runs/sms-spam-minilm"], max_batch_size=16)
    >>> settings.models[0].name
    'sms-spam-minilm'
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from classifine.errors import ConfigError

Engine = Literal["auto", "torch", "onnx", "onnx-int8"]
ENGINES: tuple[str, ...] = ("auto", "torch", "onnx", "onnx-int8")
SETTINGS_ENV = "CLASSIFINE_SERVE_SETTINGS"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelSource(_Strict):
    """One served run: the name clients use and the run folder it is loaded from."""

    name: str
    path: Path

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                f"model name {value!r} must start with a letter or digit and use only letters, "
                "digits, '_', '.' and '-' (at most 128)"
            )
        return value


class Limits(_Strict):
    """Request limits: body size (413), texts per request and characters per text (422)."""

    max_body_bytes: int = Field(2_097_152, ge=1024, description="largest request body, in bytes")
    max_texts: int = Field(64, ge=1, description="most texts in one request")
    max_text_chars: int = Field(20_000, ge=1, description="most characters in one text")


class ServerSettings(_Strict):
    """Everything ``create_app`` needs; built by ``classifine serve`` from its options.

    The API key itself is never serialised: ``api_key_env`` names the environment variable it
    is read from (again in each worker process).
    """

    models: list[ModelSource] = Field(min_length=1)
    engine: Engine = "auto"
    max_batch_size: int = Field(32, ge=1, le=4096)
    max_wait_ms: float = Field(5.0, ge=0.0, le=10_000.0)
    forward_workers: int = Field(default_factory=lambda: min(2, cpu_count()), ge=1, le=64)
    api_key_env: str | None = None
    api_key: SecretStr | None = Field(None, exclude=True)
    cors_origins: list[str] = Field(default_factory=list)
    limits: Limits = Field(default_factory=Limits)
    store: str | None = None
    store_enabled: bool = True
    store_texts: bool = False
    store_queue_size: int = Field(10_000, ge=1)
    auto_truncate: bool = False
    shutdown_drain_s: float = Field(30.0, ge=0.0)

    @field_validator("models")
    @classmethod
    def _unique_names(cls, value: list[ModelSource]) -> list[ModelSource]:
        names = [m.name for m in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(
                f"two served runs share the name {', '.join(dupes)}: name them with NAME=RUN_FOLDER"
            )
        return value

    @property
    def default_model(self) -> str:
        return self.models[0].name

    def with_key_from_env(self) -> ServerSettings:
        """A copy holding the API key read from ``api_key_env`` (a clear error when it is unset)."""
        if not self.api_key_env:
            return self
        key = os.environ.get(self.api_key_env, "")
        if not key.strip():
            raise ConfigError(
                f"the environment variable {self.api_key_env} named by --api-key-env is unset or empty",
                hint=f"export {self.api_key_env}=<a long random string> before starting the server",
            )
        return self.model_copy(update={"api_key": SecretStr(key.strip())})

    def to_env(self) -> str:
        """JSON for ``CLASSIFINE_SERVE_SETTINGS`` (worker processes rebuild the settings from it)."""
        return self.model_dump_json()

    @classmethod
    def from_env(cls) -> ServerSettings:
        """Settings from ``CLASSIFINE_SERVE_SETTINGS``, with the key read from ``api_key_env``."""
        raw = os.environ.get(SETTINGS_ENV)
        if not raw:
            raise ConfigError(f"{SETTINGS_ENV} is not set", hint="start the server with 'classifine serve'")
        return cls.model_validate_json(raw).with_key_from_env()

    @classmethod
    def for_runs(cls, runs: Sequence[str | Path], **options: Any) -> ServerSettings:
        """Settings for run folders (``RUN`` or ``NAME=RUN``); names default to the folder names.

        Example:
            >>> ServerSettings.for_runs(["spam=runs/demo"]).models[0].name
            'spam'
        """
        try:
            return cls(models=[model_source(r) for r in runs], **options)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise ConfigError(f"{where}: {err['msg']}", hint="see 'classifine serve --help'") from None


def cpu_count() -> int:
    """CPUs this process may use (its affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def model_source(spec: str | Path) -> ModelSource:
    """``RUN`` or ``NAME=RUN`` -> a ModelSource named after the run folder unless named.

    Example:
        >>> model_source("runs/sms-spam-minilm").name
        'sms-spam-minilm'
    """
    text = str(spec)
    name, sep, path = text.partition("=")
    if sep and name and "/" not in name and not Path(text).exists():
        return ModelSource(name=name, path=Path(path))
    folder = Path(text)
    resolved = folder.resolve()
    base = resolved.parent.name if resolved.name == "model" else resolved.name
    return ModelSource(name=_slug(base), path=folder)


def _slug(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-._")
    return cleaned[:128] or "model"
