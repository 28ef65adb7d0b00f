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


def expand(text: str, groups: Mapping[str, Sequence[str]], what: str, *,
           strict: bool = True) -> set[str]:
    """The node names of node set `text`; SelectionError naming `what` (the option)
    if it does not parse or (`strict`) names an unknown group."""
    for name in _GROUP.findall(text) if strict else ():
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
    """The selected node names among `known` (every node there is); SelectionError for
    a contradictory or empty selection, or a node set that names nodes of no cell."""
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


def selected_members(cells: Sequence[CellTarget],
                     selection: Selection) -> dict[str, tuple[NodeTarget, ...]]:
    """cell name -> its selected members, for the cells a source returned for
    `selection` (cells with none are left out).

    The source has checked the selection against every node it knows; here only the
    returned cells are known, so names and groups of other cells (an excluded cell,
    say) are no error. A group the fleet cannot resolve in an include (only @CELL and
    @KIND are known here) is: the members it meant are unknown."""
    if cells and all(c.selected is not None for c in cells):  # the source resolved it
        chosen_by_source = {c.name: tuple(n for n in c.nodes if n.name in (c.selected or ()))
                            for c in cells}
        return {name: nodes for name, nodes in chosen_by_source.items() if nodes}
    groups = cell_groups(cells)
    for name in _GROUP.findall(selection.include):
        if name not in groups:
            raise SelectionError(f"-i {selection.include!r}: group @{name} is not one the "
                                 f"fleet knows (a cell's name or kind)")
    known = {n.name for c in cells for n in c.nodes}
    chosen = known if selection.all else \
        expand(selection.include, groups, "-i", strict=False) & known
    if selection.exclude:
        chosen -= expand(selection.exclude, groups, "-e", strict=False)
    members = {c.name: tuple(n for n in c.nodes if n.name in chosen) for c in cells}
    return {name: nodes for name, nodes in members.items() if nodes}
