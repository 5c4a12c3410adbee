"""LoRA adapters for sequence classification: apply with the right targets, keep the head trainable.

Example:
    >>> peft_model = apply_lora(model, ("query", "value"), r=8, alpha=16, dropout=0.1)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from classifine.errors import ModelError

logger = logging.getLogger(__name__)

# Classification heads across families: bert/albert/mpnet/roberta ``classifier``, distilbert
# ``pre_classifier`` + ``classifier``, llama/gemma ``score``, t5 ``classification_head``.
HEAD_NAMES = ("pre_classifier", "classifier", "score", "classification_head")


@dataclass(frozen=True)
class LoraSettings:
    """LoRA hyper-parameters with the target modules resolved for the model's family."""

    r: int = 8
    alpha: int = 16
    dropout: float = 0.1
    targets: tuple[str, ...] | str = ("query", "value")  # module names, or "all-linear"
    merge: bool = True


def head_modules(model: nn.Module) -> list[str]:
    """Names of the classification-head children of ``model`` (trained in full under LoRA).

    Example:
        >>> head_modules(bert_for_sequence_classification)
        ['classifier']
    """
    children = dict(model.named_children())
    found = [name for name in HEAD_NAMES if name in children]
    if not found:
        raise ModelError(
            f"no classification head found among {sorted(children)}",
            hint="the model class is not a *ForSequenceClassification model",
        )
    return found


def _check_targets(model: nn.Module, targets: Sequence[str]) -> None:
    linear_names = {
        name.rsplit(".", 1)[-1] for name, mod in model.named_modules() if isinstance(mod, nn.Linear)
    }
    missing = [t for t in targets if t not in linear_names]
    if missing:
        raise ModelError(
            f"LoRA target modules {missing} do not exist in this model",
            hint=f"set model.lora.target_modules to some of: {', '.join(sorted(linear_names))}",
        )


def apply_lora(
    model: nn.Module,
    targets: Sequence[str] | str,
    *,
    r: int = 8,
    alpha: int = 16,
    dropout: float = 0.1,
) -> Any:
    """Wrap ``model`` in a peft ``PeftModelForSequenceClassification``.

    ``targets`` is a list of module names or ``"all-linear"``. The classification head is added to
    ``modules_to_save`` so it is trained in full and saved with the adapter.

    Example:
        >>> apply_lora(model, "all-linear").print_trainable_parameters()
    """
    from peft import LoraConfig, TaskType, get_peft_model

    heads = head_modules(model)
    if isinstance(targets, str):
        if targets != "all-linear":
            raise ModelError(f"unknown LoRA target '{targets}'", hint="use 'auto', 'all-linear' or a list")
        target_modules: list[str] | str = targets
    else:
        if not targets:
            raise ModelError(
                "no default LoRA targets for this model family",
                hint="set model.lora.target_modules to a list of linear layer names or 'all-linear'",
            )
        _check_targets(model, targets)
        target_modules = list(targets)
    config = LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=target_modules,
        modules_to_save=heads,
    )
    peft_model = get_peft_model(model, config)
    trainable, total = peft_model.get_nb_trainable_parameters()
    logger.info(
        "LoRA r=%d on %s: %d of %d parameters trainable (%.2f%%)",
        r,
        target_modules,
        trainable,
        total,
        100.0 * trainable / max(total, 1),
    )
    return peft_model


def is_peft(model: nn.Module) -> bool:
    """True when ``model`` is a peft wrapper."""
    from peft import PeftModel

    return isinstance(model, PeftModel)
