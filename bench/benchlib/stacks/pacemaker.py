"""Pacemaker + Corosync (Debian's packages) in the lab's nodes, as ANCHORS.md ran them.

Each lab node already is a network namespace with a mount namespace of its own and a
private /run, /etc/corosync, /var/lib/{corosync,pacemaker} and /var/log/{...} (the
benchmark's cell lists them as private directories); here it also gets a fresh tmpfs on
/dev/shm, because libqb's IPC lives there and in abstract sockets (per namespace).
Fencing goes through the same lab BMCs with `fence_benchlab` (ipmitool -I lanplus).
"""

from __future__ import annotations

import os
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

from benchlib.errors import BenchError
from benchlib.labs import Lab
from benchlib.stacks import pacemaker_conf as conf
from benchlib.stacks.base import Say
from benchlib.stacks.peer import PeerStack
from tandem.lab.wait import wait_for

FENCE_AGENT_SOURCE = Path(__file__).resolve().parents[1] / "fence_benchlab.py"
FENCE_AGENT_PATH = Path("/usr/sbin") / conf.FENCE_AGENT
# Directories whose layout (owners, modes, sub-directories) each node copies from the
# host's packages: the daemons drop root for hacluster and expect them as shipped.
SKELETONS = ("/etc/corosync", "/var/lib/corosync", "/var/log/corosync",
             "/var/lib/pacemaker", "/var/log/pacemaker")
DAEMON_EXES = ("/usr/sbin/corosync", "/usr/sbin/pacemakerd")
DAEMON_DIR = "/usr/lib/pacemaker/"
COROSYNC_START_S = 30.0
DC_TIMEOUT_S = 90.0


def install_fence_agent() -> None:
    """Pacemaker looks for fence agents in /usr/sbin only (idempotent)."""
    text = FENCE_AGENT_SOURCE.read_text()
    if not FENCE_AGENT_PATH.exists() or FENCE_AGENT_PATH.read_text() != text:
        FENCE_AGENT_PATH.write_text(text)
    FENCE_AGENT_PATH.chmod(0o755)


def _copy_skeleton(host_dir: str, node_root: Path) -> None:
    """Recreate a host directory's tree of directories (owners and modes) in a node."""
    for current, dirs, _ in os.walk(host_dir):
        target = node_root / current.lstrip("/")
        target.mkdir(parents=True, exist_ok=True)
        info = os.stat(current)
        os.chown(target, info.st_uid, info.st_gid)
        os.chmod(target, info.st_mode & 0o7777)
        dirs.sort()


class PacemakerStack(PeerStack):
    """corosync + pacemakerd on both nodes of a lab built without tandemd."""

    family = "pacemaker"
    group = conf.GROUP  # the resource group whose owner is the service's

    def __init__(self, lab: Lab, setting: str, say: Say, token_ms: int | None) -> None:
        super().__init__(lab, setting, say)
        self.token_ms = token_ms
        self.content_dir = self.mount_point()

    def mount_point(self) -> str:
        """Where the group mounts the shared disk (a subclass serves another group)."""
        return conf.mountpoint(self.lab.config)

    def service_xml(self) -> str:
        """The CIB resources of the service (the web group here)."""
        return conf.web_group(self.lab.config)

    # -- start ---------------------------------------------------------------------------
    def start(self) -> str:
        install_fence_agent()
        text = conf.corosync_conf(self.lab.config, self.token_ms)
        for node in self.lab.nodes:
            root = self.lab.node_root(node)
            for host_dir in SKELETONS:
                _copy_skeleton(host_dir, root)
            (root / "etc/corosync/corosync.conf").write_text(text)
            (root / self.content_dir.lstrip("/")).mkdir(parents=True, exist_ok=True)
        for node in self.lab.nodes:
            self.start_node(node)
        self.say(f"{self.label}: waiting for a designated controller (Pacemaker waits "
                 f"dc-deadtime, 20 s, at a cold start)")
        wait_for(self._dc, DC_TIMEOUT_S, "Pacemaker DC", interval=0.5)
        self._configure()
        return self.wait_ready()

    def start_node(self, node: str) -> None:
        self.boot_namespace(node)
        self._check_mountpoint(node)
        self.node_run(node, ["mount", "-t", "tmpfs", "-o", "mode=1777,size=64m", "tmpfs",
                             "/dev/shm"])
        self.node_spawn(node, ["corosync", "-f"], "corosync-stdout")
        wait_for(lambda: self._corosync_up(node), COROSYNC_START_S, f"corosync on {node}")
        self.node_spawn(node, ["pacemakerd"], "pacemakerd-stdout")

    def _check_mountpoint(self, node: str) -> None:
        """Refuse to let the Filesystem agent near anything but a plain directory.

        If the mount point were itself a mount (as a lab private directory is: a bind
        mount of the machine's root disk), the agent would take it for the shared disk,
        "stop" it by unmounting every bind mount of the root disk and then signal every
        process `fuser -m` names on it: with lab nodes sharing one PID space, that would
        be every process of the machine (the stack's own PID namespace is the second
        line of defence)."""
        path = self.content_dir
        done = self.node_run(node, ["sh", "-c", f"test -d {path} && ! mountpoint -q {path}"],
                             check=False)
        if done.returncode != 0:
            raise BenchError(f"{node}: {path} must be a plain directory (not a mount point) "
                             f"before Pacemaker starts; refusing to start it")

    def _corosync_up(self, node: str) -> bool:
        done = self.node_run(node, ["corosync-cfgtool", "-s"], check=False)
        return done.returncode == 0

    def _configure(self) -> None:
        node = self.lab.nodes[0]
        for name, value in conf.CLUSTER_OPTIONS.items():
            self.node_run(node, ["crm_attribute", "--type", "crm_config", "--name", name,
                                 "--update", value])
        for name, value in conf.RESOURCE_DEFAULTS.items():
            self.node_run(node, ["crm_attribute", "--type", "rsc_defaults", "--name", name,
                                 "--update", value])
        config = self.lab.config
        for _, xml in conf.fence_devices(config, self.lab.record.name):
            self._create("resources", xml)
        for xml in conf.fence_placement(config):
            self._create("constraints", xml)
        self._create("resources", self.service_xml())

    def _create(self, scope: str, xml: str) -> None:
        self.node_run(self.lab.nodes[0],
                      ["cibadmin", "--create", "--scope", scope, "--xml-text", xml])

    # -- observe ---------------------------------------------------------------------------
    def _crm_mon(self) -> ET.Element | None:
        for node in self.lab.nodes:
            if not self.node_is_up(node):
                continue
            done = self.node_run(node, ["crm_mon", "--one-shot", "--output-as=xml"],
                                 check=False, timeout=20)
            if done.returncode == 0:
                try:
                    return ET.fromstring(done.stdout)
                except ET.ParseError:
                    continue
        return None

    def _dc(self) -> str | None:
        mon = self._crm_mon()
        dc = mon.find("summary/current_dc") if mon is not None else None
        if dc is None or dc.get("present") != "true":
            return None
        return dc.get("name")

    def _group_owner(self, mon: ET.Element) -> str | None:
        owners = set()
        resources = mon.findall(f"resources/group[@id='{self.group}']/resource")
        if not resources:
            return None
        for res in resources:
            where = res.findall("node")
            if res.get("role") != "Started" or res.get("failed") == "true" or len(where) != 1:
                return None
            owners.add(where[0].get("name"))
        return owners.pop() if len(owners) == 1 else None

    def owner(self) -> str | None:
        mon = self._crm_mon()
        return self._group_owner(mon) if mon is not None else None

    def ready(self) -> str | None:
        mon = self._crm_mon()
        if mon is None:
            return None
        nodes = mon.findall("nodes/node")
        if len(nodes) != len(self.lab.nodes) or any(
                n.get("online") != "true" or n.get("pending") == "true"
                or n.get("unclean") == "true" for n in nodes):
            return None
        for rid in map(conf.fence_device_id, self.lab.nodes):
            device = mon.find(f"resources/resource[@id='{rid}']")
            if device is None or device.get("role") != "Started":
                return None
        return self._group_owner(mon)

    def diagnose(self) -> str:
        parts = []
        for node in self.lab.nodes:
            parts.append(f"== {node}: power {self.lab.control.power(node).power}")
            if self.node_is_up(node):
                done = self.node_run(node, ["crm_mon", "-1"], check=False)
                parts.append((done.stdout or done.stderr).strip())
        return "\n".join(parts)

    # -- act ---------------------------------------------------------------------------------
    def relocate(self, target: str) -> None:
        node = target
        self.node_run(node, ["crm_resource", "--move", "--resource", self.group,
                             "--node", target])
        try:
            wait_for(lambda: self.owner() == target, 60.0, f"{self.group} started on {target}")
        finally:
            self.node_run(node, ["crm_resource", "--clear", "--resource", self.group])

    def daemon_pids(self, node: str) -> list[int]:
        return self.node_pids(node, lambda exe: exe in DAEMON_EXES
                              or exe.startswith(DAEMON_DIR))


def peers_installed() -> bool:
    """True if the Debian packages this stack needs are there."""
    return all(shutil.which(cmd) for cmd in ("corosync", "pacemakerd", "crm_mon"))


def check_installed() -> None:
    if not peers_installed():
        raise BenchError("Pacemaker/Corosync are not installed (the benchmark's setup "
                         "installs them; run it as root)")
