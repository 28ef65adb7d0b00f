"""Helpers of the management toolkit's tests (the `ctx` and `lines` fixtures are in
conftest): writing the files a tree needs."""

from __future__ import annotations

from pathlib import Path


def write(path: Path, text: str, mode: int = 0o644) -> Path:
    """Write `text` at `path` (parents made as needed) with permissions `mode`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path
