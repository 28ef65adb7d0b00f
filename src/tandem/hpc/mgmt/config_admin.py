"""`tandem ha config-admin` (the manual's cs-config-admin): the cell configuration of a
management-node pair, generated from the /etc/HA files and a small inventory of the
two nodes, with a plain-language account of every part.

The nodes' addresses and BMCs come from the inventory database when it has a
management cell (its members are then the pair, unless nodes are named), otherwise
from the small TOML inventory of tandem.inventory.tomlfile, as before.

What is generated: both nodes (the first alphabetically is the primary: preferred for
the service and the survivor of a fence race), every network of the nodes (heartbeat
rings in the inventory's order), fencing through each node's BMC with an operator's
confirmation as the last level, two-node quorum with wait-for-all, and the HA_NSM
service: one `haservices` resource over /etc/HA, started by hand unless asked.
The /etc/HA files are read to check that they fit the nodes (the virtual address sits
on an interface both nodes have, the lists exist and every program they name is there,
tandem.hpc.mgmt.listcheck) and to explain what HA_NSM will do.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tandem.config import ClusterConfig, ConfigError, load_config, parse_config
from tandem.config.model import (
    DomainDef,
    FenceDeviceDef,
    FenceLevel,
    NetworkDef,
    NodeDef,
    NodeInterface,
    ResourceDef,
    ServiceDef,
    TimingDef,
)
from tandem.config.writer import Notes, config_text
from tandem.hpc.mgmt.cellguard import NSM_SERVICE
from tandem.hpc.mgmt.context import MgmtContext
from tandem.hpc.mgmt.datafile import Entry, absolute_path, parse_file
from tandem.hpc.mgmt.errors import DataError, UsageProblem
from tandem.hpc.mgmt.haip import DATA_FILE as IP_FILE
from tandem.hpc.mgmt.haip import VirtualIp, ip_line
from tandem.hpc.mgmt.hamount import DATA_FILE as MNTTAB_FILE
from tandem.hpc.mgmt.hamount import SharedFs, mnttab_line
from tandem.hpc.mgmt.listcheck import program_problems
from tandem.hpc.mgmt.nodes import DATA_FILE as ADMINNODES_FILE
from tandem.hpc.mgmt.nodes import node_set
from tandem.inventory import tomlfile
from tandem.inventory.tomlfile import Inventory, InventoryError, InventoryNode

INVENTORY_FILE = "inventory.toml"
SERVICE = NSM_SERVICE
RESOURCE = "haservices"
ACTION_TIMEOUT_S = 300.0  # the haservices agent's default start/stop timeout
PER_COMMAND_S = 60.0  # longer lists get this much per command instead


# -- inputs -------------------------------------------------------------------------------
@contextlib.contextmanager
def _inventory_problems() -> Iterator[None]:
    """The inventory's failures as the toolkit's bad-input error (one line, status 2)."""
    try:
        yield
    except InventoryError as exc:
        raise DataError(str(exc)) from None


def load_inventory(path: Path) -> Inventory:
    """The inventory file (tandem.inventory.tomlfile); DataError naming the problem."""
    with _inventory_problems():
        return tomlfile.load_inventory(path)


def database_pair(url: str | None) -> tuple[Inventory, tuple[str, str]] | None:
    """The management pair of the inventory database (`url`, else $TANDEM_DB, else the
    default SQLite file, which may not exist): its inventory and its two members
    (primary first); None when there is no database file or no management cell.
    DataError (one line) when the database is there but cannot be read."""
    from tandem.common.errors import TandemError
    from tandem.inventory.database import ENV_VAR, Database
    from tandem.inventory.pair import management_pair

    try:
        db = Database(url)
        found = management_pair(db, missing_ok=url is None and ENV_VAR not in os.environ)
    except TandemError as exc:
        raise DataError(str(exc)) from None
    if found is None:
        return None
    inventory, members = found
    if len(members) != 2:
        raise DataError(f"{inventory.source}: a management pair has two nodes, the cell has "
                        f"{len(members)} ({', '.join(members)})")
    first, second = sorted(members)
    return inventory, (first, second)


@dataclass(frozen=True)
class HaFiles:
    """The /etc/HA files config-admin reads."""

    root: Path
    addresses: list[Entry[VirtualIp]]
    filesystems: list[Entry[SharedFs]]
    lists: dict[str, list[Entry[str]]]
    sysroot: Path = Path("/")  # where the lists' programs outside /etc/HA are looked for


def read_ha_files(ctx: MgmtContext) -> HaFiles:
    """The lists haservices runs (all three must exist; status may be empty) and the
    virtual addresses and shared file systems (absent files mean none)."""
    lists = {action: parse_file(ctx.data(action), absolute_path)
             for action in ("start", "stop", "status")}
    addresses = parse_file(ctx.data(IP_FILE), ip_line) if ctx.data(IP_FILE).exists() else []
    mnttab = ctx.data(MNTTAB_FILE)
    filesystems = parse_file(mnttab, mnttab_line) if mnttab.exists() else []
    return HaFiles(ctx.root, addresses, filesystems, lists, ctx.sysroot)


def pick_nodes(ctx: MgmtContext, given: Sequence[str]) -> tuple[str, str]:
    """(primary, secondary): the two names given; or this node and the one given (the
    manual's `cs-config-admin NODE`); or the two of ROOT/adminnodes. The primary is the
    first alphabetically, as in the manual."""
    if len(given) > 2:
        raise UsageProblem(f"a management pair has two nodes, {len(given)} given")
    names = list(given)
    if len(names) == 1:
        names.insert(0, ctx.node.split(".", 1)[0])
    elif not names:
        listed = ctx.data(ADMINNODES_FILE)
        if not listed.exists():
            raise UsageProblem("no management nodes given: name the secondary node "
                               f"(config-admin NODE), both nodes, or list them in {listed}")
        names = list(dict.fromkeys(n for e in parse_file(listed, node_set) for n in e.value))
        if len(names) != 2:
            raise DataError(f"{listed}: expected the two management nodes, found "
                            f"{len(names)} ({', '.join(names) or 'none'})")
    if names[0] == names[1]:
        raise UsageProblem(f"the two management nodes must differ (both are {names[0]!r})")
    first, second = sorted(names)
    return first, second


# -- choices and result ----------------------------------------------------------------------
@dataclass(frozen=True)
class Choices:
    """What the operator decides (the command line's options)."""

    name: str = "mgmt"
    key_file: str = "/etc/tandem/cluster.key"
    config_version: int | None = None  # None: one more than the existing output's
    wait_for_all: bool = True
    autostart: bool = False  # the manual starts HA_NSM by hand: clusvcadm -e HA_NSM
    timing: TimingDef = field(default_factory=TimingDef)
    fence_delay_ms: int = 3000
    command_timeout_s: float = 120.0
    monitor_interval_s: float = 30.0
    env: dict[str, str] = field(default_factory=dict)
    node_root: str | None = None  # /etc/HA as the nodes see it (None: where it was read)


@dataclass(frozen=True)
class Generated:
    """The configuration text, its parsed form, and what to tell the operator."""

    text: str
    config: ClusterConfig
    explanation: list[str]
    warnings: list[str]


def next_version(output: Path | None) -> tuple[int, str]:
    """The config_version to write: one more than the existing output's, else 1."""
    if output is None or not output.exists():
        return 1, "first version"
    try:
        old = load_config(output).config_version
    except ConfigError:
        return 1, f"{output} exists but does not load: starting again at 1"
    return old + 1, f"one more than {output} (version {old}): push it with " \
                    f"`tandem config push`"


# -- generation -----------------------------------------------------------------------------------
class _Plan:
    """Collects explanation lines, warnings and the comments the file will carry (by
    path, see tandem.config.writer) while the parts are decided."""

    def __init__(self) -> None:
        self.explanation: list[str] = []
        self.warnings: list[str] = []
        self.notes: dict[str, str] = {}


def generate(inventory: Inventory, nodes: tuple[str, str], files: HaFiles, choices: Choices,
             *, output: Path | None = None) -> Generated:
    """The configuration of the pair `nodes` (primary first); DataError when the inputs
    do not fit together."""
    with _inventory_problems():
        primary, secondary = (inventory.node(n) for n in nodes)
    plan = _Plan()
    _program_part(plan, files, choices)
    version, why = ((choices.config_version, "as given")
                    if choices.config_version is not None else next_version(output))
    rings = _heartbeat_networks(inventory, primary, secondary)
    _cluster_part(plan, choices, version, why)
    networks = _network_part(plan, rings, primary, secondary)
    devices, members = _fencing_part(plan, primary, secondary, choices)
    service = _service_part(plan, files, choices, nodes)
    _address_part(plan, files, primary, secondary)
    _filesystem_part(plan, files)
    draft = ClusterConfig(
        name=choices.name, key_file=choices.key_file, config_version=version, two_node=True,
        wait_for_all=choices.wait_for_all, timing=choices.timing, networks=networks,
        nodes=members, fence_devices=devices, services=(service,))
    header = (f"Management-node pair {primary.name} (primary) and {secondary.name}, "
              f"generated by `tandem ha config-admin`",
              f"from {files.root} and {inventory.source}.",
              "Check it with `tandem config check FILE`.")
    text = config_text(draft, Notes(header, plan.notes))
    try:
        config = parse_config(text, "<generated configuration>")
    except ConfigError as exc:
        raise DataError(f"the inputs do not make a valid configuration: {exc}") from None
    return Generated(text, config, plan.explanation, plan.warnings)


def _cluster_part(plan: _Plan, choices: Choices, version: int, why: str) -> None:
    plan.notes["cluster.two_node"] = "one node alone stays quorate once the pair has formed"
    plan.notes["cluster.wait_for_all"] = ("a booting node acts only once it has seen its peer"
                                          if choices.wait_for_all else
                                          "OFF: a node that boots alone may fence its peer")
    plan.explanation.append(f"cluster {choices.name}, config_version {version} ({why}); "
                            f"key {choices.key_file}, the same file on both nodes "
                            f"(`tandem keygen` makes one)")
    waiting = ("wait_for_all: a node that boots starts and fences nothing until it has "
               "seen its peer (or an operator runs `tandem node unblock`)"
               if choices.wait_for_all else
               "wait_for_all is OFF: a node that boots alone may fence its peer and take "
               "the service")
    plan.explanation.append(f"quorum: two_node (one node alone stays quorate once the pair "
                            f"has formed); {waiting}")
    plan.explanation.append(f"timing: a heartbeat every {choices.timing.heartbeat_ms} ms; "
                            f"a node silent for {choices.timing.token_ms} ms on every ring "
                            f"is lost (then fenced)")
    if not choices.wait_for_all:
        plan.warnings.append("wait_for_all is off: after a power cut, the first node to "
                             "boot can fence the other (the manual's setup waits)")


def _heartbeat_networks(inventory: Inventory, primary: InventoryNode,
                        secondary: InventoryNode) -> list[str]:
    networks = [i.network for i in primary.interfaces]
    others = {i.network for i in secondary.interfaces}
    if inventory.heartbeat:
        for name in inventory.heartbeat:
            for node, has in ((primary, networks), (secondary, others)):
                if name not in has:
                    raise DataError(f"{inventory.source}: heartbeat network {name!r}: node "
                                    f"{node.name} has no interface on it")
        return list(inventory.heartbeat)
    rings = [n for n in networks if n in others]
    if not rings:
        raise DataError(f"{inventory.source}: {primary.name} and {secondary.name} share no "
                        f"network to send heartbeats on")
    return rings


def _network_part(plan: _Plan, rings: list[str], primary: InventoryNode,
                  secondary: InventoryNode) -> tuple[NetworkDef, ...]:
    names = list(dict.fromkeys(i.network for n in (primary, secondary) for i in n.interfaces))
    described = []
    for ring, name in enumerate(rings):
        ends = ", ".join(f"{n.name} {itf.address.ip} on {itf.interface}"
                         for n in (primary, secondary)
                         if (itf := _on(n, name)) is not None)
        described.append(f"ring {ring} on {name} ({ends})")
    plan.explanation.append("heartbeats: " + "; ".join(described))
    if len(rings) == 1:
        plan.warnings.append(f"only one heartbeat network ({rings[0]}): a single cable or "
                             f"switch fault makes each node fence the other's services "
                             f"away; add a second network to the inventory")
    return tuple(NetworkDef(name, rings.index(name) if name in rings else None)
                 for name in names)


def _on(node: InventoryNode, network: str) -> NodeInterface | None:
    return next((i for i in node.interfaces if i.network == network), None)


def _fencing_part(plan: _Plan, primary: InventoryNode, secondary: InventoryNode,
                  choices: Choices) -> tuple[tuple[FenceDeviceDef, ...], tuple[NodeDef, ...]]:
    for node in (primary, secondary):
        if node.bmc is None:
            raise DataError(f"node {node.name} has no bmc in the inventory: a management "
                            f"pair must be able to power its peer off before it takes "
                            f"the shared disks")
    devices = (FenceDeviceDef("bmc", "ipmi"), FenceDeviceDef("operator", "manual"))
    plan.notes["fence_devices.bmc"] = "Each node is fenced through its own BMC (IPMI over LAN)..."
    plan.notes["fence_devices.operator"] = ("...and, if that BMC does not answer, by an "
                                            "operator's confirmation.")
    members = []
    for number, node in enumerate((primary, secondary), start=1):
        wait = choices.fence_delay_ms if node is primary and choices.fence_delay_ms else None
        members.append(NodeDef(node.name, number, interfaces=node.interfaces, bmc=node.bmc,
                               fence=(FenceLevel(("bmc",), wait), FenceLevel(("operator",)))))
    if choices.fence_delay_ms:
        plan.notes["nodes[0]"] = (f"The primary: fencing it waits "
                                  f"{choices.fence_delay_ms / 1000:g} s, so that it survives "
                                  f"a fence race.")
    assert primary.bmc is not None and secondary.bmc is not None
    delay = (f"; fencing {primary.name} waits {choices.fence_delay_ms / 1000:g} s, so "
             f"that when each node tries to fence the other, {primary.name} survives"
             if choices.fence_delay_ms else "; no fence delay: in a fence race either "
                                            "node may win")
    plan.explanation.append(
        f"nodes: {primary.name} is the primary (first alphabetically: preferred for "
        f"{SERVICE}), {secondary.name} the secondary")
    plan.explanation.append(
        f"fencing: through each node's BMC ({primary.name} at {primary.bmc.address}, "
        f"{secondary.name} at {secondary.bmc.address}){delay}; if a BMC does not answer, "
        f"the survivor waits for `tandem fence ack NODE` from an operator")
    return devices, tuple(members)


def action_timeout(commands: int) -> float:
    """Start/stop timeout of the haservices resource for a list of `commands`."""
    return max(ACTION_TIMEOUT_S, PER_COMMAND_S * commands)


def _service_part(plan: _Plan, files: HaFiles, choices: Choices,
                  nodes: tuple[str, str]) -> ServiceDef:
    root = choices.node_root or str(files.root.absolute())
    plan.notes["services[0]"] = (f"{SERVICE}: every management service, through haservices "
                                 f"and the lists of {root}.")
    params: dict[str, Any] = {"root": root,
                              "command_timeout_s": choices.command_timeout_s}
    if choices.env:
        params["env"] = dict(choices.env)
    start, stop = (len(files.lists[a]) for a in ("start", "stop"))
    resource = ResourceDef(RESOURCE, "haservices", params=params,
                           monitor_interval_s=choices.monitor_interval_s,
                           timeouts={"start": action_timeout(start),
                                     "stop": action_timeout(stop)})
    service = ServiceDef(SERVICE, (resource,), autostart=choices.autostart, recovery="restart",
                         max_restarts=2, restart_window_s=600.0,
                         domain=DomainDef(((nodes[0], 1), (nodes[1], 2)), restricted=True))
    how = ("it starts by itself once both nodes have met" if choices.autostart else
           f"manual start: once tandemd runs on both nodes (`cs -c start`), start it with "
           f"`clusvcadm -e {SERVICE}`")
    plan.explanation.append(
        f"service {SERVICE}: one resource running `haservices` over {root}, on "
        f"{nodes[0]} by preference, else {nodes[1]} (no automatic move back); {how}")
    for action, verb in (("start", "starts"), ("stop", "stops")):
        commands = files.lists[action]
        plan.explanation.append(
            f"  {action}: {_list_text(commands)} (timeout "
            f"{action_timeout(len(commands)):g} s, each command at most "
            f"{choices.command_timeout_s:g} s){'' if commands else f'; nothing {verb}'}")
    if choices.env:
        plan.explanation.append("  environment of haservices and its commands: " +
                                " ".join(f"{k}={v}" for k, v in choices.env.items()))
    status = files.lists["status"]
    plan.explanation.append(
        f"  status, every {choices.monitor_interval_s:g} s: " +
        (_list_text(status) + "; a failure restarts HA_NSM (twice), then moves it"
         if status else "the list is empty (as in the manual): the engine knows where it "
                        "started HA_NSM and does not probe the services themselves"))
    if not files.lists["stop"]:
        plan.warnings.append(f"{files.root}/stop is empty: stopping {SERVICE} would leave "
                             f"everything running on the node it leaves")
    return service


def _program_part(plan: _Plan, files: HaFiles, choices: Choices) -> None:
    """A program of the lists that is missing is bad input now (FILE:LINE); one that
    could only be looked for on this machine, not in the nodes' tree, is a warning."""
    problems = program_problems(files.lists, files.root, files.sysroot, choices.node_root)
    certain = [str(p) for p in problems if p.certain]
    if certain:
        more = f" (and {len(certain) - 1} more)" if len(certain) > 1 else ""
        raise DataError(certain[0] + more)
    plan.warnings.extend(f"{p} here: check it on the nodes" for p in problems)


def _list_text(entries: list[Entry[str]]) -> str:
    return ", ".join(os.path.basename(e.value) for e in entries) or "empty"


def _runs(files: HaFiles, action: str, tool: str) -> bool:
    return any(os.path.basename(e.value) == tool for e in files.lists[action])


def _address_part(plan: _Plan, files: HaFiles, primary: InventoryNode,
                  secondary: InventoryNode) -> None:
    if not files.addresses:
        plan.warnings.append(f"{files.root}/{IP_FILE} lists no virtual address: clients "
                             f"have no single address that follows {SERVICE}")
        return
    node_addresses = {i.address.ip: n.name for n in (primary, secondary) for i in n.interfaces}
    described = []
    for entry in files.addresses:
        vip = entry.value
        address = ipaddress.ip_interface(vip.address)
        if address.ip in node_addresses:
            raise DataError(f"{entry.where}: {address.ip} is the address of "
                            f"{node_addresses[address.ip]}, not a virtual one")
        missing = [n.name for n in (primary, secondary)
                   if _interface_named(n, vip.interface) is None]
        if missing:
            raise DataError(f"{entry.where}: interface {vip.interface} is not an interface "
                            f"of {' and '.join(missing)} in the inventory")
        itf = _interface_named(primary, vip.interface)
        assert itf is not None
        described.append(f"{vip.address} on {vip.interface} (network {itf.network})")
        if address.ip not in itf.address.network:
            plan.warnings.append(f"{entry.where}: {address.ip} is outside "
                                 f"{itf.address.network}, the subnet of {vip.interface}")
    plan.explanation.append(f"virtual address: {', '.join(described)}, brought up with a "
                            f"gratuitous ARP on the node that runs {SERVICE} (haip)")
    for action in ("start", "stop"):
        if not _runs(files, action, "haip"):
            plan.warnings.append(f"{files.root}/{action} does not run haip: the virtual "
                                 f"address would not follow {SERVICE}")


def _interface_named(node: InventoryNode, name: str) -> NodeInterface | None:
    return next((i for i in node.interfaces if i.interface == name), None)


def _filesystem_part(plan: _Plan, files: HaFiles) -> None:
    if not files.filesystems:
        plan.explanation.append("shared file systems: none listed in "
                                f"{files.root}/{MNTTAB_FILE}")
        return
    listed = ", ".join(str(e.value) for e in files.filesystems)
    plan.explanation.append(f"shared file systems: {listed}, mounted (hamount) only on the "
                            f"node that runs {SERVICE}; the other node is fenced before "
                            f"they are mounted anywhere else")
    for action in ("start", "stop"):
        if not _runs(files, action, "hamount"):
            plan.warnings.append(f"{files.root}/{action} does not run hamount: the shared "
                                 f"file systems would not follow {SERVICE}")
