"""Life of a lab node: boot, power off, crash, hang and resume, and running commands in it.

A node is a network namespace (kept while the lab exists) plus a mount and UTS namespace
held by the node's init process, which is created at every boot. Killing every process of
the node's network namespace therefore also drops its mount namespace and with it every
mount the node had: exactly what pulling the plug does to a server.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from tandem.config import ClusterConfig, NodeDef
from tandem.lab import network as net
from tandem.lab.names import DISK_DIR_IN_NODE, LabNames
from tandem.lab.proc import (
    LabError,
    kill_netns_processes,
    netns_inode,
    pids_in_netns,
    signal_pids,
    spawn_detached,
)
from tandem.lab.san import SanLayout, wait_released
from tandem.lab.sshd import LabSsh
from tandem.lab.state import DiskRecord, LabRecord, NodeCondition, PowerRecord, node_lock

CORE_PRIVATE_DIRS = ("/etc/tandem", "/var/lib/tandem", "/var/log/tandem", "/run/tandem")
CONFIG_IN_NODE = "/etc/tandem/cluster.toml"
BOOT_TIMEOUT_S = 10.0


def private_dirs(config: ClusterConfig) -> list[str]:
    """Directories each node has its own copy of (core ones plus the [lab] list)."""
    extra = list(config.lab.private_dirs) if config.lab else []
    return list(dict.fromkeys([*CORE_PRIVATE_DIRS, *extra]))


def is_runtime_dir(path: str) -> bool:
    """Run-time directories start empty at each boot (tmpfs), like /run on a server."""
    return path == "/run" or path.startswith(("/run/", "/tmp/")) or path == "/tmp"


def boot_script(node: str, root: Path, dirs: list[str], disks: list[DiskRecord]) -> str:
    """Shell run by the node's init before it settles: mounts its private world."""
    lines = ["set -eu", f"hostname {node}", "mount -t sysfs sysfs /sys",
             "echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad",
             "echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad"]
    for path in dirs:
        # A directory inside an earlier private one (/run/sshd in a fresh /run) has no
        # mount point until it is made there.
        lines.append(f"mkdir -p '{path}'")
        if is_runtime_dir(path):
            lines.append(f"mount -t tmpfs -o mode=0755 tmpfs '{path}'")
        else:
            lines.append(f"mount --bind '{root}{path}' '{path}'")
    lines.append(f"mount -t tmpfs -o mode=0755,size=64k tmpfs {DISK_DIR_IN_NODE}")
    for disk in disks:  # a san disk: this node's own path (loop device) to it
        major, minor = disk.device(node)
        lines.append(f"mknod -m 0660 {DISK_DIR_IN_NODE}/{disk.name} b {major} {minor}")
    lines.append(f"exec -a 'tandem-node:{node}' sleep infinity")
    return "\n".join(lines) + "\n"


class NodeControl:
    """Power and fault operations on the nodes of one lab."""

    def __init__(self, record: LabRecord, config: ClusterConfig | None = None) -> None:
        self.record = record
        self.config = config or record.config()
        self.names = LabNames(record.name)

    def node(self, name: str) -> NodeDef:
        try:
            return self.config.node(name)
        except KeyError as exc:
            raise LabError(str(exc.args[0])) from None

    def power(self, node: str) -> PowerRecord:
        return PowerRecord.load(self.names.power_file(node))

    # -- power ----------------------------------------------------------------------
    def power_on(self, node: str) -> bool:
        """Boot `node` if it is off; False if it was already on."""
        with node_lock(self.names, node):
            state = self.power(node)
            if state.power == "on":
                return False
            self._boot(self.node(node), state)
            return True

    def power_off(self, node: str, *, condition: NodeCondition = "off") -> bool:
        """Cut the node's power; False if it was already off."""
        with node_lock(self.names, node):
            state = self.power(node)
            was_on = state.power == "on"
            self._kill(self.node(node))
            state.power, state.condition = "off", condition
            state.init_pid = state.daemon_pid = 0
            state.since = time.time()
            state.save(self.names.power_file(node))
            return was_on

    def crash(self, node: str) -> None:
        """Power loss that the BMC did not cause (its status then reads off)."""
        self.power_off(node, condition="crashed")

    def hang(self, node: str) -> None:
        """Freeze every process of the node (kernel hang: silent, power still on)."""
        self._signal_all(node, signal.SIGSTOP, "hung")

    def resume(self, node: str) -> None:
        """Let a hung node run again."""
        self._signal_all(node, signal.SIGCONT, "running")

    # -- storage paths (san disks) --------------------------------------------------
    def fail_storage(self, node: str) -> None:
        """Fail `node`'s paths to every san disk: its I/O there gets EIO until
        restore_storage or the node's next boot."""
        self._san_layout(node).fail(node)

    def restore_storage(self, node: str) -> None:
        """Give `node` its san paths back."""
        self._san_layout(node).restore(node)

    def storage_failed(self, node: str) -> bool:
        """True while `node`'s san paths are failed."""
        return self._san_layout(node).failed(node)

    def _san_layout(self, node: str) -> SanLayout:
        self.node(node)
        if not any(d.storage == "san" for d in self.record.disks):
            raise LabError(f"lab {self.record.name} has no san disk "
                           f"(storage = \"san\" in [[lab.disks]])")
        return SanLayout(self.names)

    def _restore_paths_at_boot(self, node: str) -> None:
        """A crash's path failure ends with the crash: once the kernel has put the
        node's old file systems (so nothing of them reaches the disk late), restore."""
        loops = [d.paths[node].loop for d in self.record.disks if node in d.paths]
        if loops:
            wait_released(loops)
            SanLayout(self.names).restore(node)

    def _signal_all(self, node: str, sig: int, condition: NodeCondition) -> None:
        with node_lock(self.names, node):
            state = self.power(node)
            if state.power != "on":
                raise LabError(f"node {node} is powered off")
            inode = self._inode(node)
            for _ in range(3):  # processes forked meanwhile get the signal on a re-scan
                signal_pids(pids_in_netns(inode), sig)
            state.condition = condition
            state.since = time.time()
            state.save(self.names.power_file(node))

    def _inode(self, node: str) -> int:
        inode = netns_inode(self.names.node_ns(node))
        if inode is None:
            raise LabError(f"node {node}: its network namespace is gone (lab broken?)")
        return inode

    def _kill(self, node: NodeDef) -> None:
        kill_netns_processes(self._inode(node.name))
        net.power_down(self.names.node_ns(node.name), [i.interface for i in node.interfaces],
                       {str(i.address.ip) for i in node.interfaces})

    def _boot(self, node: NodeDef, state: PowerRecord) -> None:
        self._restore_paths_at_boot(node.name)
        ns = self.names.node_ns(node.name)
        net.flush_extra_addresses(ns, {str(i.address.ip) for i in node.interfaces})
        for itf in node.interfaces:
            net.set_link(ns, itf.interface, up=True)
            net.add_address(ns, itf.interface, itf.address)
        script = boot_script(node.name, self.names.node_root(node.name),
                             private_dirs(self.config), self.record.disks)
        argv = ["nsenter", f"--net=/run/netns/{ns}", "--", "unshare", "--mount", "--uts",
                "--propagation", "private", "--", "bash", "-c", script]
        console = self.names.console_log(node.name)
        init_pid = spawn_detached(argv, console)
        _wait_settled(init_pid, node.name, console)
        state.power, state.condition, state.init_pid = "on", "running", init_pid
        state.daemon_pid = 0
        state.since = time.time()
        if self.record.sshd:
            LabSsh(self.names).start(node.name, enter_argv(init_pid), console)
        if self.record.start_daemons:
            state.daemon_pid = self._start_daemon(node.name, init_pid)
        state.save(self.names.power_file(node.name))

    def _start_daemon(self, node: str, init_pid: int) -> int:
        argv = [*enter_argv(init_pid), sys.executable, "-m", "tandem.daemon",
                "--config", CONFIG_IN_NODE, "--node", node]
        return spawn_detached(argv, self.names.console_log(node))

    def start_daemon(self, node: str) -> int:
        """Start tandemd in a running node (used by `up --start` and tests)."""
        with node_lock(self.names, node):
            state = self.power(node)
            if state.power != "on":
                raise LabError(f"node {node} is powered off")
            state.daemon_pid = self._start_daemon(node, state.init_pid)
            state.save(self.names.power_file(node))
            return state.daemon_pid

    # -- commands ---------------------------------------------------------------------
    def exec_argv(self, node: str, command: list[str]) -> list[str]:
        """The argv that runs `command` inside `node` (or in the client namespace)."""
        if node == "client":
            return ["nsenter", f"--net=/run/netns/{self.names.client_ns}", "--", *command]
        self.node(node)
        state = self.power(node)
        if state.power != "on" or not state.init_pid:
            raise LabError(f"node {node} is powered off ({state.condition})")
        return [*enter_argv(state.init_pid), *command]


def enter_argv(init_pid: int) -> list[str]:
    """nsenter prefix that joins a node's network, mount and UTS namespaces."""
    return ["nsenter", "-t", str(init_pid), "-n", "-m", "-u", f"--wd={os.getcwd()}", "--"]


def _wait_settled(pid: int, node: str, console: Path) -> None:
    """Wait until the boot script has exec'd its final sleep (mounts done)."""
    deadline = time.monotonic() + BOOT_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            break
        if comm == "sleep":
            return
        time.sleep(0.005)
    tail = console.read_text(errors="replace").strip().splitlines()[-3:] \
        if console.exists() else []
    raise LabError(f"node {node} failed to boot: {' | '.join(tail) or 'no output'}")
