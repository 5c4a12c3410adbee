"""The Artifact: a directory that fully describes a trained classifier.

Layout of ``runs/<name>/``::

    config.yaml        fully resolved config
    metrics.json       headline and per-class metrics
    report.md / report.html / *.png
    model/             weights (safetensors), tokenizer, classifine.json
    versions/          retrained versions and the promotions log (classifine.loop.versions)

``classifine.json`` (:class:`ArtifactMeta`) holds everything a predictor needs and nothing it
must guess. Runs are written into a temporary sibling folder and renamed into place, so an
interrupted run never leaves an artifact that loads but is incomplete.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from classifine.errors import ModelError

META_FILE = "classifine.json"
FORMAT_VERSION = 1


class ParityRecord(BaseModel):
    """How an exported model's predictions compare with torch fp32 (no autocast) on the same texts.

    ``agreement`` is the share of texts with the same decision (the same label; for multi-label
    the same set of labels over their thresholds); ``max_abs_diff`` the largest probability
    difference over every text and label; the accuracies are against the gold labels
    (subset accuracy for multi-label).
    """

    model_config = ConfigDict(extra="allow")

    split: str
    texts: int
    agreement: float
    max_abs_diff: float
    accuracy: float
    torch_accuracy: float
    min_agreement: float
    max_allowed_diff: float | None = None


class ExportRecord(BaseModel):
    """One exported graph beside the weights (``model.onnx`` or ``model.int8.onnx``)."""

    model_config = ConfigDict(extra="allow")

    file: str
    sha256: str
    size_bytes: int
    opset: int
    parity: ParityRecord
    passed: bool
    created: str
    quantization: str | None = None
    versions: dict[str, str] = Field(default_factory=dict)


class ArtifactMeta(BaseModel):
    """Contents of ``model/classifine.json``."""

    model_config = ConfigDict(extra="allow")

    format_version: int = FORMAT_VERSION
    labels: list[str]
    problem_type: Literal["single_label", "multi_label"]
    thresholds: list[float] | None = None
    max_length: int
    base_model: str
    base_model_source: str
    family: str
    method: Literal["full", "lora", "qlora", "fewshot", "head"]
    adapter: bool = False
    precision: str = "fp32"
    versions: dict[str, str] = Field(default_factory=dict)
    data_fingerprint: str = ""
    metrics: dict[str, float] = Field(default_factory=dict)
    clean: dict[str, Any] = Field(default_factory=dict)
    long_text: dict[str, Any] = Field(default_factory=dict)  # how long texts are read (models.windows)
    tfidf: str | None = None  # folder (inside model/) of the run's TF-IDF model
    hybrid_weight: float = Field(0.0, ge=0.0, le=1.0)  # TF-IDF share of served probabilities
    exports: dict[str, ExportRecord] = Field(default_factory=dict)  # ONNX exports (classifine export)
    # fewshot / head runs: how the sentence embedding is pooled and where the linear head is stored
    # ({"pooling": "mean", "normalize": true, "head": "head.safetensors", ...}); None for other methods
    embedding: dict[str, Any] | None = None

    @property
    def multi_label(self) -> bool:
        return self.problem_type == "multi_label"


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape a model's behaviour."""
    import importlib.metadata as md

    out: dict[str, str] = {}
    for pkg in ("classifine", "torch", "transformers", "peft", "tokenizers"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            continue
    return out


def model_dir(path: str | Path) -> Path:
    """Resolve a run folder or its ``model/`` folder to the folder holding ``classifine.json``.

    A run folder with versions (``versions/promotions.jsonl``, see :mod:`classifine.loop.versions`)
    resolves to its SERVING version's ``model/``: this is how ``Classifier.load``, ``classifine serve``
    and the server's reload endpoint follow promotions and rollbacks. A ``model/`` folder or a
    ``versions/N`` folder passed explicitly resolves to itself.

    Example:
        >>> model_dir("runs/trec-6")  # version 2 was promoted
        PosixPath('runs/trec-6/versions/2/model')
    """
    from classifine.loop.versions import serving_dir

    p = Path(path)
    if (p / META_FILE).is_file():
        return p
    serving = serving_dir(p)
    if serving is not None:
        return serving / "model"
    if (p / "model" / META_FILE).is_file():
        return p / "model"
    if not p.exists():
        raise ModelError(
            "artifact not found", where=str(p), hint="pass a run folder written by 'classifine train'"
        )
    raise ModelError(
        f"no {META_FILE} in this folder or its model/ subfolder",
        where=str(p),
        hint="pass a run folder written by 'classifine train' (an interrupted run leaves none)",
    )


def read_meta(path: str | Path) -> ArtifactMeta:
    """Load and check ``classifine.json``; any missing or malformed field is a clear ModelError."""
    folder = model_dir(path)
    file = folder / META_FILE
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{META_FILE} is not valid JSON ({exc})", where=str(file)) from None
    try:
        meta = ArtifactMeta.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise ModelError(
            f"field '{field}': {err['msg']}", where=str(file), hint="retrain or repair the file"
        ) from None
    if meta.format_version > FORMAT_VERSION:
        raise ModelError(
            f"artifact format {meta.format_version} is newer than this classifine reads ({FORMAT_VERSION})",
            where=str(file),
            hint="upgrade classifine",
        )
    return meta


def write_meta(folder: str | Path, meta: ArtifactMeta) -> None:
    """Write ``classifine.json`` into ``folder`` atomically (a reader never sees half a file)."""
    with atomic_file(Path(folder, META_FILE)) as tmp:
        tmp.write_text(json.dumps(meta.model_dump(mode="json"), indent=2), encoding="utf-8")


def _umask_mode(full: int) -> int:
    umask = os.umask(0)
    os.umask(umask)
    return full & ~umask


@contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling path to write; on success it replaces ``path``, on error it is removed.

    Example:
        >>> with atomic_file("runs/x/report.md") as tmp:
        ...     tmp.write_text("# Report")
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    tmp.chmod(_umask_mode(0o666))  # mkstemp makes 0600; the final file gets the usual permissions
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 text atomically (temporary file, then rename); returns the path.

    Example:
        >>> write_text("runs/x/report.md", "# Report")
        PosixPath('runs/x/report.md')
    """
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | Path, payload: Any) -> None:
    """Write JSON atomically (temporary file, then rename)."""
    write_text(path, json.dumps(payload, indent=2, ensure_ascii=False, default=float))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_partials(final: Path) -> None:
    """Delete temporary folders that killed writers of ``final`` left behind (their process is gone)."""
    for stale in final.parent.glob(f".{final.name}.*.partial"):
        pid = stale.name[len(final.name) + 2 :].split(".", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)


def _normal_modes(folder: Path) -> None:
    """Give every file the permissions the umask allows (some writers create files as 0600)."""
    file_mode, dir_mode = _umask_mode(0o666), _umask_mode(0o777)
    for path in folder.rglob("*"):
        path.chmod(dir_mode if path.is_dir() else file_mode)


@contextmanager
def atomic_dir(final: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success it replaces ``final``, on error it is deleted.

    Temporary folders of writers that were killed (``.NAME.PID.*.partial``) are removed first;
    files in the finished folder get the usual permissions.

    Example:
        >>> with atomic_dir("runs/spam") as tmp:
        ...     (tmp / "metrics.json").write_text("{}")
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists() and not overwrite:
        raise ModelError(
            "output folder already exists",
            where=str(final),
            hint="choose output.name or set output.overwrite=true",
        )
    remove_stale_partials(final)
    prefix = f".{final.name}.{os.getpid()}."
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=prefix, suffix=".partial"))
    tmp.chmod(_umask_mode(0o777))  # mkdtemp makes 0700; the final folder gets the usual permissions
    try:
        yield tmp
        _normal_modes(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():
        trash = final.with_name(f".{final.name}.old")
        shutil.rmtree(trash, ignore_errors=True)
        os.replace(final, trash)
        os.replace(tmp, final)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(tmp, final)
