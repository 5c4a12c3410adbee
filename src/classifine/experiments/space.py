"""The search space of a study: dotted config keys mapped to choices or numeric ranges.

A space is written in the ``tune.space`` section of a config::

    tune:
      space:
        train.learning_rate: {low: 1.0e-4, high: 3.0e-3, log: true}
        model.lora.r: [4, 8, 16]
        model.lora.target_modules: [attention, all-linear]

Keys are checked against the config (a misspelt key names the nearest valid one) and every
choice, and both ends of every range, are validated as the config would validate them, so a
bad space fails when the config is loaded, before any trial runs. ``attention`` as a LoRA target
means the model family's attention projections (the config's ``auto``).

Example:
    >>> params = parse_space(cfg.tune.space)
    >>> values = {p.key: p.suggest(trial) for p in params}
    >>> trial_cfg = config_with(cfg, values)
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from classifine.config import Config, SearchRange, config_from_dict
from classifine.errors import ConfigError, nearest

if TYPE_CHECKING:
    import optuna

#: Sections a study may not search over: they describe the study itself and where trials go.
RESERVED_SECTIONS = ("tune", "track", "output")
#: Values that stand for another value of one key (``attention`` = the family's attention targets).
ALIASES: dict[str, dict[str, Any]] = {"model.lora.target_modules": {"attention": "auto"}}

OptunaValue = None | bool | int | float | str


def _label(value: Any) -> OptunaValue:
    """What Optuna stores for a choice: the value itself, or JSON for lists and mappings."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value, sort_keys=True)


@dataclass(frozen=True)
class Param:
    """One searched key: either ``choices`` (categorical) or a numeric ``range``."""

    key: str
    choices: tuple[Any, ...] = ()
    range: SearchRange | None = None

    @property
    def labels(self) -> tuple[OptunaValue, ...]:
        return tuple(_label(c) for c in self.choices)

    @property
    def is_int(self) -> bool:
        r = self.range
        numbers = (r.low, r.high, r.step) if r is not None else ()
        return all(isinstance(v, int) and not isinstance(v, bool) for v in numbers if v is not None)

    def decode(self, label: Any) -> Any:
        """The config value of an Optuna parameter value (aliases resolved)."""
        value = label
        if self.choices:
            value = dict(zip(self.labels, self.choices, strict=True)).get(label, label)
        return ALIASES.get(self.key, {}).get(value, value) if isinstance(value, str) else value

    def suggest(self, trial: optuna.Trial) -> Any:
        """Ask ``trial`` for this parameter; return the config value."""
        if self.range is None:
            return self.decode(trial.suggest_categorical(self.key, self.labels))
        r = self.range
        if self.is_int:
            return trial.suggest_int(self.key, int(r.low), int(r.high), step=int(r.step or 1), log=r.log)
        return trial.suggest_float(self.key, float(r.low), float(r.high), step=r.step, log=r.log)

    def grid_labels(self) -> list[OptunaValue]:
        """Every value a grid search tries; a range needs a ``step``."""
        if self.range is None:
            return list(self.labels)
        r = self.range
        if r.step is None:
            raise ConfigError(
                f"grid search cannot enumerate the range of '{self.key}'",
                hint="give it a step ({low, high, step}) or a list of values, or use --sampler tpe|random",
            )
        n = int(math.floor((r.high - r.low) / r.step + 1e-9))
        if self.is_int:
            return [int(r.low) + i * int(r.step) for i in range(n + 1)]
        return [round(float(r.low) + i * float(r.step), 12) for i in range(n + 1)]

    def candidates(self) -> list[Any]:
        """Config values that must validate: every choice, or both ends of the range."""
        if self.range is None:
            return [self.decode(label) for label in self.labels]
        return [self.range.low, self.range.high]


def parse_space(space: Mapping[str, Sequence[Any] | SearchRange]) -> list[Param]:
    """Turn the ``tune.space`` mapping into :class:`Param` objects, in the order written.

    Example:
        >>> [p.key for p in parse_space({"model.lora.r": [4, 8]})]
        ['model.lora.r']
    """
    params = []
    for key, entry in space.items():
        if isinstance(entry, SearchRange):
            params.append(Param(key, range=entry))
            continue
        choices = tuple(entry)
        if not choices:
            raise ConfigError(
                f"tune.space.{key}: the list of choices is empty", hint="give one or more values"
            )
        labels = [_label(c) for c in choices]
        if len(set(map(repr, labels))) != len(labels):
            raise ConfigError(f"tune.space.{key}: a choice is listed twice", hint="list each value once")
        params.append(Param(key, choices=choices))
    return params


def _section_of(annotation: Any) -> type[BaseModel] | None:
    candidates = [annotation, *getattr(annotation, "__args__", ())]
    for c in candidates:
        if isinstance(c, type) and issubclass(c, BaseModel):
            return c
    return None


def config_keys(model: type[BaseModel] = Config, prefix: str = "") -> Iterator[str]:
    """Every dotted key of the config (sections and values), e.g. ``model.lora.r``."""
    for name, field in model.model_fields.items():
        dotted = f"{prefix}{name}"
        yield dotted
        section = _section_of(field.annotation)
        if section is not None and section is not SearchRange:
            yield from config_keys(section, dotted + ".")


def check_key(key: str) -> None:
    """Raise a ConfigError naming the nearest valid key unless ``key`` is a searchable config key.

    Example:
        >>> check_key("train.learnig_rate")
        Traceback (most recent call last):
        ConfigError: tune.space: 'train.learnig_rate' is not a config key. did you mean 'train.learning_rate'?
    """
    valid = [k for k in config_keys() if k.split(".")[0] not in RESERVED_SECTIONS]
    if key.split(".")[0] in RESERVED_SECTIONS:
        raise ConfigError(
            f"tune.space: '{key}' cannot be searched",
            hint=f"the {', '.join(RESERVED_SECTIONS)} sections describe the study, not a trial",
        )
    if key not in valid:
        best = nearest(key, valid)
        raise ConfigError(
            f"tune.space: '{key}' is not a config key",
            hint=f"did you mean '{best}'?" if best else "use a dotted key such as train.learning_rate",
        )


def set_dotted(raw: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """Set ``a.b.c`` in a nested mapping (creating sections; ``None`` sections become mappings)."""
    parts = key.split(".")
    node = raw
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[parts[-1]] = value
    return raw


def base_mapping(cfg: Config) -> dict[str, Any]:
    """The config as a plain mapping without its ``tune`` section (what every trial starts from)."""
    raw = cfg.model_dump(mode="json")
    raw.pop("tune", None)
    return raw


def config_with(cfg: Config, values: Mapping[str, Any], source: str = "trial") -> Config:
    """``cfg`` (without its ``tune`` section) with searched ``values`` applied, validated.

    Example:
        >>> config_with(cfg, {"model.lora.r": 16}).model.lora.r
        16
    """
    raw = base_mapping(cfg)
    for key, value in values.items():
        set_dotted(raw, key, copy.deepcopy(value))
    return config_from_dict(raw, source)


def trial_budget(cfg: Config, raw: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """Set the study's per-trial budget in a trial's ``raw`` config (unless a searched key sets it).

    ``tune.trial_epochs`` sets ``train.epochs``, ``tune.trial_minutes`` ``train.max_train_minutes``.
    """
    assert cfg.tune is not None
    budget = {"train.epochs": cfg.tune.trial_epochs, "train.max_train_minutes": cfg.tune.trial_minutes}
    for key, value in budget.items():
        if value is not None and key not in values:
            set_dotted(raw, key, value)
    return raw


def _base_value(cfg: Config, key: str) -> Any:
    node: Any = cfg.model_dump(mode="json")
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if node is None and key == "train.learning_rate" and cfg.model.method != "auto":
        # (with method auto the default step depends on the data, so it is not known here)
        from classifine.config import default_learning_rate

        return default_learning_rate(cfg.model.method)
    return node


def _label_of(param: Param, value: Any) -> tuple[bool, OptunaValue]:
    """``(True, label)`` when the config value ``value`` is a point of ``param``'s space."""
    if param.range is None:
        wanted = param.decode(_label(value))
        found = [label for label in param.labels if param.decode(label) == wanted]
        return (True, found[0]) if found else (False, None)
    r = param.range
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not r.low <= value <= r.high:
        return False, None
    if r.step is not None and abs((value - r.low) / r.step - round((value - r.low) / r.step)) > 1e-9:
        return False, None
    return True, int(value) if param.is_int else float(value)


def baseline_labels(cfg: Config) -> dict[str, OptunaValue] | None:
    """The Optuna parameters that stand for the config's own values, for the baseline trial.

    None when ``tune.baseline`` is off, or unset and some searched key's value lies outside the
    space; a ConfigError when ``tune.baseline: true`` and it does.

    Example:
        >>> baseline_labels(load_config("examples/tune-trec-6.yaml"))["model.lora.target_modules"]
        'attention'
    """
    if cfg.tune is None or cfg.tune.baseline is False:
        return None
    labels: dict[str, OptunaValue] = {}
    for param in parse_space(cfg.tune.space):
        value = _base_value(cfg, param.key)
        inside, label = _label_of(param, value)
        if not inside:
            if cfg.tune.baseline:
                raise ConfigError(
                    f"tune.baseline: the config's own {param.key} ({value!r}) is outside its space",
                    hint=f"add it to tune.space.{param.key}, or set tune.baseline: false",
                )
            return None
        labels[param.key] = label
    return labels


def check_space(cfg: Config) -> None:
    """Check every key and value of ``cfg.tune.space`` against the config; raise a ConfigError.

    Example:
        >>> check_space(load_config("examples/tune-trec-6.yaml"))
    """
    if cfg.tune is None:
        return
    params = parse_space(cfg.tune.space)
    for param in params:
        check_key(param.key)
        for value in param.candidates():
            try:
                config_with(cfg, {param.key: value})
            except ConfigError as exc:
                raise ConfigError(
                    f"tune.space.{param.key}: the value {value!r} is rejected ({exc.message})",
                    hint="remove it or change it to a value the config accepts",
                ) from None
    baseline_labels(cfg)


def grid_points(params: Sequence[Param], seed: int) -> list[dict[str, OptunaValue]]:
    """Every combination of the grid, in a seeded random order (so a partial grid is a fair sample)."""
    axes = [p.grid_labels() for p in params]
    points = [dict(zip([p.key for p in params], combo, strict=True)) for combo in itertools.product(*axes)]
    random.Random(seed).shuffle(points)
    return points


def decode_params(params: Sequence[Param], stored: Mapping[str, Any]) -> dict[str, Any]:
    """Config values of a finished trial's stored parameters."""
    by_key = {p.key: p for p in params}
    return {k: by_key[k].decode(v) if k in by_key else v for k, v in stored.items()}
