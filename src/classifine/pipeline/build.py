"""Build and compile the pipeline: data check -> train -> evaluate beside TF-IDF -> export -> gate.

The config (with its overrides applied) is compiled into the pipeline as the default of its
``config_json`` parameter, so ``pipeline.yaml`` runs on its own; the gate's threshold, the current
model and the promotion folder are parameters too, to be set per run.

Example:
    >>> compile_pipeline("examples/sms-spam.yaml", "pipeline.yaml", threshold=0.9)  # doctest: +SKIP
    PosixPath('pipeline.yaml')
"""

# No postponed annotations here: Kubeflow reads the pipeline function's annotations as types.
import importlib.util
import json
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from classifine.artifact import atomic_file
from classifine.errors import ConfigError

# The image every step runs in: the `train` target of the repository's Dockerfile, pushed where the
# cluster can pull it.
IMAGE = "classifine:train"


def require_kfp() -> None:
    """A clear error naming the extra when the kfp SDK is not installed."""
    if importlib.util.find_spec("kfp") is None:
        raise ConfigError(
            "building a Kubeflow pipeline needs the kfp SDK, which is not installed",
            hint="install the pipeline extra: pip install 'classifine[pipeline]'",
        )


def components(image: str = IMAGE) -> SimpleNamespace:
    """The pipeline's components, each running in ``image``.

    Example:
        >>> components("registry.example.com/classifine:train").train.name
        'train'
    """
    require_kfp()
    from kfp import dsl

    from classifine.pipeline import components as bodies

    def make(fn: Any) -> Any:
        return dsl.component(fn, base_image=image, install_kfp_package=False)

    names = ("data_check", "train", "tune", "evaluate", "export", "promotion_gate")
    return SimpleNamespace(**{name: make(getattr(bodies, name)) for name in names})


def build_pipeline(
    config_json: str,
    *,
    metric: str,
    threshold: float,
    image: str = IMAGE,
    int8: bool = True,
    tune_trials: int = 0,
) -> Any:
    """The Kubeflow pipeline function for one config (call it under ``kfp.local`` or compile it).

    With ``tune_trials`` the training step is a hyperparameter search of the config's ``tune``
    section (that many trials; the ``tune_storage`` parameter may name a shared Optuna database)
    whose best config is refit.

    Example:
        >>> pipeline = build_pipeline(cfg.model_dump_json(), metric="macro_f1", threshold=0.9)
    """
    from kfp import dsl

    parts = components(image)

    @dsl.pipeline(
        name="classifine-train-evaluate-export",
        description="Data check, training, evaluation beside TF-IDF, ONNX export and a promotion gate.",
    )
    def pipeline(
        config_json: str = config_json,
        metric: str = metric,
        threshold: float = threshold,
        current_model: str = "",
        promote_to: str = "",
        tune_storage: str = "",
    ) -> bool:
        check = parts.data_check(config_json=config_json).set_display_name("data check")
        texts = check.outputs["Output"]
        if tune_trials:
            trained = parts.tune(
                config_json=config_json, train_texts=texts, trials=tune_trials, storage=tune_storage
            )
        else:
            trained = parts.train(config_json=config_json, train_texts=texts)
        scored = parts.evaluate(run=trained.outputs["run"], metric=metric).set_display_name(
            "evaluate vs TF-IDF"
        )
        exported = parts.export(run=trained.outputs["run"], int8=int8)
        gate = parts.promotion_gate(
            exported=exported.outputs["exported"],
            score=scored.outputs["Output"],
            metric=metric,
            threshold=threshold,
            current_model=current_model,
            promote_to=promote_to,
        ).set_display_name("promotion gate")
        return gate.outputs["Output"]  # type: ignore[no-any-return]

    return pipeline


def compile_pipeline(
    config: str | Path,
    out: str | Path,
    overrides: Sequence[str] | None = None,
    *,
    metric: str = "macro_f1",
    threshold: float = 0.0,
    image: str = IMAGE,
    int8: bool = True,
    tune_trials: int = 0,
) -> Path:
    """Compile the pipeline for CONFIG into a Kubeflow Pipelines v2 YAML file at ``out``.

    Example:
        >>> compile_pipeline("examples/sms-spam.yaml", "pipeline.yaml", threshold=0.95)  # doctest: +SKIP
        PosixPath('pipeline.yaml')
    """
    from classifine.config import load_config

    require_kfp()
    if not 0.0 <= threshold <= 1.0:
        raise ConfigError(f"--threshold {threshold}: a metric threshold lies between 0 and 1")
    cfg = load_config(config, list(overrides or []))
    if tune_trials and cfg.tune is None:
        raise ConfigError("--tune needs a config with a tune: section", hint="see docs/experiments.md")
    pipeline = build_pipeline(
        json.dumps(cfg.model_dump(mode="json")),
        metric=metric,
        threshold=threshold,
        image=image,
        int8=int8,
        tune_trials=tune_trials,
    )
    import tempfile

    from kfp import compiler

    out = Path(out)
    with tempfile.TemporaryDirectory() as scratch:
        compiled = Path(scratch) / "pipeline.yaml"  # the compiler picks the format from the suffix
        compiler.Compiler().compile(pipeline, str(compiled))
        with atomic_file(out) as tmp:
            tmp.write_text(compiled.read_text(encoding="utf-8"), encoding="utf-8")
    return out
