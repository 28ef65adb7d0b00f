"""Which changes of a cell's configuration a running daemon cannot apply.

Timing, fencing, votes, services, the quorum disk's cycle and heuristics all change live.
What identifies the cell and carries its traffic does not: the nodes (names, ids,
interfaces and addresses), the networks, the port, the cell's name and its key file. A
configuration that changes one of those is refused with one line naming the key, and the
running configuration stays (restart tandemd on every node to apply it).
"""

from __future__ import annotations

from tandem.config import ClusterConfig


def reload_refusal(old: ClusterConfig, new: ClusterConfig) -> str:
    """Why `new` cannot replace `old` in a running daemon (empty when it can)."""
    for key in ("name", "key_file", "port"):
        if getattr(old, key) != getattr(new, key):
            return _restart(f"cluster.{key}")
    if old.networks != new.networks:
        return _restart("networks")
    old_nodes = {n.name: n for n in old.nodes}
    new_nodes = {n.name: n for n in new.nodes}
    if old_nodes.keys() != new_nodes.keys():
        return _restart("nodes (a node was added or removed)")
    for index, node in enumerate(new.nodes):
        before = old_nodes[node.name]
        if before.id != node.id:
            return _restart(f"nodes[{index}].id")
        if before.interfaces != node.interfaces:
            return _restart(f"nodes[{index}].networks")
    return ""


def _restart(key: str) -> str:
    return f"{key}: changing it needs a restart of tandemd on every node"
