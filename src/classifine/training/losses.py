"""Loss functions for ``Trainer(compute_loss_func=...)``: weighted cross-entropy, BCE and focal.

Example:
    >>> loss_fn = make_loss("cross_entropy", multi_label=False, weights=None)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from classifine.data.dataset import Dataset
from classifine.errors import ConfigError, suggestion

LossFn = Callable[..., Any]


def class_weights(train: Dataset, setting: str | Mapping[str, float]) -> np.ndarray | None:
    """Per-class weights from ``train.class_weights``: "none", "auto" or an explicit {label: weight}.

    Single-label "auto": inverse class frequency, normalised to mean 1. Multi-label "auto": the
    BCE ``pos_weight`` negatives/positives per label, clipped to [1, 100]. Labels missing from an
    explicit map weigh 1.

    Example:
        >>> class_weights(ds, {"spam": 3.0}).tolist()
        [1.0, 3.0]
    """
    names = train.label_set.names
    if isinstance(setting, Mapping):
        unknown = [k for k in setting if k not in names]
        if unknown:
            raise ConfigError(
                f"train.class_weights names unknown label '{unknown[0]}'",
                hint=suggestion(unknown[0], names, "label"),
            )
        return np.array([float(setting.get(n, 1.0)) for n in names], dtype=np.float32)
    if setting == "none":
        return None
    if setting != "auto":
        raise ConfigError(
            f"bad train.class_weights '{setting}'", hint="use auto, none or a {label: weight} map"
        )
    counts = np.array(list(train.class_counts().values()), dtype=np.float64)
    if train.multi_label:
        pos = np.maximum(counts, 1.0)
        return np.clip((len(train) - counts) / pos, 1.0, 100.0).astype(np.float32)
    inv = 1.0 / np.maximum(counts, 1.0)
    return (inv / inv.mean()).astype(np.float32)


def resolve_loss(kind: str, multi_label: bool) -> str:
    """Map ``train.loss`` to the loss actually used; reject combinations that make no sense.

    Example:
        >>> resolve_loss("auto", multi_label=True)
        'bce'
    """
    if kind == "auto":
        return "bce" if multi_label else "cross_entropy"
    if kind == "cross_entropy" and multi_label:
        raise ConfigError(
            "train.loss=cross_entropy does not fit multi-label data", hint="use bce, focal or auto"
        )
    if kind == "bce" and not multi_label:
        raise ConfigError("train.loss=bce is for multi-label data", hint="use cross_entropy, focal or auto")
    if kind not in ("cross_entropy", "bce", "focal"):
        raise ConfigError(f"unknown train.loss '{kind}'", hint="use auto, cross_entropy, bce or focal")
    return kind


def make_loss(kind: str, *, multi_label: bool, weights: np.ndarray | None, gamma: float = 2.0) -> LossFn:
    """A ``compute_loss_func(outputs, labels, num_items_in_batch=None)`` for the Trainer.

    Example:
        >>> fn = make_loss("focal", multi_label=False, weights=None, gamma=2.0)
    """
    import torch
    import torch.nn.functional as F

    kind = resolve_loss(kind, multi_label)
    weight_t = None if weights is None else torch.tensor(weights, dtype=torch.float32)

    def loss_fn(outputs: Any, labels: Any, num_items_in_batch: Any = None) -> Any:
        logits = outputs["logits"] if isinstance(outputs, Mapping) else outputs[0]
        logits = logits.float()  # (B, C); autocast may hand bf16
        w = None if weight_t is None else weight_t.to(logits.device)
        if multi_label:
            target = labels.to(logits.dtype)  # (B, C) multi-hot
            if kind == "bce":
                return F.binary_cross_entropy_with_logits(logits, target, pos_weight=w)
            return _focal_binary(logits, target, gamma, w)
        if kind == "cross_entropy":
            return F.cross_entropy(logits, labels.long(), weight=w)
        return _focal_softmax(logits, labels.long(), gamma, w)

    return loss_fn


def _focal_softmax(logits: Any, labels: Any, gamma: float, weight: Any) -> Any:
    import torch.nn.functional as F

    logp = F.log_softmax(logits, dim=-1)  # (B, C)
    logp_t = logp.gather(1, labels[:, None]).squeeze(1)  # (B,)
    loss = -((1.0 - logp_t.exp()) ** gamma) * logp_t
    if weight is not None:
        w = weight[labels]
        return (loss * w).sum() / w.sum()
    return loss.mean()


def _focal_binary(logits: Any, target: Any, gamma: float, pos_weight: Any) -> Any:
    import torch.nn.functional as F

    bce = F.binary_cross_entropy_with_logits(
        logits, target, pos_weight=pos_weight, reduction="none"
    )  # (B, C)
    p = logits.sigmoid()
    p_t = p * target + (1 - p) * (1 - target)
    return (((1 - p_t) ** gamma) * bce).mean()
