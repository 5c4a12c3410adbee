"""Numeric precision and threads: detect bf16 support at run time and apply thread counts.

bf16 autocast is a large win on CPUs with AMX or AVX512-BF16 and often a loss elsewhere, so
``auto`` picks it only when the CPU (or GPU) supports it natively.

Example:
    >>> resolve_precision("auto") in ("bf16", "fp32")
    True
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

logger = logging.getLogger(__name__)

BF16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})


@functools.cache
def cpu_flags() -> frozenset[str]:
    """CPU feature flags from /proc/cpuinfo (empty on systems without it).

    Example:
        >>> "sse2" in cpu_flags()
        True
    """
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_name() -> str:
    """The CPU model name from /proc/cpuinfo, or the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown"


def bf16_supported() -> bool:
    """True when bf16 math is native: a bf16-capable GPU, or a CPU with AMX / AVX512-BF16."""
    import torch

    if torch.cuda.is_available():
        return bool(torch.cuda.is_bf16_supported())
    return bool(cpu_flags() & BF16_FLAGS)


def resolve_precision(setting: str) -> str:
    """Turn ``train.precision`` (auto | bf16 | fp32) into the precision actually used.

    Example:
        >>> resolve_precision("fp32")
        'fp32'
    """
    if setting == "fp32":
        return "fp32"
    supported = bf16_supported()
    if setting == "bf16":
        if not supported:
            logger.warning(
                "bf16 requested but this CPU lacks AMX/AVX512-BF16: expect it to be slower than fp32"
            )
        return "bf16"
    return "bf16" if supported else "fp32"


def apply_threads(threads: int | None) -> int:
    """Set torch's intra-op threads when given; return the count in use.

    Example:
        >>> apply_threads(1)
        1
    """
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    return int(torch.get_num_threads())


def resolve_threads(threads: int | None) -> int:
    """The intra-op thread count a run will use: ``train.threads``, else torch's current setting.

    Example:
        >>> resolve_threads(2)
        2
    """
    if threads is not None:
        return threads
    import torch

    return int(torch.get_num_threads())
