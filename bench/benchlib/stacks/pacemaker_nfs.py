"""Pacemaker serving the NFS benchmark's export: the cell's generated HA_NFS service,
translated resource by resource into one Pacemaker group, in the same order:

    ocf:heartbeat:Filesystem -> ocf:heartbeat:portblock block (tcp, udp)
    -> ocf:heartbeat:IPaddr2 -> ocf:benchlab:ganesha -> ocf:heartbeat:portblock unblock

Every parameter comes from the HA_NFS resources of the lab's cell (device, mount point,
address and interface, ports, export id, recovery directory, grace), monitored as often
as tandem monitors them. The server is ocf:benchlab:ganesha (benchlib.ocf_ganesha, a
small agent of ours that writes tandem's ganesha.conf; see its docstring for why not
ocf:heartbeat:anything). ocf:heartbeat:portblock takes one protocol per resource, so
each portblock of tandem's becomes two (tcp and udp); it drives iptables (Debian's
iptables-nft), inside the node's network namespace.

Debian 12's portblock (resource-agents 4.12) does not work with Debian 12's iptables
(1.8.9): that iptables lists a rule's protocol as a number (`6`, not `tcp`), the agent
never finds its own rule, and `unblock` never removes the DROP rule (the port stays
blocked on the new owner for ever). Upstream fixed the agent (ClusterLabs/resource-agents
pull request 1924, in 4.13). So the benchmark runs Debian's agent with that one pattern
widened to accept both spellings, installed as ocf:benchlab:portblock (made from the
installed file at run time; if the installed agent has no such pattern, it is used as is).

The group has migration-threshold=1: a failed resource moves the group to the other
node, as HA_NFS's `recovery = "relocate"` does (Pacemaker's default would restart it in
place). Corosync, fencing and the cluster options are the failover benchmark's.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from benchlib.errors import BenchError
from benchlib.labs import Lab
from benchlib.stacks import pacemaker_conf as conf
from benchlib.stacks.base import Say
from benchlib.stacks.pacemaker import PacemakerStack

SERVICE = "HA_NFS"
GROUP = "nfs"
AGENT_SOURCE = Path(__file__).resolve().parents[1] / "ocf_ganesha.py"
AGENT_PATH = Path("/usr/lib/ocf/resource.d/benchlab/ganesha")
PORTBLOCK_SOURCE = Path("/usr/lib/ocf/resource.d/heartbeat/portblock")
PORTBLOCK_PATH = AGENT_PATH.parent / "portblock"
PORTBLOCK_PATTERN = 'echo "^DROP${w}${1}${w}--'
PORTBLOCK_WIDENED = ("case $1 in tcp) prot='\\(tcp\\|6\\)';; udp) prot='\\(udp\\|17\\)';; "
                     "*) prot=$1;; esac\n  echo \"^DROP${w}${prot}${w}--")
PORTBLOCK_MONITOR_S = 10  # tandem's default monitor interval (portblock sets none)


def install_agent() -> None:
    """ocf:benchlab:ganesha, run by the benchmark's interpreter (tandem importable)."""
    text = AGENT_SOURCE.read_text()
    body = f"#!{sys.executable}\n" + text
    AGENT_PATH.parent.mkdir(parents=True, exist_ok=True)
    if not AGENT_PATH.exists() or AGENT_PATH.read_text() != body:
        AGENT_PATH.write_text(body)
    AGENT_PATH.chmod(0o755)


def install_portblock() -> str:
    """The portblock agent to use: Debian's with upstream's fix for iptables 1.8.9's
    numeric protocols applied (see the module's docstring), or Debian's as it is."""
    text = PORTBLOCK_SOURCE.read_text()
    if text.count(PORTBLOCK_PATTERN) != 1:
        return "ocf:heartbeat:portblock"
    body = text.replace(PORTBLOCK_PATTERN, PORTBLOCK_WIDENED)
    PORTBLOCK_PATH.parent.mkdir(parents=True, exist_ok=True)
    if not PORTBLOCK_PATH.exists() or PORTBLOCK_PATH.read_text() != body:
        PORTBLOCK_PATH.write_text(body)
    PORTBLOCK_PATH.chmod(0o755)
    return "ocf:benchlab:portblock"


def resources(lab: Lab) -> dict[str, tuple[str, dict[str, Any]]]:
    """HA_NFS's resources in the lab's cell: name -> (agent, parameters), in order."""
    return {r.name: (r.agent, dict(r.params)) for r in lab.config.service(SERVICE).resources}


def _portblocks(rid: str, params: dict[str, Any], agent: str) -> str:
    ports = ",".join(str(p) for p in params["ports"])
    return "".join(conf.primitive(f"{rid}-{proto}", agent, {
        "protocol": proto, "ip": str(params["address"]), "portno": ports,
        "action": str(params["action"])}, PORTBLOCK_MONITOR_S) for proto in params["protocols"])


def nfs_group(lab: Lab, portblock: str) -> str:
    """The CIB group of HA_NFS's resources (see the module's docstring), the port
    blocks run by the agent `portblock`."""
    found = resources(lab)
    intervals = {r.name: int(r.monitor_interval_s)
                 for r in lab.config.service(SERVICE).resources}
    parts = []
    for name, (agent, params) in found.items():
        rid = f"nfs-{name}"
        if agent == "fs":
            parts.append(conf.primitive(rid, "ocf:heartbeat:Filesystem", {
                "device": str(params["device"]), "directory": str(params["mountpoint"]),
                "fstype": str(params["fstype"])}, intervals[name], 40))
        elif agent == "portblock":
            parts.append(_portblocks(rid, params, portblock))
        elif agent == "ip":
            address, _, prefix = str(params["address"]).partition("/")
            parts.append(conf.primitive(rid, "ocf:heartbeat:IPaddr2", {
                "ip": address, "cidr_netmask": prefix or "32",
                "nic": str(params["interface"])}, intervals[name]))
        elif agent == "nfs_server":
            (export,) = params["exports"]
            parts.append(conf.primitive(rid, "ocf:benchlab:ganesha", {
                "address": str(params["address"]), "export": str(export["path"]),
                "export_id": str(export["id"]), "recovery_dir": str(params["recovery_dir"]),
                "grace_s": str(params.get("grace_s", 10))}, intervals[name]))
        else:
            raise BenchError(f"{SERVICE}: no Pacemaker equivalent for agent {agent!r}")
    meta = (f'<meta_attributes id="{GROUP}-meta"><nvpair id="{GROUP}-meta-mt" '
            f'name="migration-threshold" value="1"/></meta_attributes>')
    return f'<group id="{GROUP}">{meta}{"".join(parts)}</group>'


class PacemakerNfsStack(PacemakerStack):
    """corosync + pacemakerd running the NFS group instead of the web group."""

    group = GROUP

    def __init__(self, lab: Lab, setting: str, say: Say, token_ms: int | None) -> None:
        super().__init__(lab, setting, say, token_ms)
        install_agent()
        self.portblock = install_portblock()

    def mount_point(self) -> str:
        for agent, params in resources(self.lab).values():
            if agent == "fs":
                return str(params["mountpoint"]).rstrip("/")
        raise BenchError(f"{SERVICE} has no fs resource")

    def service_xml(self) -> str:
        return nfs_group(self.lab, self.portblock)

    def clear_failures(self) -> None:
        """Forget failed operations (a killed server bans its node: migration-threshold)."""
        node = next(n for n in self.lab.nodes if self.node_is_up(n))
        self.node_run(node, ["crm_resource", "--cleanup", "--resource", GROUP], timeout=60)
