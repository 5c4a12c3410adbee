"""Build models for training, save them as an Artifact's ``model/`` folder and load them back.

Example:
    >>> model, tokenizer, meta = load_trained("runs/sms-spam")
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from classifine.artifact import ArtifactMeta, model_dir, read_meta, write_meta
from classifine.data.labels import LabelSet
from classifine.errors import AssetError, ModelError
from classifine.models.lora import LoraSettings, apply_lora, is_peft
from classifine.models.zoo import DECODER_FAMILIES, ModelSpec, family_of_model_type, resolve

logger = logging.getLogger(__name__)


@contextmanager
def hf_progress(enabled: bool) -> Iterator[None]:
    """Show (or hide) transformers' own progress bars (weight loading, shard writing) inside the block."""
    from transformers.utils import logging as hf_logging

    shown = hf_logging.is_progress_bar_enabled()
    if shown and not enabled:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if shown and not enabled:
            hf_logging.enable_progress_bar()


def _network_failure(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a failure to reach the hub, not a broken model."""
    names = ("ConnectionError", "ConnectTimeout", "ReadTimeout", "OfflineModeIsEnabled")
    seen: BaseException | None = exc
    while seen is not None:
        if type(seen).__name__ in names or "couldn't connect" in str(seen).lower():
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _unreachable(source: str, exc: Exception) -> ModelError:
    """The error for a model that failed to load: the hub only when the hub was the problem."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if Path(source).exists() or not _network_failure(exc):
        return ModelError(
            f"could not load the model ({type(exc).__name__}: {first})",
            where=source,
            hint="check that the folder holds a complete model (config, weights and tokenizer files)",
        )
    return ModelError(
        f"could not load '{source}' from the model hub ({type(exc).__name__}); the hub may be unreachable",
        hint="download the model elsewhere and pass its local folder as model.name, or use a packaged preset",
    )


def load_tokenizer(source: str, decoder: bool) -> Any:
    """Load a tokenizer; decoders get a pad token (eos) and right padding.

    Right padding keeps position ids of real tokens identical whatever the batch, and the
    sequence-classification heads of decoders pick the last non-pad token.

    Example:
        >>> load_tokenizer("runs/x/model", decoder=False)
    """
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
    except Exception as exc:
        raise _unreachable(source, exc) from exc
    if decoder:
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
        tokenizer.padding_side = "right"
    return tokenizer


def load_encoder(source: str) -> Any:
    """A Hugging Face base model (``AutoModel``: token vectors, no head) in float32.

    Example:
        >>> load_encoder("~/.cache/classifine/assets/minilm-l6").config.hidden_size
        384
    """
    import torch
    from transformers import AutoModel

    try:
        return AutoModel.from_pretrained(source, dtype=torch.float32)
    except Exception as exc:
        raise _unreachable(source, exc) from exc


def refine_spec(spec: ModelSpec) -> ModelSpec:
    """Fill in the family of a hub id from its config (needs the hub, or its local cache)."""
    if spec.family != "auto":
        return spec
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(spec.source)
    except Exception as exc:
        raise _unreachable(spec.source, exc) from exc
    family = family_of_model_type(config.model_type)
    return replace(spec, family=family)


def build_for_training(
    spec: ModelSpec,
    label_set: LabelSet,
    method: str = "lora",
    lora: LoraSettings | None = None,
    precision: str = "fp32",
    attention_dropout: float | None = None,
) -> tuple[Any, Any]:
    """A fresh ``*ForSequenceClassification`` model (LoRA-wrapped when asked) and its tokenizer.

    Weights are kept in float32; ``precision`` only selects autocast during training.
    ``attention_dropout`` (when given) replaces the model's dropout on attention probabilities.

    Example:
        >>> model, tok = build_for_training(resolve("minilm-l6"), label_set, "lora")
    """
    if method not in ("full", "lora", "qlora"):
        raise ModelError(f"unknown training method '{method}'", hint="use model.method=full, lora or qlora")
    quantized = _qlora_kwargs() if method == "qlora" else {}  # fails fast without CUDA + bitsandbytes
    spec = refine_spec(spec)
    tokenizer = load_tokenizer(spec.source, spec.needs_pad_token)
    pad = tokenizer.pad_token_id if spec.needs_pad_token else None
    extra = {**quantized, **_attention_dropout_kwargs(spec.source, attention_dropout)}
    model = _load_classifier(spec, label_set, pad, **extra)
    if quantized:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model)
    if method in ("lora", "qlora"):
        settings = lora or LoraSettings(targets=spec.lora_targets)
        model = apply_lora(
            model, settings.targets, r=settings.r, alpha=settings.alpha, dropout=settings.dropout
        )
    return model, tokenizer


# What each family calls its dropout on attention probabilities (bert/roberta/albert/mpnet, then
# distilbert/llama/gemma); T5 shares one dropout_rate for everything and is left alone.
_ATTENTION_DROPOUT_KEYS = ("attention_probs_dropout_prob", "attention_dropout")


def _attention_dropout_kwargs(source: str, value: float | None) -> dict[str, float]:
    """``from_pretrained`` keyword setting the family's attention dropout to ``value`` (none for None)."""
    if value is None:
        return {}
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(source)
    except Exception as exc:
        raise _unreachable(source, exc) from exc
    return {key: value for key in _ATTENTION_DROPOUT_KEYS if hasattr(config, key)}


def _load_classifier(spec: ModelSpec, label_set: LabelSet, pad_token_id: int | None, **extra: Any) -> Any:
    import torch
    from transformers import AutoModelForSequenceClassification

    id2label = dict(enumerate(label_set.names))
    problem = "multi_label_classification" if label_set.multi_label else "single_label_classification"
    kwargs: dict[str, Any] = {
        "num_labels": len(label_set),
        "id2label": id2label,
        "label2id": {n: i for i, n in id2label.items()},
        "problem_type": problem,
        "dtype": torch.float32,
        **extra,
    }
    if pad_token_id is not None:
        kwargs["pad_token_id"] = pad_token_id
    # The fresh head is always missing from the checkpoint: hide the load report that says so.
    tf_logger = logging.getLogger("transformers")
    level = tf_logger.level
    tf_logger.setLevel(logging.ERROR)
    try:
        model = AutoModelForSequenceClassification.from_pretrained(spec.source, **kwargs)
    except ValueError as exc:
        raise ModelError(f"this model cannot classify sequences ({exc})", where=spec.source) from exc
    except Exception as exc:
        raise _unreachable(spec.source, exc) from exc
    finally:
        tf_logger.setLevel(level)
    if pad_token_id is not None:
        model.config.pad_token_id = pad_token_id
    return model


def _qlora_kwargs() -> dict[str, Any]:
    """Loading options for QLoRA: the frozen base in 4-bit NF4 on the GPU, bf16 compute."""
    import importlib.util

    import torch

    if not torch.cuda.is_available() or importlib.util.find_spec("bitsandbytes") is None:
        raise ModelError("QLoRA needs a CUDA GPU and bitsandbytes; use model.method=lora on this machine")
    from transformers import BitsAndBytesConfig

    quant = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )
    return {"quantization_config": quant, "device_map": {"": torch.cuda.current_device()}}


def save_trained(
    model: Any, tokenizer: Any, folder: str | Path, meta: ArtifactMeta, merge: bool = True
) -> None:
    """Write weights (safetensors), tokenizer and ``classifine.json`` into ``folder``.

    A LoRA model is either merged into plain weights (``merge=True``) or saved as an adapter
    with the classification config, to be applied onto ``meta.base_model_source`` at load time.

    Example:
        >>> save_trained(model, tokenizer, "runs/x/model", meta, merge=True)
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if is_peft(model):
        if merge:
            merged = model.merge_and_unload()
            merged.save_pretrained(folder)
            meta = meta.model_copy(update={"adapter": False})
        else:
            model.save_pretrained(folder)
            model.get_base_model().config.save_pretrained(folder)
            meta = meta.model_copy(update={"adapter": True})
    else:
        model.save_pretrained(folder)
        meta = meta.model_copy(update={"adapter": False})
    tokenizer.save_pretrained(folder)
    write_meta(folder, meta)


def _base_source(meta: ArtifactMeta, folder: Path) -> str:
    """The local folder of an adapter's base model. A run folder is untrusted input: loading it
    never downloads anything, so a base that is neither on disk nor a cached preset is an error."""
    source = meta.base_model_source
    if Path(source).is_dir():
        return source
    from classifine import assets

    name = meta.base_model
    try:
        cached = resolve(name, fetch=False).packaged and assets.is_fetched(name)
    except (ModelError, AssetError):
        cached = False
    if cached:  # a packaged preset already in the cache: resolving it reads the cache only
        found = resolve(name).source
        logger.info("base model %s not at %s; using %s", name, source, found)
        return found
    raise ModelError(
        f"the adapter's base model '{meta.base_model}' is not available locally (looked at {source})",
        where=str(folder),
        hint="run 'classifine models fetch NAME' for a packaged preset, or put the base model at that path "
        "(loading a run never downloads)",
    )


def load_trained(path: str | Path) -> tuple[Any, Any, ArtifactMeta]:
    """Load an artifact for inference: ``(model, tokenizer, meta)``, model in eval mode.

    Adapters are applied onto the base model and merged, so inference costs the same as a
    plain model.

    Example:
        >>> model, tokenizer, meta = load_trained("runs/sms-spam")
    """
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    meta = read_meta(path)
    folder = model_dir(path)
    decoder = family_of_model_type(meta.family) in DECODER_FAMILIES
    tokenizer = load_tokenizer(str(folder), decoder)
    try:
        if meta.embedding is not None:  # fewshot / head: encoder + pooling + linear head
            from classifine.models.embedding import load_embedding_classifier

            model = load_embedding_classifier(folder, meta.labels, meta.embedding)
        elif meta.adapter:
            from peft import PeftModel

            config = AutoConfig.from_pretrained(folder, local_files_only=True)
            base = AutoModelForSequenceClassification.from_pretrained(
                _base_source(meta, folder), config=config, dtype=torch.float32, local_files_only=True
            )
            model = PeftModel.from_pretrained(base, folder, local_files_only=True).merge_and_unload()
        else:
            model = AutoModelForSequenceClassification.from_pretrained(
                folder, dtype=torch.float32, local_files_only=True
            )
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(
            f"could not load model weights ({type(exc).__name__}: {exc})", where=str(folder)
        ) from exc
    if len(meta.labels) != model.config.num_labels:
        raise ModelError(
            f"classifine.json lists {len(meta.labels)} labels "
            f"but the model has {model.config.num_labels} outputs",
            where=str(folder),
            hint="the folder was modified after training; retrain",
        )
    model.eval()
    return model, tokenizer, meta
