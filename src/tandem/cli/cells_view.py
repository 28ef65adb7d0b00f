"""How `tandem cells ...` shows an outcome to a person: a table per cell with the
members folded by identical answer (as `clubak -c` does), the services of a cell with
where they run and where they would rather run, and a progress bar on stderr while
nodes answer (only on a terminal)."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any

from tandem.cli.render import table
from tandem.fleet.report import CellOutcome, Outcome, fold_nodes
from tandem.fleet.transport import NodeResult


def show(outcome: Outcome) -> None:
    """Every cell's table on stdout, then one line per cell state and, for status, the
    services that run away from home."""
    for cell in outcome.cells:
        _cell(outcome.operation, cell)
        print()
    counts: dict[str, int] = {}
    for cell in outcome.cells:
        counts[cell.state] = counts.get(cell.state, 0) + 1
    print(f"{len(outcome.cells)} cell{'s' if len(outcome.cells) != 1 else ''}: "
          + ", ".join(f"{n} {state}" for state, n in counts.items()))
    moved = [f"{s.name} of {c.name} on {s.owner} (home {s.home})"
             for c in outcome.cells for s in c.services if s.migrated]
    if outcome.operation == "status":
        print(f"migrated: {'; '.join(moved)}" if moved else "no service away from home")


def _cell(operation: str, cell: CellOutcome) -> None:
    print(f"cell {cell.name} ({cell.kind}): {cell.state}, version {cell.config_version}")
    rows: list[list[Any]] = []
    for nodes, one in fold_nodes(cell.nodes):
        row: list[Any] = [nodes, one.state, one.detail]
        if operation == "status":
            row.append(", ".join(one.services) or "-")
        rows.append(row)
    headers = ["nodes", "state", "detail"] + (["runs"] if operation == "status" else [])
    table(headers, rows)
    if operation == "status" and cell.services:
        print(f"services, as {cell.seen_by} sees them:")
        table(["service", "state", "on", "home", ""],
              [[s.name, s.state, s.owner or "-", s.home or "-",
                "MIGRATED" if s.migrated else ""] for s in cell.services])


class ProgressBar:
    """A bar on stderr counting the nodes that answered; nothing when stderr is not a
    terminal. Use as a context manager around the operation."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> ProgressBar:
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import Progress

            self._bar = Progress(console=Console(stderr=True), transient=True)
            self._bar.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()

    def begin(self, total: int) -> None:
        if self._bar is not None:
            self._task = self._bar.add_task(f"{self.label}: {total} nodes", total=total)

    def done(self, result: NodeResult) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task)
