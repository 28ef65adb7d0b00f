"""Node sets as the manual's commands take them (`io[1-16]`, `@io3`, `@nfs`): which
members of which cells a selection concerns.

Groups are resolved from the cells themselves: `@NAME` is the members of cell NAME and
`@KIND` those of every cell of that kind (nfs, lustre, ...). A group no cell defines is
an error, never an empty set.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from ClusterShell.NodeSet import NodeSet, NodeSetException
from ClusterShell.NodeUtils import GroupResolver, GroupSource

from tandem.fleet.errors import SelectionError
from tandem.fleet.source import CellTarget, NodeTarget, Selection

_GROUP = re.compile(r"@([A-Za-z0-9_.:-]+)")


def fold(names: Iterable[str]) -> str:
    """Node names folded as ClusterShell writes them (`io[1-4,7]`)."""
    return str(NodeSet.fromlist(list(names)))


def cell_groups(cells: Sequence[CellTarget]) -> dict[str, list[str]]:
    """`@CELL` and `@KIND` groups of these cells."""
    groups: dict[str, list[str]] = {}
    for cell in cells:
        members = [n.name for n in cell.nodes]
        groups[cell.name] = members
        groups.setdefault(cell.kind, []).extend(members)
    return groups


def expand(text: str, groups: Mapping[str, Sequence[str]], what: str) -> set[str]:
    """The node names of node set `text`; SelectionError naming `what` (the option)
    if it does not parse or names an unknown group."""
    for name in _GROUP.findall(text):
        if name not in groups:
            known = ", ".join(f"@{g}" for g in sorted(groups)) or "none"
            raise SelectionError(f"{what} {text!r}: unknown group @{name} (known: {known})")
    resolver = GroupResolver(GroupSource("cells", {g: fold(m) for g, m in groups.items()
                                                   if m}))
    try:
        return set(NodeSet(text, resolver=resolver))
    except NodeSetException as exc:
        raise SelectionError(f"{what} {text!r} is not a node set: {exc}") from None


def selected_names(selection: Selection, known: Iterable[str],
                   groups: Mapping[str, Sequence[str]]) -> set[str]:
    """The selected node names among `known`; SelectionError for a contradictory or
    empty selection, or a node set that names nodes of no cell."""
    known_set = set(known)
    if selection.all and selection.include:
        raise SelectionError("give either all nodes (-a) or a node set (-i), not both")
    if not selection.all and not selection.include:
        raise SelectionError("select nodes: all (-a) or a node set (-i NODESET)")
    chosen = known_set if selection.all else _known(selection.include, "-i", known_set,
                                                    groups)
    if selection.exclude:
        chosen = chosen - _known(selection.exclude, "-e", known_set, groups)
    if not chosen:
        raise SelectionError("the selection leaves no node (everything selected is "
                             "excluded)")
    return chosen


def _known(text: str, what: str, known: set[str],
           groups: Mapping[str, Sequence[str]]) -> set[str]:
    names = expand(text, groups, what)
    if not names:
        raise SelectionError(f"{what} {text!r} names no node")
    unknown = names - known
    if unknown:
        raise SelectionError(f"{what}: unknown node{'s' if len(unknown) > 1 else ''} "
                             f"{fold(unknown)} (in no cell)")
    return names


def selected_members(cells: Sequence[CellTarget], selection: Selection,
                     extra_groups: Mapping[str, Sequence[str]] | None = None,
                     ) -> dict[str, tuple[NodeTarget, ...]]:
    """cell name -> its selected members (cells with none are left out). A source that
    knows more groups (roles, say) passes them in `extra_groups`."""
    known = [n.name for c in cells for n in c.nodes]
    chosen = selected_names(selection, known, {**cell_groups(cells), **(extra_groups or {})})
    members = {c.name: tuple(n for n in c.nodes if n.name in chosen) for c in cells}
    return {name: nodes for name, nodes in members.items() if nodes}
