"""Upload a run to a Hugging Face Hub model repository through ``huggingface_hub``.

The repository gets the run's ``model/`` folder at its root (so ``pipeline("text-classification",
model=REPO)`` loads it), a generated ``README.md`` model card, and the run's ``metrics.json`` and
``config.yaml``, all in one commit.

Example:
    >>> push_run("runs/sms-spam-minilm", "acme/sms-spam", private=True).files[:2]  # doctest: +SKIP
    ['README.md', 'classifine.json']
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from classifine.artifact import model_dir, read_meta
from classifine.errors import BackendError, ConfigError
from classifine.hub.card import model_card

logger = logging.getLogger(__name__)

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")
_SKIPPED = {".cache", "__pycache__"}


@dataclass(frozen=True)
class PushResult:
    """Where the run went: the repository URL, the commit and the files in it."""

    repo_id: str
    url: str
    commit: str
    files: list[str] = field(default_factory=list)


def _operations(run: Path, card: str) -> list[Any]:
    from huggingface_hub import CommitOperationAdd

    folder = model_dir(run)
    ops = [CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=card.encode("utf-8"))]
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = file.relative_to(folder)
        if not _SKIPPED & set(rel.parts) and rel.name != "README.md":
            ops.append(CommitOperationAdd(path_in_repo=rel.as_posix(), path_or_fileobj=str(file)))
    for name in ("metrics.json", "config.yaml"):
        if (folder.parent / name).is_file():
            ops.append(
                CommitOperationAdd(
                    path_in_repo=f"classifine/{name}", path_or_fileobj=str(folder.parent / name)
                )
            )
    return ops


def push_run(
    run: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    token: str | None = None,
    endpoint: str | None = None,
    revision: str | None = None,
    commit_message: str | None = None,
) -> PushResult:
    """Create (or reuse) the model repository ``repo_id`` and upload the run to it in one commit.

    Args:
        run: the run folder (or its ``model/`` folder).
        repo_id: ``ORG/NAME`` on the Hub.
        private: create the repository private (an existing repository keeps its visibility).
        token: a Hub token with write access (default: huggingface_hub's own, e.g. ``HF_TOKEN``).
        endpoint: the Hub's URL (default: huggingface_hub's, e.g. ``HF_ENDPOINT``).
        revision: the branch to commit to (default: the main branch).
        commit_message: the commit's summary.

    Example:
        >>> push_run("runs/sms-spam-minilm", "acme/sms-spam").commit  # doctest: +SKIP
        '4f1c...'
    """
    if not _REPO_ID.match(repo_id):
        raise ConfigError(f"'{repo_id}' is not a repository id", hint="use ORG/NAME, e.g. acme/sms-spam")
    folder = model_dir(run)
    meta = read_meta(folder)  # a clear error for anything that is not a finished run
    card = model_card(folder, repo_id)
    try:
        from huggingface_hub import HfApi
    except ImportError as exc:
        raise ConfigError(
            "pushing needs huggingface_hub, which is not installed", hint="pip install 'classifine[hub]'"
        ) from exc
    api = HfApi(endpoint=endpoint, token=token)
    ops = _operations(folder, card)
    message = commit_message or f"classifine: {meta.base_model} {meta.method}, {len(meta.labels)} labels"
    try:
        url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        info = api.create_commit(repo_id, ops, commit_message=message, revision=revision, repo_type="model")
    except Exception as exc:  # huggingface_hub raises HTTP, connection and validation errors alike
        raise _explain(exc, repo_id, api.endpoint) from exc
    logger.info("pushed %s to %s (commit %s)", folder.parent, repo_id, info.oid)
    return PushResult(repo_id, str(url), str(info.oid), [op.path_in_repo for op in ops])


def _explain(exc: Exception, repo_id: str, endpoint: str) -> BackendError:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status in (401, 403):
        return BackendError(
            f"the Hub refused the upload to {repo_id} (HTTP {status})",
            where=endpoint,
            hint="use a token with write access to the repository (HF_TOKEN or huggingface-cli login)",
        )
    what = f"HTTP {status}" if status else type(exc).__name__
    return BackendError(
        f"could not upload to {repo_id} ({what}: {str(exc).splitlines()[0][:200] if str(exc) else ''})",
        where=endpoint,
        hint="check the network and the endpoint (HF_ENDPOINT); nothing was committed",
    )
