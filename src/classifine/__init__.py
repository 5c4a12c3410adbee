"""classifine: from a labelled text file to a deployed, measured text classifier."""

from __future__ import annotations

from typing import TYPE_CHECKING

from classifine import _env  # noqa: F401  (sets OMP_WAIT_POLICY before torch is imported)
from classifine.config import Config, load_config
from classifine.data.dataset import Dataset, DatasetSplits
from classifine.data.labels import LabelSet
from classifine.errors import (
    AssetError,
    BackendError,
    ClassifineError,
    ConfigError,
    DataError,
    ModelError,
    ServingError,
)

__version__ = "0.1.0"

if TYPE_CHECKING:  # what editors and type checkers see; at run time these load on first use
    from classifine.api import TrainResult, evaluate, load_artifact, predict, train
    from classifine.inference.predictor import Classifier, Prediction

# Heavy parts (torch, transformers) load on first use, so `import classifine` stays fast.
_LAZY = {
    "Classifier": ("classifine.inference.predictor", "Classifier"),
    "Prediction": ("classifine.inference.predictor", "Prediction"),
    "train": ("classifine.api", "train"),
    "TrainResult": ("classifine.api", "TrainResult"),
    "evaluate": ("classifine.api", "evaluate"),
    "predict": ("classifine.api", "predict"),
    "load_artifact": ("classifine.api", "load_artifact"),
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'classifine' has no attribute {name!r}")


__all__ = [
    "AssetError",
    "Classifier",
    "TrainResult",
    "Prediction",
    "evaluate",
    "load_artifact",
    "predict",
    "train",
    "BackendError",
    "ClassifineError",
    "Config",
    "ConfigError",
    "DataError",
    "Dataset",
    "DatasetSplits",
    "LabelSet",
    "ModelError",
    "ServingError",
    "__version__",
    "load_config",
]
