"""Importing classifine's modules changes nothing global: no matplotlib backend, no warning filters,
and no Streamlit outside the web page itself."""

from __future__ import annotations

import subprocess
import sys


def test_imports_leave_matplotlib_and_warnings_alone() -> None:
    code = """
import warnings, matplotlib
import torch, transformers, peft, sklearn.linear_model, scipy.special, pandas, typer  # their own filters
matplotlib.rcParams["backend"] = "svg"
before = list(warnings.filters)
import classifine.evaluation.plots, classifine.training.fit, classifine.api, classifine.cli.main
import sys, classifine.ui.client, classifine.ui.batch, classifine.server.review
assert "streamlit" not in sys.modules, "the web page's Streamlit is imported outside 'classifine ui'"
assert matplotlib.rcParams["backend"] == "svg", matplotlib.rcParams["backend"]
added = [f for f in warnings.filters if f not in before]
assert not added, added
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
