"""Model presets and name resolution: a preset, a local folder or a hub id -> :class:`ModelSpec`.

Presets ship inside registry packages (see :mod:`classifine.assets`); the two small LLM presets
arrive as GGUF files and are converted once into a cached safetensors folder.

Example:
    >>> spec = resolve("minilm-l6")
    >>> spec.family, spec.lora_targets
    ('bert', ('query', 'value'))
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path

from classifine.artifact import atomic_dir
from classifine.errors import ModelError, nearest

logger = logging.getLogger(__name__)

# Family -> default LoRA target modules (attention projections; the head is trained in full).
LORA_TARGETS: dict[str, tuple[str, ...]] = {
    "bert": ("query", "value"),
    "distilbert": ("q_lin", "v_lin"),
    "albert": ("query", "value"),
    "mpnet": ("q", "k", "v", "o"),
    "roberta": ("query", "value"),
    "xlm-roberta": ("query", "value"),
    "electra": ("query", "value"),
    "deberta-v2": ("query_proj", "value_proj"),
    "t5": ("q", "v"),
    "mt5": ("q", "v"),
    "llama": ("q_proj", "k_proj", "v_proj", "o_proj"),
    "mistral": ("q_proj", "k_proj", "v_proj", "o_proj"),
    "qwen2": ("q_proj", "k_proj", "v_proj", "o_proj"),
    "qwen3": ("q_proj", "k_proj", "v_proj", "o_proj"),
    "gemma": ("q_proj", "k_proj", "v_proj", "o_proj"),
    "gemma2": ("q_proj", "k_proj", "v_proj", "o_proj"),
    "gemma3": ("q_proj", "k_proj", "v_proj", "o_proj"),
}
DECODER_FAMILIES = frozenset({"llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3"})
# config.model_type values that map onto a family of a different name.
_MODEL_TYPE_ALIASES = {"gemma3_text": "gemma3", "xlm_roberta": "xlm-roberta", "umt5": "mt5"}
# Positional-embedding tables of these families reserve two slots for the padding offset.
_POSITION_OFFSET = {"roberta": 2, "xlm-roberta": 2, "mpnet": 2}
# Order matters: "distilbert" and "albert" contain "bert".
_NAME_HINTS = (
    ("distilbert", "distilbert"),
    ("albert", "albert"),
    ("xlm-roberta", "xlm-roberta"),
    ("roberta", "roberta"),
    ("deberta", "deberta-v2"),
    ("electra", "electra"),
    ("mpnet", "mpnet"),
    ("minilm", "bert"),
    ("bert", "bert"),
    ("mt5", "mt5"),
    ("t5", "t5"),
    ("llama", "llama"),
    ("smollm", "llama"),
    ("mistral", "mistral"),
    ("qwen3", "qwen3"),
    ("qwen", "qwen2"),
    ("gemma-3", "gemma3"),
    ("gemma3", "gemma3"),
    ("gemma", "gemma"),
)
ENCODER_MAX_LENGTH = 256
DECODER_MAX_LENGTH = 512


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to build a model for training, before any weights are loaded.

    ``source`` is a local folder or a hub id; for packaged presets it is only known after fetching
    (``resolve(name)`` fetches, ``list_presets()`` does not).
    """

    name: str
    family: str
    source: str
    max_length: int
    packaged: bool = False
    gguf: bool = False
    params: str = ""
    size: str = ""
    length_cap: int | None = None

    @property
    def is_decoder(self) -> bool:
        return self.family in DECODER_FAMILIES

    @property
    def needs_pad_token(self) -> bool:
        """Decoders ship without a pad token; classification needs one (set to EOS)."""
        return self.is_decoder

    @property
    def lora_targets(self) -> tuple[str, ...]:
        """The family's default LoRA target modules."""
        return LORA_TARGETS.get(self.family, ())


def _spec(name: str, family: str, source: str, **kw: object) -> ModelSpec:
    default_len = DECODER_MAX_LENGTH if family in DECODER_FAMILIES else ENCODER_MAX_LENGTH
    return ModelSpec(
        name=name,
        family=family,
        source=source,
        max_length=int(kw.pop("max_length", default_len)),  # type: ignore[call-overload]
        **kw,  # type: ignore[arg-type]
    )


_PRESETS: dict[str, ModelSpec] = {
    s.name: s
    for s in (
        _spec(
            "minilm-l6",
            "bert",
            "sentence-transformers/all-MiniLM-L6-v2",
            packaged=True,
            params="22.7M",
            size="84 MB",
        ),
        _spec(
            "mpnet-base",
            "mpnet",
            "sentence-transformers/all-mpnet-base-v2",
            packaged=True,
            params="110M",
            size="404 MB",
        ),
        _spec(
            "smollm2-135m",
            "llama",
            "HuggingFaceTB/SmolLM2-135M-Instruct",
            packaged=True,
            gguf=True,
            params="135M",
            size="93 MB (GGUF)",
        ),
        _spec(
            "gemma3-270m",
            "gemma3",
            "google/gemma-3-270m",
            packaged=True,
            gguf=True,
            params="268M",
            size="238 MB (GGUF)",
        ),
        _spec("distilbert-base-uncased", "distilbert", "distilbert-base-uncased", params="66M", size="hub"),
        _spec("albert-base-v2", "albert", "albert-base-v2", params="12M", size="hub"),
        _spec("roberta-base", "roberta", "roberta-base", params="125M", size="hub"),
        _spec("flan-t5-base", "t5", "google/flan-t5-base", params="248M", size="hub"),
        _spec("llama-3.2-1b", "llama", "meta-llama/Llama-3.2-1B", params="1.2B", size="hub"),
    )
}


def list_presets() -> list[ModelSpec]:
    """All named presets (packaged first), without fetching anything.

    Example:
        >>> [s.name for s in list_presets()][0]
        'minilm-l6'
    """
    return sorted(_PRESETS.values(), key=lambda s: (not s.packaged, list(_PRESETS).index(s.name)))


def family_of_model_type(model_type: str) -> str:
    """Map ``config.model_type`` to a family name (``gemma3_text`` -> ``gemma3``)."""
    return _MODEL_TYPE_ALIASES.get(model_type, model_type)


def family_from_name(name: str) -> str | None:
    """Guess a family from a hub id such as ``distilbert-base-uncased``; None when no hint matches."""
    low = name.lower().rsplit("/", 1)[-1]
    for hint, family in _NAME_HINTS:
        if hint in low:
            return family
    return None


def _read_config(folder: Path) -> dict[str, object]:
    file = folder / "config.json"
    if not file.is_file():
        raise ModelError(
            "folder has no config.json, so it is not a transformers model folder",
            where=str(folder),
            hint="pass a folder written by save_pretrained, a preset name or a hub id",
        )
    try:
        return json.loads(file.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
    except json.JSONDecodeError as exc:
        raise ModelError(f"config.json is not valid JSON ({exc})", where=str(file)) from None


def max_length_cap(config: dict[str, object], family: str) -> int | None:
    """Longest input the model's position table allows, or None when unbounded (relative positions)."""
    for key in ("max_position_embeddings", "n_positions"):
        value = config.get(key)
        if isinstance(value, int) and value > 0:
            return value - _POSITION_OFFSET.get(family, 0)
    return None


def spec_for_folder(folder: Path, name: str | None = None, **kw: object) -> ModelSpec:
    """Build a spec from a local model folder, reading the family from ``config.model_type``."""
    config = _read_config(folder)
    model_type = str(config.get("model_type", ""))
    family = family_of_model_type(model_type)
    if not model_type:
        raise ModelError("config.json has no model_type", where=str(folder / "config.json"))
    spec = _spec(name or str(folder), family, str(folder), **kw)
    cap = max_length_cap(config, family)
    if cap is not None:
        spec = replace(spec, max_length=min(spec.max_length, cap), length_cap=cap)
    if family not in LORA_TARGETS:
        logger.info("family '%s' has no default LoRA targets; set model.lora.target_modules", family)
    return spec


def resolve(name: str, *, fetch: bool = True) -> ModelSpec:
    """Resolve a preset name, a local folder or a hub id to a :class:`ModelSpec`.

    Packaged presets are fetched (and GGUF presets converted) when ``fetch`` is true. A name that
    is neither a folder, a preset nor a plausible hub id fails with the nearest preset.

    Example:
        >>> resolve("distilbert-base-uncased").lora_targets
        ('q_lin', 'v_lin')
    """
    if name in _PRESETS:
        preset = _PRESETS[name]
        if not preset.packaged or not fetch:
            return preset
        folder = local_causal_lm(name) if preset.gguf else _fetch(name)
        found = spec_for_folder(
            folder, name, packaged=True, gguf=preset.gguf, params=preset.params, size=preset.size
        )
        return replace(found, max_length=min(found.max_length, preset.max_length))
    path = Path(name).expanduser()
    if path.is_dir():
        return spec_for_folder(path.resolve())
    if name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name:
        raise ModelError("model folder not found", where=name, hint="check the path, or use a preset name")
    return _hub_spec(name)


def _hub_spec(name: str) -> ModelSpec:
    close = nearest(name, _PRESETS)
    family = family_from_name(name)
    is_typo = close is not None and (family is None or _similar(name, close) >= 0.85)
    if is_typo and "/" not in name:
        raise ModelError(
            f"unknown model '{name}'",
            hint=f"did you mean '{close}'? Presets: {', '.join(_PRESETS)}; or pass a local folder or hub id",
        )
    if family is None:
        if "/" not in name:
            raise ModelError(
                f"unknown model '{name}'",
                hint=f"presets: {', '.join(_PRESETS)}; or pass a local folder or a hub id 'owner/name'",
            )
        family = "auto"
    return _spec(name, family, name)


def _similar(a: str, b: str) -> float:
    import difflib

    return difflib.SequenceMatcher(None, a, b).ratio()


def _fetch(asset: str) -> Path:
    from classifine import assets

    return Path(assets.fetch(asset))


def _models_cache() -> Path:
    from classifine import assets

    return Path(assets.cache_dir()) / "models"


def local_causal_lm(name: str) -> Path:
    """A transformers folder of a causal LM: a converted GGUF preset (cached) or a local folder.

    The GGUF file is dequantised once (20-60 s) and saved as safetensors under
    ``<cache>/models/<preset>/``; later calls return that folder at once.

    Example:
        >>> (local_causal_lm("smollm2-135m") / "config.json").is_file()
        True
    """
    preset = _PRESETS.get(name)
    if preset is None or not preset.gguf:
        path = Path(name).expanduser()
        if path.is_dir() and (path / "config.json").is_file():
            return path
        gguf_names = [n for n, s in _PRESETS.items() if s.gguf]
        raise ModelError(
            f"'{name}' is neither a GGUF preset nor a local model folder",
            hint=f"use one of {', '.join(gguf_names)} or a folder written by save_pretrained",
        )
    target = _models_cache() / name
    if (target / "config.json").is_file():
        return target
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if not (target / "config.json").is_file():
            _convert_gguf(name, target)
    return target


def _convert_gguf(name: str, target: Path) -> None:
    """Dequantise a GGUF preset into a plain float32 safetensors folder at ``target`` (atomically)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from classifine import assets

    _fetch(name)
    gguf_path = Path(assets.gguf_file(name))
    logger.info("converting %s from GGUF to safetensors (once; about a minute)", name)
    try:
        loaded = AutoModelForCausalLM.from_pretrained(
            gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32
        )
        tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    except Exception as exc:
        raise ModelError(
            f"could not read GGUF file ({type(exc).__name__}: {exc})", where=str(gguf_path)
        ) from exc
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    result = plain.load_state_dict(loaded.state_dict(), strict=False)
    missing = [k for k in result.missing_keys if k != "lm_head.weight"]  # tied to the embeddings
    if missing or result.unexpected_keys:
        logger.warning(
            "GGUF conversion of %s: missing %s, unexpected %s", name, missing, result.unexpected_keys[:5]
        )
    with atomic_dir(target, overwrite=True) as tmp:
        plain.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
