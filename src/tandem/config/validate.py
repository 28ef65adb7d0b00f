"""Cross-reference checks on a fully read configuration.

The loader has already checked types; here we check that the pieces agree with each
other (unique names and ids, declared networks, consistent subnets, known fence
devices), because those mistakes are the ones that hurt at failover time.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from tandem.config.errors import ConfigError
from tandem.config.model import ClusterConfig, NodeDef
from tandem.config.sections import check_sections


def validate(config: ClusterConfig) -> None:
    """Raise ConfigError for the first inconsistency found."""
    fail = _Failer(config.source)
    _check_networks(config, fail)
    _check_nodes(config, fail)
    _check_fencing(config, fail)
    _check_quorum(config, fail)
    _check_lab(config, fail)


class _Failer:
    def __init__(self, file: str) -> None:
        self.file = file

    def __call__(self, where: str, problem: str) -> ConfigError:
        return ConfigError(self.file, where, problem)


def _duplicates(values: Iterable[object]) -> list[object]:
    seen: set[object] = set()
    dups = []
    for value in values:
        if value in seen:
            dups.append(value)
        seen.add(value)
    return dups


def _check_networks(config: ClusterConfig, fail: _Failer) -> None:
    rings = [n.ring for n in config.networks if n.ring is not None]
    if not rings:
        raise fail("networks", "at least one network needs a heartbeat ring "
                               "(e.g. [networks.admin] ring = 0)")
    for dup in _duplicates(rings):
        raise fail("networks", f"ring {dup} is used by more than one network")


def _check_nodes(config: ClusterConfig, fail: _Failer) -> None:
    for dup in _duplicates(n.name for n in config.nodes):
        raise fail("nodes", f"node name {dup!r} is used twice")
    for dup in _duplicates(n.id for n in config.nodes):
        raise fail("nodes", f"node id {dup} is used twice")
    declared = {n.name for n in config.networks}
    subnets: dict[str, ipaddress.IPv4Network | ipaddress.IPv6Network] = {}
    owners: dict[object, str] = {}
    for i, node in enumerate(config.nodes):
        where = f"nodes[{i}] ({node.name})"
        for dup in _duplicates(itf.interface for itf in node.interfaces):
            raise fail(f"{where}.networks", f"interface {dup!r} is used twice")
        for itf in node.interfaces:
            if itf.network not in declared:
                raise fail(f"{where}.networks.{itf.network}",
                           f"network {itf.network!r} is not declared under [networks] "
                           f"(declared: {', '.join(sorted(declared)) or 'none'})")
            net = subnets.setdefault(itf.network, itf.address.network)
            if itf.address.network != net:
                raise fail(f"{where}.networks.{itf.network}.address",
                           f"{itf.address} is not in {net}, the subnet the other nodes "
                           f"use on network {itf.network!r}")
            if itf.address.ip in owners:
                raise fail(f"{where}.networks.{itf.network}.address",
                           f"address {itf.address.ip} is already used by "
                           f"{owners[itf.address.ip]}")
            owners[itf.address.ip] = node.name
        for ring in config.rings:
            if node.interface_on(ring.name) is None:
                raise fail(f"{where}.networks", f"missing an interface on heartbeat "
                                                f"network {ring.name!r} (ring {ring.ring})")


def _check_fencing(config: ClusterConfig, fail: _Failer) -> None:
    known = {d.name: d for d in config.fence_devices}
    for i, node in enumerate(config.nodes):
        for j, level in enumerate(node.fence):
            for dev_name in level.devices:
                where = f"nodes[{i}] ({node.name}).fence[{j}].devices"
                if dev_name not in known:
                    raise fail(where, f"unknown fence device {dev_name!r} "
                                      f"(defined: {', '.join(sorted(known)) or 'none'})")
                dev = known[dev_name]
                if dev.type == "ipmi" and dev.address is None and node.bmc is None:
                    raise fail(where, f"ipmi device {dev_name!r} has no address and node "
                                      f"{node.name!r} has no [nodes.bmc] to fall back on")


def _check_quorum(config: ClusterConfig, fail: _Failer) -> None:
    check_sections(config)  # a quorum disk's own checks come before the votes' ones
    if config.two_node:
        if len(config.nodes) != 2:
            raise fail("cluster.two_node", f"two_node needs exactly 2 nodes, "
                                           f"found {len(config.nodes)}")
        if any(n.votes != 1 for n in config.nodes):
            raise fail("cluster.two_node", "two_node needs each node to have 1 vote")
    votes = sum(n.votes for n in config.nodes)
    if config.expected_votes and config.expected_votes < votes // 2 + 1 and not config.two_node:
        raise fail("cluster.expected_votes",
                   f"{config.expected_votes} would let a minority of the {votes} node "
                   f"votes be quorate")


def _check_lab(config: ClusterConfig, fail: _Failer) -> None:
    lab = config.lab
    if lab is None:
        return
    for dup in _duplicates(d.name for d in lab.disks):
        raise fail("lab.disks", f"disk name {dup!r} is used twice")
    for i, disk in enumerate(lab.disks):
        if disk.storage == "san" and disk.size_bytes % 4096:
            raise fail(f"lab.disks[{i}].size", f"a san disk's size must be a multiple of "
                                               f"4096 bytes (its paths are loop devices); "
                                               f"got {disk.size_bytes}")
    for dup in _duplicates(lab.private_dirs):
        raise fail("lab.private_dirs", f"{dup!r} is listed twice")
    if lab.client is not None:
        client = lab.client
        if client.network not in {n.name for n in config.networks}:
            raise fail("lab.client.network", f"unknown network {client.network!r}")
        for node in config.nodes:
            itf = node.interface_on(client.network)
            if itf is None:
                continue
            if itf.address.network != client.address.network:
                raise fail("lab.client.address", f"{client.address} is not in "
                                                 f"{itf.address.network}")
            if itf.address.ip == client.address.ip:
                raise fail("lab.client.address",
                           f"{client.address.ip} is already used by {node.name}")


def bmc_network(config: ClusterConfig, node: NodeDef) -> str | None:
    """The network whose subnet holds `node`'s BMC address (None if none does)."""
    if node.bmc is None:
        return None
    address = ipaddress.ip_address(node.bmc.address)
    for other in config.nodes:
        for itf in other.interfaces:
            if address in itf.address.network:
                return itf.network
    return None
