"""Local causal-LM backend: score each label's likelihood after the prompt instead of generating.

``mode="score"`` (the default) runs one forward pass over a batch of prompts, keeps their KV
cache, and runs every label's tokens as continuations of that cache in one more batched pass.
Each label's score is the sum of its tokens' log-probabilities (``length_norm="mean"`` divides
by the label's token count); a softmax over labels gives a real probability distribution, and
no answer can fall outside the label set. ``mode="generate"`` generates greedily and parses the
text (the usual approach; kept for comparison).

Models with a chat template (SmolLM2-Instruct) get it; base models (Gemma-3 base) get the plain
prompt ending in ``Label:``.

Example:
    >>> backend = LocalBackend("smollm2-135m")
    >>> reply = next(backend.run([request]))[1]
    >>> round(sum(reply.scores.values()), 6)
    1.0
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import torch

from classifine.errors import BackendError, ConfigError, ModelError
from classifine.llm.backends import LLMReply, LLMRequest, register_backend

logger = logging.getLogger(__name__)

Mode = Literal["score", "generate"]


@register_backend("local")
class LocalBackend:
    """A transformers causal LM on this machine (preset name such as ``smollm2-135m``, or a folder)."""

    name = "local"

    def __init__(
        self,
        model: str,
        *,
        mode: Mode = "score",
        length_norm: Literal["sum", "mean"] = "sum",
        batch_size: int = 8,
        max_new_tokens: int = 8,
        threads: int | None = None,
        chat_template: bool | None = None,
        label_pass: Literal["cache", "rows"] = "cache",
        reuse_prefix: bool = True,
    ) -> None:
        if mode not in ("score", "generate"):
            raise ConfigError(f"unknown local mode '{mode}'", hint="use score or generate")
        if length_norm not in ("sum", "mean"):
            raise ConfigError(f"unknown length_norm '{length_norm}'", hint="use sum or mean")
        from transformers import AutoTokenizer

        if threads:
            torch.set_num_threads(int(threads))
        self.model_name = model
        self.mode: Mode = mode
        self.length_norm = length_norm
        self.label_pass = label_pass
        self.reuse_prefix = reuse_prefix
        self.batch_size = max(1, int(batch_size))
        self.max_new_tokens = max_new_tokens
        self.path = resolve_causal_lm(model)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot load the tokenizer of {self.path}: {exc}") from None
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        has_template = bool(getattr(self.tokenizer, "chat_template", None))
        self.use_chat = has_template if chat_template is None else (chat_template and has_template)
        self.forward_calls = 0
        self._model: Any = None
        self._label_cache: dict[tuple[str, ...], list[list[int]]] = {}

    @property
    def model(self) -> Any:
        """The causal LM, loaded on first use (a dry run only needs the tokenizer)."""
        if self._model is None:
            from transformers import AutoModelForCausalLM

            try:
                model = AutoModelForCausalLM.from_pretrained(self.path, dtype=torch.float32)
            except (OSError, ValueError) as exc:
                raise ModelError(f"cannot load a causal LM from {self.path}: {exc}") from None
            model.eval()
            model.register_forward_pre_hook(self._count)
            self._model = model
        return self._model

    def _count(self, *_: Any) -> None:
        self.forward_calls += 1

    def identity(self) -> dict[str, Any]:
        ident: dict[str, Any] = {
            "backend": self.name,
            "model": str(self.model_name),
            "mode": self.mode,
            "chat": self.use_chat,
        }
        if self.mode == "score":
            ident["length_norm"] = self.length_norm
        else:
            ident["max_new_tokens"] = self.max_new_tokens
        return ident

    def prompt_text(self, request: LLMRequest) -> str:
        """The exact text fed to the model before the answer."""
        if self.use_chat:
            text = self.tokenizer.apply_chat_template(
                request.messages(), add_generation_prompt=True, tokenize=False
            )
            return str(text)
        return request.plain

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _token_rows(self, requests: Sequence[LLMRequest]) -> list[list[int]]:
        texts = [self.prompt_text(r) for r in requests]
        return [list(self.tokenizer(t, add_special_tokens=not self.use_chat)["input_ids"]) for t in texts]

    def _shared_prefix(self, rows: list[list[int]]) -> int:
        """Length of the token prefix every prompt shares (instructions, fixed few-shot examples).

        Its KV cache is computed once and reused for every text. Disabled for generation, for
        fewer than two prompts, and when prompts outrun a sliding attention window.
        """
        if self.mode != "score" or self.label_pass != "cache" or len(rows) < 2 or not self.reuse_prefix:
            return 0
        window = getattr(self.model.config, "sliding_window", None)
        if window and max(len(r) for r in rows) + 8 >= int(window):
            return 0
        first, n = rows[0], min(len(r) for r in rows) - 1
        length = 0
        while length < n and all(r[length] == first[length] for r in rows):
            length += 1
        return length if length >= 8 else 0

    def run(self, requests: Sequence[LLMRequest]) -> Iterator[tuple[int, LLMReply]]:
        rows = self._token_rows(requests)
        with torch.inference_mode():
            shared = self._shared_prefix(rows)
            prefix = self._prefix_cache(rows[0][:shared]) if shared else None
        # Longest prompts first keeps padding small inside a batch.
        order = sorted(range(len(requests)), key=lambda i: -len(rows[i]))
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            batch = [requests[i] for i in idx]
            with torch.inference_mode():
                if self.mode == "score":
                    replies = self._score(batch, [rows[i][shared:] for i in idx], prefix, shared)
                else:
                    replies = self._generate([rows[i] for i in idx])
            yield from zip(idx, replies, strict=True)

    def close(self) -> None:
        self._label_cache.clear()

    # -- scoring -------------------------------------------------------------------------------
    def _label_ids(self, labels: tuple[str, ...]) -> list[list[int]]:
        """Token ids of each label as it follows the prompt (a leading space after ``Label:``)."""
        if labels not in self._label_cache:
            sep = "" if self.use_chat else " "
            ids = [self.tokenizer(sep + name, add_special_tokens=False)["input_ids"] for name in labels]
            if any(not i for i in ids):
                raise BackendError(f"a label tokenises to nothing: {list(labels)}")
            self._label_cache[labels] = ids
        return self._label_cache[labels]

    def _pad_left(self, rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Left-padded ids and mask, (B, T)."""
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), int(self.tokenizer.pad_token_id), dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, width - len(r) :] = torch.tensor(r, dtype=torch.long)
            mask[i, width - len(r) :] = 1
        return ids, mask

    def _prefix_cache(self, prefix: list[int]) -> Any:
        ids = torch.tensor([prefix], dtype=torch.long)
        return self.model(input_ids=ids, use_cache=True, logits_to_keep=1).past_key_values

    def _score(
        self, batch: Sequence[LLMRequest], rows: list[list[int]], prefix: Any, shared: int
    ) -> list[LLMReply]:
        labels = batch[0].labels
        if any(r.labels != labels for r in batch):
            return [x for i, r in enumerate(batch) for x in self._score([r], [rows[i]], prefix, shared)]
        label_ids = self._label_ids(labels)
        ids, mask = self._pad_left(rows)  # (B, T) the part after the shared prefix
        if self.label_pass == "rows":
            scores = self._scores_by_rows(ids, mask, label_ids)
        else:
            scores = self._scores_by_cache(ids, mask, label_ids, prefix, shared)  # (B, C) log-probs
        if self.length_norm == "mean":
            scores = scores / torch.tensor([len(x) for x in label_ids], dtype=scores.dtype)
        probs = torch.softmax(scores, dim=-1)  # (B, C)
        replies = []
        for b in range(ids.shape[0]):
            dist = {labels[c]: float(probs[b, c]) for c in range(len(labels))}
            best = max(dist, key=dist.__getitem__)
            replies.append(LLMReply(raw=best, scores=dist, prompt_tokens=shared + int(mask[b].sum())))
        return replies

    def _scores_by_cache(
        self, ids: torch.Tensor, mask: torch.Tensor, label_ids: list[list[int]], prefix: Any, shared: int
    ) -> torch.Tensor:
        """One pass over the prompts, then every label's later tokens on a copy of their KV cache."""
        n_b = ids.shape[0]
        past = None
        if prefix is not None:
            past = copy.deepcopy(prefix)
            past.batch_repeat_interleave(n_b)
            # Padding sits between the shared prefix and each text: masked, positions continue.
            mask = torch.cat([torch.ones((n_b, shared), dtype=torch.long), mask], dim=1)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, shared:]
        # Only the last position's logits are needed: with a 262k vocabulary (Gemma-3) the LM head
        # over every prompt position would cost more than the whole transformer.
        out = self.model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            past_key_values=past,
            use_cache=True,
            logits_to_keep=1,
        )
        first = torch.log_softmax(out.logits[:, -1, :].float(), dim=-1)  # (B, V)
        scores = torch.stack([first[:, ids_[0]] for ids_ in label_ids], dim=1)  # (B, C)
        longest = max(len(x) for x in label_ids)
        if longest > 1:
            scores = scores + self._continuations(out.past_key_values, mask, label_ids, longest, n_b)
        return scores

    def _scores_by_rows(
        self, ids: torch.Tensor, mask: torch.Tensor, label_ids: list[list[int]]
    ) -> torch.Tensor:
        """One pass over B*C rows of prompt+label (left-padded so every label ends the row)."""
        n_b, n_c = ids.shape[0], len(label_ids)
        longest = max(len(x) for x in label_ids)
        pad = int(self.tokenizer.pad_token_id)
        width = ids.shape[1] + longest
        rows = torch.full((n_b * n_c, width), pad, dtype=torch.long)
        rmask = torch.zeros_like(rows)
        for b in range(n_b):
            prompt = ids[b][mask[b].bool()]
            for c, toks in enumerate(label_ids):
                seq = torch.cat([prompt, torch.tensor(toks, dtype=torch.long)])
                rows[b * n_c + c, width - len(seq) :] = seq
                rmask[b * n_c + c, width - len(seq) :] = 1
        positions = (rmask.cumsum(-1) - 1).clamp(min=0)
        out = self.model(
            input_ids=rows, attention_mask=rmask, position_ids=positions, logits_to_keep=longest + 1
        )
        logp = torch.log_softmax(out.logits[:, :-1, :].float(), dim=-1)  # (B*C, L, V): predicts the last L
        target = rows[:, -longest:]
        picked = logp.gather(-1, target.unsqueeze(-1)).squeeze(-1)  # (B*C, L)
        keep = torch.zeros((n_c, longest))
        for c, toks in enumerate(label_ids):
            keep[c, longest - len(toks) :] = 1  # pad tokens before a shorter label are not scored
        return (picked * keep.repeat(n_b, 1)).sum(-1).view(n_b, n_c)

    def _continuations(
        self, past: Any, mask: torch.Tensor, label_ids: list[list[int]], longest: int, n_b: int
    ) -> torch.Tensor:
        """Log-prob of label tokens 2..L given the prompt cache, summed per (prompt, label): (B, C)."""
        n_c = len(label_ids)
        pad = int(self.tokenizer.pad_token_id)
        cont = torch.full((n_c, longest), pad, dtype=torch.long)
        cont_mask = torch.zeros((n_c, longest), dtype=torch.long)
        for c, toks in enumerate(label_ids):
            cont[c, : len(toks)] = torch.tensor(toks)
            cont_mask[c, : len(toks)] = 1
        past.batch_repeat_interleave(n_c)  # rows b*C + c
        ids = cont.repeat(n_b, 1)  # (B*C, L)
        full_mask = torch.cat([mask.repeat_interleave(n_c, dim=0), cont_mask.repeat(n_b, 1)], dim=1)
        start = mask.sum(-1).repeat_interleave(n_c).unsqueeze(1)  # (B*C, 1)
        positions = start + torch.arange(longest).unsqueeze(0)
        out = self.model(
            input_ids=ids, attention_mask=full_mask, position_ids=positions, past_key_values=past
        )
        logp = torch.log_softmax(out.logits[:, :-1, :].float(), dim=-1)  # (B*C, L-1, V)
        target = ids[:, 1:]
        picked = logp.gather(-1, target.unsqueeze(-1)).squeeze(-1)  # (B*C, L-1)
        picked = picked * cont_mask[:, 1:].repeat(n_b, 1)
        return picked.sum(-1).view(n_b, n_c)

    # -- generation ----------------------------------------------------------------------------
    def _generate(self, rows: list[list[int]]) -> list[LLMReply]:
        ids, mask = self._pad_left(rows)
        out = self.model.generate(
            input_ids=ids,
            attention_mask=mask,
            max_new_tokens=self.max_new_tokens,
            do_sample=False,
            pad_token_id=self.tokenizer.pad_token_id,
        )
        new = out[:, ids.shape[1] :]
        texts = self.tokenizer.batch_decode(new, skip_special_tokens=True)
        return [
            LLMReply(raw=t.strip(), prompt_tokens=int(m.sum()), completion_tokens=len(n))
            for t, m, n in zip(texts, mask, new, strict=True)
        ]


def resolve_causal_lm(name: str) -> Path:
    """The HF folder of a causal LM: a local folder as is, a GGUF preset converted once and cached.

    Example:
        >>> resolve_causal_lm("smollm2-135m").name
        'smollm2-135m'
    """
    from classifine.models.zoo import local_causal_lm

    return Path(local_causal_lm(name))
