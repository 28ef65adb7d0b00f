"""Which nodes are the management nodes, and which one is "the other one".

The list comes from /etc/HA/adminnodes when it exists (one node or node set per line,
ClusterShell syntax: `ns[0,13]`), otherwise from the nodes of the cell configuration
(/etc/tandem/cluster.toml). The inventory will become a third source.
"""

from __future__ import annotations

from ClusterShell.NodeSet import NodeSet, NodeSetException

from tandem.config import ConfigError, load_config
from tandem.hpc.mgmt.context import MgmtContext
from tandem.hpc.mgmt.datafile import LineError, parse_file
from tandem.hpc.mgmt.errors import DataError, UsageProblem

DATA_FILE = "adminnodes"


def node_set(text: str) -> list[str]:
    """A data line: one node name or a node set."""
    try:
        nodes = list(NodeSet(text.strip()))
    except NodeSetException as exc:
        raise LineError(f"not a node set: {exc}") from None
    if not nodes:
        raise LineError(f"no node in {text.strip()!r}")
    return nodes


def admin_nodes(ctx: MgmtContext) -> list[str]:
    """The management nodes, in order, each once."""
    listed = ctx.data(DATA_FILE)
    if listed.exists():
        names = [node for entry in parse_file(listed, node_set) for node in entry.value]
        return list(dict.fromkeys(names))
    if ctx.cluster_config.exists():
        try:
            config = load_config(ctx.cluster_config)
        except ConfigError as exc:
            raise DataError(str(exc)) from None
        return [node.name for node in config.nodes]
    raise DataError(f"no list of management nodes: neither {listed} nor "
                    f"{ctx.cluster_config} exists")


def _short(name: str) -> str:
    return name.split(".", 1)[0]


def find_peer(ctx: MgmtContext) -> str:
    """The peer given in the context, else the one other management node."""
    if ctx.peer:
        return ctx.peer
    nodes = admin_nodes(ctx)
    if _short(ctx.node) not in {_short(n) for n in nodes}:
        raise UsageProblem(f"this node ({ctx.node}) is not among the management nodes "
                           f"({', '.join(nodes)}): give --peer NODE")
    others = [n for n in nodes if _short(n) != _short(ctx.node)]
    if len(others) != 1:
        raise UsageProblem(f"cannot tell which node is the peer among "
                           f"{', '.join(others) or 'no other node'}: give --peer NODE")
    return others[0]
