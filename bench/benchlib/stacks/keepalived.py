"""keepalived (VRRP, Debian's package) in the lab's nodes: it moves the virtual IP and
nothing else, so busybox httpd runs on both nodes all the time and serves each node's
own copy of the content (VRRP has no fencing, so it cannot own a shared disk safely).

Both instances start as BACKUP with `nopreempt`, so a node that comes back does not
take the address back (no failback, like the other stacks). A notify script records
each node's VRRP state in its private /run, which is how the benchmark knows that a
node that came back is a backup again.
"""

from __future__ import annotations

import time

from benchlib.cells import service_params, service_vip
from benchlib.errors import BenchError
from benchlib.labs import Lab
from benchlib.stacks.base import Say
from benchlib.stacks.peer import PeerStack
from tandem.lab import network as net
from tandem.lab.proc import LabError, is_alive
from tandem.lab.wait import wait_for

CONF = "/etc/keepalived/keepalived.conf"
NOTIFY = "/etc/keepalived/notify.sh"
STATE_FILE = "/run/keepalived.state"
ROUTER_ID = 50
EXE = "/usr/sbin/keepalived"


def keepalived_conf(node: str, priority: int, interface: str, vip: str,
                    advert_s: float) -> str:
    """One VRRP instance holding the service's address. VRRPv2 rounds sub-second
    adverts to whole seconds, so sub-second intervals use VRRPv3."""
    version = "3" if advert_s < 1 else "2"
    return (f"global_defs {{\n    router_id {node}\n    vrrp_version {version}\n"
            f"    script_user root\n    enable_script_security\n}}\n"
            f"vrrp_instance web {{\n    state BACKUP\n    nopreempt\n"
            f"    interface {interface}\n    virtual_router_id {ROUTER_ID}\n"
            f"    priority {priority}\n    advert_int {advert_s:g}\n"
            f"    virtual_ipaddress {{\n        {vip} dev {interface}\n    }}\n"
            f"    notify {NOTIFY}\n}}\n")


NOTIFY_SCRIPT = f"#!/bin/sh\n# TYPE NAME STATE PRIORITY\necho \"$3\" > {STATE_FILE}\n"


class KeepalivedStack(PeerStack):
    """keepalived + busybox httpd on both nodes."""

    family = "keepalived"
    content_dir = "/run/web"  # private to each node (and to each boot): a tmpfs

    def __init__(self, lab: Lab, setting: str, say: Say, advert_s: float) -> None:
        super().__init__(lab, setting, say)
        self.advert_s = advert_s
        ip = service_params(lab.config, "ip")
        self.interface = str(ip["interface"])
        self.vip_cidr = str(ip["address"])
        self.vip = service_vip(lab.config)
        self._started: dict[str, float] = {}
        # A backup that started less than Master_Down_Interval (3 adverts + skew) ago
        # has not heard the master yet and may claim the address: not settled.
        self.settle_s = 4 * advert_s + 1.0

    def start(self) -> str:
        for index, node in enumerate(self.lab.nodes):
            etc = self.lab.node_root(node) / "etc/keepalived"
            etc.mkdir(parents=True, exist_ok=True)
            (etc / "keepalived.conf").write_text(keepalived_conf(
                node, 100 - 10 * index, self.interface, self.vip_cidr, self.advert_s))
            notify = etc / "notify.sh"
            notify.write_text(NOTIFY_SCRIPT)
            notify.chmod(0o755)
        for node in self.lab.nodes:
            self.start_node(node)
        return self.wait_ready()

    def start_node(self, node: str) -> None:
        self.boot_namespace(node)
        self.node_run(node, ["mkdir", "-p", self.content_dir])
        self.node_spawn(node, ["busybox", "httpd", "-f", "-p", "80", "-h", self.content_dir],
                        "httpd")
        self._spawn_keepalived(node)

    def _spawn_keepalived(self, node: str) -> None:
        self._started[node] = time.monotonic()
        self.node_spawn(node, [EXE, "--dont-fork", "--log-console", "--log-detail",
                               "--no-syslog", "--vrrp", "-f", CONF], "keepalived")

    def put_content(self, owner: str, token: str) -> None:
        """Each node serves its own copy: write it on both."""
        for node in self.lab.nodes:
            if self.node_is_up(node):
                super().put_content(node, token)

    def _state(self, node: str) -> str | None:
        if not self.node_is_up(node):
            return None
        done = self.node_run(node, ["cat", STATE_FILE], check=False)
        if done.returncode != 0:
            return None
        return done.stdout.strip() or None

    def _holds_vip(self, node: str) -> bool:
        if self.lab.control.power(node).power != "on":
            return False
        try:
            found = net.addresses(self.lab.names.node_ns(node))
        except LabError:
            return False
        return any(addr == self.vip for _, addr, _ in found)

    def owner(self) -> str | None:
        holders = [n for n in self.lab.nodes if self._holds_vip(n)]
        return holders[0] if len(holders) == 1 else None

    def ready(self) -> str | None:
        states = {n: self._state(n) for n in self.lab.nodes}
        masters = [n for n, s in states.items() if s == "MASTER"]
        backups = [n for n, s in states.items() if s == "BACKUP"]
        if len(masters) != 1 or len(backups) != len(states) - 1:
            return None
        if any(time.monotonic() - self._started.get(n, 0.0) < self.settle_s for n in backups):
            return None
        return masters[0] if self.owner() == masters[0] else None

    def diagnose(self) -> str:
        return "\n".join(f"{node}: power {self.lab.control.power(node).power}, VRRP "
                         f"{self._state(node)}, holds the address: {self._holds_vip(node)}"
                         for node in self.lab.nodes)

    def relocate(self, target: str) -> None:
        """Stop keepalived on the master (it sends a priority-0 advert, so the backup
        takes over at once), then start it again there: it comes back as backup."""
        owner = self.owner()
        if owner is None or owner == target:
            raise BenchError(f"keepalived: cannot relocate to {target} (owner {owner})")
        pids = self.daemon_pids(owner)
        self.node_run(owner, ["kill", "-TERM", *(str(p) for p in self._ns_pids(owner))])
        wait_for(lambda: not any(is_alive(p) for p in pids), 30.0, "keepalived to stop")
        wait_for(lambda: self.owner() == target, 30.0, f"the address on {target}",
                 interval=0.01)
        self.node_run(owner, ["rm", "-f", STATE_FILE])
        self._spawn_keepalived(owner)

    def _ns_pids(self, node: str) -> list[str]:
        """PIDs of keepalived as seen inside the node's PID namespace."""
        done = self.node_run(node, ["sh", "-c", "pidof keepalived || true"])
        return done.stdout.split()

    def daemon_pids(self, node: str) -> list[int]:
        return self.node_pids(node, lambda exe: exe == EXE)
