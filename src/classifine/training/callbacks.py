"""Trainer callbacks: progress (bar or log lines), a planned time budget, state for resumes.

Example:
    >>> schedule = BudgetSchedule(total=100, warmup=6)
    >>> callbacks = [ProgressCallback("macro_f1", show_bar=False), BudgetPlanner(costs, schedule, 0.06)]
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from transformers import TrainerCallback

from classifine.training.distributed import any_rank, from_main

logger = logging.getLogger(__name__)


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class ProgressCallback(TrainerCallback):
    """A tqdm bar on a terminal; otherwise one log line every ``every_steps`` steps or ``every_seconds``.

    A line reads ``step 120/560 (21%), 34.2 samples/s, loss 0.2345, ETA 6m12s``; one more line per
    evaluation. ``total_steps`` (when given) returns the planned number of steps, which a time
    budget may revise while training.
    """

    def __init__(
        self,
        metric: str,
        show_bar: bool = True,
        *,
        rows_per_step: float = 1.0,
        total_steps: Any = None,
        every_steps: int | None = None,
        every_seconds: float = 60.0,
    ) -> None:
        self.metric = metric
        self.show_bar = show_bar
        self.rows_per_step = rows_per_step
        self.total_steps = total_steps
        self.every_steps = every_steps
        self.every_seconds = every_seconds
        self.bar: Any = None
        self.postfix: dict[str, str] = {}
        self.loss: float | None = None
        self.start = 0.0
        self.first_step = 0
        self.last_line = 0.0
        self.last_step = 0

    def _total(self, state: Any) -> int:
        planned = self.total_steps() if self.total_steps is not None else None
        return int(planned or state.max_steps)

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.start = self.last_line = time.monotonic()
        self.first_step = self.last_step = state.global_step
        if self.show_bar and state.is_world_process_zero:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=self._total(state),
                initial=state.global_step,
                desc="training",
                unit="step",
                dynamic_ncols=True,
                leave=False,
            )

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.bar is not None:
            total = self._total(state)
            if self.bar.total != total:
                self.bar.total = total
            self.bar.update(state.global_step - self.bar.n)
            return
        if not state.is_world_process_zero:
            return
        now = time.monotonic()
        total = self._total(state)
        every = self.every_steps or max(1, math.ceil(total / 10))
        if now - self.last_line >= self.every_seconds or state.global_step - self.last_step >= every:
            self._line(state, total, now)

    def _line(self, state: Any, total: int, now: float) -> None:
        done = state.global_step - self.first_step
        elapsed = max(now - self.start, 1e-9)
        rate = done * self.rows_per_step / elapsed
        eta = (total - state.global_step) * elapsed / max(done, 1)
        loss = f", loss {self.loss:.4f}" if self.loss is not None else ""
        logger.info(
            "step %d/%d (%d%%), %.1f samples/s%s, ETA %s",
            state.global_step,
            total,
            100 * state.global_step // max(total, 1),
            rate,
            loss,
            _duration(eta),
        )
        self.last_line, self.last_step = now, state.global_step

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        if logs and "loss" in logs:
            self.loss = float(logs["loss"])
            self.postfix["loss"] = f"{self.loss:.4f}"
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


class BudgetSchedule:
    """Learning-rate multiplier: linear warm-up, then linear decay reaching 0 at ``total`` steps.

    ``transformers``' linear schedule with a ``total`` that may be re-planned while training. It is
    an object (not a function) so ``LambdaLR`` stores ``total`` in checkpoints and a resumed run
    keeps its plan.

    Example:
        >>> s = BudgetSchedule(total=10, warmup=2)
        >>> [round(s(k), 2) for k in (0, 1, 2, 6, 10)]
        [0.0, 0.5, 1.0, 0.5, 0.0]
    """

    def __init__(self, total: int, warmup: int) -> None:
        self.total = max(1, total)
        self.warmup = max(0, warmup)
        self.planned = False
        self.anchor = 0  # the step of the last re-plan after warm-up (0: none)
        self.anchor_factor = 1.0  # the multiplier there, which the decay continues from

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return step / max(1, self.warmup)
        if self.anchor and step >= self.anchor:
            return max(0.0, self.anchor_factor * (self.total - step) / max(1, self.total - self.anchor))
        return max(0.0, (self.total - step) / max(1, self.total - self.warmup))

    def replan(self, total: int, step: int) -> None:
        """End at ``total`` instead, the decay continuing from the multiplier at ``step``: no jump up
        when a re-plan lengthens the schedule, no drop when it shortens it.

        Example:
            >>> s = BudgetSchedule(total=10, warmup=0)
            >>> s.replan(20, step=5)  # the multiplier is 0.5 at step 5, and stays so
            >>> [round(s(k), 3) for k in (5, 6, 20)]
            [0.5, 0.467, 0.0]
        """
        if step >= self.warmup and step > 0:
            self.anchor_factor, self.anchor = self(step), step
        self.total = max(1, total)

    def plan(self) -> tuple[int, int, int, float]:
        """What a re-plan decided, for other processes to follow (see :meth:`follow`)."""
        return self.total, self.warmup, self.anchor, self.anchor_factor

    def follow(self, plan: tuple[int, int, int, float]) -> None:
        self.total, self.warmup, self.anchor, self.anchor_factor = plan


@dataclass
class BudgetCosts:
    """What the planner needs besides step times: the budget and the work around training.

    After training come forward passes: the final validation pass in float32
    (``after_tokens_fp32``) and, when the caller scores it, the test split at the training
    precision (``after_tokens``); ``fixed_after`` seconds cover writing the artifact, the TF-IDF
    baseline and the report.
    """

    seconds: float  # the whole budget
    clock_start: float  # time.monotonic() when the budget started
    step_tokens: float  # padded tokens of an average training step
    eval_tokens: float  # tokens of one validation pass
    after_tokens_fp32: float
    after_tokens: float
    fixed_after: float
    steps_per_epoch: int
    eval_every: int | None  # steps between evaluations; None: every epoch; 0: never
    fp32_factor: float = 1.0  # float32 forward time over the training precision's (2 under bf16)
    margin: float = 0.03  # of the budget, for noise on a shared machine


class BudgetPlanner(TrainerCallback):
    """Plan the schedule to a time budget: measure the first steps, then set the total steps.

    After ``calibration`` steps (the first is a warm-up and not counted) it knows seconds per step
    and estimates evaluations, checkpoint writes and the work after training from tokens counts;
    it sets ``schedule.total`` so the learning-rate schedule ends when the budget does, capped by
    the configured epochs. It re-plans every ``replan_every`` steps and after each evaluation
    from the time actually spent, and stops training at the planned step. Should the run fall far
    behind (the machine became much slower), it stops at the budget anyway and says so.
    """

    def __init__(
        self,
        costs: BudgetCosts,
        schedule: BudgetSchedule,
        warmup_ratio: float,
        calibration: int = 6,
        probe: Callable[[], tuple[float, float]] | None = None,
        min_epochs: float | None = None,
    ):
        self.costs = costs
        self.schedule = schedule
        self.warmup_ratio = warmup_ratio
        self.calibration = max(2, calibration)
        self.probe = probe
        self.probed: float | None = None  # forward seconds per token, measured once
        # Fine-tuning is worth it only if the budget covers this many epochs; else give it up
        # (the caller trains a cheaper method instead). None: always fine-tune.
        self.min_epochs = min_epochs
        self.given_up: str | None = None  # why fine-tuning was given up, once it was
        self.step_seconds: list[float] = []
        self.eval_seconds: list[float] = []
        self.save_seconds: list[float] = []
        self.mark = 0.0
        self.step_began = 0.0
        self.cap = 0
        self.stopping = False  # the planned (or a forced) stop is under way: the plan is final
        self.stopped_early = False
        self.replans = 0

    # --- timing ---------------------------------------------------------------------------------
    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.cap = int(state.max_steps)
        self.mark = time.monotonic()
        if not self.schedule.planned:
            self.schedule.total = self.cap
            self.schedule.warmup = round(self.warmup_ratio * self.cap)

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.step_began = time.monotonic()

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self.given_up is not None:  # the Trainer would evaluate and save the interrupted epoch
            control.should_evaluate = control.should_save = False
        return control

    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        now = time.monotonic()
        self.eval_seconds.append(now - self.mark)
        self.mark = now
        self._plan(state)

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        now = time.monotonic()
        self.save_seconds.append(now - self.mark)
        self.mark = now

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        now = time.monotonic()
        self.step_seconds.append(now - self.step_began)
        self.mark = now
        done = len(self.step_seconds)
        if done == self.calibration and self.probe is not None:
            probe_start = time.monotonic()
            self.probed, self.costs.fp32_factor = self.probe()
            self.mark = now = time.monotonic()
            logger.debug("forward probe: %.2f s, float32 %.2fx", now - probe_start, self.costs.fp32_factor)
        if done == self.calibration or (done > self.calibration and done % self._replan_every() == 0):
            self._plan(state)
        if self.given_up is not None:
            control.should_training_stop = True  # no evaluation, no checkpoint: nothing is kept
        elif state.global_step >= self.schedule.total and state.global_step < self.cap:
            self._stop(args, control)
        elif state.global_step < self.schedule.total and any_rank(self._over_budget(now)):
            self.stopped_early = True
            logger.warning(
                "time budget spent at step %d of the %d planned (the machine ran slower than measured): "
                "stopping before the end of the learning-rate schedule",
                state.global_step,
                self.schedule.total,
            )
            self._stop(args, control)
        return control

    # --- planning -------------------------------------------------------------------------------
    def _replan_every(self) -> int:
        return max(10, self.schedule.total // 20)

    def _per_step(self) -> float:
        timed = self.step_seconds[1:] or self.step_seconds  # the first step warms caches up
        return sum(timed) / max(len(timed), 1)

    def _forward_seconds_per_token(self) -> float:
        """Forward-only cost: measured on evaluations once there are some, else by the probe (a
        timed forward pass over validation rows), else guessed as 40% of a training step's."""
        c = self.costs
        if self.eval_seconds and c.eval_tokens > 0:
            return sum(self.eval_seconds) / len(self.eval_seconds) / c.eval_tokens
        if self.probed is not None:
            return self.probed
        return self._per_step() / max(c.step_tokens, 1.0) * 0.4

    def _evals_between(self, start: int, end: int) -> int:
        c = self.costs
        if c.eval_every == 0 or c.eval_tokens <= 0:
            return 0
        every = c.eval_every or c.steps_per_epoch
        scheduled = end // every - start // every
        return scheduled + (0 if end % every == 0 else 1)  # the stop step evaluates too

    def reserve_after(self) -> float:
        """Seconds the work after training will take (final validation pass, test scoring, artifact)."""
        c = self.costs
        tokens = c.after_tokens_fp32 * c.fp32_factor + c.after_tokens
        return (tokens * self._forward_seconds_per_token() + c.fixed_after) * 1.2  # estimates: keep 20% spare

    def _plan(self, state: Any) -> None:
        c = self.costs
        step, per_step = state.global_step, self._per_step()
        if per_step <= 0 or self.stopping:
            return
        eval_s = (
            sum(self.eval_seconds) / len(self.eval_seconds)
            if self.eval_seconds
            else self._forward_seconds_per_token() * c.eval_tokens
        )
        save_s = sum(self.save_seconds) / len(self.save_seconds) if self.save_seconds else 0.0
        left = c.seconds * (1 - c.margin) - (time.monotonic() - c.clock_start) - self.reserve_after()
        future = max(1, int(left / per_step))
        for _ in range(4):  # evaluations depend on the total they shorten: settle in a few rounds
            evals = self._evals_between(step, step + future)
            future = max(1, int((left - evals * (eval_s + save_s)) / per_step))
        total = min(self.cap, step + future)
        if not self.schedule.planned and self._too_short(total):
            return
        if not self.schedule.planned:
            self.schedule.warmup = min(self.schedule.warmup, round(self.warmup_ratio * total))
            self.schedule.planned = True
            logger.info(
                "time budget %.1f min: %.2f s a step measured, planning %d steps (%.2f epochs, "
                "%.1f min kept for what follows training)%s",
                c.seconds / 60,
                per_step,
                total,
                total / max(c.steps_per_epoch, 1),
                self.reserve_after() / 60,
                "" if total < self.cap else ": all configured epochs fit",
            )
        self.schedule.replan(max(total, step), step)  # at most here: stop at this step
        # Under DDP every process follows rank 0's plan: the same schedule, the same stop step.
        self.schedule.follow(from_main(self.schedule.plan()))
        if self.replans == 0 and total <= step:
            logger.warning(
                "the time budget leaves no time to train: what follows training (validation, test "
                "scoring, report) is estimated at %.1f min; raise train.max_train_minutes",
                self.reserve_after() / 60,
            )
        self.replans += 1

    def _too_short(self, total: int) -> bool:
        """Whether the budget leaves fine-tuning under ``min_epochs`` (then it is given up, on every rank)."""
        c = self.costs
        epochs = total / max(c.steps_per_epoch, 1)
        short = self.min_epochs is not None and epochs < self.min_epochs and total < self.cap
        if from_main(short):
            self.given_up = (
                f"the time budget fits {epochs:.2f} of an epoch of fine-tuning ({total} of the "
                f"{c.steps_per_epoch} steps an epoch takes at {self._per_step():.2f} s a step, "
                f"{self.reserve_after() / 60:.1f} min kept for scoring after training)"
            )
            self.stopping = True
        return self.given_up is not None

    def _over_budget(self, now: float) -> bool:
        """Spent: the whole budget, or (once planned) all but what the work after training needs."""
        c = self.costs
        spent = now - c.clock_start
        return spent >= c.seconds or (self.schedule.planned and spent >= c.seconds - self.reserve_after())

    def _stop(self, args: Any, control: Any) -> None:
        """Stop after this step, evaluated and saved exactly once.

        With per-epoch evaluation the Trainer evaluates and saves at the end of the interrupted
        epoch anyway: asking for it here too would evaluate the same weights twice.
        """
        self.stopping = True
        control.should_training_stop = True
        if args.save_strategy == "steps":
            control.should_save = True
            if args.eval_strategy == "steps" and not control.should_evaluate:
                control.should_evaluate = True


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
