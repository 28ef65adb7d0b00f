"""`tandem lab up` and `tandem lab down`: build a replica of a cell, and remove it all.

`up` records its intent before it creates anything and tears everything down again if
any step fails, so a failed `up` leaves nothing behind. `down` works from names alone
(namespaces, loop devices over files in the lab's directory, FUSE mounts and processes
of the san paths under it), so it also cleans up after a process that died half-way.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from tandem.config import ClusterConfig, load_config
from tandem.config.cellfile import write_cell_file
from tandem.lab import network as net
from tandem.lab import san as san_server
from tandem.lab.bmcauth import read_passwords, save_passwords, write_password_files
from tandem.lab.disks import attach_san_paths, create_disk, loops_backed_by
from tandem.lab.names import DISK_DIR_IN_NODE, LabNames, existing_labs
from tandem.lab.nodes import CONFIG_IN_NODE, NodeControl, is_runtime_dir, private_dirs
from tandem.lab.proc import (
    LabError,
    kill_netns_processes,
    netns_inode,
    run,
    spawn_detached,
)
from tandem.lab.sshd import LabSsh
from tandem.lab.state import LabRecord, PowerRecord

Progress = Callable[[str], None]
BMC_START_TIMEOUT_S = 15.0
LOOP_RELEASE_TIMEOUT_S = 20.0


def quiet(_: str) -> None:
    """A progress report that says nothing."""


def require_root() -> None:
    """The lab needs root for namespaces, bridges and loop devices."""
    if os.geteuid() != 0:
        raise LabError("the lab needs root (network namespaces, bridges, loop devices): "
                       "run it as root")


def lab_up(config_path: str, name: str | None = None, *, start: bool = False,
           progress: Progress = quiet, blank: bool = False, sshd: bool = False,
           source: str | None = None) -> LabRecord:
    """Build the lab described by `config_path`; on failure remove what was made.
    `blank`: the nodes get no configuration or key; `sshd`: every node runs sshd;
    `source`: what to record as the lab's origin (default: the file)."""
    require_root()
    config = load_config(config_path)
    names = LabNames(name or config.name)
    if names.lab in existing_labs():
        raise LabError(f"lab {names.lab!r} already exists (remove it with "
                       f"`tandem lab down {names.lab}`)")
    wires = net.plan_wires(config, names)
    check_host_overlap(config, wires)
    _check_key_file(config)
    passwords, made = read_passwords(config, blank=blank)
    record = LabRecord(name=names.lab, config_file=str(names.directory / "cluster.toml"),
                       source=source or str(Path(config_path).resolve()),
                       start_daemons=start, blank_nodes=blank, sshd=sshd)
    names.directory.mkdir(parents=True, exist_ok=False)
    try:
        save_passwords(passwords, names)
        _build(config, names, record, wires, progress, made=made)
    except BaseException as exc:
        progress("build failed: removing what was created")
        lab_down(names.lab)
        if isinstance(exc, (OSError, NetlinkError)):
            raise LabError(f"building lab {names.lab} failed: {exc}") from exc
        raise
    return record


def _build(config: ClusterConfig, names: LabNames, record: LabRecord,
           wires: list[net.Wire], progress: Progress, *, made: dict[str, str]) -> None:
    write_cell_file(Path(record.config_file), Path(config.source).read_text())
    record.save()
    progress("creating namespaces and bridges")
    for ns in sorted({names.fabric_ns, *(w.ns for w in wires)}):
        net.create_ns(ns)
    net.build_fabric(config, names, wires)
    for disk in config.lab.disks if config.lab else ():
        progress(f"creating disk {disk.name} ({disk.size_bytes >> 20} MiB, {disk.format}, "
                 f"{disk.storage})")
        record.disks.append(create_disk(names, disk))
        record.save()
    _start_san(config, names, record, progress)
    _init_quorum_disk(config, record)
    record.host_dirs_created = _prepare_host_mountpoints(config)
    record.save()
    _prepare_node_roots(config, names, made, blank=record.blank_nodes)
    if record.sshd:
        progress("making ssh keys")
        LabSsh(names).prepare(config)
    progress("starting virtual BMCs")
    for node in config.nodes:
        if node.bmc is not None:
            record.bmc_pids[node.name] = _start_bmc(names, node.name, node.bmc.port)
    record.save()
    control = NodeControl(record, config)
    for node in config.nodes:
        progress(f"booting {node.name}")
        control.power_on(node.name)
    record.complete = True
    record.save()


def _start_san(config: ClusterConfig, names: LabNames, record: LabRecord,
               progress: Progress) -> None:
    """The san disks' FUSE process, then each node's own loop device over its path."""
    san = [d for d in record.disks if d.storage == "san"]
    if not san:
        return
    progress(f"starting the san paths ({', '.join(d.name for d in san)})")
    nodes = [n.name for n in config.nodes]
    record.san_pid = san_server.start_server(names, {d.name: Path(d.file) for d in san},
                                             nodes)
    record.save()
    layout = san_server.SanLayout(names)
    for disk in san:
        attach_san_paths(disk, {n: layout.path_file(disk.name, n) for n in nodes})
        record.save()


def _init_quorum_disk(config: ClusterConfig, record: LabRecord) -> None:
    """A [qdisk] on one of the lab's raw disks is initialised like `tandem qdisk init`."""
    from tandem.quorum.qdisk.config import QdiskDef

    qdisk = config.section(QdiskDef)
    if qdisk is None:
        return
    for disk in record.disks:
        if LabNames.disk_path_in_node(disk.name) == qdisk.device:
            if disk.format != "none":
                raise LabError(f"{config.source}: qdisk.device {qdisk.device} is a "
                               f"{disk.format} disk; a quorum disk needs format = \"none\"")
            from tandem.quorum.qdisk.device import init_disk

            init_disk(disk.loop, qdisk.label, cell=config.name)


def _check_key_file(config: ClusterConfig) -> None:
    persistent = [d for d in private_dirs(config) if not is_runtime_dir(d)]
    if not any(config.key_file.startswith(d.rstrip("/") + "/") for d in persistent):
        raise LabError(f"{config.source}: cluster.key_file {config.key_file!r} must lie in "
                       f"a private node directory ({', '.join(persistent)}) for the lab")


def check_host_overlap(config: ClusterConfig, wires: list[net.Wire]) -> None:
    """Refuse lab subnets that overlap a network of the host (traffic could leak)."""
    lab_nets = {itf.address.network for n in config.nodes for itf in n.interfaces}
    lab_nets.update(w.address.network for w in wires if w.address is not None)
    with IPRoute() as host:
        host_addrs = [(msg.get_attr("IFA_ADDRESS"), msg["prefixlen"])
                      for msg in host.get_addr() if msg["scope"] == 0]
    for address, prefix in host_addrs:
        host_net = ipaddress.ip_interface(f"{address}/{prefix}").network
        for lab_net in lab_nets:
            if lab_net.version == host_net.version and lab_net.overlaps(host_net):
                raise LabError(f"lab network {lab_net} overlaps the host's network {host_net} "
                               f"({address}): use 198.51.100.0/24 or 203.0.113.0/24")


def _prepare_host_mountpoints(config: ClusterConfig) -> list[str]:
    """Empty directories the nodes mount over; returns those we had to create."""
    created: list[str] = []
    for path in [*private_dirs(config), DISK_DIR_IN_NODE]:
        missing = []
        current = Path(path)
        while not current.exists():
            missing.append(str(current))
            current = current.parent
        Path(path).mkdir(parents=True, exist_ok=True)
        created.extend(reversed(missing))
    return created


def _prepare_node_roots(config: ClusterConfig, names: LabNames, made: dict[str, str], *,
                        blank: bool) -> None:
    """Each node's private directories; unless blank, its cell file, key and the BMC
    password files the lab made up (`made`: path in the node -> password)."""
    key = os.urandom(32).hex() + "\n"
    text = Path(config.source).read_text()
    for node in config.nodes:
        root = names.node_root(node.name)
        for path in private_dirs(config):
            if not is_runtime_dir(path):
                (root / path.lstrip("/")).mkdir(parents=True, exist_ok=True)
        PowerRecord().save(names.power_file(node.name))
        if blank:
            continue
        write_cell_file(root / CONFIG_IN_NODE.lstrip("/"), text)
        write_password_files(made, root)
        key_path = root / config.key_file.lstrip("/")
        key_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key)


def _start_bmc(names: LabNames, node: str, port: int) -> int:
    argv = ["nsenter", f"--net=/run/netns/{names.bmc_ns(node)}", "--", sys.executable,
            "-m", "tandem.lab.bmcproc", "--lab", names.lab, "--node", node]
    pid = spawn_detached(argv, names.bmc_log(node))
    deadline = time.monotonic() + BMC_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if _udp_listening(pid, port):
            return pid
        if not Path(f"/proc/{pid}").exists():
            break
        time.sleep(0.02)
    log = names.bmc_log(node)
    tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
    raise LabError(f"BMC of {node} did not start: {' '.join(tail) or 'no output'}")


def _udp_listening(pid: int, port: int) -> bool:
    for table in ("udp", "udp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            return False
        for line in lines:
            local = line.split()[1]
            if int(local.rsplit(":", 1)[1], 16) == port:
                return True
    return False


def lab_down(name: str, progress: Progress = quiet) -> list[str]:
    """Remove everything lab `name` created; returns a list of what was removed."""
    require_root()
    names = LabNames(name)
    removed: list[str] = []
    namespaces = net.lab_namespaces(names.prefix)
    inodes = [i for i in (netns_inode(ns) for ns in namespaces) if i is not None]
    for inode in inodes:
        kill_netns_processes(inode)
    for ns in namespaces:
        net.remove_ns(ns)
        removed.append(f"namespace {ns}")
    removed.extend(_detach_loops(names))
    removed.extend(san_server.stop_server(names))
    removed.extend(_remove_host_dirs(names))
    if names.directory.exists():
        shutil.rmtree(names.directory)
        removed.append(f"directory {names.directory}")
    progress(f"removed {len(removed)} items")
    return removed


def _detach_loops(names: LabNames) -> list[str]:
    """Detach the lab's loop devices. A device still held by a mount of a node whose
    processes are only now exiting is detached by the kernel once released: wait for
    that (bounded), so that `down` returns with nothing left."""
    if not names.directory.exists():
        return []
    loops = loops_backed_by(names.directory)
    for loop in loops:
        run(["losetup", "--detach", loop], check=False)
    deadline = time.monotonic() + LOOP_RELEASE_TIMEOUT_S
    while loops_backed_by(names.directory) and time.monotonic() < deadline:
        time.sleep(0.05)
        for loop in loops_backed_by(names.directory):
            run(["losetup", "--detach", loop], check=False)
    return [f"loop device {loop}" for loop in loops]


def _remove_host_dirs(names: LabNames) -> list[str]:
    try:
        created = LabRecord.load(names.lab).host_dirs_created
    except LabError:
        return []
    others = [lab for lab in existing_labs() if lab != names.lab]
    if others:  # another lab may still mount over them
        return []
    removed = []
    for path in sorted(created, key=len, reverse=True):
        try:
            os.rmdir(path)
            removed.append(f"directory {path}")
        except OSError:
            pass
    return removed


def resolve_lab(name: str | None) -> str:
    """The lab to act on: `name`, or the only lab that exists."""
    if name:
        return name
    labs = existing_labs()
    if len(labs) == 1:
        return labs[0]
    if not labs:
        raise LabError("no lab exists (create one with `tandem lab up --config FILE`)")
    raise LabError(f"several labs exist ({', '.join(labs)}): name one with --lab")


def load_lab(name: str | None) -> tuple[LabRecord, ClusterConfig]:
    """Record and configuration of an existing lab."""
    record = LabRecord.load(resolve_lab(name))
    return record, load_config(record.config_file)
