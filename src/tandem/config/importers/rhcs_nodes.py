"""cluster.conf's `<clusternodes>`: names, ids, votes, and where each node's addresses
come from.

A clusternode is named by host name; the tandem node takes its short host name (what
tandemd calls itself). Ids are kept; a node without one gets the lowest free id. The
networks are those of the `--address` options in the order first given (then the
`--resolve` network), each one a heartbeat ring: ring 0 first. A node without an address
on one of them gets a value to fill in, which the loader refuses until it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tandem.config.importers.addresses import AddressSpec
from tandem.config.importers.errors import OptionError
from tandem.config.importers.names import host_name
from tandem.config.importers.rhcs_context import Context
from tandem.config.importers.xmldoc import Element
from tandem.config.model import NetworkDef, NodeInterface

MAX_NODE_ID = 255
MAX_RINGS = 8
PLACEHOLDER_NETWORK = "admin"


@dataclass
class NodePlan:
    """A clusternode on its way to a tandem node."""

    element: Element
    xml_name: str
    name: str
    id: int
    votes: int
    index: int
    interfaces: list[NodeInterface] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # networks to fill in


def read_nodes(ctx: Context, root: Element) -> list[NodePlan]:
    """Every clusternode; ImportProblem when there are none, or names or ids clash."""
    container = root.child("clusternodes")
    elements = container.all("clusternode") if container is not None else []
    if not elements:
        raise ctx.book.fail(container or root, "no <clusternode>: a cell needs its nodes")
    plans: list[NodePlan] = []
    for index, element in enumerate(elements):
        xml_name = element.take("name")
        if not xml_name:
            raise ctx.book.fail(element, "a clusternode needs a name")
        name = host_name(xml_name)
        clash = next((p for p in plans if p.name == name), None)
        if clash is not None:
            raise ctx.book.fail(element, f"{xml_name} and {clash.xml_name} (line "
                                         f"{clash.element.line}) would both be node {name}")
        if name != xml_name:
            ctx.book.note(element, f"{xml_name} becomes node {name} (tandemd knows a node "
                                   f"by its short host name)")
        node_id = ctx.book.integer(element, "nodeid", 0, minimum=1)
        if node_id > MAX_NODE_ID:
            raise ctx.book.fail(element, f"nodeid {node_id}: tandem node ids go up to "
                                         f"{MAX_NODE_ID}")
        votes = ctx.book.integer(element, "votes", 1)
        if votes > MAX_NODE_ID:
            raise ctx.book.fail(element, f"votes {votes}: at most {MAX_NODE_ID}")
        for alt in element.all("altname"):
            alt.used.update(alt.attrs)
            ctx.book.note(alt, f"{alt.attrs.get('name', 'altname')} (a second ring) not "
                               f"carried over: give {name}'s address on that network with "
                               f"--address")
        plans.append(NodePlan(element, xml_name, name, node_id, votes, index))
    _number(ctx, plans)
    return plans


def _number(ctx: Context, plans: list[NodePlan]) -> None:
    """Refuse shared ids; give the nodes without one the lowest free ids."""
    owners: dict[int, NodePlan] = {}
    for plan in plans:
        if plan.id and plan.id in owners:
            other = owners[plan.id].xml_name
            raise ctx.book.fail(plan.element, f"nodeid {plan.id} is also {other}'s")
        if plan.id:
            owners[plan.id] = plan
    free = (n for n in range(1, MAX_NODE_ID + 1) if n not in owners)
    for plan in plans:
        if not plan.id:
            plan.id = next(free)
            ctx.book.note(plan.element, f"no nodeid: given id {plan.id}")


def node_for(plans: list[NodePlan], name: str) -> NodePlan | None:
    """The node called `name` in cluster.conf or in tandem."""
    return next((p for p in plans if name in (p.xml_name, p.name)), None)


def place_nodes(ctx: Context, plans: list[NodePlan]) -> tuple[NetworkDef, ...]:
    """Give each node its interfaces; the heartbeat networks, in ring order."""
    options = ctx.options
    names = list(dict.fromkeys(spec.network for spec in options.addresses))
    if options.resolve is not None and options.resolve.network not in names:
        names.append(options.resolve.network)
    if not names:
        names = [PLACEHOLDER_NETWORK]
    if len(names) > MAX_RINGS:
        raise OptionError(f"{len(names)} networks given: a cell has at most {MAX_RINGS} "
                          f"heartbeat rings")
    given = _given(ctx, plans)
    for plan in plans:
        for network in names:
            itf = given.get((plan.name, network)) or _resolved(ctx, plan, network)
            if itf is not None:
                plan.interfaces.append(itf)
            else:
                plan.missing.append(network)
        if plan.missing:
            _note_missing(ctx, plan)
    return tuple(NetworkDef(name, ring) for ring, name in enumerate(names))


def _given(ctx: Context, plans: list[NodePlan]) -> dict[tuple[str, str], NodeInterface]:
    given: dict[tuple[str, str], NodeInterface] = {}
    for spec in ctx.options.addresses:
        plan = node_for(plans, spec.node)
        if plan is None:
            known = ", ".join(p.name for p in plans)
            raise OptionError(f"--address {spec.node}=...: no such node in {ctx.source} "
                              f"(nodes: {known})")
        key = (plan.name, spec.network)
        if key in given:
            raise OptionError(f"--address: two addresses for {plan.name} on {spec.network}")
        given[key] = _interface(spec)
    return given


def _interface(spec: AddressSpec) -> NodeInterface:
    return NodeInterface(network=spec.network, interface=spec.interface, address=spec.address)


def _resolved(ctx: Context, plan: NodePlan, network: str) -> NodeInterface | None:
    spec = ctx.options.resolve
    if spec is None or spec.network != network:
        return None
    address = ctx.resolve(plan.element, f"address on {network}", plan.xml_name)
    if address is None:
        return None
    return NodeInterface(network=network, interface=spec.interface,
                         address=spec.interface_address(address))


def _note_missing(ctx: Context, plan: NodePlan) -> None:
    keys = [f"nodes[{plan.index}].networks.{net}" for net in plan.missing]
    ctx.fill_ins.extend(keys)
    example = f"{plan.name}={plan.missing[0]}:IFACE:ADDRESS/PREFIX"
    ctx.book.note(plan.element, f"no address on {', '.join(plan.missing)}: cluster.conf "
                                f"names nodes, not addresses; fill in {', '.join(keys)} or "
                                f"import again with --address {example}")
