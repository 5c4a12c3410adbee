"""Export a run: fp32 ONNX (and int8), each checked for parity with torch and recorded in classifine.json.

Example:
    >>> result = export_run("runs/sms-spam-minilm", int8=True)
    >>> {name: r.passed for name, r in result.records.items()}
    {'onnx': True, 'onnx-int8': True}
"""

from __future__ import annotations

import importlib.metadata as md
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from classifine.artifact import ArtifactMeta, ExportRecord, atomic_file, model_dir, read_meta, write_meta
from classifine.data.dataset import Dataset
from classifine.errors import ModelError
from classifine.export.onnx import export_onnx
from classifine.export.parity import FP32_LIMITS, INT8_LIMITS, cap, compare, parity_data, passed
from classifine.export.quantize import DESCRIPTIONS, SCHEMES, quantize_int8
from classifine.inference.engines import EXPORT_FILES, OnnxEngine, TorchEngine, file_sha256, load_torch_model
from classifine.inference.predictor import Classifier

logger = logging.getLogger(__name__)

Context = tuple[Classifier, np.ndarray, Dataset, str]  # reference, its probs (N, C), texts, split name


@dataclass
class ExportResult:
    """What ``export_run`` wrote: one record per engine, and the folder it wrote into."""

    folder: Path
    family: str
    records: dict[str, ExportRecord]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.records.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "family": self.family,
            "passed": self.passed,
            "exports": {name: r.model_dump(mode="json") for name, r in self.records.items()},
        }


def _versions() -> dict[str, str]:
    out = {}
    for pkg in ("torch", "onnx", "onnxruntime", "onnxscript"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            continue
    return out


def _probs(clf: Classifier, data: Dataset) -> np.ndarray:
    """The network's probabilities (N, C) of already-cleaned texts, windows pooled as the run reads
    them and before any TF-IDF mix (the same for every engine); an engine failure names the family."""
    try:
        return clf.predict_parts(data.texts, cleaned=True)[0]
    except ModelError:
        raise
    except Exception as exc:
        where = "in ONNX Runtime" if clf.engine != "torch" else "in torch (the reference)"
        raise ModelError(
            f"the {clf.engine} {clf.meta.family} model fails {where} "
            f"({type(exc).__name__}: {str(exc).strip()[:300]})",
            hint="serve this model with engine torch" if clf.engine != "torch" else None,
        ) from None


def _check(
    engine: str,
    file: Path,
    final_name: str,
    opset: int,
    context: Context,
    limits: dict[str, float | None],
    scheme: str | None = None,
) -> ExportRecord:
    """Run the graph at ``file`` on the parity texts and build its record (named ``final_name``)."""
    reference, ref_probs, data, split = context
    runner = OnnxEngine(file, name=engine)
    candidate = Classifier(runner, reference.tokenizer, reference.meta, batch_size=reference.batch_size)
    probs = _probs(candidate, data)
    parity = compare(ref_probs, probs, data, reference.meta, split, **limits)
    return ExportRecord(
        file=final_name,
        sha256=file_sha256(file),
        size_bytes=file.stat().st_size,
        opset=opset,
        parity=parity,
        passed=passed(parity),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        quantization=DESCRIPTIONS[scheme] if scheme else None,
        versions=_versions(),
    )


def export_run(
    run: str | Path,
    *,
    int8: bool = False,
    max_texts: int = 1000,
    data: Dataset | None = None,
    batch_size: int = 64,
) -> ExportResult:
    """Export a run's model to ONNX (and int8), check each against torch fp32, record it in classifine.json.

    Files are written next to the weights (``model.onnx``, ``model.int8.onnx``), each through a
    temporary file renamed into place, so a failed export leaves the previous one untouched. An
    export that fails its parity check is kept but recorded as not passed, so ``engine="auto"``
    never picks it. LoRA adapters are merged before export.

    Args:
        run: a run folder written by ``classifine train`` (or its ``model/`` folder).
        int8: also write the dynamically quantised int8 graph.
        max_texts: cap on the parity texts (a seeded stratified subsample of the validation split).
        data: check parity on these (already cleaned, labelled) texts instead of the run's split.
        batch_size: texts per forward pass during the parity check.

    Example:
        >>> export_run("runs/trec-6-minilm", int8=True).passed
        True
    """
    folder = model_dir(run)
    run_dir = folder.parent if folder.name == "model" else folder
    meta = read_meta(folder)
    if data is None:
        data, split = parity_data(run_dir, meta, max_texts)
    else:
        data, split = cap(data, max_texts), "given"
    model, tokenizer, meta = load_torch_model(folder)
    reference = Classifier(TorchEngine(model, bf16=False), tokenizer, meta, batch_size=batch_size)
    logger.info("torch fp32 reference on %d %s texts", len(data), split)
    context = (reference, _probs(reference, data), data, split)

    records: dict[str, ExportRecord] = {}
    target = folder / EXPORT_FILES["onnx"]
    logger.info("exporting %s to %s", meta.family, target.name)
    with atomic_file(target) as tmp:
        used_opset = export_onnx(model, tokenizer, tmp, family=meta.family)
        records["onnx"] = _check("onnx", tmp, target.name, used_opset, context, FP32_LIMITS)
    if int8:
        records["onnx-int8"] = _export_int8(folder, used_opset, context)
    _record(folder, records)
    return ExportResult(folder=folder, family=meta.family, records=records)


def _export_int8(
    folder: Path, opset: int, context: tuple[Classifier, np.ndarray, Dataset, str]
) -> ExportRecord:
    """The fastest int8 scheme that passes parity (dynamic, else block-wise); the last one tried if none."""
    source, target = folder / EXPORT_FILES["onnx"], folder / EXPORT_FILES["onnx-int8"]
    record: ExportRecord | None = None
    for scheme in SCHEMES:
        logger.info("quantising to %s (%s int8)", target.name, scheme)
        with atomic_file(target) as tmp:
            quantize_int8(source, tmp, scheme)
            record = _check("onnx-int8", tmp, target.name, opset, context, INT8_LIMITS, scheme)
        if record.passed:
            break
        logger.info(
            "%s int8 kept %.2f%% of the labels; trying the next scheme", scheme, 100 * record.parity.agreement
        )
    assert record is not None
    return record


def _record(folder: Path, records: dict[str, ExportRecord]) -> None:
    """Merge the new records into classifine.json (re-read: keep every other field as it is now)."""
    current: ArtifactMeta = read_meta(folder)
    exports = {**current.exports, **records}
    write_meta(folder, current.model_copy(update={"exports": exports}))
    for record in records.values():
        if not record.passed:
            logger.info("%s failed its parity check; kept, but engine auto will not use it", record.file)
