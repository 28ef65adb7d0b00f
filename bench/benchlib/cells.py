"""The one cell every stack runs in: `examples/demo-cell.toml`, with its timing changed
for a profile and extra private directories for the peers' daemons.

Every stack gets the same topology (two nodes on an admin and a backbone network, a
virtual BMC per node, a shared ext4 disk, a client on the admin network) so that the
figures differ only by the software under test.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from benchlib.errors import BenchError
from benchlib.profiles import Profile
from tandem.config import ClusterConfig, parse_config

REPO = Path(__file__).resolve().parents[2]
DEMO_CELL = REPO / "examples" / "demo-cell.toml"
SERVICE = "web"
# What the peers' daemons keep by path and must not share between two nodes of one
# machine: pid files and sockets under /run, state, logs and configuration.
PEER_PRIVATE_DIRS = ("/run", "/etc/corosync", "/var/lib/corosync", "/var/log/corosync",
                     "/var/lib/pacemaker", "/var/log/pacemaker", "/etc/keepalived")


def _replace_one(text: str, pattern: str, replacement: str) -> str:
    new, count = re.subn(pattern, replacement, text, count=1, flags=re.MULTILINE)
    if count != 1:
        raise BenchError(f"{DEMO_CELL}: cannot find {pattern!r} to change it")
    return new


def cell_text(profile: Profile | None = None, *, peer_dirs: bool = False) -> str:
    """The demo cell's TOML, with `profile`'s timing and, for peers, their directories."""
    text = DEMO_CELL.read_text()
    if profile is not None:
        text = _replace_one(text, r"^heartbeat_ms\s*=.*$", f"heartbeat_ms = {profile.heartbeat_ms}")
        text = _replace_one(text, r"^token_ms\s*=.*$", f"token_ms = {profile.token_ms}")
    if peer_dirs:
        current = tomllib.loads(text).get("lab", {}).get("private_dirs", [])
        wanted = [*current, *(d for d in PEER_PRIVATE_DIRS if d not in current)]
        line = "private_dirs = [" + ", ".join(f'"{d}"' for d in wanted) + "]"
        text = _replace_one(text, r"^private_dirs\s*=.*$", line)
    return text


def parse_cell(text: str) -> ClusterConfig:
    """Validate a generated cell as tandem would (raises tandem's ConfigError)."""
    return parse_config(text, str(DEMO_CELL))


def service_vip(config: ClusterConfig) -> str:
    """Address of the service's `ip` resource, without its prefix length."""
    for res in config.service(SERVICE).resources:
        if res.agent == "ip":
            return str(res.params["address"]).split("/")[0]
    raise BenchError(f"service {SERVICE} of {DEMO_CELL} has no ip resource")


def service_params(config: ClusterConfig, agent: str) -> dict[str, Any]:
    """Parameters of the service's first resource of kind `agent` (fs, ip, process)."""
    for res in config.service(SERVICE).resources:
        if res.agent == agent:
            return dict(res.params)
    raise BenchError(f"service {SERVICE} of {DEMO_CELL} has no {agent} resource")
