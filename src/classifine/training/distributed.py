"""Data-parallel training (DDP): the process group, what only rank 0 does, and the torchrun launch.

``classifine train CONFIG --nproc N`` starts ``N`` processes through ``torchrun``; each runs the
ordinary training path, and ``transformers.Trainer`` shards the batches and averages the gradients
(gloo on CPU, nccl on CUDA). This module adds what the Trainer does not know about: every rank must
agree on one run folder, only rank 0 prepares the work folder, writes the Artifact, the report and
the tracker run, and ``train.batch_size`` stays the *global* batch (each process takes
``batch_size / N``), so a run gives the same updates whatever its process count.

Outside ``torchrun`` (no ``WORLD_SIZE`` above 1 in the environment) every function here is a no-op
or runs its argument directly, so single-process training is unchanged.

Example:
    >>> world().size
    1
    >>> on_main(lambda: "runs/x")  # run on rank 0, result shared with every rank
    'runs/x'
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from classifine import errors
from classifine.config import Config
from classifine.errors import ClassifineError, ConfigError, ModelError

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Rank 0 may evaluate and write the run while the others wait at the last barrier: allow for it.
TIMEOUT = timedelta(hours=2)


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (from torchrun's environment)."""

    rank: int = 0
    local_rank: int = 0
    size: int = 1
    local_size: int = 1

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def world() -> World:
    """The current process's rank and world size (``World()`` outside torchrun).

    Example:
        >>> world().is_main
        True
    """

    def env(name: str, default: int) -> int:
        value = os.environ.get(name, "")
        return int(value) if value.strip().isdigit() else default

    size = env("WORLD_SIZE", 1)
    return World(
        rank=env("RANK", 0),
        local_rank=env("LOCAL_RANK", 0),
        size=size,
        local_size=env("LOCAL_WORLD_SIZE", size),
    )


def backend() -> str:
    """``nccl`` when CUDA is available, else ``gloo``.

    Example:
        >>> backend()
        'gloo'
    """
    import torch

    return "nccl" if torch.cuda.is_available() else "gloo"


def init() -> bool:
    """Join the process group once (when running under torchrun); True when training is distributed.

    The Trainer (through accelerate) finds the group already set up and uses it.
    """
    w = world()
    if not w.distributed:
        return False
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(w.local_rank)
        dist.init_process_group(backend(), timeout=TIMEOUT)
        logger.debug("rank %d of %d joined the %s process group", w.rank, w.size, backend())
    return True


def shutdown() -> None:
    """Leave the process group (``destroy_process_group``) if this process joined one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    """Wait until every rank gets here (no-op in a single process)."""
    if init():
        import torch.distributed as dist

        dist.barrier()


def on_main(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``fn`` on rank 0 only and return its result on every rank (a single process just calls it).

    An error on rank 0 is raised on every rank, so no rank waits for a result that never comes.

    Example:
        >>> on_main(sorted, [3, 1, 2])
        [1, 2, 3]
    """
    if not init():
        return fn(*args, **kwargs)
    import torch.distributed as dist

    payload: list[Any] = [None]
    failure: BaseException | None = None
    if world().is_main:
        try:
            payload = [("ok", fn(*args, **kwargs))]
        except Exception as exc:
            failure = exc
            payload = [("error", _describe(exc))]
    dist.broadcast_object_list(payload, src=0)
    kind, value = payload[0]
    if failure is not None:
        raise failure
    if kind == "error":
        raise _rebuild(value)
    return value  # type: ignore[no-any-return]


def _describe(exc: Exception) -> tuple[str, str, str | None, str | None]:
    if isinstance(exc, ClassifineError):
        return type(exc).__name__, exc.message, exc.where, exc.hint
    return "ModelError", f"rank 0 failed: {type(exc).__name__}: {exc}", None, None


def _rebuild(described: tuple[str, str, str | None, str | None]) -> ClassifineError:
    name, message, where, hint = described
    cls = getattr(errors, name, ModelError)
    if not (isinstance(cls, type) and issubclass(cls, ClassifineError)):
        cls = ModelError
    return cls(message, where=where, hint=hint)


def any_rank(flag: bool) -> bool:
    """True on every rank when ``flag`` is true on any rank (a stop decision all ranks must share).

    Example:
        >>> any_rank(False)
        False
    """
    if not init():
        return flag
    import torch
    import torch.distributed as dist

    device = torch.device("cuda", torch.cuda.current_device()) if backend() == "nccl" else None
    value = torch.tensor([1 if flag else 0], dtype=torch.int32, device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def layout(global_batch: int) -> dict[str, Any]:
    """How a run's batches are spread over processes, for ``metrics.json``.

    Example:
        >>> layout(16)
        {'processes': 1, 'backend': None, 'global_batch_size': 16, 'per_process_batch_size': 16}
    """
    w = world()
    return {
        "processes": w.size,
        "backend": backend() if w.distributed else None,
        "global_batch_size": global_batch,
        "per_process_batch_size": per_process_batch(global_batch, w.size),
    }


def log_layout(global_batch: int, learning_rate: float) -> None:
    """Log (on rank 0) the process count, the global batch and the learning rate of a DDP run."""
    w = world()
    if w.distributed and w.is_main:
        logger.info(
            "data parallel: %d processes (%s), global batch %d = %d x %d per process, learning rate %g "
            "(not scaled: the global batch is train.batch_size whatever the process count)",
            w.size,
            backend(),
            global_batch,
            w.size,
            per_process_batch(global_batch, w.size),
            learning_rate,
        )


def per_process_batch(global_batch: int, processes: int | None = None) -> int:
    """Each process's share of the global batch (default: over this run's processes); a clear error
    when it does not divide evenly.

    Example:
        >>> per_process_batch(16, 2)
        8
    """
    processes = world().size if processes is None else processes
    if processes < 1 or global_batch % processes:
        raise ConfigError(
            f"train.batch_size={global_batch} (the global batch) does not split evenly over "
            f"{processes} processes",
            hint=f"use a multiple of {processes}, e.g. "
            f"train.batch_size={max(processes, global_batch // processes * processes)}",
        )
    return global_batch // processes


def fixed_batches(plan: Any) -> Any:
    """The plan with fixed ``batch_size`` batches instead of token-budget ones (``batch_tokens: 0``).

    Token-budget batches are planned over the whole training split by one process; with several
    processes the Trainer would hand each one whole budget batches, so a step would cover N of them.
    Fixed batches keep ``train.batch_size`` the global batch.

    Example:
        >>> fixed_batches(plan).batch_tokens
        0
    """
    from dataclasses import replace

    if plan.batch_tokens == 0:
        return plan
    if world().is_main:
        logger.info(
            "data parallel: fixed batches of train.batch_size (token-budget batches are single-process)"
        )
    cfg = plan.config.model_copy(deep=True)
    cfg.train.batch_tokens = 0
    return replace(plan, batch_tokens=0, config=cfg)


def from_main(value: T) -> T:
    """Rank 0's ``value`` on every rank (a decision every process must share); itself in one process.

    Example:
        >>> from_main(42)
        42
    """
    if not init():
        return value
    import torch.distributed as dist

    payload = [value]
    dist.broadcast_object_list(payload, src=0)
    return payload[0]  # type: ignore[no-any-return]


def cpu_count() -> int:
    """CPUs this process may use (its affinity mask)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def launch_command(args: Sequence[str], nproc: int) -> list[str]:
    """The ``torchrun`` command that runs ``classifine ARGS`` in ``nproc`` local processes.

    ``--standalone`` picks a free local rendezvous port, so several launches can share a machine.

    Example:
        >>> launch_command(["train", "cfg.yaml"], 2)[1:4]
        ['-m', 'torch.distributed.run', '--standalone']
    """
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nnodes",
        "1",
        "--nproc_per_node",
        str(nproc),
        "-m",
        "classifine.cli.main",
        *args,
    ]


def launch_env(nproc: int) -> dict[str, str]:
    """The environment of the launched processes: the cores shared out, threads that do not spin."""
    import torch

    threads = max(1, cpu_count() // nproc)
    if torch.cuda.is_available():
        threads = max(1, threads)
    return {
        **os.environ,
        "OMP_WAIT_POLICY": "PASSIVE",
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "PYTHONUNBUFFERED": "1",
    }


def launch_training(cfg: Config, args: Sequence[str], nproc: int) -> None:
    """Check the config, data and model once here, then run ``classifine ARGS`` in ``nproc`` processes.

    A mistake in the data or the model name is reported once, before any process starts.

    Example:
        >>> launch_training(cfg, ["train", "cfg.yaml", "output.name=ddp"], 2)
    """
    from classifine.data.loading import prepare, read_splits
    from classifine.training.plan import make_plan

    per_process_batch(cfg.train.batch_size, nproc)
    make_plan(cfg, prepare(read_splits(cfg.data, None), cfg.data))  # loads no weights
    launch(args, nproc)


def launch(args: Sequence[str], nproc: int) -> None:
    """Run ``classifine ARGS`` in ``nproc`` processes with torchrun and wait; raise if any failed.

    The processes' output passes through unchanged, except torchrun's own bookkeeping: its log
    lines, its closing traceback when a process failed, and the second copy of an error line every
    rank printed alike.

    Example:
        >>> launch(["train", "examples/sms-spam.yaml", "output.name=sms-ddp"], 2)
    """
    if nproc < 2:
        raise ConfigError(f"--nproc {nproc}: a launch needs 2 or more processes", hint="drop --nproc")
    cmd = launch_command(args, nproc)
    logger.info("starting %d training processes: torchrun --standalone --nproc_per_node %d", nproc, nproc)
    proc = subprocess.Popen(cmd, env=launch_env(nproc), stderr=subprocess.PIPE, text=True, bufsize=1)
    assert proc.stderr is not None
    failures = _relay(proc.stderr, sys.stderr)
    code = proc.wait()
    if code == 0:
        return
    if failures and all(exit_code == 2 for _, exit_code in failures):
        raise ModelError("distributed training stopped on the error printed above")
    shown = ", ".join(f"local rank {rank} exit code {exit_code}" for rank, exit_code in failures)
    raise ModelError(
        f"distributed training failed ({shown or f'torchrun exit code {code}'})",
        hint="the output above names the cause; --resume continues from the last checkpoint",
    )


_TORCHRUN_LOG = re.compile(r"^[IWE]\d{4} [\d:.]+ \d+ \S*torch/distributed/")
_FAILED = re.compile(r"failed \(exitcode: (-?\d+)\) local_rank: (\d+)")


def _relay(stream: Any, out: Any) -> list[tuple[int, int]]:
    """Copy the launched processes' stderr to ``out`` without torchrun's noise; the failed ranks."""
    failures: list[tuple[int, int]] = []
    errors_seen: set[str] = set()
    held: list[str] = []  # a traceback being read: the ranks' own, or torchrun's closing one
    dropping = False
    for line in stream:
        if dropping:
            continue
        found = _FAILED.search(line)
        if found:
            failures.append((int(found.group(2)), int(found.group(1))))
        if _TORCHRUN_LOG.match(line):
            logger.debug("torchrun: %s", line.rstrip())
            continue
        if held or line.startswith("Traceback (most recent call last):"):
            held.append(line)
            if any("torch/distributed/run.py" in h for h in held):
                dropping = True  # torchrun's exit report: the ranks' output came before it
            elif len(held) >= 6:
                out.writelines(held)
                held = []
            continue
        if line.startswith("error: "):
            if line in errors_seen:
                continue
            errors_seen.add(line)
        out.write(line)
        out.flush()
    if held and not dropping:
        out.writelines(held)
    return failures
