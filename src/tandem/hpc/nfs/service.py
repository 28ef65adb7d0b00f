"""The NFS I/O cell's service, HA_NFS (the manual's `hanfs`), from haionfs.conf, the
alias addresses of `stordepha.nfs -I` and the cell's networks.

Resources, started in this order and stopped in reverse:

1. one `fs` per haionfs.conf line, in file order;
2. one `portblock` (action "block") per service address: while the server is not
   ready, clients' packets to the NFS ports are dropped, so they retry instead of
   seeing a reset;
3. one `ip` per address, on the interface the nodes have on the network that holds it
   (same prefix: the manual asks the alias's mask to be the interface's);
4. `nfs_server`, answering on the first address, exporting every mount point, with
   its recovery state on the first shared file system;
5. one `portblock` (action "unblock") per address.

Export ids are what NFS file handles carry, so they must not change when the service
moves or is generated again: an export takes the inventory's `fsid` for its path when
there is one, else its position in haionfs.conf (1, 2, ...); two exports with one id
are refused. Like the manual's, the service does not start by itself (`clusvcadm -e
HA_NFS` on one node), may run on the two nodes only (the first preferred), moves to
the other node when it fails, and does not move back.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import tomlkit

from tandem.common.errors import EXIT_USAGE, TandemError
from tandem.config.model import (
    ClusterConfig,
    DomainDef,
    NodeDef,
    NodeInterface,
    ResourceDef,
    ServiceDef,
)
from tandem.config.writer import config_document
from tandem.hpc.nfs.haionfs import SharedFs

SERVICE = "HA_NFS"
NFS_PORTS = (111, 2049, 20048, 32803, 875)  # rpcbind, nfsd, mountd, nlockmgr, rquotad
PROTOCOLS = ("tcp", "udp")
RECOVERY_DIR = ".tandem-nfs"
Address = ipaddress.IPv4Interface | ipaddress.IPv6Interface

# How often each SPOF of the manual's list is looked at (a lost address, mount point or
# server moves the service after at most this long, plus the relocation).
FS_MONITOR_S = 5.0
IP_MONITOR_S = 2.0
SERVER_MONITOR_S = 3.0

class NfsServiceError(TandemError):
    """The service cannot be made from what was given (an address outside the cell's
    networks, an export id used twice, ...): bad input, exit 2."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True)
class Alias:
    """A service address and the interface the nodes carry it on."""

    address: Address
    interface: str


def nfs_service(config: ClusterConfig, nodes: Sequence[str], filesystems: Sequence[SharedFs],
                aliases: Sequence[str], fsids: Mapping[str, int] | None = None) -> ServiceDef:
    """HA_NFS for the cell `config`, on `nodes` (first preferred); NfsServiceError
    naming what does not fit."""
    members = [_member(config, name) for name in nodes]
    placed = place_aliases(members, aliases)
    if not placed:
        raise NfsServiceError("HA_NFS needs at least one service address (-I ADDR/MASK)")
    if not filesystems:
        raise NfsServiceError("HA_NFS needs at least one file system (haionfs.conf)")
    ids = export_ids(filesystems, fsids or {})
    resources = [
        *(ResourceDef(f"fs{i}", "fs", {"device": f.device, "mountpoint": f.mountpoint,
                                       "fstype": f.fstype}, monitor_interval_s=FS_MONITOR_S)
          for i, f in enumerate(filesystems, start=1)),
        *_portblocks(placed, "block"),
        *(ResourceDef(f"ip{i}", "ip", {"address": str(a.address), "interface": a.interface},
                      monitor_interval_s=IP_MONITOR_S)
          for i, a in enumerate(placed, start=1)),
        ResourceDef("nfs", "nfs_server", {
            "address": str(placed[0].address.ip),
            "exports": [{"path": f.mountpoint, "id": ids[f.mountpoint]} for f in filesystems],
            "recovery_dir": f"{filesystems[0].mountpoint}/{RECOVERY_DIR}"},
            monitor_interval_s=SERVER_MONITOR_S),
        *_portblocks(placed, "unblock"),
    ]
    domain = DomainDef(tuple((name, i) for i, name in enumerate(nodes, start=1)),
                       restricted=True, failback=False)
    return ServiceDef(SERVICE, tuple(resources), domain, autostart=False,
                      recovery="relocate")


def _portblocks(aliases: Sequence[Alias], action: str) -> list[ResourceDef]:
    return [ResourceDef(f"{action}{i}", "portblock", {
        "address": str(a.address.ip), "ports": list(NFS_PORTS), "protocols": list(PROTOCOLS),
        "action": action}) for i, a in enumerate(aliases, start=1)]


def _member(config: ClusterConfig, name: str) -> NodeDef:
    for node in config.nodes:
        if node.name == name:
            return node
    raise NfsServiceError(f"node {name} is not a member of cell {config.name}")


def export_ids(filesystems: Sequence[SharedFs], fsids: Mapping[str, int]) -> dict[str, int]:
    """{mount point: export id}: the inventory's fsid, else the line's position."""
    ids: dict[str, int] = {}
    taken: dict[int, str] = {}
    for position, fs in enumerate(filesystems, start=1):
        number = fsids.get(fs.mountpoint, position)
        if number < 1:
            raise NfsServiceError(f"export {fs.mountpoint}: fsid {number} is reserved (the "
                                  f"NFSv4 root); give it an fsid of 1 or more")
        if number in taken:
            raise NfsServiceError(f"exports {taken[number]} and {fs.mountpoint} would both "
                                  f"have id {number}: give each an fsid in the inventory "
                                  f"(tandem db set export ... --fsid N)")
        taken[number] = fs.mountpoint
        ids[fs.mountpoint] = number
    return ids


def place_aliases(members: Sequence[NodeDef], aliases: Sequence[str]) -> list[Alias]:
    """Each distinct `-I` address with its interface (an address given twice, as in the
    manual's own example, counts once)."""
    placed: list[Alias] = []
    for text in dict.fromkeys(a.strip() for a in aliases if a.strip()):
        alias = _alias(members, text)
        clash = next((p for p in placed if p.address.ip == alias.address.ip), None)
        if clash is not None:
            raise NfsServiceError(f"-I {text}: address given twice ({clash.address})")
        placed.append(alias)
    return placed


def _alias(members: Sequence[NodeDef], text: str) -> Alias:
    try:
        if "/" not in text:
            raise ValueError(text)
        address = ipaddress.ip_interface(text)
    except ValueError:
        raise NfsServiceError(f"-I {text}: expected ADDR/PREFIX such as "
                              f"198.51.100.76/24") from None
    found = [_interface_for(node, address, text) for node in members]
    names = {itf.interface for itf in found}
    if len(names) != 1:
        ends = ", ".join(f"{n.name} {i.interface}" for n, i in zip(members, found, strict=True))
        raise NfsServiceError(f"-I {text}: the nodes name their interface on network "
                              f"{found[0].network} differently ({ends}); the address "
                              f"moves to one interface name")
    return Alias(address, names.pop())


def _interface_for(node: NodeDef, address: Address, text: str) -> NodeInterface:
    """The interface of `node` on the network holding `address`, with its prefix."""
    for itf in node.interfaces:
        if itf.address.ip == address.ip:
            raise NfsServiceError(f"-I {text}: this is the address of {node.name} on "
                                  f"{itf.interface}, not a free one")
        if address.ip in itf.address.network:
            if itf.address.network.prefixlen != address.network.prefixlen:
                raise NfsServiceError(f"-I {text}: not inside a network of {node.name} with "
                                      f"the same prefix ({itf.interface} has {itf.address})")
            return itf
    raise NfsServiceError(f"-I {text}: not inside a network of {node.name} ("
                          f"{', '.join(str(i.address.network) for i in node.interfaces)})")


def service_toml(config: ClusterConfig, service: ServiceDef) -> str:
    """`service` as the `[[services]]` table a cell file holds, written as the
    configuration writer writes every service."""
    document = config_document(dataclasses.replace(config, services=(service,)))
    out = tomlkit.document()
    out.add("services", document["services"])
    return tomlkit.dumps(out).lstrip("\n")


def with_service(config: ClusterConfig, service: ServiceDef) -> tuple[ServiceDef, ...]:
    """`config`'s services with `service` in place of the one of its name (at its
    place), or added at the end."""
    others: list[ServiceDef] = [s for s in config.services if s.name != service.name]
    names = [s.name for s in config.services]
    if service.name in names:
        others.insert(names.index(service.name), service)
    else:
        others.append(service)
    return tuple(others)
