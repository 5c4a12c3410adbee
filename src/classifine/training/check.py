"""``classifine validate``: check a config and the data it names, without loading any weights.

Example:
    >>> validate_config_data(load_config("examples/sms-spam.yaml")).splits["train"]
    3158
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from classifine.data.report import DataReport, Finding
from classifine.data.validate import inspect_dataset


@dataclass
class ConfigCheck:
    """What ``classifine validate`` found: the data a config names (as trained on) and its model."""

    source: str
    splits: dict[str, int]
    labels: list[str]
    multi_label: bool
    model: dict[str, str]
    report: DataReport

    @property
    def warnings(self) -> list[Finding]:
        return self.report.warnings

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    def render(self, console: Any) -> None:
        """Print a short summary on a ``rich.console.Console``."""
        kind = "multi-label" if self.multi_label else "single-label"
        console.print(f"[bold]data[/bold]: {self.source}", highlight=False)
        console.print("rows: " + ", ".join(f"{k} {v:,}" for k, v in self.splits.items()))
        shown = ", ".join(self.labels[:20]) + (", ..." if len(self.labels) > 20 else "")
        console.print(f"classes: {len(self.labels)} ({kind}): {shown}", highlight=False)
        console.print(f"[bold]model[/bold]: {self.model['name']} ({self.model['status']})", highlight=False)
        styles = {"error": "bold red", "warning": "yellow", "info": "cyan"}
        for w in self.warnings:
            console.print(f"[{styles[w.severity]}]{w.severity}[/] {w.code}: {w.message}", highlight=False)
        if not self.report.errors:
            console.print("[green]config and data OK[/green]")


def _check_model(name: str) -> dict[str, str]:
    """Resolve ``model.name`` without loading or fetching weights."""
    from classifine.models import zoo

    spec = zoo.resolve(name, fetch=False)
    if spec.packaged:
        from classifine import assets

        fetched = assets.is_fetched(name)
        status = f"packaged preset, {'in the cache' if fetched else 'fetched on first use'}"
    elif Path(spec.source).is_dir():
        status = "local folder"
    else:
        status = "hub id, downloaded on first use (needs network)"
    return {"name": name, "family": spec.family, "source": spec.source, "status": status}


def validate_config_data(cfg: Any) -> ConfigCheck:
    """Load and split the data a :class:`~classifine.config.Config` names and resolve its model (no weights).

    Data problems raise DataError/ConfigError as training would; softer issues are listed as warnings.

    Example:
        >>> validate_config_data(load_config("examples/sms-spam.yaml")).splits["train"]
        3158
    """
    from classifine.data.loading import load_splits

    splits = load_splits(cfg.data)
    model = _check_model(cfg.model.name)
    report = inspect_dataset(splits, name=str(cfg.data.source or cfg.data.train))
    return ConfigCheck(
        source=str(cfg.data.source or cfg.data.train),
        splits={name: len(ds) for name, ds in splits.items()},
        labels=list(splits.label_set.names),
        multi_label=splits.label_set.multi_label,
        model=model,
        report=report,
    )
