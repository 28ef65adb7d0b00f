"""What the Pacemaker + Corosync cell is configured with, as text: corosync.conf and the
CIB objects (fence devices, the web service as a group, placement rules).

Only what the cell needs is set; everything else keeps Debian's and Pacemaker's
defaults, so that "default" means what an administrator gets out of the box. The web
service mirrors tandem's: the same shared ext4 disk (Filesystem), the same virtual IP
(IPaddr2) and the same busybox httpd (ocf:heartbeat:anything), monitored as often.
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from benchlib.cells import service_params
from benchlib.errors import BenchError
from tandem.config import ClusterConfig
from tandem.lab.bmcauth import bmc_password

FENCE_AGENT = "fence_benchlab"
GROUP = "web"


def mountpoint(config: ClusterConfig) -> str:
    """Where the shared disk is mounted in a node (the cell's own mount point)."""
    return str(service_params(config, "fs")["mountpoint"]).rstrip("/")


MONITOR_S = {"fs": 5, "ip": 2, "process": 1}


def corosync_conf(config: ClusterConfig, token_ms: int | None) -> str:
    """corosync.conf for the two lab nodes: one knet link per lab network."""
    token = f"    token: {token_ms}\n" if token_ms is not None else ""
    nodes = []
    for node in config.nodes:
        links = "".join(f"        ring{i}_addr: {itf.address.ip}\n"
                        for i, itf in enumerate(node.interfaces))
        nodes.append(f"    node {{\n        name: {node.name}\n        nodeid: {node.id}\n"
                     f"{links}    }}\n")
    return ("totem {\n    version: 2\n    cluster_name: bench\n    crypto_cipher: none\n"
            f"    crypto_hash: none\n{token}}}\n"
            "logging {\n    fileline: off\n    to_stderr: no\n    to_logfile: yes\n"
            "    logfile: /var/log/corosync/corosync.log\n    to_syslog: no\n"
            "    timestamp: on\n}\n"
            "quorum {\n    provider: corosync_votequorum\n    two_node: 1\n}\n"
            f"nodelist {{\n{''.join(nodes)}}}\n")


def _nvpairs(owner: str, params: dict[str, str]) -> str:
    pairs = "".join(f'<nvpair id="{owner}-{name}" name="{name}" value={quoteattr(value)}/>'
                    for name, value in params.items())
    return f'<instance_attributes id="{owner}-ia">{pairs}</instance_attributes>'


def _primitive(rid: str, agent: str, params: dict[str, str], monitor_s: int,
               timeout_s: int = 20) -> str:
    klass, _, rest = agent.partition(":")
    if klass == "stonith":
        head = f'<primitive id="{rid}" class="stonith" type="{rest}">'
    else:
        provider, _, kind = rest.partition(":")
        head = f'<primitive id="{rid}" class="{klass}" provider="{provider}" type="{kind}">'
    ops = (f'<operations><op id="{rid}-monitor" name="monitor" interval="{monitor_s}s" '
           f'timeout="{timeout_s}s"/></operations>')
    return head + _nvpairs(rid, params) + ops + "</primitive>"


def primitive(rid: str, agent: str, params: dict[str, str], monitor_s: int,
              timeout_s: int = 20) -> str:
    """A primitive's CIB XML with one monitor operation (for other benchmarks' groups)."""
    return _primitive(rid, agent, params, monitor_s, timeout_s)


def fence_device_id(node: str) -> str:
    """The Pacemaker id of the fence device that powers `node` off."""
    return f"fence-{node}"


def fence_devices(config: ClusterConfig, lab: str) -> list[tuple[str, str]]:
    """(id, XML) of one fence device per node, pointing at that node's BMC in `lab`."""
    devices = []
    for node in config.nodes:
        bmc = node.bmc
        if bmc is None:
            raise BenchError(f"node {node.name}: the benchmark needs a BMC")
        rid = fence_device_id(node.name)
        devices.append((rid, _primitive(rid, f"stonith:{FENCE_AGENT}", {
            "ip": bmc.address, "username": bmc.user, "password": bmc_password(lab, node),
            "pcmk_host_list": node.name}, 60)))
    return devices


def web_group(config: ClusterConfig) -> str:
    """The web service: shared file system, then the address, then the server."""
    fs = service_params(config, "fs")
    ip = service_params(config, "ip")
    proc = service_params(config, "process")
    address, _, prefix = str(ip["address"]).partition("/")
    command = [str(arg) for arg in proc["command"]]
    if command[0] == "busybox":
        command[0] = "/usr/bin/busybox"
    return (f'<group id="{GROUP}">'
            + _primitive("web-data", "ocf:heartbeat:Filesystem", {
                "device": str(fs["device"]), "directory": mountpoint(config),
                "fstype": str(fs["fstype"])}, MONITOR_S["fs"], 40)
            + _primitive("web-ip", "ocf:heartbeat:IPaddr2", {
                "ip": address, "cidr_netmask": prefix or "32", "nic": str(ip["interface"])},
                MONITOR_S["ip"])
            + _primitive("web-server", "ocf:heartbeat:anything", {
                "binfile": command[0], "cmdline_options": " ".join(command[1:])},
                MONITOR_S["process"])
            + "</group>")


def fence_placement(config: ClusterConfig) -> list[str]:
    """A node never runs the device that fences it."""
    return [f'<rsc_location id="fence-{n.name}-away" rsc="fence-{n.name}" node="{n.name}" '
            f'score="-INFINITY"/>' for n in config.nodes]


CLUSTER_OPTIONS = {
    "stonith-enabled": "true",
    # Fencing powers the node off and leaves it off, as tandem's does; the benchmark
    # powers it on again before the next run.
    "stonith-action": "off",
}
RESOURCE_DEFAULTS = {
    # No failback when the crashed node comes back: the service stays where it is.
    "resource-stickiness": "100",
}
