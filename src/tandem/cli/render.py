"""Output helpers shared by the commands: tables for people, JSON for programs, and a
progress line on stderr for long work."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any


def print_json(data: Any) -> None:
    """One JSON document on stdout."""
    print(json.dumps(data, indent=2, sort_keys=False, default=str))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> None:
    """A table on stdout (plain when stdout is not a terminal)."""
    # Imported here: rich costs ~40 ms, which `--json` callers (monitoring) need not pay.
    from rich.console import Console
    from rich.table import Table

    out = Table(title=title, show_edge=False, pad_edge=False, box=None,
                header_style="bold")
    for header in headers:
        out.add_column(header, overflow="fold")
    for row in rows:
        out.add_row(*(str(cell) for cell in row))
    Console(width=200 if not sys.stdout.isatty() else None, soft_wrap=False).print(out)


def progress_line(message: str) -> None:
    """A progress message on stderr, so that stdout stays clean for data."""
    print(f"... {message}", file=sys.stderr, flush=True)
