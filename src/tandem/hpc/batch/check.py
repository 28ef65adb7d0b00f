"""`tandem batch check`: what, in a batch system's configuration, would break a
failover of the cell's service, one finding per line (`FILE:LINE: error|warning: what,
and why`).

The configuration is checked against one service of the cell (`--service`, else the
one with a `slurmctld` resource, else the one whose `fs` resource holds the state
directory, else the first with an `fs` resource, else the first):

- the state directory (Slurm's StateSaveLocation, PBS_HOME, LSF's LSB_SHAREDIR) must be
  at or under the mount point of one of the service's `fs` resources, or the node that
  takes over starts without the jobs (paths are compared as written: a symbolic link
  on the nodes is not followed);
- the controller hosts (SlurmctldHost, PBS_PRIMARY and PBS_SECONDARY, LSF_MASTER_LIST)
  must be nodes of the cell, and every node the service may run on must be one of them;
- a virtual name (a SlurmctldHost's address, a PBS_SERVER that is not a node, LSF's name
  for the service address) must resolve to the service address (an `ip` resource's) or,
  for a controller's own address, to that node's address;
- Slurm only: with Slurm's own backup controller (the `slurmctld` resource's mode
  "slurm"), SlurmctldTimeout against the cell's failover time (see `failover_estimate`).

Names are resolved with the hosts files given (LSF's own first), then the system
resolver; a check given `hosts` reads only the files, so that it does not depend on the
machine it runs on.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Literal

from tandem.common.errors import TandemError
from tandem.config.model import ClusterConfig, ServiceDef
from tandem.hpc.batch import Setting
from tandem.hpc.batch.lsfconf import HostsFile, IPAddress, LsfConf, Resolver, as_address
from tandem.hpc.batch.pbsconf import PbsConf
from tandem.hpc.batch.slurmconf import ControllerHost, SlurmConf

Severity = Literal["error", "warning"]
SLURMCTLD = "slurmctld"
DEFAULT_MODE = "tandem"


class CheckError(TandemError):
    """The cell cannot be checked against: it has no service, or not the one named."""


@dataclass(frozen=True)
class Finding:
    """One thing that would break a failover (error) or make it worse (warning)."""

    severity: Severity
    file: str
    line: int  # 0: the file as a whole (a key it lacks, a default it relies on)
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.severity}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"severity": self.severity, "file": self.file, "line": self.line or None,
                "message": self.message}


@dataclass
class Findings:
    """The findings about one file, in the order they were found."""

    file: str
    items: list[Finding] = field(default_factory=list)

    def error(self, line: int, message: str) -> None:
        self.items.append(Finding("error", self.file, line, message))

    def warning(self, line: int, message: str) -> None:
        self.items.append(Finding("warning", self.file, line, message))

    def add(self, severity: Severity, line: int, message: str) -> None:
        self.items.append(Finding(severity, self.file, line, message))


@dataclass(frozen=True)
class Report:
    """The outcome of one check: what was checked against, and the findings."""

    system: str
    file: str
    cell: str
    service: str
    findings: tuple[Finding, ...]
    mode: str | None = None
    failover_estimate_s: float | None = None

    @classmethod
    def of(cls, system: str, file: str, target: Target, findings: Iterable[Finding],
           **extra: Any) -> Report:
        """The report on `file` (and the files it names), findings in line order."""
        ordered = sorted(findings, key=lambda f: (f.file != file, f.file, f.line))
        return cls(system, file, target.config.name, target.service.name, tuple(ordered),
                   **extra)

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    def as_dict(self) -> dict[str, Any]:
        return {"system": self.system, "file": self.file, "cell": self.cell,
                "service": self.service, "mode": self.mode,
                "failover_estimate_s": self.failover_estimate_s,
                "errors": self.count("error"), "warnings": self.count("warning"),
                "findings": [f.as_dict() for f in self.findings]}


# -- the cell side ------------------------------------------------------------------------
def short(name: str) -> str:
    """A host name as the nodes compare them: the first label, in lower case."""
    return name.split(".", 1)[0].lower()


@dataclass(frozen=True)
class Target:
    """The service a batch system's controller depends on, and its cell."""

    config: ClusterConfig
    service: ServiceDef

    @property
    def nodes(self) -> tuple[str, ...]:
        """Where the service may run: its domain if restricted, else every node (those
        of its domain first, by preference)."""
        ranked = [name for name, _ in sorted(self.service.domain.nodes, key=lambda n: n[1])]
        if self.service.domain.restricted:
            return tuple(ranked)
        return tuple(dict.fromkeys([*ranked, *(n.name for n in self.config.nodes)]))

    @property
    def mountpoints(self) -> tuple[str, ...]:
        return tuple(str(r.params["mountpoint"]) for r in self.service.resources
                     if r.agent == "fs" and "mountpoint" in r.params)

    @property
    def addresses(self) -> tuple[IPAddress, ...]:
        """The service addresses (its `ip` resources)."""
        return tuple(ipaddress.ip_interface(str(r.params["address"])).ip
                     for r in self.service.resources
                     if r.agent == "ip" and "address" in r.params)

    def node(self, host: str) -> str | None:
        """The cell node `host` names (short or long name), if any."""
        return next((n.name for n in self.config.nodes if short(n.name) == short(host)), None)

    def node_addresses(self, name: str) -> frozenset[IPAddress]:
        node = next(n for n in self.config.nodes if n.name == name)
        return frozenset(i.address.ip for i in node.interfaces)


def pick_target(config: ClusterConfig, service: str | None = None, *,
                agent: str | None = None, state_dir: str | None = None) -> Target:
    """The service to check against (see the module's docstring); CheckError when the
    cell has no service or not the one named."""
    if service is not None:
        try:
            return Target(config, config.service(service))
        except KeyError as exc:
            raise CheckError(f"{config.source}: {exc.args[0]}") from None
    if not config.services:
        raise CheckError(f"{config.source}: cell {config.name} has no service: a batch "
                         f"system's controller can only fail over with one")
    candidates = [
        [s for s in config.services if any(r.agent == agent for r in s.resources)],
        [s for s in config.services if state_dir is not None
         and under_any(state_dir, Target(config, s).mountpoints)],
        [s for s in config.services if Target(config, s).mountpoints],
        list(config.services),
    ]
    return Target(config, next(group for group in candidates if group)[0])


def under_any(path: str, mountpoints: Iterable[str]) -> bool:
    """Is `path` a mount point of `mountpoints` or below one?"""
    inner = PurePosixPath(path)
    return any(inner == PurePosixPath(m) or PurePosixPath(m) in inner.parents
               for m in mountpoints)


# -- names -----------------------------------------------------------------------------------------
def _addresses_text(addresses: Iterable[IPAddress]) -> str:
    return ", ".join(str(a) for a in addresses) or "none"


def check_resolves(out: Findings, line: int, what: str, name: str, *,
                   expected: frozenset[IPAddress], resolver: Resolver) -> None:
    """An error unless `name` (which `what` is) resolves to one of `expected`."""
    found = resolver.resolve(name)
    wanted = _addresses_text(sorted(expected, key=str))
    if not found:
        out.error(line, f"{what} {name} does not resolve: the other hosts cannot reach it "
                        f"(expected {wanted})")
    elif not expected & set(found):
        got = "is" if as_address(name) else f"resolves to {_addresses_text(found)},"
        out.error(line, f"{what} {name} {got} not {wanted}: requests sent there "
                        f"may not reach the host that runs the controller")


# -- checks every batch system shares -----------------------------------------------------------
def check_state_dir(out: Findings, setting: Setting | None, key: str, daemon: str,
                    target: Target) -> None:
    """The state directory must be on a file system that moves with the service."""
    if setting is None:
        out.error(0, f"{key} is not set: where {daemon} keeps its state cannot be checked")
        return
    mounts = target.mountpoints
    if not PurePosixPath(setting.value).is_absolute():
        out.error(setting.line, f"{key}={setting.value} is not an absolute path")
    elif not under_any(setting.value, mounts):
        default = " (the default: it is not set)" if not setting.line else ""
        out.error(setting.line,
                  f"{key} {setting.value}{default} is not on a file system that service "
                  f"{target.service.name} mounts ({', '.join(mounts) or 'it mounts none'}): "
                  f"after a failover {daemon} starts without the jobs")


@dataclass(frozen=True)
class HostRules:
    """How one batch system's list of controller hosts is judged."""

    key: str
    stranger: str  # why a host outside the cell breaks a failover
    missing: str  # why a node the service may run on, left out of the list, breaks one
    outside: Severity  # a node of the cell the service never runs on
    outside_why: str


def check_hosts(out: Findings, listed: Sequence[tuple[str, int]], target: Target,
                rules: HostRules, virtual: frozenset[str] = frozenset()) -> None:
    """The listed controller hosts against the nodes the service may run on; a name
    in `virtual` stands for whichever node runs the service."""
    cell, service = target.config.name, target.service.name
    nodes = set(target.nodes)
    for name, line in listed:
        node = target.node(name)
        if short(name) in virtual:
            continue
        if node is None:
            out.error(line, f"{rules.key} {name} is not a node of cell {cell}: "
                            f"{rules.stranger}")
        elif node not in nodes:
            out.add(rules.outside, line, f"{rules.key} {name} is not in the domain of "
                                         f"service {service}: {rules.outside_why}")
    if virtual & {short(n) for n, _ in listed}:
        return
    covered = {target.node(n) for n, _ in listed}
    first = listed[0][1] if listed else 0
    for node in target.nodes:
        if node not in covered:
            out.error(first, f"{node} may run service {service} but is not in "
                             f"{rules.key}: {rules.missing}")


# -- Slurm --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Estimate:
    """How long the cell may take to bring the service's disk up elsewhere, and how
    that figure is made up."""

    seconds: float
    detail: str


def failover_estimate(target: Target) -> Estimate:
    """An upper estimate of the time from a node's crash to the state disk mounted on
    the survivor: the token (silence before the node is declared lost), plus its
    fencing at the first level (that level's delay, plus the slowest of its devices'
    delay and timeout: a device that answers takes less; later levels are taken only
    when it fails), the worst over the nodes the service may run on, plus the start
    timeouts of the service's resources that come before its `slurmctld` resource
    (all of them if it has none). The slowest path is what a timeout must cover."""
    from tandem.resources.registry import get_agent

    config = target.config
    token = config.timing.token_ms / 1000
    fence = max((_first_level_s(target, n) for n in target.nodes), default=0.0)
    before = []
    for res in target.service.resources:
        if res.agent == SLURMCTLD:
            break
        before.append((res.name, res.timeouts.get("start") or
                       get_agent(res.agent).timeouts.start))
    start = sum(s for _, s in before)
    names = ", ".join(n for n, _ in before) or "nothing"
    total = token + fence + start
    return Estimate(total, f"{token:g} s to declare the node lost + up to {fence:g} s to "
                           f"fence it + up to {start:g} s to start {names}")


def _first_level_s(target: Target, name: str) -> float:
    node = target.config.node(name)
    if not node.fence:
        return 0.0
    level = node.fence[0]
    devices = [target.config.fence_device(d) for d in level.devices]
    slowest = max((d.delay_ms / 1000 + d.timeout_s for d in devices), default=0.0)
    return (level.delay_ms or 0) / 1000 + slowest


def slurm_mode(service: ServiceDef) -> str | None:
    """The `slurmctld` resource's mode ("tandem" by default); None without one."""
    res = next((r for r in service.resources if r.agent == SLURMCTLD), None)
    return None if res is None else str(res.params.get("mode", DEFAULT_MODE))


SLURM_STRANGER = ("slurmctld may run there without the state disk, and the node that "
                  "has the disk cannot be its backup")
SLURM_MISSING = "slurmctld refuses to start on a host that is not a SlurmctldHost"
TANDEM_RULES = HostRules(
    "SlurmctldHost", SLURM_STRANGER, SLURM_MISSING, "warning",
    "tandem never starts slurmctld there; if something else does, it takes control "
    "after SlurmctldTimeout without the state disk")
SLURM_RULES = HostRules(
    "SlurmctldHost", SLURM_STRANGER, SLURM_MISSING, "error",
    "Slurm's backup there takes control after SlurmctldTimeout, but the state disk "
    "never moves there")


# Mode tandem: Slurm clients that meet a backup in standby sleep SlurmctldTimeout / 2.
TANDEM_TIMEOUT_HINT_S = 20


def check_slurm(conf: SlurmConf, target: Target, resolver: Resolver) -> Report:
    """The findings about a slurm.conf for `target`."""
    out = Findings(conf.path)
    for include in conf.includes:
        out.warning(include.line, f"Include {include.value} is not read by this check: a "
                                  f"controller or state directory set there is not checked")
    for setting in conf.ignored:
        out.warning(setting.line, f"{setting.key} is ignored by Slurm since SlurmctldHost is "
                                  f"set: remove it, it misleads whoever reads the file")
    check_state_dir(out, conf.state_save_location, "StateSaveLocation", "slurmctld", target)
    mode = slurm_mode(target.service)
    backup = mode != DEFAULT_MODE
    if mode is None:
        out.warning(0, f"service {target.service.name} has no slurmctld resource: checked "
                       f"as Slurm's own failover (mode slurm), tandem moving only the disk")
    virtual = slurm_virtual_host(target.service)
    if virtual:
        _virtual_controller(out, conf, target, resolver, virtual)
    else:
        _node_controllers(out, conf, target, resolver, backup=backup)
    estimate = failover_estimate(target)
    if backup:
        _slurm_backup(out, conf, target, estimate)
    elif not virtual and len(conf.controllers) > 1 \
            and conf.slurmctld_timeout_s > TANDEM_TIMEOUT_HINT_S:
        timeout = conf.slurmctld_timeout_s
        out.warning(conf.slurmctld_timeout.line,
                    f"SlurmctldTimeout={timeout}: a client that reaches the backup while it "
                    f"takes over is told to wait and sleeps {timeout // 2} s before it "
                    f"retries; tandem runs one controller at a time, so a short timeout "
                    f"(about 10 s) is safe here and shortens the queue's pause")
    return Report.of("slurm", conf.path, target, out.items, mode=mode or "slurm",
                     failover_estimate_s=round(estimate.seconds, 3))


def _node_controllers(out: Findings, conf: SlurmConf, target: Target, resolver: Resolver,
                      *, backup: bool) -> None:
    """Controllers that are the cell's nodes: listed as the mode needs, each reached at
    its own address (or, with a single one, at the service address)."""
    check_hosts(out, [(c.name, c.line) for c in conf.controllers], target,
                SLURM_RULES if backup else TANDEM_RULES)
    for host in conf.controllers:
        node = target.node(host.name)
        if host.address is None or node is None:  # a stranger is reported above
            continue
        expected = frozenset(target.addresses) | target.node_addresses(node)
        check_resolves(out, host.line, f"SlurmctldHost {host.name} at",
                       host.address, expected=expected, resolver=resolver)
        if not backup and len(conf.controllers) > 1:
            _shared_address(out, host, target, resolver)


def _virtual_controller(out: Findings, conf: SlurmConf, target: Target, resolver: Resolver,
                        virtual: str) -> None:
    """A controller that runs under the service's own host name: it must be the only
    SlurmctldHost, reached at the service address."""
    first = conf.controllers[0]
    if len(conf.controllers) > 1 or short(first.name) != short(virtual):
        out.error(first.line, f"the slurmctld resource runs the controller as {virtual}: "
                              f"SlurmctldHost must be {virtual} alone (found "
                              f"{', '.join(c.text for c in conf.controllers)}), or slurmctld "
                              f"refuses to start")
    if not target.addresses:
        out.error(first.line, f"service {target.service.name} has no ip resource: the "
                              f"virtual controller {virtual} has no address to move")
    elif short(first.name) == short(virtual):
        check_resolves(out, first.line, f"SlurmctldHost {virtual} at", first.address or virtual,
                       expected=frozenset(target.addresses), resolver=resolver)


def slurm_virtual_host(service: ServiceDef) -> str:
    """The `slurmctld` resource's virtual host name ("" if none)."""
    res = next((r for r in service.resources if r.agent == SLURMCTLD), None)
    return "" if res is None else str(res.params.get("virtual_host", ""))


def _shared_address(out: Findings, host: ControllerHost, target: Target,
                    resolver: Resolver) -> None:
    """Mode tandem with backups: a controller address that moves with the service is
    wrong. A backup that takes over first asks the primary, at the primary's address, to
    give up control; when that address is the service's and so its own, it asks itself
    and stays in standby (seen in the lab with Slurm 22.05)."""
    moving = set(target.addresses) & set(resolver.resolve(host.address or ""))
    if moving:
        out.error(host.line, f"SlurmctldHost {host.name} at {host.address} is the service "
                             f"address {_addresses_text(sorted(moving, key=str))}: with "
                             f"several controllers each must be reached at its node's own "
                             f"address, or the backup's takeover talks to itself and fails")


def _slurm_backup(out: Findings, conf: SlurmConf, target: Target, estimate: Estimate) -> None:
    """With Slurm's own backup controller: its timeout against the cell's failover, and
    the primary controller against the node the service prefers."""
    timeout, line = conf.slurmctld_timeout_s, conf.slurmctld_timeout.line
    if timeout < estimate.seconds:
        out.error(line, f"SlurmctldTimeout={timeout} is shorter than the cell's failover "
                        f"(up to {estimate.seconds:g} s: {estimate.detail}): Slurm's backup "
                        f"can take control before the state disk is mounted there, and "
                        f"start with no jobs")
    else:
        out.warning(line, f"with Slurm's own backup the queue is unavailable for about "
                          f"SlurmctldTimeout={timeout} s after the controller's node fails, "
                          f"while the cell has the disk ready within {estimate.seconds:g} s; "
                          f"mode tandem takes over as soon as the disk is there")
    preferred = target.nodes[0] if target.service.domain.nodes else None
    first = conf.controllers[0]
    if preferred is not None and target.node(first.name) != preferred:
        out.warning(first.line, f"the first SlurmctldHost is {first.name} but service "
                                f"{target.service.name} prefers {preferred}: when both are "
                                f"up, Slurm's controller runs on {first.name} and the disk "
                                f"is mounted on {preferred}")


# -- PBS Professional -----------------------------------------------------------------------------
PBS_RULES = HostRules(
    "PBS_PRIMARY/PBS_SECONDARY", "the PBS server may run there without PBS_HOME",
    "the PBS server there is neither the primary nor the secondary and does not serve",
    "error", "the PBS server may take over there, but PBS_HOME never moves there")


def check_pbs(conf: PbsConf, target: Target, resolver: Resolver) -> Report:
    """The findings about a pbs.conf for `target`."""
    out = Findings(conf.path)
    check_state_dir(out, conf.get("PBS_HOME"), "PBS_HOME", "the PBS server", target)
    primary, secondary = conf.get("PBS_PRIMARY"), conf.get("PBS_SECONDARY")
    if primary is None or secondary is None:
        out.error(0, "PBS_PRIMARY and PBS_SECONDARY must both be set: without them the "
                     "PBS server has no failover host")
    elif short(primary.value) == short(secondary.value):
        out.error(secondary.line, f"PBS_SECONDARY is PBS_PRIMARY ({primary.value}): the "
                                  f"server has no other host to fail over to")
    else:
        check_hosts(out, [(primary.value, primary.line), (secondary.value, secondary.line)],
                    target, PBS_RULES)
    _pbs_server(out, conf.get("PBS_SERVER"), primary, target, resolver)
    return Report.of("pbs", conf.path, target, out.items)


def _pbs_server(out: Findings, server: Setting | None, primary: Setting | None,
                target: Target, resolver: Resolver) -> None:
    if server is None:
        out.error(0, "PBS_SERVER is not set: clients and MOMs do not know where to go")
    elif target.node(server.value) is not None:
        if primary is not None and short(server.value) != short(primary.value):
            out.warning(server.line, f"PBS_SERVER is {server.value}, not PBS_PRIMARY "
                                     f"({primary.value}): clients ask PBS_SERVER first, "
                                     f"and every node should name the primary there")
    elif not target.addresses:
        out.error(server.line, f"PBS_SERVER {server.value} is not a node, and service "
                               f"{target.service.name} has no ip resource for a virtual "
                               f"name to follow it")
    else:
        check_resolves(out, server.line, "PBS_SERVER", server.value,
                       expected=frozenset(target.addresses), resolver=resolver)


# -- LSF -------------------------------------------------------------------------------------------
LSF_RULES = HostRules(
    "LSF_MASTER_LIST", "nor a name of the service address, and LSF there may become "
                       "master without LSB_SHAREDIR",
    "LSF on that node never becomes master", "error",
    "it may become master, but LSB_SHAREDIR never moves there")


def check_lsf(conf: LsfConf, hosts: HostsFile | None, target: Target,
              resolver: Resolver) -> Report:
    """The findings about an lsf.conf and LSF's hosts file for `target`; `resolver`
    should read `hosts` first, as LSF does."""
    out = Findings(conf.path)
    check_state_dir(out, conf.sharedir, "LSB_SHAREDIR", "mbatchd", target)
    service = frozenset(target.addresses)
    masters = conf.get("LSF_MASTER_LIST")
    if masters is None or not conf.master_list:
        out.warning(0, "LSF_MASTER_LIST is not set: the master is the first host of "
                       "lsf.cluster.NAME, which this check does not read")
    else:
        virtual = frozenset(short(n) for n in conf.master_list if target.node(n) is None
                            and service & set(resolver.resolve(n)))
        check_hosts(out, [(n, masters.line) for n in conf.master_list], target,
                    LSF_RULES, virtual)
    if hosts is None:
        out.warning(0, "no LSF hosts file (give --lsf-hosts, or put it beside lsf.conf): "
                       "the virtual name of the management node is not checked")
    else:
        out.items.extend(_lsf_hosts(hosts, target, service))
    return Report.of("lsf", conf.path, target, out.items)


def _lsf_hosts(hosts: HostsFile, target: Target,
               service: frozenset[IPAddress]) -> list[Finding]:
    """A node's name must be its own address or the service address; a name of the
    service address must be that address where LSF first finds it."""
    out = Findings(hosts.path)
    for address in sorted(service, key=str):
        if hosts.names_of(address) is None:
            out.warning(0, f"the service address {address} has no name here: LSF has no "
                           f"virtual name for the active management node")
    names = dict.fromkeys(n.lower() for entry in hosts.lines for n in entry.names)
    for name in names:
        _lsf_name(out, hosts, name, target, service)
    return out.items


def _lsf_name(out: Findings, hosts: HostsFile, name: str, target: Target,
              service: frozenset[IPAddress]) -> None:
    first = hosts.lookup(name)
    assert first is not None
    node = target.node(name)
    if node is not None:
        expected = target.node_addresses(node) | service
        if first.address not in expected:
            out.error(first.line, f"{name}, a node of cell {target.config.name}, is first "
                                  f"listed at {first.address}, neither its own address "
                                  f"nor the service address: LSF would look for it there")
        return
    if service & {h.address for h in hosts.naming(name)} and first.address not in service:
        out.error(first.line, f"{name}, a name of the service address, is first listed at "
                              f"{first.address}: LSF takes that address, not the service's")
