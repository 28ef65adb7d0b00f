"""The cluster definition as typed, immutable data.

Everything that reads a configuration (daemon, CLI, lab, generators) works on these
objects, never on raw TOML, so validation happens once, in the loader.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from tandem.config.sections import section_votes

M = TypeVar("M")

FenceType = Literal["ipmi", "external", "manual"]
Recovery = Literal["restart", "relocate", "disable", "fence"]
RECOVERIES: tuple[str, ...] = ("restart", "relocate", "disable", "fence")
DiskFormat = Literal["ext4", "ext4-mmp", "xfs", "none"]
DiskStorage = Literal["loop", "san"]

DEFAULT_PORT = 5405
DEFAULT_HEARTBEAT_MS = 200
DEFAULT_TOKEN_MS = 1000
DEFAULT_IPMI_PORT = 623


@dataclass(frozen=True)
class NetworkDef:
    """A network of the cell; `ring` is set when it carries heartbeats."""

    name: str
    ring: int | None = None


@dataclass(frozen=True)
class NodeInterface:
    """A node's attachment to one network: the interface name and its static address."""

    network: str
    interface: str
    address: ipaddress.IPv4Interface | ipaddress.IPv6Interface


@dataclass(frozen=True)
class BmcDef:
    """How to reach a node's baseboard management controller over IPMI LAN."""

    address: str
    port: int = DEFAULT_IPMI_PORT
    user: str = "admin"
    password: str | None = None
    password_file: str | None = None


IPMI_OPTIONS = ("cipher", "privlvl", "session")  # what an `ipmi` device's options may set
IPMI_SESSION_MODES = ("keep", "per-call")


@dataclass(frozen=True)
class FenceDeviceDef:
    """A fence device definition shared by the nodes that reference it.

    `ipmi` devices without an address use the fenced node's own BMC; `external`
    devices run a fence_* agent with `options` on stdin; `manual` waits for an
    operator's acknowledgement.
    """

    name: str
    type: FenceType
    agent: str | None = None
    options: tuple[tuple[str, str], ...] = ()
    address: str | None = None
    port: int | None = None
    user: str | None = None
    password: str | None = None
    password_file: str | None = None
    delay_ms: int = 0
    timeout_s: float = 20.0


@dataclass(frozen=True)
class FenceLevel:
    """One fencing level of a node: its devices must all succeed, in order."""

    devices: tuple[str, ...]
    delay_ms: int | None = None


@dataclass(frozen=True)
class NodeDef:
    """A member of the cell."""

    name: str
    id: int
    votes: int = 1
    interfaces: tuple[NodeInterface, ...] = ()
    bmc: BmcDef | None = None
    fence: tuple[FenceLevel, ...] = ()

    def interface_on(self, network: str) -> NodeInterface | None:
        """The node's attachment to `network`, if it has one."""
        for itf in self.interfaces:
            if itf.network == network:
                return itf
        return None


@dataclass(frozen=True)
class TimingDef:
    """Heartbeat interval and loss timeout (the "token" of other cluster engines)."""

    heartbeat_ms: int = DEFAULT_HEARTBEAT_MS
    token_ms: int = DEFAULT_TOKEN_MS
    fence_check_s: float = 60.0


@dataclass(frozen=True)
class LabDisk:
    """A shared disk of a lab cell over a sparse file. `storage`: "loop", one loop device
    every node shares; "san", a path per node that can fail (tandem.lab.san).
    "ext4-mmp" is ext4 with multi-mount protection, the lab's stand-in for Lustre's
    ldiskfs targets."""

    name: str
    size_bytes: int
    format: DiskFormat = "ext4"
    storage: DiskStorage = "loop"


@dataclass(frozen=True)
class LabClient:
    """Where the lab's client namespace sits (for probes of virtual addresses)."""

    network: str
    address: ipaddress.IPv4Interface | ipaddress.IPv6Interface


@dataclass(frozen=True)
class LabDef:
    """The `[lab]` section: what a virtual replica of the cell needs beyond the nodes."""

    disks: tuple[LabDisk, ...] = ()
    private_dirs: tuple[str, ...] = ()
    client: LabClient | None = None


@dataclass(frozen=True)
class ResourceDef:
    """One resource of a service: an agent and its parameters."""

    name: str
    agent: str
    params: dict[str, Any] = field(default_factory=dict)
    monitor_interval_s: float = 10.0
    timeouts: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class DomainDef:
    """Where a service may run: nodes in order of preference (lower priority first)."""

    nodes: tuple[tuple[str, int], ...] = ()
    restricted: bool = False
    failback: bool = False
    failback_delay_s: float = 0.0

    def priority(self, node: str) -> int | None:
        for name, prio in self.nodes:
            if name == node:
                return prio
        return None


@dataclass(frozen=True)
class ServiceDef:
    """A service: resources started in order and stopped in reverse, a failover domain,
    and what to do when it fails."""

    name: str
    resources: tuple[ResourceDef, ...]
    domain: DomainDef = field(default_factory=DomainDef)
    autostart: bool = True
    recovery: Recovery = "restart"
    max_restarts: int = 3
    restart_window_s: float = 300.0


@dataclass(frozen=True)
class ClusterConfig:
    """A whole cell definition, validated.

    `sections` holds the models of the domains' own sections (tandem.config.sections),
    ordered by section name; `section(Model)` finds one by its type.
    """

    name: str
    key_file: str
    source: str = "<memory>"
    config_version: int = 1
    port: int = DEFAULT_PORT
    two_node: bool = False
    wait_for_all: bool = False
    expected_votes: int = 0
    timing: TimingDef = field(default_factory=TimingDef)
    networks: tuple[NetworkDef, ...] = ()
    nodes: tuple[NodeDef, ...] = ()
    fence_devices: tuple[FenceDeviceDef, ...] = ()
    services: tuple[ServiceDef, ...] = ()
    sections: tuple[object, ...] = ()
    lab: LabDef | None = None

    def section(self, model: type[M]) -> M | None:
        """The domain section whose model is `model` (None when the file has none)."""
        for item in self.sections:
            if isinstance(item, model):
                return item
        return None

    def node(self, name: str) -> NodeDef:
        """The node called `name`; KeyError with the known names otherwise."""
        for node in self.nodes:
            if node.name == name:
                return node
        known = ", ".join(n.name for n in self.nodes)
        raise KeyError(f"unknown node {name!r} (known: {known})")

    def network(self, name: str) -> NetworkDef:
        """The network called `name`; KeyError otherwise."""
        for net in self.networks:
            if net.name == name:
                return net
        raise KeyError(f"unknown network {name!r}")

    def service(self, name: str) -> ServiceDef:
        """The service called `name`; KeyError with the known names otherwise."""
        for svc in self.services:
            if svc.name == name:
                return svc
        known = ", ".join(s.name for s in self.services) or "none"
        raise KeyError(f"unknown service {name!r} (known: {known})")

    def fence_device(self, name: str) -> FenceDeviceDef:
        """The fence device called `name`; KeyError otherwise."""
        for dev in self.fence_devices:
            if dev.name == name:
                return dev
        raise KeyError(f"unknown fence device {name!r}")

    @property
    def rings(self) -> tuple[NetworkDef, ...]:
        """Heartbeat networks ordered by ring number."""
        return tuple(sorted((n for n in self.networks if n.ring is not None),
                            key=lambda n: n.ring or 0))

    @property
    def total_votes(self) -> int:
        """Votes that the configuration expects when every member (and the quorum disk,
        if any) is present."""
        return self.expected_votes or (sum(n.votes for n in self.nodes)
                                       + section_votes(self.sections))
