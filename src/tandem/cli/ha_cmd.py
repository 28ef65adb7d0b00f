"""`tandem ha ...` (being written)."""

from __future__ import annotations

from tandem.cli.common import Sub


def register(sub: Sub) -> None:
    """Adds the `ha` commands (none yet)."""
