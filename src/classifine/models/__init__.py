"""Pretrained models: presets (``zoo``), building and loading (``build``), LoRA adapters (``lora``)."""

from __future__ import annotations

from classifine.models.zoo import ModelSpec, list_presets, local_causal_lm, resolve

__all__ = ["ModelSpec", "list_presets", "local_causal_lm", "resolve"]
