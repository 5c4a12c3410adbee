"""Trainer callbacks: a progress bar with loss and validation metric, per-epoch log lines, a time budget.

Example:
    >>> callbacks = [ProgressCallback("macro_f1", show_bar=True), TimeBudgetCallback(10.0)]
"""

from __future__ import annotations

import logging
import time
from typing import Any

from transformers import TrainerCallback

logger = logging.getLogger(__name__)


class ProgressCallback(TrainerCallback):
    """A tqdm bar showing the running loss and the last validation metric; one log line per evaluation."""

    def __init__(self, metric: str, show_bar: bool = True) -> None:
        self.metric = metric
        self.show_bar = show_bar
        self.bar: Any = None
        self.postfix: dict[str, str] = {}

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.show_bar and state.is_world_process_zero:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=state.max_steps,
                initial=state.global_step,
                desc="training",
                unit="step",
                dynamic_ncols=True,
                leave=False,
            )

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        if logs and "loss" in logs:
            self.postfix["loss"] = f"{logs['loss']:.4f}"
            if self.bar is not None:
                self.bar.set_postfix(self.postfix, refresh=False)

    def on_evaluate(
        self, args: Any, state: Any, control: Any, metrics: dict[str, float] | None = None, **kwargs: Any
    ) -> None:
        if not metrics:
            return
        key = f"eval_{self.metric}"
        if key in metrics:
            self.postfix[f"val_{self.metric}"] = f"{metrics[key]:.4f}"
            if self.bar is not None:
                self.bar.set_postfix(self.postfix, refresh=True)
        shown = ", ".join(
            f"{k[5:]}={v:.4f}"
            for k, v in metrics.items()
            if k.startswith("eval_") and k[5:] in ("loss", "accuracy", "macro_f1", "micro_f1")
        )
        logger.info("epoch %.2f (step %d): validation %s", state.epoch or 0.0, state.global_step, shown)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class TimeBudgetCallback(TrainerCallback):
    """Stop cleanly once ``minutes`` of training have passed: evaluate, save, then end.

    The run keeps its best checkpoint, so an interrupted budget still yields a usable artifact.
    """

    def __init__(self, minutes: float) -> None:
        self.seconds = minutes * 60.0
        self.start = 0.0
        self.fired = False

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.start = time.monotonic()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if not self.fired and time.monotonic() - self.start >= self.seconds:
            self.fired = True
            logger.info(
                "time budget of %.1f min spent at step %d: stopping", self.seconds / 60, state.global_step
            )
            control.should_training_stop = True
            if args.eval_strategy != "no":
                control.should_evaluate = True
            control.should_save = True
        return control


class StateCallback(TrainerCallback):
    """Write the training seconds spent so far into every checkpoint, so a resumed run counts them."""

    def __init__(self, seconds_before: float = 0.0) -> None:
        self.before = seconds_before
        self.start = time.perf_counter()

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.start = time.perf_counter()

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        import json
        from pathlib import Path

        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if state.is_world_process_zero and folder.is_dir():
            seconds = self.before + time.perf_counter() - self.start
            (folder / "classifine-state.json").write_text(json.dumps({"seconds": seconds}), encoding="utf-8")
