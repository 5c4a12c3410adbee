"""Process environment set before torch is imported (every entry point imports this first)."""

from __future__ import annotations

import os


def configure_threads() -> None:
    """Make idle OpenMP threads sleep instead of spin.

    With cores shared (test workers, a server, a second job) spinning threads make a training
    step 3-4x slower. Must run before torch is imported; a user's explicit setting wins.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")


configure_threads()
