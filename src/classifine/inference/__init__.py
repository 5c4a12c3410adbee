"""Inference: load a trained artifact and predict.

Example:
    >>> from classifine.inference import Classifier
    >>> Classifier.load("runs/sms-spam-minilm").predict(["free prize!"])[0].label  # doctest: +SKIP
"""

from __future__ import annotations

from classifine.inference.predictor import Classifier, Prediction

__all__ = ["Classifier", "Prediction"]
