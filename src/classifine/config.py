"""Typed configuration: pydantic models for every YAML section, YAML loading and dotted overrides.

Every model forbids unknown keys; a misspelt key fails with its path and the nearest valid key.

Example:
    >>> cfg = load_config("examples/sms-spam.yaml", ["train.epochs=2"])
    >>> cfg.train.epochs
    2
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from classifine.errors import ConfigError, nearest, suggestion


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SplitConfig(_Section):
    """How to split data that has no official split (fractions of all rows)."""

    validation: float = Field(0.1, ge=0.0, lt=1.0)
    test: float = Field(0.2, ge=0.0, lt=1.0)
    seed: int = 42


class CleanConfig(_Section):
    """Optional text normalisers applied before training and prediction."""

    lowercase: bool = False
    strip_urls: bool = False
    strip_emails: bool = False
    strip_html: bool = False
    normalize_whitespace: bool = True
    lemmatize: bool = False
    remove_stopwords: bool = False


class DataConfig(_Section):
    """Where the data comes from and how to read it.

    ``source`` is a catalog name (``sms-spam``), a file or folder path, or a hub dataset id.
    ``train``/``validation``/``test`` name separate files; when only ``source`` or ``train`` is
    given, the rest is split off with ``split``.
    """

    source: str | None = None
    train: str | None = None
    validation: str | None = None
    test: str | None = None
    text_column: str = "text"
    label_column: str | list[str] = "label"
    multi_label: bool | Literal["auto"] = "auto"
    label_delimiter: str | None = None
    labels: list[str] | None = None
    hub_config: str | None = None
    hub_splits: dict[str, str] | None = None
    split: SplitConfig = Field(default_factory=SplitConfig)
    balance: Literal["none", "undersample", "oversample"] = "none"
    k_per_class: int | None = Field(None, ge=1)
    max_rows: int | None = Field(None, ge=1)
    min_examples_per_class: int | None = Field(None, ge=1)  # rarer classes are dropped or merged
    rare_classes: Literal["drop", "merge"] = "drop"
    clean: CleanConfig = Field(default_factory=CleanConfig)


class LoraConfig(_Section):
    r: int = Field(8, ge=1)
    alpha: int = Field(16, ge=1)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    target_modules: Literal["auto", "all-linear"] | list[str] = "auto"
    merge: bool = True


class FewshotConfig(_Section):
    """Contrastive fine-tuning of the sentence encoder (``model.method: fewshot``) and the head.

    ``loss``: ``cosine`` (SetFit's cosine-similarity pairs, balanced positive / negative), ``cosent``
    (the same pairs, CoSENT's ranking loss) or ``batch_all`` (every valid triplet in class-grouped
    batches; multi-label runs use cosine pairs instead).
    ``passes``: ``auto`` trains one optimizer step per ``train.batch_size`` of SetFit's pairs (which
    grow with the square of the rows); a number is that many passes over the training rows. The
    steps are kept within ``min_steps``..``max_steps`` (``train.max_steps`` overrides).
    ``head_c``: inverse L2 strength of the logistic-regression head (``auto``: a fixed value after
    contrastive training, cross-validated on the training rows for ``method: head``).
    ``max_per_class``: ``method: auto`` picks ``fewshot`` up to this many labelled rows per class.
    ``encoder_rows``: the rows contrastive training reads - ``train`` (the validation split held out),
    ``all`` (train + validation; the check against TF-IDF is then cross-validated on every row) or
    ``auto`` (``all`` when the validation split is too small to choose on, see ``train.selection``).
    ``freeze_embeddings``: keep the encoder's embedding layer (token, position and type embeddings) as
    pretrained during contrastive training - about half of a small encoder's weights, so training is
    faster; measured neutral on accuracy.
    ``pairs``: how the contrastive pairs are sampled - ``draw`` (every text anchors a same-class and an
    other-class pair in turn, a random partner each time), ``cover`` (SetFit's sampling: every pair of
    texts, a text with itself included, once in a seeded shuffle before any twice; the positive pairs
    cycled to as many as the negative ones) or ``auto``: ``cover`` for single-label data of three
    classes or more, ``draw`` otherwise (on held-out training rows covering gained with 6, 20 and 50
    classes and lost with two; docs/training.md). The run records which one it used.
    ``names_as_texts``: train on each class's name as one more text of that class (``fewshot`` only):
    ``true``, ``false`` or ``auto`` - when the pretrained encoder's nearest-name labelling of the
    labelled texts agrees with their labels (Cohen's kappa at least 0.2; single-label data). The run
    records what it decided (``metrics.json``: ``fewshot.names_as_texts``).
    ``name_pairs``: when the names are trained on, this share of the contrastive pairs pairs a
    labelled text with its class's name (a positive pair) or with another class's name (a negative
    one), each text in turn; 0 leaves the names to the sampled pairs alone.
    """

    loss: Literal["cosine", "cosent", "batch_all"] = "cosine"
    passes: Annotated[float, Field(gt=0)] | Literal["auto"] = "auto"
    min_steps: int = Field(200, ge=1)
    max_steps: int = Field(2000, ge=1)
    head_c: float | Literal["auto"] = "auto"
    max_per_class: int = Field(64, ge=1)
    encoder_rows: Literal["auto", "train", "all"] = "auto"
    freeze_embeddings: bool = True
    pairs: Literal["auto", "cover", "draw"] = "auto"
    names_as_texts: Literal["auto"] | bool = "auto"
    name_pairs: float = Field(0.25, ge=0.0, lt=1.0)


class ModelConfig(_Section):
    """The pretrained model: a preset name (``minilm-l6``), a hub id or a local folder.

    ``method``: ``auto`` (``fewshot`` when the median class has at most ``fewshot.max_per_class``
    labelled rows and the model is an encoder, else ``lora``), ``fewshot`` (contrastive fine-tuning
    of the sentence encoder, then a logistic-regression head on its embeddings), ``head`` (the head
    on frozen embeddings: the cheapest), ``lora``, ``full`` or ``qlora`` (fine-tuning with a
    classification head). ``long_text``: how texts longer than ``max_length`` are read -
    ``truncate``, ``head_tail`` (start and end), ``chunks`` (whole, in overlapping windows) or ``auto``
    (from the training texts' token lengths). ``hybrid``: mix the TF-IDF model's probabilities into
    the model's - ``auto`` keeps the mix only when it beats the model alone on validation (and the
    validation split is large enough to choose on, see ``train.selection``).
    """

    name: str = "minilm-l6"
    method: Literal["auto", "fewshot", "head", "full", "lora", "qlora"] = "auto"
    max_length: int | None = Field(None, ge=8)
    long_text: Literal["auto", "truncate", "head_tail", "chunks"] = "auto"
    hybrid: Literal["auto", "on", "off"] = "auto"
    lora: LoraConfig = Field(default_factory=LoraConfig)
    # Dropout on attention probabilities while training. "auto": 0 for LoRA (the fused attention
    # kernel then runs: less time and memory; LoRA's own dropout regularises), the model's own for
    # full fine-tuning. None: the model's own value.
    attention_dropout: Literal["auto"] | Annotated[float, Field(ge=0.0, lt=1.0)] | None = "auto"
    fewshot: FewshotConfig = Field(default_factory=FewshotConfig)


class EarlyStoppingConfig(_Section):
    metric: str = "macro_f1"
    patience: int = Field(2, ge=1)
    min_delta: float = Field(0.0, ge=0.0)


class TrainConfig(_Section):
    epochs: float = Field(3.0, gt=0)
    batch_size: int = Field(16, ge=1)
    # Padded tokens per training batch: batches of similar length, more rows when texts are short.
    # "auto": batch_size x the mean token length of the training texts; 0: fixed batch_size.
    batch_tokens: Literal["auto"] | Annotated[int, Field(ge=0)] = "auto"
    eval_batch_size: int = Field(64, ge=1)
    learning_rate: float | None = Field(None, gt=0)  # None: by method (default_learning_rate)
    weight_decay: float = Field(0.01, ge=0)
    warmup_ratio: float = Field(0.06, ge=0, lt=1)
    seed: int = 42
    class_weights: Literal["auto", "none"] | dict[str, float] = "none"
    loss: Literal["auto", "cross_entropy", "bce", "focal"] = "auto"
    focal_gamma: float = Field(2.0, ge=0)
    early_stopping: EarlyStoppingConfig | None = Field(default_factory=EarlyStoppingConfig)
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    group_by_length: bool = True
    threads: int | None = Field(None, ge=1)
    max_steps: int | None = Field(None, ge=1)
    max_train_minutes: float | None = Field(None, gt=0)
    eval_every: Literal["epoch"] | int = "epoch"
    threshold: float = Field(0.5, gt=0, lt=1)
    tune_thresholds: bool = True
    # What the validation split may choose (best checkpoint, early stopping, thresholds, the hybrid):
    # "validation" lets it, "fixed" only reports on it, "auto" lets it when it has enough texts.
    selection: Literal["auto", "validation", "fixed"] = "auto"


def default_learning_rate(method: str) -> float:
    """The learning rate used when ``train.learning_rate`` is unset.

    LoRA trains few parameters and wants a larger step than full fine-tuning. Contrastive
    fine-tuning of a sentence encoder (``fewshot``) takes SetFit's 2e-5: it runs at least
    ``model.fewshot.min_steps`` (200) steps of pairs, enough at that rate (chosen on held-out
    training rows, see docs/training.md).

    Example:
        >>> default_learning_rate("lora")
        0.001
    """
    return {"full": 5e-5, "fewshot": 2e-5, "head": 5e-5}.get(method, 1e-3)


class OutputConfig(_Section):
    dir: str = "runs"
    name: str | None = None
    overwrite: bool = False


class SearchRange(_Section):
    """A numeric search range ``{low, high}``, optionally on a log scale or in steps."""

    low: int | float
    high: int | float
    log: bool = False
    step: int | float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _consistent(self) -> SearchRange:
        if self.low >= self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and self.step is not None:
            raise ValueError("a range is either log-scaled or stepped, not both")
        if self.log and self.low <= 0:
            raise ValueError("a log-scaled range needs low > 0")
        return self


#: Validation metrics a study can optimise (the test split is never an objective).
TUNE_METRICS = ("macro_f1", "accuracy", "micro_f1", "loss")


class TuneConfig(_Section):
    """Hyperparameter search: ``space`` maps dotted config keys to choices or ranges.

    The objective is always measured on the validation split. Every trial trains under the same
    budget: ``trial_epochs`` (sets ``train.epochs``) and ``trial_minutes`` (sets
    ``train.max_train_minutes``, a cap). ``baseline`` enqueues the config's own values as the first
    trial, so the default is measured under that budget too and a winner must beat it there:
    ``None`` does so when those values lie in the space, ``True`` requires it, ``False`` skips it.
    """

    space: dict[str, list[Any] | SearchRange] = Field(default_factory=dict)
    metric: str = "macro_f1"
    direction: Literal["auto", "maximize", "minimize"] = "auto"
    sampler: Literal["tpe", "random", "grid"] = "tpe"
    pruner: Literal["median", "hyperband", "none"] = "median"
    startup_trials: int = Field(3, ge=0)
    warmup_evals: int = Field(0, ge=0)
    trials: int = Field(20, ge=1)
    trial_minutes: float | None = Field(None, gt=0)
    trial_epochs: float | None = Field(None, gt=0)
    baseline: bool | None = None
    timeout_minutes: float | None = Field(None, gt=0)
    study: str | None = None
    storage: str | None = None
    seed: int = 42
    heartbeat_seconds: int = Field(10, ge=1)

    @field_validator("space", mode="before")
    @classmethod
    def _space_entries(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        out: dict[str, Any] = {}
        for key, entry in value.items():
            if isinstance(entry, list):
                out[key] = entry
            elif isinstance(entry, dict):
                out[key] = _search_range(str(key), entry)
            else:
                raise ConfigError(
                    f"tune.space.{key}: {entry!r} is neither a list of choices nor a range",
                    hint="write a list such as [4, 8, 16] or a range {low: 1.0e-5, high: 1.0e-3, log: true}",
                )
        return out

    @field_validator("metric")
    @classmethod
    def _validation_metric(cls, value: str) -> str:
        name = value.lower()
        for prefix in ("eval_", "validation_", "val_"):
            name = name.removeprefix(prefix)
        if name.startswith("test"):
            raise ValueError("the objective is measured on the validation split, never on test")
        if name not in TUNE_METRICS:
            raise ValueError(f"unknown metric '{value}'; {suggestion(name, TUNE_METRICS, 'metric')}")
        return name

    def resolved_direction(self) -> Literal["maximize", "minimize"]:
        """``direction``, with ``auto`` meaning minimise the loss and maximise everything else."""
        if self.direction != "auto":
            return self.direction
        return "minimize" if self.metric == "loss" else "maximize"


def _search_range(key: str, entry: dict[str, Any]) -> SearchRange:
    try:
        return SearchRange.model_validate(entry)
    except ValidationError as exc:
        errors = exc.errors()
        err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        field = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            best = nearest(field, SearchRange.model_fields)
            hint = (f"did you mean '{best}'? " if best else "") + "A range has low, high, log, step"
            raise ConfigError(f"tune.space.{key}: unknown range key '{field}'", hint=hint) from None
        where = f" '{field}'" if field else ""
        msg = err["msg"].removeprefix("Value error, ")
        raise ConfigError(f"tune.space.{key}: bad range{where}: {msg}") from None


class TrackConfig(_Section):
    """Experiment tracking: ``backend`` (none, mlflow, wandb, tensorboard), where, and under which name."""

    backend: str = "none"
    uri: str | None = None
    experiment: str | None = None

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        from classifine.experiments.tracking import tracker_names

        names = tracker_names()
        if value not in names:
            raise ValueError(f"unknown tracker '{value}'; {suggestion(value, names, 'tracker')}")
        return value


class Config(_Section):
    """A whole classifine run."""

    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    track: TrackConfig = Field(default_factory=TrackConfig)
    tune: TuneConfig | None = None

    @model_validator(mode="after")
    def _space_matches_config(self) -> Config:
        # Every searched key and value must be one this config accepts, before any trial runs.
        if self.tune is not None and self.tune.space:
            from classifine.experiments.space import check_space

            check_space(self)
        return self

    def to_yaml(self) -> str:
        raw = self.model_dump(mode="json")
        if raw.get("tune") is None:
            raw.pop("tune", None)
        return yaml.safe_dump(raw, sort_keys=False)


def _fields_at(model: type[BaseModel], path: tuple[str | int, ...]) -> list[str]:
    """Valid keys of the (nested) section that ``path`` points into."""
    current: Any = model
    for part in path[:-1]:
        if isinstance(part, int) or not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        field = current.model_fields.get(part)
        if field is None:
            return []
        ann = field.annotation
        args = [a for a in getattr(ann, "__args__", ()) if isinstance(a, type) and issubclass(a, BaseModel)]
        current = args[0] if args else ann
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _explain(exc: ValidationError, source: str) -> ConfigError:
    err = exc.errors()[0]
    loc = tuple(err["loc"])
    dotted = ".".join(str(p) for p in loc)
    if err["type"] == "extra_forbidden":
        key = str(loc[-1])
        valid = _fields_at(Config, loc)
        best = nearest(key, valid)
        hint = f"did you mean '{best}'?" if best else ""
        hint += f" Valid keys here: {', '.join(valid)}"
        return ConfigError(f"unknown key '{dotted}'", where=source, hint=hint.strip())
    value = err.get("input")
    shown = repr(value) if not isinstance(value, dict) else "a mapping"
    msg = err["msg"].removeprefix("Value error, ")
    return ConfigError(f"bad value {shown} for '{dotted}': {msg}", where=source)


def _parse_value(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` overrides (values parsed as YAML) to a raw config mapping.

    Example:
        >>> apply_overrides({}, ["train.epochs=2"])
        {'train': {'epochs': 2}}
    """
    for item in overrides:
        if "=" not in item:
            raise ConfigError(
                f"override '{item}' is not of the form section.key=value", hint="e.g. train.epochs=2"
            )
        key, value = item.split("=", 1)
        parts = key.strip().split(".")
        if parts[:2] == ["tune", "space"] and len(parts) > 2:
            parts = [*parts[:2], ".".join(parts[2:])]  # a space key is itself a dotted config key
        node = raw
        for part in parts[:-1]:
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise ConfigError(f"override '{key}': '{part}' is a value, not a section")
            node = nxt
        node[parts[-1]] = _parse_value(value)
    return raw


def config_from_dict(raw: dict[str, Any], source: str = "config") -> Config:
    """Validate a raw mapping into a :class:`Config`, with user-facing errors."""
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise _explain(exc, source) from None
    except ConfigError as exc:  # raised by a section's own check (e.g. tune.space): add the file
        exc.where = exc.where or source
        raise


def read_yaml_mapping(path: str | Path, what: str = "config", option: str = "the path") -> dict[str, Any]:
    """Read a YAML (or JSON) file that must hold a mapping; every failure is a ConfigError with the place.

    Example:
        >>> read_yaml_mapping("labels.yaml", "descriptions", "--descriptions")
        {'spam': 'unsolicited advertising'}
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{what} file not found", where=str(p), hint=f"check {option}")
    try:
        loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{p}:{mark.line + 1}" if mark is not None else str(p)
        raise ConfigError(f"invalid YAML: {getattr(exc, 'problem', exc)}", where=where) from None
    except UnicodeDecodeError:
        raise ConfigError(
            f"{what} file is not UTF-8 text", where=str(p), hint="re-encode it as UTF-8"
        ) from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{what} must be a YAML mapping", where=str(p))
    return loaded


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> Config:
    """Read a YAML config (or start from defaults when ``path`` is None) and apply overrides."""
    raw: dict[str, Any] = {}
    source = "overrides"
    if path is not None:
        source = str(path)
        raw = read_yaml_mapping(path)
    raw = apply_overrides(raw, overrides or [])
    return config_from_dict(raw, source)
