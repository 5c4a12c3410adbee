"""Evaluation: metrics (pure functions), the TF-IDF baseline, plots and reports.

Example:
    >>> from classifine.evaluation import compute_metrics
"""

from __future__ import annotations

from classifine.evaluation.metrics import compute_metrics

__all__ = ["compute_metrics"]
