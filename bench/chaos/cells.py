"""The cells the campaign, the scale benchmark and the stress run build, as TOML text.

One topology for all: an admin network (ring 0, also carrying the BMCs and the client)
and a backbone network (ring 1), addresses from 198.51.100.0/24 and 203.0.113.0/24 only,
fencing through each node's virtual BMC (fencing node1 waits: it wins fence races).
"""

from __future__ import annotations

import sys
from pathlib import Path

from benchlib.errors import BenchError
from benchlib.profiles import PROFILES, Profile
from tandem.config import ClusterConfig, parse_config
from tandem.hpc.nfs.haionfs import SharedFs
from tandem.hpc.nfs.service import SERVICE as NFS
from tandem.hpc.nfs.service import nfs_service, service_toml

__all__ = ["NFS", "PROFILES", "Profile", "campaign_cell", "nfs_cell", "parse", "scale_cell"]

CHAOS_DIR = Path(__file__).resolve().parent
RECORDD = CHAOS_DIR / "recordd.py"
FENCE_LABPOWER = CHAOS_DIR / "fence_labpower"
VIP = "198.51.100.50"
RECORD_PORT = 7070
RECORD_DIR = "/srv/rec"
DATA = "data"  # the service the record client writes through
AUX = "aux"  # a cheap service whose stop can be made to fail
MAX_NODES = 16
PREFERRED_DELAY_MS = 2000
BMC_PASSWORD = "chaos-lab"
FENCE_TIMEOUT_S = 5.0


def _head(name: str, profile: Profile, nodes: int, power_dir: Path | None = None) -> str:
    """Cluster, timing, networks and the fence device: `ipmi`, or with `power_dir` the
    fence_labpower agent (same BMC path for fencing, cheap status checks)."""
    if not 2 <= nodes <= MAX_NODES:
        raise ValueError(f"a cell has 2 to {MAX_NODES} nodes, not {nodes}")
    device = (f'type = "external"\nagent = "{FENCE_LABPOWER}"\n'
              f'options = {{ power_dir = "{power_dir}" }}\n' if power_dir else 'type = "ipmi"\n')
    return (f'[cluster]\nname = "{name}"\nkey_file = "/etc/tandem/cluster.key"\n\n'
            f"[timing]\nheartbeat_ms = {profile.heartbeat_ms}\n"
            f"token_ms = {profile.token_ms}\n\n"
            "[networks.admin]\nring = 0\n\n[networks.backbone]\nring = 1\n\n"
            f"[fence_devices.bmc]\n{device}timeout_s = {FENCE_TIMEOUT_S:g}\n\n")


def _node(index: int) -> str:
    delay = f", delay_ms = {PREFERRED_DELAY_MS}" if index == 1 else ""
    return (f'[[nodes]]\nname = "node{index}"\nid = {index}\n'
            f'networks.admin = {{ interface = "eth0", address = "198.51.100.{10 + index}/24" }}\n'
            f'networks.backbone = {{ interface = "eth1", '
            f'address = "203.0.113.{10 + index}/24" }}\n'
            f'bmc = {{ address = "198.51.100.{100 + index}", user = "admin", '
            f'password = "{BMC_PASSWORD}" }}\n'
            f'fence = [ {{ devices = ["bmc"]{delay} }} ]\n\n')


CLIENT_ADDRESS = "198.51.100.250"
QDISK_PATH = "/dev/tandem/qd"
# The heuristic pings the client (the "gateway" of the admin network): a node cut from
# it gives up its vote and its services, as the manual advises. Three pings per check,
# three failed checks in a row, so that packet loss alone rarely trips it.
HEURISTIC_INTERVAL_S = 1.0
HEURISTIC_TIMEOUT_S = 1.0
HEURISTIC_TKO = 3


def qdisk_section(profile: Profile) -> str:
    """The quorum disk of one vote, its cycle following the profile's token."""
    if not profile.qdisk:
        raise BenchError(f"profile {profile.name}: its token ({profile.token_ms} ms) is too "
                         f"short for a quorum disk cell (run it with --no-qdisk)")
    return f"""[qdisk]
device = "{QDISK_PATH}"
label = "chaos-qdisk"
interval_ms = {profile.qdisk_interval_ms}
tko = {profile.qdisk_tko}
votes = 1
[[qdisk.heuristics]]
command = ["ping", "-c", "3", "-i", "0.2", "-W", "0.5", "{CLIENT_ADDRESS}"]
score = 1
interval_ms = {HEURISTIC_INTERVAL_S * 1000:.0f}
timeout_ms = {HEURISTIC_TIMEOUT_S * 1000:.0f}
tko = {HEURISTIC_TKO}

"""


def _lab(disk: bool, qdisk: bool = False) -> str:
    listed = ['{ name = "shared", size = "64M", format = "ext4" }'] if disk else []
    if qdisk:
        listed.append('{ name = "qd", size = "16M", format = "none" }')
    disks = f"[ {', '.join(listed)} ]" if listed else "[]"
    return ('[lab]\nprivate_dirs = ["/srv"]\n'
            f'client = {{ network = "admin", address = "{CLIENT_ADDRESS}/24" }}\n'
            f"disks = {disks}\n")


def _domain(nodes: list[str]) -> str:
    quoted = ", ".join(f'"{n}"' for n in nodes)
    return f"domain = {{ nodes = [{quoted}], restricted = true, failback = false }}\n"


def data_service(nodes: list[str]) -> str:
    """Shared ext4 + virtual IP + the record server: the service the client checks."""
    command = ", ".join(f'"{w}"' for w in (sys.executable, str(RECORDD), "--dir", RECORD_DIR,
                                           "--bind", VIP, "--port", str(RECORD_PORT)))
    return (f'[[services]]\nname = "{DATA}"\nrecovery = "restart"\nmax_restarts = 2\n'
            f"restart_window_s = 60\n{_domain(nodes)}\n"
            f'[[services.resources]]\nname = "{DATA}-fs"\nagent = "fs"\nmonitor_interval_s = 5\n'
            'params = { device = "/dev/tandem/shared", mountpoint = "' + RECORD_DIR
            + '", fstype = "ext4" }\n\n'
            f'[[services.resources]]\nname = "{DATA}-ip"\nagent = "ip"\nmonitor_interval_s = 2\n'
            f'params = {{ address = "{VIP}/24", interface = "eth0" }}\n\n'
            f'[[services.resources]]\nname = "{DATA}-server"\nagent = "process"\n'
            f"monitor_interval_s = 1\nparams = {{ command = [{command}] }}\n\n")


def stop_fail_file(service: str) -> str:
    """While this file exists in a node, the stop of `service` fails there."""
    return f"/run/tandem/stuck-{service}"


def monitor_fail_file(service: str) -> str:
    """While this file exists in a node, the monitor of `service` fails there."""
    return f"/run/tandem/fail-{service}"


def dummy_service(name: str, nodes: list[str], *, monitor_s: float = 1.0,
                  hooks: bool = True) -> str:
    """A service of one `dummy` resource (a state file): cheap to run by the hundred.
    With `hooks`, files in /run/tandem make its monitor or its stop fail on demand."""
    params = (f'params = {{ fail_file = "{monitor_fail_file(name)}", '
              f'stop_fail_file = "{stop_fail_file(name)}" }}\n' if hooks else "")
    return (f'[[services]]\nname = "{name}"\nrecovery = "restart"\nmax_restarts = 2\n'
            f"restart_window_s = 60\n{_domain(nodes)}\n"
            f'[[services.resources]]\nname = "{name}-state"\nagent = "dummy"\n'
            f"monitor_interval_s = {monitor_s:g}\n{params}\n")


def node_names(count: int) -> list[str]:
    return [f"node{i}" for i in range(1, count + 1)]


def campaign_cell(name: str, nodes: int, profile: Profile, *, qdisk: bool = False) -> str:
    """A cell with the record service (on shared ext4 + VIP) and a dummy service; with
    `qdisk`, a quorum disk of one vote (two-node mode off: expected votes nodes + 1)."""
    names = node_names(nodes)
    body = [_head(name, profile, nodes), qdisk_section(profile) if qdisk else "",
            *(_node(i) for i in range(1, nodes + 1)), data_service(names),
            dummy_service(AUX, list(reversed(names))), _lab(disk=True, qdisk=qdisk)]
    return "".join(body)


def scale_cell(name: str, nodes: int, services: int, profile: Profile, *,
               power_dir: Path | None = None) -> str:
    """`services` dummy services spread evenly: service i prefers node i mod N first.
    With `power_dir` (the lab's nodes directory) fencing uses fence_labpower."""
    names = node_names(nodes)
    body = [_head(name, profile, nodes, power_dir), *(_node(i) for i in range(1, nodes + 1))]
    for index in range(services):
        shift = index % nodes
        body.append(dummy_service(f"s{index:03d}", names[shift:] + names[:shift],
                                  monitor_s=10.0, hooks=False))
    body.append(_lab(disk=False))
    return "".join(body)


# The NFS cell: HA_NFS as tandem.hpc.nfs.service generates it, on its own address (the
# data service's is VIP) and the shared ext4 disk; /run is private because Ganesha's
# rpcbind needs a /run of its own in each node.
NFS_ADDRESS = "198.51.100.60"
NFS_MOUNT = "/srv/nfs"
NFS_PRIVATE = '["/etc/HA", "/srv", "/run"]'


def nfs_cell(name: str, profile: Profile) -> str:
    """A 2-node cell whose only service is HA_NFS (the shared disk, the NFS ports
    blocked, the address, NFS-Ganesha, the ports unblocked), as an administrator gets it
    from `tandem nfs service`: not started by itself, relocated when it fails."""
    names = node_names(2)
    base = "".join([_head(name, profile, 2), *(_node(i) for i in (1, 2)),
                    '[lab]\nprivate_dirs = ' + NFS_PRIVATE + "\n"
                    f'client = {{ network = "admin", address = "{CLIENT_ADDRESS}/24" }}\n'
                    'disks = [ { name = "shared", size = "64M", format = "ext4" } ]\n'])
    config = parse(base, "<chaos nfs cell>")
    service = nfs_service(config, names, [SharedFs("/dev/tandem/shared", NFS_MOUNT, "ext4", 1)],
                          [f"{NFS_ADDRESS}/24"])
    return base + "\n" + service_toml(config, service)


def parse(text: str, origin: str = "<chaos cell>") -> ClusterConfig:
    """Validate generated text as tandem would (raises tandem's ConfigError)."""
    return parse_config(text, origin)
