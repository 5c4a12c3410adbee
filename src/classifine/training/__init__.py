"""Fine-tuning: ``train(cfg)`` from a config, ``fit(splits, cfg, run_dir)`` from Datasets."""

from __future__ import annotations

from classifine.training.fit import fit, train

__all__ = ["fit", "train"]
