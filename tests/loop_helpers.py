"""Shared setup of the loop tests: a real tiny-BERT run trained on the toy sentiment task."""

from __future__ import annotations

from pathlib import Path

from fixtures_models import build_tiny_model, tiny_config, toy_splits


def train_toy_run(root: Path, name: str = "toy", n_train: int = 64) -> Path:
    """Train a tiny random BERT on the toy task (in-memory data, stored in the run): ``root/name``."""
    from classifine.api import run_training

    model = root / "tiny-bert"
    if not model.is_dir():
        build_tiny_model("bert", model)
    cfg = tiny_config(model, epochs=8, learning_rate=1e-2)
    raw = cfg.model_dump(mode="json")
    raw["output"].update(dir=str(root), name=name, overwrite=False)
    raw["data"]["split"] = {"seed": 0}
    from classifine.config import config_from_dict

    splits = toy_splits(n_train=n_train, n_eval=32, seed=0)
    frames = {k: ds.to_pandas() for k, ds in splits.items()}
    run_training(
        config_from_dict(raw), frames["train"], validation=frames["validation"], test=frames["test"],
        progress=False,
    )  # fmt: skip
    return root / name
