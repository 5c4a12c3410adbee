"""Engines: what maps a batch of token arrays to logits (torch, ONNX Runtime fp32, ONNX Runtime int8).

An engine only runs the network. Tokenising, softmax/sigmoid, thresholds, top-k and ordering stay
in :class:`~classifine.inference.predictor.Classifier`, once for every engine.

Example:
    >>> engine = OnnxEngine("runs/sms-spam-minilm/model/model.onnx")
    >>> engine.logits({"input_ids": ids, "attention_mask": mask}).shape  # (B, C)
    (2, 2)
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from classifine.errors import ConfigError, ModelError, suggestion
from classifine.models.windows import INPUT_KEYS

if TYPE_CHECKING:
    from classifine.artifact import ArtifactMeta, ExportRecord

logger = logging.getLogger(__name__)

#: Engine names a user may ask for; ``auto`` picks the fastest one that passed its parity check.
ENGINES = ("auto", "torch", "onnx", "onnx-int8")
#: The file each ONNX engine reads, next to the weights in the run's ``model/`` folder.
EXPORT_FILES = {"onnx": "model.onnx", "onnx-int8": "model.int8.onnx"}
#: The inputs a sequence classifier takes, in the order exported graphs declare them.
MODEL_INPUTS = INPUT_KEYS


class Engine(Protocol):
    """Maps token arrays (each ``(B, T)`` int64) to float32 logits ``(B, C)``."""

    name: str
    input_names: tuple[str, ...]

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray: ...


class TorchEngine:
    """The trained PyTorch model; bf16 autocast on CPU when ``bf16`` (as recorded at training time).

    Example:
        >>> TorchEngine(model, bf16=False).logits(batch)  # (B, C) float32
    """

    name: str = "torch"

    def __init__(self, model: Any, *, device: str = "cpu", bf16: bool = False) -> None:
        self.model = model.to(device).eval()
        self.device = device
        self.bf16 = bf16 and device == "cpu"
        self.input_names: tuple[str, ...] = MODEL_INPUTS

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        import torch

        inputs = {k: torch.from_numpy(v).to(self.device) for k, v in batch.items() if k in MODEL_INPUTS}
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            out = self.model(**inputs).logits.float()  # (B, C)
        return out.cpu().numpy()


def require_onnxruntime() -> Any:
    """The ``onnxruntime`` module, or a ModelError naming the extra that installs it."""
    try:
        import onnxruntime
    except ImportError:
        raise ModelError(
            "the ONNX engines need onnxruntime, which is not installed",
            hint="pip install 'classifine[onnx]', or use engine='torch'",
        ) from None
    return onnxruntime


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, not the machine's core count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class OnnxEngine:
    """An exported graph run by ONNX Runtime on the CPU.

    Intra-op threads follow the usable CPU count, inter-op is 1 (one graph at a time), all graph
    optimisations are on, and idle threads do not spin: cores here are shared with other work.

    Example:
        >>> OnnxEngine("runs/x/model/model.int8.onnx", name="onnx-int8").input_names
        ('input_ids', 'attention_mask', 'token_type_ids')
    """

    def __init__(self, path: str | Path, *, name: str = "onnx", threads: int | None = None) -> None:
        ort = require_onnxruntime()

        self.name = name
        self.path = Path(path)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or usable_cpus()
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.log_severity_level = 3  # errors only: ORT's warnings speak of its internals
        try:
            self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ModelError(
                f"ONNX Runtime could not load the export ({type(exc).__name__}: {_first_line(exc)})",
                where=str(self.path),
                hint="re-run 'classifine export RUN'",
            ) from None
        self.input_names: tuple[str, ...] = tuple(i.name for i in self.session.get_inputs())
        self.output_names = [self.session.get_outputs()[0].name]

    @property
    def num_labels(self) -> int | None:
        """The class count fixed in the graph's output shape, if it is fixed."""
        dim = self.session.get_outputs()[0].shape[-1]
        return dim if isinstance(dim, int) else None

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        missing = [k for k in self.input_names if k not in batch]
        if missing:
            raise ModelError(
                f"the ONNX graph needs inputs {missing} that the tokenizer does not produce",
                where=str(self.path),
                hint="re-run 'classifine export RUN'",
            )
        feed = {k: np.ascontiguousarray(batch[k], dtype=np.int64) for k in self.input_names}
        out = self.session.run(self.output_names, feed)[0]
        return np.asarray(out, dtype=np.float32)  # (B, C)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_engine_name(engine: str) -> str:
    """Return ``engine`` if it is a known engine name, else a ConfigError naming the nearest one."""
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine '{engine}'", hint=suggestion(engine, ENGINES, "engine"))
    return engine


def _export_problem(folder: Path, record: ExportRecord | None, engine: str) -> str | None:
    """Why the ``engine`` export of this artifact cannot be used, or None when it can."""
    file = folder / EXPORT_FILES[engine]
    if record is None or not file.is_file():
        return f"no {engine} export ({EXPORT_FILES[engine]})"
    if file_sha256(file) != record.sha256:
        return f"{EXPORT_FILES[engine]} differs from the export recorded in classifine.json"
    return None


def select_engine(requested: str, folder: Path, meta: ArtifactMeta, device: str = "cpu") -> str:
    """Resolve ``requested`` to the engine to load for this artifact.

    ``auto`` takes ``onnx-int8`` when it exists and passed its parity check, then ``onnx``, else
    ``torch`` (always ``torch`` off the CPU). An explicit ONNX engine must exist; one that failed
    parity is loaded with a warning, since the user asked for it.

    Example:
        >>> select_engine("auto", Path("runs/x/model"), read_meta("runs/x"))
        'onnx-int8'
    """
    check_engine_name(requested)
    if requested == "auto":
        if device != "cpu":
            return "torch"
        for name in ("onnx-int8", "onnx"):
            record = meta.exports.get(name)
            if record is not None and record.passed and _export_problem(folder, record, name) is None:
                return name
        return "torch"
    if requested == "torch":
        return requested
    if device != "cpu":
        raise ModelError(
            f"the {requested} engine runs on the CPU only, not on '{device}'", hint="use device='cpu'"
        )
    record = meta.exports.get(requested)
    problem = _export_problem(folder, record, requested)
    if problem is not None:
        flag = " --int8" if requested == "onnx-int8" else ""
        raise ModelError(problem, where=str(folder), hint=f"run 'classifine export RUN{flag}' first")
    if record is not None and not record.passed:
        logger.warning("the %s export failed its parity check; predictions may differ from torch", requested)
    return requested


def load_torch_model(folder: Path) -> tuple[Any, Any, ArtifactMeta]:
    """``(model, tokenizer, meta)`` with LoRA adapters merged, without the per-weight progress bar.

    Example:
        >>> model, tokenizer, meta = load_torch_model(Path("runs/x/model"))
    """
    from transformers.utils import logging as hf_logging

    from classifine.models.build import load_trained

    # A small model loads in well under a second; the bar would only clutter CLI and server output.
    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        return load_trained(folder)
    finally:
        if shown:
            hf_logging.enable_progress_bar()


def load_engine(
    name: str, folder: Path, *, device: str = "cpu", threads: int | None = None
) -> tuple[Engine, Any, ArtifactMeta]:
    """``(engine, tokenizer, meta)`` for an engine chosen by :func:`select_engine`.

    ONNX engines never load the PyTorch weights, only the tokenizer and the graph.

    Example:
        >>> engine, tokenizer, meta = load_engine("onnx", Path("runs/x/model"))
    """
    from classifine.artifact import read_meta

    if name == "torch":
        model, tokenizer, meta = load_torch_model(folder)
        return TorchEngine(model, device=device, bf16=meta.precision == "bf16"), tokenizer, meta
    from classifine.models.build import load_tokenizer
    from classifine.models.zoo import DECODER_FAMILIES, family_of_model_type

    meta = read_meta(folder)
    tokenizer = load_tokenizer(str(folder), family_of_model_type(meta.family) in DECODER_FAMILIES)
    return OnnxEngine(folder / EXPORT_FILES[name], name=name, threads=threads), tokenizer, meta
