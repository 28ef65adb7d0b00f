"""What the fleet operations need from wherever cells are described (the inventory, or
a directory of cell files): the cells a selection names, the configuration to push to
each, and a place to record what the cells answered.

Selections name nodes, as the manual's `stordepha -a | -i LIST | -e LIST` does: a cell is
concerned when one of its members is selected, and an operation acts on the selected
members only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

CELL_KINDS = ("management", "nfs", "lustre", "generic")


@dataclass(frozen=True)
class NodeTarget:
    """A member as the management node reaches it."""

    name: str
    address: str  # on the administration network (what ssh connects to)


@dataclass(frozen=True)
class CellTarget:
    """One cell: its members and the configuration generated for it (if any)."""

    name: str
    kind: str
    nodes: tuple[NodeTarget, ...]
    config_text: str | None = None  # the cell's TOML, validated by the loader
    config_version: int = 0
    config_hash: str = ""  # sha256 of config_text (hex)
    # The members the selection names, when the source resolved it (it knows groups the
    # fleet does not, such as roles); None: the fleet resolves the selection itself.
    selected: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Selection:
    """Which nodes an operation is for: every node (`all`), the node set `include`, and
    never the node set `exclude` (ClusterShell syntax: "io[1-16]", "@lustre")."""

    all: bool = False
    include: str = ""
    exclude: str = ""


@dataclass(frozen=True)
class ServiceLocation:
    """Where a cell said one of its services runs."""

    service: str
    node: str | None  # None: it runs nowhere
    state: str  # as `tandem status` shows it (started, stopped, recovering, ...)


class CellSource(Protocol):
    """The cells, from the inventory or from files."""

    def targets(self, selection: Selection) -> list[CellTarget]:
        """The cells with at least one selected member (all members listed); a
        TandemError naming an unknown node or an empty selection."""
        ...

    def record(self, seen: Mapping[str, Sequence[ServiceLocation]],
               seen_at: float) -> None:
        """Keep where each service of each cell of `seen` ran at `seen_at` (wall
        clock), all at once; a TandemError (one line) if it cannot be kept, e.g. the
        database is down."""
        ...
