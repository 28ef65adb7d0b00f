"""Node sets as the inventory understands them: ClusterShell syntax (`io[1-16]`,
`io[1-2,10,12]`, `io[1-16]!io3`), with groups taken from the inventory itself:

- `@ROLE`: the nodes that have that role (`db set node ... --roles io,lustre`);
- `@KIND`: the members of every cell of that kind (`@lustre`, `@nfs`, `@management`);
  a role and a kind of the same name make one group (the union);
- `@cell:NAME`: the members of one cell.

A group the inventory does not know is an error, not an empty set (ClusterShell alone
would expand it to nothing).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from ClusterShell.NodeSet import NodeSet, NodeSetException
from ClusterShell.NodeUtils import GroupResolver, GroupResolverError, GroupSource

from tandem.inventory.errors import InventoryInvalid

CELL_SOURCE = "cell"
_GROUP = re.compile(r"@(?:([A-Za-z0-9_.-]+):)?([A-Za-z0-9_.*-]+)")


class NodeGroups:
    """The groups of one inventory state: name -> member names, per source."""

    def __init__(self, groups: Mapping[str, Iterable[str]],
                 cells: Mapping[str, Iterable[str]]) -> None:
        self.groups = {name: sorted(set(nodes)) for name, nodes in groups.items()}
        self.cells = {name: sorted(set(nodes)) for name, nodes in cells.items()}
        self.resolver = GroupResolver(GroupSource("inventory", _folded(self.groups)))
        self.resolver.add_source(GroupSource(CELL_SOURCE, _folded(self.cells)))

    def expand(self, text: str, what: str = "node set") -> list[str]:
        """The node names of `text`, sorted as ClusterShell sorts them; InventoryInvalid
        for a text that does not parse or names an unknown group."""
        for source, name in _GROUP.findall(text):
            known = self.cells if source == CELL_SOURCE else self.groups
            if source not in ("", CELL_SOURCE):
                raise InventoryInvalid(f"{what} {text!r}: unknown group source {source!r} "
                                       f"(use @GROUP or @{CELL_SOURCE}:NAME)")
            if name not in known:
                names = ", ".join(sorted(known)) or "none"
                raise InventoryInvalid(f"{what} {text!r}: unknown group @{_qualified(source, name)}"
                                       f" (known: {names})")
        try:
            return list(NodeSet(text, resolver=self.resolver))
        except (NodeSetException, GroupResolverError) as exc:
            raise InventoryInvalid(f"{what} {text!r}: not a node set: {exc}") from None

    def expand_ordered(self, text: str, what: str = "node set") -> list[str]:
        """The node names of `text` in the order written (`io6,io5` is io6 first; a
        range within one part in ClusterShell's order): for lists of preference such
        as a failover domain. The names are those of `expand`."""
        names = self.expand(text, what)
        members = set(names)
        ordered: dict[str, None] = {}
        for part in _top_level_parts(text):
            for name in self.expand(part, what) if part else ():
                if name in members:
                    ordered.setdefault(name)
        return [*ordered, *(n for n in names if n not in ordered)]


def _top_level_parts(text: str) -> list[str]:
    """`text` cut at the commas outside brackets."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts


def fold(names: Iterable[str]) -> str:
    """Names as one node set (`io[1-4]`); "" for none."""
    return str(NodeSet.fromlist(list(names)))


def _folded(groups: Mapping[str, list[str]]) -> dict[str, str]:
    return {name: str(NodeSet.fromlist(nodes)) for name, nodes in groups.items() if nodes}


def _qualified(source: str, name: str) -> str:
    return f"{source}:{name}" if source else name
