"""Export: ONNX (fp32) and int8 graphs of a trained run, each checked for parity with torch.

Example:
    >>> from classifine.export import export_run
    >>> export_run("runs/sms-spam-minilm", int8=True).passed  # doctest: +SKIP
    True
"""

from __future__ import annotations

from classifine.export.run import ExportResult, export_run

__all__ = ["ExportResult", "export_run"]
