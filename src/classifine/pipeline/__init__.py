"""A Kubeflow Pipelines v2 pipeline of the whole path: data check -> train -> evaluate beside TF-IDF
-> export -> a promotion gate.

Example:
    >>> from classifine.pipeline import compile_pipeline
    >>> compile_pipeline("examples/sms-spam.yaml", "pipeline.yaml")  # doctest: +SKIP
    PosixPath('pipeline.yaml')
"""

from classifine.pipeline.build import compile_pipeline

__all__ = ["compile_pipeline"]
