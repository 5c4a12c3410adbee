"""The bodies of the Kubeflow components: each runs one function of :mod:`classifine.pipeline.steps`.

:func:`classifine.pipeline.build.components` turns them into components for an image. Kubeflow ships
a component's source to its pod, so every body imports what it needs and calls one step; the
annotations are Kubeflow's types (this module must not use postponed annotations).
"""

from kfp import dsl
from kfp.dsl import Input, Metrics, Model, Output


def data_check(config_json: str, check: Output[dsl.Artifact]) -> int:
    """Load, validate and split the data; the number of training texts."""
    from pathlib import Path

    from classifine.pipeline import steps

    found = steps.check_data(config_json, Path(check.path))
    check.metadata.update({"splits": found["splits"], "labels": found["labels"]})
    return int(found["splits"]["train"])


def train(config_json: str, train_texts: int, run: Output[Model]) -> float:
    """Fine-tune into a run folder; its best validation score (of the run's selection metric)."""
    from pathlib import Path

    from classifine.pipeline import steps

    metrics = steps.train(config_json, Path(run.path))
    validation = metrics.get("validation") or {}
    run.metadata.update({"train_texts": train_texts, "validation": validation})
    return float(next(iter(validation.values()), 0.0))


def tune(config_json: str, train_texts: int, trials: int, storage: str, run: Output[Model]) -> float:
    """Search hyperparameters, refit the best config into a run folder; its validation score."""
    from pathlib import Path

    from classifine.pipeline import steps

    found = steps.tune(config_json, Path(run.path), trials, storage)
    validation = found.get("validation") or {}
    run.metadata.update({"train_texts": train_texts, "best_trial": found["trial"], "validation": validation})
    return float(next(iter(validation.values()), 0.0))


def evaluate(run: Input[Model], metric: str, scores: Output[Metrics]) -> float:
    """Score the test split beside TF-IDF; the model's value of ``metric``."""
    from pathlib import Path

    from classifine.pipeline import steps

    found = steps.evaluate(Path(run.path), metric)
    scores.log_metric(f"model_{metric}", found["model"])
    if found["tfidf"] is not None:
        scores.log_metric(f"tfidf_{metric}", found["tfidf"])
    return float(found["model"])


def export(run: Input[Model], int8: bool, exported: Output[Model]) -> str:
    """Export to ONNX (and int8) next to a copy of the run, parity-checked; the engines exported."""
    import json
    from pathlib import Path

    from classifine.pipeline import steps

    result = steps.export(Path(run.path), Path(exported.path), int8=int8)
    exported.metadata.update({"export": json.loads(json.dumps(result, default=str))})
    return json.dumps(result, default=str)


def promotion_gate(
    exported: Input[Model],
    score: float,
    metric: str,
    threshold: float,
    current_model: str,
    promote_to: str,
    decision: Output[dsl.Artifact],
) -> bool:
    """Promote only when the score clears the threshold or beats the current model."""
    import json
    from pathlib import Path

    from classifine.pipeline import steps

    found = steps.gate(Path(exported.path), score, metric, threshold, current_model, promote_to)
    Path(decision.path).write_text(json.dumps(found, indent=2), encoding="utf-8")
    decision.metadata.update(found)
    return bool(found["promoted"])
