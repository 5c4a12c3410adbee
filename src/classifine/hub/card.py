"""The model card (``README.md``) of a pushed run: labels, data fingerprint, metrics beside TF-IDF,
the training config and the limitations other tools must know about.

Example:
    >>> print(model_card("runs/sms-spam-minilm", "acme/sms-spam")[:3])  # doctest: +SKIP
    ---
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from classifine.artifact import ArtifactMeta, model_dir, read_meta

_SHOWN = ("accuracy", "macro_f1", "micro_f1", "weighted_f1")


def model_card(run: str | Path, repo_id: str) -> str:
    """The Markdown model card of ``run`` (YAML front matter the Hub reads, then the card).

    Example:
        >>> "## Limitations" in model_card("runs/sms-spam-minilm", "acme/sms-spam")  # doctest: +SKIP
        True
    """
    folder = model_dir(run)
    root = folder.parent
    meta = read_meta(folder)
    metrics = _read_json(root / "metrics.json")
    config = (root / "config.yaml").read_text(encoding="utf-8") if (root / "config.yaml").is_file() else ""
    tags = ["classifine", "text-classification", meta.family, meta.method]
    if meta.multi_label:
        tags.append("multi-label")
    front = {"library_name": "transformers", "pipeline_tag": "text-classification", "tags": tags}
    parts = [
        f"---\n{yaml.safe_dump(front, sort_keys=False)}---",
        f"# {repo_id.split('/')[-1]}",
        f"A {'multi-label' if meta.multi_label else 'single-label'} text classifier: {meta.base_model} "
        f"({meta.family}) fine-tuned with classifine ({_method(meta)}).",
        _labels(meta),
        _usage(repo_id, meta),
        _evaluation(metrics),
        _data(meta, metrics, config),
        f"## Training config\n\n```yaml\n{config.strip() or '# (not recorded)'}\n```",
        _limitations(meta),
        "## Versions\n\n" + "\n".join(f"- {k} {v}" for k, v in sorted(meta.versions.items())),
    ]
    return "\n\n".join(parts) + "\n"


def _method(meta: ArtifactMeta) -> str:
    if meta.method == "full":
        return "full fine-tuning"
    return f"{meta.method}, adapter only" if meta.adapter else f"{meta.method}, merged into the weights"


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    loaded = json.loads(path.read_text(encoding="utf-8"))
    return loaded if isinstance(loaded, dict) else {}


def _labels(meta: ArtifactMeta) -> str:
    rows = [
        "| index | label |" + (" threshold |" if meta.multi_label else ""),
        "|---|---|" + ("---|" * meta.multi_label),
    ]
    thresholds = meta.thresholds or [0.5] * len(meta.labels)
    for i, name in enumerate(meta.labels):
        extra = f" {thresholds[i]:.2f} |" if meta.multi_label else ""
        rows.append(f"| {i} | {name} |{extra}")
    return "## Labels\n\n" + "\n".join(rows)


def _usage(repo_id: str, meta: ArtifactMeta) -> str:
    call = 'clf(["your text"], top_k=None)' if meta.multi_label else 'clf(["your text"])'
    note = (
        "\n\nEach label has its own sigmoid score; a label applies at or above its threshold above."
        if meta.multi_label
        else ""
    )
    return (
        "## Use\n\n```python\nfrom transformers import pipeline\n\n"
        f'clf = pipeline("text-classification", model="{repo_id}")\n{call}\n```{note}'
    )


def _evaluation(metrics: dict[str, Any]) -> str:
    evaluation = metrics.get("evaluation") or {}
    model, base = evaluation.get("metrics") or {}, evaluation.get("baseline") or {}
    if not model:
        validation = metrics.get("validation") or {}
        shown = ", ".join(f"{k} {v:.4f}" for k, v in validation.items() if isinstance(v, float))
        return "## Evaluation\n\nNot scored on a test split" + (f"; validation: {shown}." if shown else ".")
    rows = ["| metric | this model | TF-IDF + linear SVM |", "|---|---|---|"]
    for key in _SHOWN:
        if isinstance(model.get(key), (int, float)):
            b = base.get(key)
            rows.append(
                f"| {key} | {model[key]:.4f} | {b:.4f} |"
                if isinstance(b, (int, float))
                else f"| {key} | {model[key]:.4f} | - |"
            )
    texts = model.get("n")
    where = f"the {evaluation.get('split', 'test')} split" + (f" ({texts} texts)" if texts else "")
    return (
        f"## Evaluation\n\nOn {where}, beside a TF-IDF baseline trained on the same training split:\n\n"
        + "\n".join(rows)
    )


def _data(meta: ArtifactMeta, metrics: dict[str, Any], config: str) -> str:
    data = (yaml.safe_load(config) or {}).get("data", {}) if config else {}
    named = data.get("source") or data.get("train") if isinstance(data, dict) else None
    source = named or (metrics.get("evaluation") or {}).get("dataset") or "see the training config"
    fingerprint = meta.data_fingerprint or "(not recorded)"
    what = "sha256 of the training texts and labels, first 16 hex digits"
    return f"## Training data\n\n- source: {source}\n- data fingerprint: `{fingerprint}` ({what})"


def _limitations(meta: ArtifactMeta) -> str:
    items = [
        "Scores hold for data like the training data; check them on your own texts before relying on them.",
        f"Texts are read up to {meta.max_length} tokens by other tools; longer texts are truncated.",
    ]
    if meta.hybrid_weight > 0:
        items.append(
            f"classifine serves this model mixed with its TF-IDF model ({meta.hybrid_weight:.0%} of the "
            "probabilities, files under tfidf/); transformers, TEI and vLLM see the transformer alone."
        )
    if meta.long_text:
        items.append("classifine reads long texts in overlapping windows; other tools do not.")
    if meta.precision == "bf16":
        items.append(
            "Trained with bf16 autocast; fp32 inference elsewhere moves probabilities by about 1e-3."
        )
    if meta.adapter:
        items.append(f"This repository holds a LoRA adapter: load it onto {meta.base_model} with peft.")
    return "## Limitations\n\n" + "\n".join(f"- {item}" for item in items)
