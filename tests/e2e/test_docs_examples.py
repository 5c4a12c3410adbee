"""The Python examples of the README and docs/python-api.md run as written (real model, real data)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def python_blocks(doc: Path) -> list[str]:
    """The ```python blocks of a Markdown file, in order."""
    return BLOCK.findall(doc.read_text(encoding="utf-8"))


@pytest.mark.parametrize("doc", ["README.md", "docs/python-api.md"])
def test_python_examples_run(doc: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = python_blocks(ROOT / doc)
    assert blocks, f"{doc} has no python examples"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for number, code in enumerate(blocks, 1):
        try:
            exec(compile(code, f"{doc}, python block {number}", "exec"), namespace)  # noqa: S102
        except Exception as exc:  # pragma: no cover - the message says which block failed
            raise AssertionError(f"{doc}, python block {number} failed: {exc!r}") from exc
    assert any(p.name == "model" for p in (tmp_path / "runs").rglob("model"))
