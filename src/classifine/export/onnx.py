"""Write a trained classifier as an fp32 ONNX graph.

The graph maps token arrays to logits with dynamic batch and sequence axes. It is traced with
``torch.export`` (``torch.onnx.export(..., dynamo=True)``): the legacy TorchScript exporter runs
without error on these models but gives wrong logits.

Example:
    >>> opset = export_onnx(model, tokenizer, Path("model/model.onnx"), family="bert")
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from classifine.errors import ModelError
from classifine.inference.engines import MODEL_INPUTS

logger = logging.getLogger(__name__)

#: Tracing texts: two of different lengths, so the batch is > 1 and padded (no axis specialises to 1).
SAMPLE_TEXTS = ("the movie was good and the plot was fine", "bad")
#: One ONNX file holds at most 2 GB (protobuf); larger models would need external weight files.
MAX_BYTES = 2_000_000_000


def _logits_module(model: Any, names: tuple[str, ...]) -> Any:
    """A module whose forward takes the token arrays by name and returns only the logits (B, C)."""
    import torch

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            token_type_ids: torch.Tensor | None = None,
        ) -> torch.Tensor:
            inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
            if token_type_ids is not None:
                inputs["token_type_ids"] = token_type_ids
            return self.model(**inputs).logits  # (B, C)

    if names[:2] != MODEL_INPUTS[:2]:
        raise ModelError(f"the tokenizer produces {list(names)}; export needs input_ids and attention_mask")
    return Logits().eval()


def input_names(tokenizer: Any) -> tuple[str, ...]:
    """The model inputs this tokenizer produces, in the graph's order."""
    produced = set(getattr(tokenizer, "model_input_names", ("input_ids", "attention_mask")))
    return tuple(n for n in MODEL_INPUTS if n in produced)


class _RootChatter(logging.Filter):
    """Drops what the quantiser logs on the root logger: per-node notes and advice, not errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            return True
        return record.levelno >= logging.WARNING and "pre-processing" not in record.getMessage()


_CHATTY = ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript", "onnx_ir", "onnxruntime")


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Hide exporter and quantiser progress lines, per-node notes and warnings about torchvision."""
    loggers = [logging.getLogger(n) for n in _CHATTY]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    root, chatter = logging.getLogger(), _RootChatter()
    root.addFilter(chatter)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.removeFilter(chatter)
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def reason(exc: BaseException) -> str:
    """The useful line of an exporter error (its summary, without the advice to file a bug)."""
    text = str(exc)
    marker = "## Exception summary"
    if marker in text:
        text = text[text.index(marker) + len(marker) :]
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return (lines[0] if lines else type(exc).__name__)[:400]


def _trace(model: Any, tokenizer: Any, path: Path) -> int:
    import torch

    names = input_names(tokenizer)
    enc = tokenizer(list(SAMPLE_TEXTS), padding=True, return_tensors="pt")
    kwargs = {n: enc[n] for n in names}
    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    with quiet(), torch.inference_mode(False), torch.no_grad():
        program = torch.onnx.export(
            _logits_module(model, names),
            (),
            kwargs=kwargs,
            dynamo=True,
            dynamic_shapes=axes,
            input_names=list(names),
            output_names=["logits"],
            external_data=False,
            optimize=True,
            verbose=False,
        )
        if program is None:
            raise ModelError("the exporter returned no program")
        program.save(str(path), external_data=False)
    import onnx

    graph = onnx.load(str(path), load_external_data=False)
    return next(o.version for o in graph.opset_import if o.domain in ("", "ai.onnx"))


def export_onnx(model: Any, tokenizer: Any, path: Path, *, family: str) -> int:
    """Write ``model`` (a ``*ForSequenceClassification``) as an fp32 ONNX graph; return its opset.

    The model is traced with eager attention (the reference implementation every family has;
    T5's SDPA path does not convert), then with its own attention implementation if eager fails.
    The model is left as it was. Any failure is a ModelError naming the family and the reason.

    Example:
        >>> export_onnx(model, tokenizer, Path("model.onnx"), family="bert")
        20
    """
    size = sum(p.numel() * p.element_size() for p in model.parameters())
    if size > MAX_BYTES:
        raise ModelError(
            f"the {family} model has {size / 1e9:.1f} GB of weights; one ONNX file holds at most 2 GB",
            hint="use engine torch for models this large",
        )
    current = getattr(model.config, "_attn_implementation", None)
    settable = hasattr(model, "set_attn_implementation") and current is not None
    attempts = list(dict.fromkeys(["eager", current])) if settable else [current]
    first: BaseException | None = None
    for attention in attempts:
        try:
            if settable:
                model.set_attn_implementation(attention)
            return _trace(model, tokenizer, path)
        except Exception as exc:
            first = first or exc
            logger.info("%s: tracing with %s attention failed (%s)", family, attention, reason(exc))
        finally:
            if settable:
                model.set_attn_implementation(current)
    assert first is not None
    raise _export_error(family, first) from None


def _export_error(family: str, exc: BaseException) -> ModelError:
    if isinstance(exc, ModelError):
        return ModelError(f"the {family} model cannot be exported to ONNX: {exc.message}", hint=exc.hint)
    return ModelError(
        f"the {family} model cannot be exported to ONNX ({type(exc).__name__}: {reason(exc)})",
        hint="serve it with engine torch; 'classifine export -v' shows the exporter's log",
    )
