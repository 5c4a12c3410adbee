"""Plots of a monitoring report (matplotlib figures drawn off-screen; no backend is switched).

Each function takes one model's section of :class:`~classifine.server.monitor.MonitorReport`
and returns PNG bytes.

Example:
    >>> png = volume_png(report.models[0])
    >>> png[:4]
    b'\\x89PNG'
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from matplotlib.figure import Figure


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return buf.getvalue()


def _short(start: str) -> str:
    return start.replace("T", " ")[:16]


def volume_png(section: dict[str, Any]) -> bytes:
    """Predictions per time bucket."""
    buckets = section["over_time"]["buckets"]
    fig = Figure(figsize=(7.5, 3.0))
    ax = fig.subplots()
    ax.bar(range(len(buckets)), [b["count"] for b in buckets], color="#4c72b0")
    _time_axis(ax, buckets)
    ax.set_ylabel("predictions")
    ax.set_title(f"Volume per {section['over_time']['bucket_seconds'] // 60} min")
    return _png(fig)


def _time_axis(ax: Any, buckets: list[dict[str, Any]]) -> None:
    step = max(1, len(buckets) // 8)
    ticks = list(range(0, len(buckets), step))
    ax.set_xticks(
        ticks, labels=[_short(buckets[i]["start"]) for i in ticks], rotation=30, ha="right", fontsize=8
    )


def confidence_over_time_png(section: dict[str, Any], low: float) -> bytes:
    """Mean confidence and the share of low-confidence predictions per time bucket."""
    buckets = section["over_time"]["buckets"]
    x = range(len(buckets))
    fig = Figure(figsize=(7.5, 3.0))
    ax = fig.subplots()
    ax.plot(x, [b["mean_confidence"] for b in buckets], marker="o", label="mean confidence")
    ax.plot(x, [b["low_confidence_share"] for b in buckets], marker="s", label=f"share below {low:g}")
    ax.set_ylim(0, 1.05)
    _time_axis(ax, buckets)
    ax.legend(loc="lower left", fontsize=8)
    ax.set_title("Confidence over time")
    return _png(fig)


def confidence_histogram_png(section: dict[str, Any], low: float) -> bytes:
    """Distribution of the top probability of every prediction."""
    hist = section["confidence_histogram"]
    edges = np.asarray(hist["edges"])
    fig = Figure(figsize=(5.0, 3.0))
    ax = fig.subplots()
    ax.bar(edges[:-1], hist["counts"], width=np.diff(edges), align="edge", color="#55a868", edgecolor="white")
    ax.axvline(low, color="#c44e52", linestyle="--", label=f"low confidence < {low:g}")
    ax.set_xlabel("confidence (top probability)")
    ax.set_ylabel("predictions")
    ax.legend(fontsize=8)
    ax.set_title("Confidence")
    return _png(fig)


def label_shares_png(section: dict[str, Any]) -> bytes:
    """Served label shares beside the training split's."""
    served = section["label_shares"]
    training = (section.get("drift") or {}).get("training_shares") or {}
    names = list(dict.fromkeys([*training, *served]))
    x = np.arange(len(names))
    fig = Figure(figsize=(max(5.0, 0.6 * len(names) + 2), 3.2))
    ax = fig.subplots()
    width = 0.4 if training else 0.6
    ax.bar(x - (width / 2 if training else 0), [served.get(n, 0.0) for n in names], width, label="served")
    if training:
        ax.bar(x + width / 2, [training.get(n, 0.0) for n in names], width, label="training")
    ax.set_xticks(x, labels=names, rotation=90 if len(names) > 8 else 0, fontsize=8)
    ax.set_ylabel("share")
    ax.legend(fontsize=8)
    ax.set_title("Predicted labels vs training")
    return _png(fig)
