"""Fine-tuning: ``fit(splits, cfg, run_dir)`` from Datasets; ``classifine.train`` starts from a config."""

from __future__ import annotations

from classifine.training.fit import fit

__all__ = ["fit"]
