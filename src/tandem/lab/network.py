"""The lab's wiring, over netlink (pyroute2): namespaces, bridges, veth pairs, addresses.

Every bridge lives in the lab's own fabric namespace; each node, each BMC and the client
get one veth per network they sit on, named on the node side as the configuration says.
Nothing here ever touches the host's namespace.
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import os
from collections.abc import Iterator
from dataclasses import dataclass

from pyroute2 import IPRoute, netns
from pyroute2.netlink.exceptions import NetlinkError

from tandem.config import ClusterConfig, NodeDef
from tandem.config.validate import bmc_network
from tandem.lab import names as N
from tandem.lab.proc import LabError

Interface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


@dataclass(frozen=True)
class Wire:
    """One veth: which namespace and name its inner end has, and where it plugs in."""

    ns: str
    ifname: str
    port: str
    bridge: str
    address: Interface | None


CLONE_NEWNET = 0x40000000


def _setns(fd: int) -> None:
    if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))


def _socket_in(ns: str) -> IPRoute:
    """A netlink socket made inside `ns` by this thread, which then goes home again.

    pyroute2's `IPRoute(netns=...)` takes ~15 ms (a helper per call); a socket keeps
    the namespace it was made in, so switching only this thread (setns on a network
    namespace is per thread) for the socket's creation costs ~1 ms. That is most of a
    lab BMC's power-off time, which every fence pays.
    """
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(f"/run/netns/{ns}", os.O_RDONLY)
        try:
            _setns(target)
            try:
                return IPRoute()
            finally:
                _setns(home)
        finally:
            os.close(target)
    finally:
        os.close(home)


@contextlib.contextmanager
def ipr(ns: str) -> Iterator[IPRoute]:
    """A netlink socket inside the named namespace."""
    try:
        sock = _socket_in(ns)
    except OSError as exc:
        raise LabError(f"network namespace {ns} is not usable: {exc}") from None
    try:
        yield sock
    finally:
        sock.close()


def create_ns(name: str) -> None:
    """Create a named network namespace with its loopback up."""
    try:
        netns.create(name)
    except OSError as exc:
        raise LabError(f"cannot create network namespace {name}: {exc}") from None
    with ipr(name) as sock:
        sock.link("set", index=sock.link_lookup(ifname="lo")[0], state="up")


def remove_ns(name: str) -> None:
    """Remove a named network namespace if it exists."""
    with contextlib.suppress(FileNotFoundError, OSError):
        netns.remove(name)


def lab_namespaces(prefix: str) -> list[str]:
    """Every existing namespace whose name starts with `prefix`."""
    if not N.NETNS_DIR.is_dir():
        return []
    return sorted(p.name for p in N.NETNS_DIR.iterdir() if p.name.startswith(prefix))


def network_index(config: ClusterConfig) -> dict[str, int]:
    """Stable small numbers for the networks (used in interface names)."""
    return {net.name: i for i, net in enumerate(config.networks)}


def prefix_of(config: ClusterConfig, network: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """The subnet the nodes use on `network`."""
    for node in config.nodes:
        itf = node.interface_on(network)
        if itf is not None:
            return itf.address.network
    raise LabError(f"no node has an address on network {network!r}")


def plan_wires(config: ClusterConfig, names: N.LabNames) -> list[Wire]:
    """Every veth the lab needs: nodes, BMCs and the client."""
    index = network_index(config)
    wires = [
        Wire(names.node_ns(node.name), itf.interface, N.node_port(node.id, index[itf.network]),
             N.bridge_name(index[itf.network]), None)
        for node in config.nodes for itf in node.interfaces
    ]
    for node in config.nodes:
        wires.extend(_bmc_wire(config, names, node, index))
    client = client_interface(config)
    if client is not None:
        network, address = client
        wires.append(Wire(names.client_ns, N.CLIENT_IFNAME, N.CLIENT_PORT,
                          N.bridge_name(index[network]), address))
    return wires


def _bmc_wire(config: ClusterConfig, names: N.LabNames, node: NodeDef,
              index: dict[str, int]) -> list[Wire]:
    if node.bmc is None:
        return []
    network = bmc_network(config, node)
    if network is None:
        raise LabError(f"node {node.name}: BMC address {node.bmc.address} is not inside any "
                       f"lab network, so the lab cannot place its BMC")
    subnet = prefix_of(config, network)
    address = ipaddress.ip_interface(f"{node.bmc.address}/{subnet.prefixlen}")
    return [Wire(names.bmc_ns(node.name), N.BMC_IFNAME, N.bmc_port(node.id),
                 N.bridge_name(index[network]), address)]


def client_interface(config: ClusterConfig) -> tuple[str, Interface] | None:
    """Network and address of the lab client (configured, or a free host of the first
    heartbeat network)."""
    if config.lab is not None and config.lab.client is not None:
        return config.lab.client.network, config.lab.client.address
    network = config.rings[0].name
    subnet = prefix_of(config, network)
    used = {itf.address.ip for n in config.nodes for itf in n.interfaces}
    used.update(ipaddress.ip_address(n.bmc.address) for n in config.nodes if n.bmc)
    hosts = list(subnet.hosts()) if subnet.num_addresses <= 65536 else []
    for candidate in reversed(hosts[-16:]):
        if candidate not in used:
            return network, ipaddress.ip_interface(f"{candidate}/{subnet.prefixlen}")
    return None


def build_fabric(config: ClusterConfig, names: N.LabNames, wires: list[Wire]) -> None:
    """Create the bridges and plug every veth into its bridge (all links up)."""
    index = network_index(config)
    with ipr(names.fabric_ns) as fab:
        for net_index in index.values():
            fab.link("add", ifname=N.bridge_name(net_index), kind="bridge")
            # Forward immediately: no STP listening delay on a lab switch.
            bridge = fab.link_lookup(ifname=N.bridge_name(net_index))[0]
            fab.link("set", index=bridge, state="up")
        for wire in wires:
            fab.link("add", ifname=wire.port, kind="veth",
                     peer={"ifname": wire.ifname, "net_ns_fd": wire.ns})
            port = fab.link_lookup(ifname=wire.port)[0]
            bridge = fab.link_lookup(ifname=wire.bridge)[0]
            fab.link("set", index=port, master=bridge, state="up")
    for wire in wires:
        if wire.address is not None:
            set_link(wire.ns, wire.ifname, up=True)
            add_address(wire.ns, wire.ifname, wire.address)


def set_link(ns: str, ifname: str, *, up: bool) -> None:
    """Bring an interface of a namespace up or down."""
    with ipr(ns) as sock:
        found = sock.link_lookup(ifname=ifname)
        if not found:
            raise LabError(f"no interface {ifname} in {ns}")
        sock.link("set", index=found[0], state="up" if up else "down")


def add_address(ns: str, ifname: str, address: Interface) -> None:
    """Add an address to an interface (no error if it is already there)."""
    with ipr(ns) as sock:
        index = sock.link_lookup(ifname=ifname)[0]
        try:
            sock.addr("add", index=index, address=str(address.ip),
                      prefixlen=address.network.prefixlen)
        except NetlinkError as exc:
            if exc.code != 17:  # EEXIST
                raise LabError(f"cannot add {address} to {ifname} in {ns}: {exc}") from None


def addresses(ns: str) -> list[tuple[str, str, int]]:
    """(interface, address, prefix) of every global address in a namespace."""
    with ipr(ns) as sock:
        return list_addresses(sock)


def list_addresses(sock: IPRoute) -> list[tuple[str, str, int]]:
    """(interface, address, prefix) of every global-scope address seen by `sock`."""
    links = {link["index"]: link.get_attr("IFLA_IFNAME") for link in sock.get_links()}
    found = []
    for msg in sock.get_addr():
        if msg["scope"] != 0:  # host and link scope: loopback, fe80::
            continue
        address = msg.get_attr("IFA_ADDRESS")
        found.append((links.get(msg["index"], "?"), address, msg["prefixlen"]))
    return found


def power_down(ns: str, ifnames: list[str], static: set[str]) -> None:
    """A powered-off node's network: its interfaces down and its extra addresses (those
    services added) gone; one socket for all of it."""
    with ipr(ns) as sock:
        for ifname in ifnames:
            found = sock.link_lookup(ifname=ifname)
            if not found:
                raise LabError(f"no interface {ifname} in {ns}")
            sock.link("set", index=found[0], state="down")
        _flush(sock, static)


def flush_extra_addresses(ns: str, static: set[str]) -> None:
    """Drop every global address that is not one of the node's static addresses."""
    with ipr(ns) as sock:
        _flush(sock, static)


def _flush(sock: IPRoute, static: set[str]) -> None:
    for msg in sock.get_addr():
        address = msg.get_attr("IFA_ADDRESS")
        if msg["scope"] == 0 and address not in static:
            with contextlib.suppress(NetlinkError):
                sock.addr("del", index=msg["index"], address=address,
                          prefixlen=msg["prefixlen"])


def plug(names: N.LabNames, config: ClusterConfig, ns: str, network: str,
         address: Interface) -> str:
    """Give namespace `ns` of the lab (e.g. the client) a leg on one more network, with
    `address`; it goes with the lab's namespaces. Returns the new interface's name."""
    index = network_index(config)[network]
    ifname, port = f"leg{index}", f"leg{index}.{ns.rsplit('.', 1)[-1]}"[:15]
    with ipr(names.fabric_ns) as fab:
        fab.link("add", ifname=port, kind="veth", peer={"ifname": ifname, "net_ns_fd": ns})
        bridge = fab.link_lookup(ifname=N.bridge_name(index))[0]
        fab.link("set", index=fab.link_lookup(ifname=port)[0], master=bridge, state="up")
    set_link(ns, ifname, up=True)
    add_address(ns, ifname, address)
    return ifname
