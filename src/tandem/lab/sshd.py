"""Real OpenSSH in lab nodes, so that the management node's commands take the path they
take on a cluster: `ssh` from one node to another's address, key authentication, a
strictly checked host key.

Everything is made by the lab, under its directory: a client key (what the management
node logs in with), one host key and one sshd configuration per node, the known-hosts
file listing each node's addresses with its host key, and `fleet.toml`, the fleet
settings that point `tandem cells` at them. The host's own /etc/ssh and /root/.ssh are
never read or written (the client runs with `-F /dev/null`). sshd listens on the
node's own addresses only, runs in the foreground (its log goes to the node's console
log) and dies with the node; every boot starts it again.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from tandem.config import ClusterConfig
from tandem.lab.names import LabNames
from tandem.lab.proc import LabError, run, spawn_detached

SSHD = "/usr/sbin/sshd"
SSH_PORT = 22
LISTEN_TIMEOUT_S = 10.0


class LabSsh:
    """The ssh files of one lab."""

    def __init__(self, names: LabNames) -> None:
        self.names = names
        self.dir = names.directory / "ssh"

    @property
    def client_key(self) -> Path:
        return self.dir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.dir / "known_hosts"

    @property
    def authorized_keys(self) -> Path:
        return self.dir / "authorized_keys"

    @property
    def fleet_file(self) -> Path:
        """Fleet settings for `tandem cells --fleet-config` in this lab."""
        return self.names.directory / "fleet.toml"

    def host_key(self, node: str) -> Path:
        return self.dir / "hosts" / node / "ssh_host_ed25519_key"

    def sshd_config(self, node: str) -> Path:
        return self.dir / "hosts" / node / "sshd_config"

    def prepare(self, config: ClusterConfig) -> None:
        """Make every key and file (once, at `lab up`)."""
        if not Path(SSHD).exists():
            raise LabError(f"{SSHD} is missing: install Debian's openssh-server")
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        _keygen(self.client_key, f"tandem-lab-{self.names.lab}")
        self.authorized_keys.write_text(Path(f"{self.client_key}.pub").read_text())
        known = []
        for node in config.nodes:
            key = self.host_key(node.name)
            key.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            _keygen(key, f"{node.name}@tandem-lab-{self.names.lab}")
            public = " ".join(Path(f"{key}.pub").read_text().split()[:2])
            addresses = [str(itf.address.ip) for itf in node.interfaces]
            known.append(f"{','.join(addresses)} {public}\n")
            self.sshd_config(node.name).write_text(self._sshd_text(node.name, addresses))
        self.known_hosts.write_text("".join(known))
        self.fleet_file.write_text(self._fleet_text())

    def _sshd_text(self, node: str, addresses: list[str]) -> str:
        listen = "".join(f"ListenAddress {a}\n" for a in addresses)
        # StrictModes is off because the lab directory may sit under a sticky /tmp
        # (TANDEM_LAB_ROOT); every file here is root's and 0600 or 0644 anyway.
        return (f"# sshd of lab node {node} (made by tandem lab)\n{listen}"
                f"Port {SSH_PORT}\nHostKey {self.host_key(node)}\n"
                f"AuthorizedKeysFile {self.authorized_keys}\n"
                "PidFile none\nUsePAM no\nStrictModes no\n"
                "PermitRootLogin prohibit-password\nPubkeyAuthentication yes\n"
                "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                "X11Forwarding no\nAllowTcpForwarding no\nAllowAgentForwarding no\n"
                "PermitTunnel no\nPrintMotd no\nPrintLastLog no\nUseDNS no\n"
                "MaxStartups 64:30:128\nLogLevel INFO\n")

    def _fleet_text(self) -> str:
        # The lab's nodes find `tandem` and `cs` where this Python installed them.
        bin_dir = Path(sys.executable).parent
        return ("# Fleet settings for this lab (made by tandem lab up --site)\n"
                "[fleet]\nconnect_timeout = 3\n"
                f'remote_path = "{bin_dir}"\n\n'
                "[ssh]\nuser = \"root\"\n"
                f'identity_file = "{self.client_key}"\n'
                f'known_hosts = "{self.known_hosts}"\n'
                'options = ["-F", "/dev/null", "-oLogLevel=ERROR"]\n')

    def start(self, node: str, enter: list[str], log: Path) -> int:
        """Start sshd in a booted node (`enter`: the argv prefix into it); its pid, once
        it listens."""
        pid = spawn_detached([*enter, SSHD, "-D", "-e", "-f", str(self.sshd_config(node))],
                             log)
        deadline = time.monotonic() + LISTEN_TIMEOUT_S
        while time.monotonic() < deadline:
            if _tcp_listening(pid, SSH_PORT):
                return pid
            if not Path(f"/proc/{pid}").exists():
                break
            time.sleep(0.02)
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
        raise LabError(f"sshd of {node} did not start: {' '.join(tail) or 'no output'}")


def _keygen(path: Path, comment: str) -> None:
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])


def _tcp_listening(pid: int, port: int) -> bool:
    """Whether a socket of `pid`'s network namespace listens on `port`."""
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            return False
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                return True
    return False
