"""classifine: from a labelled text file to a deployed, measured text classifier."""

from __future__ import annotations

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

__all__ = [
    "AssetError",
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
