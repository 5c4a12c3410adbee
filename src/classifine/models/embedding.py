"""The embedding classifier: a sentence encoder, masked mean pooling, L2 normalisation and a linear head.

This is what ``model.method: fewshot`` and ``model.method: head`` train and serve. It is a plain
``torch.nn.Module`` that takes the token arrays every classifine model takes and returns logits, so
the torch engine, the ONNX exporter, ``predict``, ``evaluate`` and the server treat it like any
other run. On disk it is an ordinary Artifact ``model/`` folder: the encoder in Hugging Face format
(``config.json`` + safetensors), the tokenizer, the head as ``head.safetensors`` (``weight`` (C, D),
``bias`` (C,)) and ``classifine.json`` whose ``embedding`` field says how the pieces fit together.

Example:
    >>> model = EmbeddingClassifier(encoder, weight, bias, labels=["neg", "pos"])
    >>> model(input_ids=ids, attention_mask=mask).logits.shape  # (B, C)
    torch.Size([2, 2])
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers.modeling_outputs import SequenceClassifierOutput

from classifine.errors import ModelError

HEAD_FILE = "head.safetensors"
POOLING = "mean"


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of the token vectors that the mask keeps: (B, T, D), (B, T) -> (B, D).

    Example:
        >>> mean_pool(torch.ones(1, 3, 2), torch.tensor([[1, 1, 0]])).shape
        torch.Size([1, 2])
    """
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    summed = (hidden * mask).sum(dim=1)  # (B, D)
    counts = mask.sum(dim=1).clamp(min=1e-9)  # (B, 1)
    return summed / counts


class EmbeddingClassifier(nn.Module):
    """encoder -> masked mean pooling -> L2 normalisation -> linear head -> logits.

    ``encoder`` is a Hugging Face base model (``AutoModel``: BERT, MPNet, RoBERTa, ...). Logits feed
    a softmax (single-label) or a sigmoid per label (multi-label), as for every classifine model.

    Example:
        >>> EmbeddingClassifier(encoder, np.zeros((2, 384)), np.zeros(2), labels=["a", "b"]).embed(ids, mask)
    """

    def __init__(self, encoder: Any, weight: np.ndarray, bias: np.ndarray, *, labels: Sequence[str]) -> None:
        super().__init__()
        weight = np.asarray(weight, dtype=np.float32)
        bias = np.asarray(bias, dtype=np.float32)
        hidden = int(encoder.config.hidden_size)
        if weight.shape != (len(labels), hidden) or bias.shape != (len(labels),):
            raise ModelError(
                f"head of shape {weight.shape} / {bias.shape} for {len(labels)} labels "
                f"and {hidden}-dimensional embeddings"
            )
        self.encoder = encoder
        self.head = nn.Linear(hidden, len(labels))
        with torch.no_grad():
            self.head.weight.copy_(torch.from_numpy(weight))
            self.head.bias.copy_(torch.from_numpy(bias))
        # The config is the encoder's, told how many outputs the whole model has (Classifier checks it).
        self.config = encoder.config
        self.config.id2label = dict(enumerate(labels))
        self.config.label2id = {name: i for i, name in enumerate(labels)}

    def set_attn_implementation(self, implementation: str) -> None:
        """Switch the encoder's attention implementation (the ONNX exporter traces with ``eager``)."""
        self.encoder.set_attn_implementation(implementation)

    def embed(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Unit-length sentence embeddings (B, D)."""
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        hidden = self.encoder(**inputs).last_hidden_state  # (B, T, D)
        pooled = mean_pool(hidden, attention_mask)  # (B, D)
        return nn.functional.normalize(pooled.float(), p=2.0, dim=1)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> SequenceClassifierOutput:
        """Logits (B, C) of a batch of token arrays (each (B, T)), as a HF classifier returns them."""
        return SequenceClassifierOutput(
            logits=self.head(self.embed(input_ids, attention_mask, token_type_ids))
        )

    def set_head(self, weight: np.ndarray, bias: np.ndarray) -> None:
        """Replace the head's weights ((C, D) and (C,))."""
        with torch.no_grad():
            self.head.weight.copy_(torch.from_numpy(np.asarray(weight, dtype=np.float32)))
            self.head.bias.copy_(torch.from_numpy(np.asarray(bias, dtype=np.float32)))


def save_head(model: EmbeddingClassifier, folder: str | Path) -> None:
    """Write the head as ``head.safetensors`` (``weight`` (C, D), ``bias`` (C,))."""
    from safetensors.torch import save_file

    tensors = {
        "weight": model.head.weight.detach().float().contiguous(),
        "bias": model.head.bias.detach().float().contiguous(),
    }
    save_file(tensors, str(Path(folder) / HEAD_FILE))


def save_embedding_classifier(model: EmbeddingClassifier, tokenizer: Any, folder: str | Path) -> None:
    """Write the encoder (HF format, safetensors), the tokenizer and the head into ``folder``.

    ``classifine.json`` is written by the caller (it carries the ``embedding`` description).

    Example:
        >>> save_embedding_classifier(model, tokenizer, "runs/x/model")
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.encoder.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    save_head(model, folder)


def load_embedding_classifier(folder: str | Path, labels: Sequence[str], embedding: dict[str, Any]) -> Any:
    """Load a saved embedding classifier for inference (eval mode, float32); reads no pickle.

    Example:
        >>> model = load_embedding_classifier("runs/x/model", meta.labels, meta.embedding)
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    from transformers import AutoModel

    folder = Path(folder)
    if embedding.get("pooling", POOLING) != POOLING or not embedding.get("normalize", True):
        raise ModelError(
            f"unsupported embedding settings {embedding} in classifine.json",
            where=str(folder),
            hint="this classifine reads mean pooling with L2 normalisation; retrain",
        )
    head_file = folder / str(embedding.get("head", HEAD_FILE))
    try:
        tensors = load_file(str(head_file))
        weight, bias = tensors["weight"].numpy(), tensors["bias"].numpy()
    except (OSError, KeyError, SafetensorError) as exc:
        raise ModelError(f"cannot read the classification head ({exc})", where=str(head_file)) from None
    encoder = AutoModel.from_pretrained(folder, dtype=torch.float32, local_files_only=True)
    if weight.shape[0] != len(labels):
        raise ModelError(
            f"classifine.json lists {len(labels)} labels but the head has {weight.shape[0]} outputs",
            where=str(folder),
            hint="the folder was modified after training; retrain",
        )
    return EmbeddingClassifier(encoder, weight, bias, labels=labels).eval()
