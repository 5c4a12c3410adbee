"""Report plots (the only module that imports matplotlib). Figures are drawn with matplotlib's
object API and rendered to PNG directly: importing this module never touches pyplot's global
backend, so it is safe inside applications that use matplotlib themselves.

Each plot is saved as a PNG in the run folder and also returned base64-encoded so the HTML
report can embed it without any external request.

Example:
    >>> plots = save_plots(Path("runs/spam"), metrics, baseline_metrics)
    >>> [p.filename for p in plots]  # doctest: +SKIP
    ['confusion_matrix.png', 'confusion_matrix_normalized.png', 'per_class_f1.png', 'reliability.png']
"""

from __future__ import annotations

import base64
import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from classifine.artifact import atomic_file

logger = logging.getLogger(__name__)

# Above this many classes the confusion matrix cells carry no numbers (they would be unreadable).
ANNOTATE_MAX_CLASSES = 20


@dataclass(frozen=True)
class Plot:
    """A saved plot: file name in the run folder, title, and the PNG as base64."""

    filename: str
    title: str
    png_base64: str


def _to_png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def figure_png(fig: Figure) -> bytes:
    """A figure drawn elsewhere (e.g. by optuna's matplotlib plots) as PNG bytes (the caller closes it).

    Example:
        >>> figure_png(plot_optimization_history(study).figure)[:4]
        b'\\x89PNG'
    """
    return _to_png(fig)


def confusion_matrix_png(cm: list[list[int]], names: list[str], normalize: bool = False) -> bytes:
    """Confusion matrix heat map (rows: true class, columns: predicted), counts or row-normalised.

    Example:
        >>> confusion_matrix_png([[5, 1], [0, 4]], ["ham", "spam"])[:4]
        b'\\x89PNG'
    """
    counts = np.asarray(cm, dtype=np.float64)  # (C, C)
    data = counts / np.clip(counts.sum(axis=1, keepdims=True), 1, None) if normalize else counts
    k = len(names)
    size = min(4.0 + 0.35 * k, 16.0)
    font = max(4.0, 10.0 - 0.2 * k)
    fig = Figure(figsize=(size, size * 0.85))
    ax = fig.subplots()
    image = ax.imshow(data, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(k), labels=names, rotation=90 if k > 6 else 0, fontsize=font)
    ax.set_yticks(range(k), labels=names, fontsize=font)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion matrix" + (" (row-normalised)" if normalize else " (counts)"))
    if k <= ANNOTATE_MAX_CLASSES:
        top = data.max() if data.size else 0
        for i in range(k):
            for j in range(k):
                text = f"{data[i, j]:.2f}" if normalize else f"{int(counts[i, j])}"
                color = "white" if top and data[i, j] > 0.6 * top else "black"
                ax.text(j, i, text, ha="center", va="center", fontsize=font, color=color)
    return _to_png(fig)


def per_class_f1_png(
    names: list[str], model_f1: list[float], baseline_f1: list[float] | None = None
) -> bytes:
    """Horizontal bars of per-class F1, model beside the TF-IDF baseline.

    Example:
        >>> per_class_f1_png(["a", "b"], [0.9, 0.8], [0.7, 0.6])[:4]
        b'\\x89PNG'
    """
    k = len(names)
    pos = np.arange(k)
    height = 0.4 if baseline_f1 is not None else 0.8
    fig = Figure(figsize=(7.0, max(2.0, 0.32 * k + 1.0)))
    ax = fig.subplots()
    ax.barh(
        pos - (height / 2 if baseline_f1 is not None else 0), model_f1, height, label="model", color="#2b6cb0"
    )
    if baseline_f1 is not None:
        ax.barh(pos + height / 2, baseline_f1, height, label="TF-IDF", color="#a0aec0")
    ax.set_yticks(pos, labels=names, fontsize=max(5.0, 10.0 - 0.1 * k))
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("F1")
    ax.set_title("Per-class F1", pad=24 if baseline_f1 is not None else 6)
    if baseline_f1 is not None:
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False, fontsize=8)
    return _to_png(fig)


def reliability_png(bins: list[dict[str, Any]], ece: float) -> bytes:
    """Reliability diagram: accuracy per confidence bin against the diagonal of perfect calibration.

    Example:
        >>> reliability_png([{"lo": 0.0, "hi": 1.0, "count": 2, "confidence": 0.9, "accuracy": 0.5}], 0.4)[:4]
        b'\\x89PNG'
    """
    fig = Figure(figsize=(5.0, 5.0))
    ax = fig.subplots()
    full = [b for b in bins if b["count"]]
    width = (bins[0]["hi"] - bins[0]["lo"]) if bins else 0.1
    ax.bar(
        [b["lo"] for b in full],
        [b["accuracy"] for b in full],
        width=width,
        align="edge",
        edgecolor="#1a365d",
        color="#63b3ed",
        label="accuracy",
    )
    ax.plot([0, 1], [0, 1], linestyle="--", color="#718096", label="perfect calibration")
    ax.plot(
        [b["confidence"] for b in full],
        [b["accuracy"] for b in full],
        "o",
        color="#c53030",
        label="mean confidence",
    )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(f"Reliability (ECE {ece:.3f})")
    ax.legend(loc="upper left", fontsize=8)
    return _to_png(fig)


def _write_png(path: Path, data: bytes) -> None:
    with atomic_file(path) as tmp:
        tmp.write_bytes(data)


def save_plots(out_dir: Path, metrics: dict[str, Any], baseline: dict[str, Any] | None = None) -> list[Plot]:
    """Draw every report plot for ``metrics`` (and the baseline's per-class F1), save PNGs, return them.

    Example:
        >>> len(save_plots(tmp_path, metrics))  # doctest: +SKIP
        4
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    names = list(metrics["labels"])
    made: list[tuple[str, str, bytes]] = []
    if "confusion_matrix" in metrics:
        cm = metrics["confusion_matrix"]
        made.append(("confusion_matrix.png", "Confusion matrix (counts)", confusion_matrix_png(cm, names)))
        made.append(
            (
                "confusion_matrix_normalized.png",
                "Confusion matrix (row-normalised)",
                confusion_matrix_png(cm, names, normalize=True),
            )
        )
    model_f1 = [metrics["per_class"][n]["f1"] for n in names]
    base_f1 = [baseline["per_class"][n]["f1"] for n in names] if baseline else None
    made.append(("per_class_f1.png", "Per-class F1", per_class_f1_png(names, model_f1, base_f1)))
    if metrics.get("reliability"):
        made.append(
            (
                "reliability.png",
                "Reliability diagram",
                reliability_png(metrics["reliability"], float(metrics["ece"])),
            )
        )
    plots = []
    for filename, title, data in made:
        _write_png(out_dir / filename, data)
        plots.append(Plot(filename, title, base64.b64encode(data).decode("ascii")))
    logger.debug("saved %d plots into %s", len(plots), out_dir)
    return plots
