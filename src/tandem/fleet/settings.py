"""How the management node reaches the nodes: `/etc/tandem/fleet.toml` (or the file
`--fleet-config` names), overridden by command-line options.

```toml
[fleet]
fanout = 64                  # at most this many nodes at a time
connect_timeout = 5          # seconds for ssh to connect
remote_path = ""             # prepended to PATH on the nodes (where tandem and cs are)
key_dir = "/etc/tandem/keys" # CELL.key: each cell's key, sent with `push --with-key`
exec = ""                    # run locally through this template instead of ssh (tests,
                             # benchmarks): %h is the node, %c the command (quoted)
[ssh]
path = "ssh"
user = "root"
identity_file = "/root/.ssh/id_ed25519"
known_hosts = "/etc/tandem/fleet_known_hosts"   # checked strictly when given
options = ["-oServerAliveInterval=5"]
```
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from tandem.config.errors import ConfigError
from tandem.config.reader import Section

DEFAULT_FILE = "/etc/tandem/fleet.toml"
DEFAULT_FANOUT = 64
DEFAULT_CONNECT_TIMEOUT_S = 5
DEFAULT_KEY_DIR = "/etc/tandem/keys"


@dataclass(frozen=True)
class SshSettings:
    """What the ssh client is told (every value ends up as an ssh option)."""

    path: str = "ssh"  # the ssh client (or a wrapper taking the same arguments)
    user: str | None = None
    identity_file: str | None = None
    known_hosts: str | None = None
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class FleetSettings:
    """The transport's settings and where the cells' keys are."""

    fanout: int = DEFAULT_FANOUT
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT_S
    remote_path: str = ""
    key_dir: str = DEFAULT_KEY_DIR
    exec_template: str = ""
    ssh: SshSettings = field(default_factory=SshSettings)


def load_settings(path: str | None) -> FleetSettings:
    """The settings of `path`; with None, those of DEFAULT_FILE if it exists, else the
    defaults. ConfigError (one line, naming the key) for a bad file."""
    file = Path(path or DEFAULT_FILE)
    if path is None and not file.exists():
        return FleetSettings()
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(str(file), "", f"cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(file), "", f"not valid TOML: {exc}") from None
    top = Section(data, str(file))
    top.only("fleet", "ssh")
    fleet = top.table("fleet") or Section({}, str(file), "fleet")
    fleet.only("fanout", "connect_timeout", "remote_path", "key_dir", "exec")
    ssh = top.table("ssh") or Section({}, str(file), "ssh")
    ssh.only("path", "user", "identity_file", "known_hosts", "options")
    return FleetSettings(
        fanout=fleet.integer("fanout", DEFAULT_FANOUT, minimum=1, maximum=4096),
        connect_timeout=fleet.integer("connect_timeout", DEFAULT_CONNECT_TIMEOUT_S,
                                      minimum=1, maximum=600),
        remote_path=fleet.string("remote_path", "") or "",
        key_dir=fleet.string("key_dir", DEFAULT_KEY_DIR) or DEFAULT_KEY_DIR,
        exec_template=fleet.string("exec", "") or "",
        ssh=SshSettings(path=ssh.string("path", "ssh") or "ssh", user=ssh.string("user"),
                        identity_file=ssh.string("identity_file"),
                        known_hosts=ssh.string("known_hosts"),
                        options=tuple(ssh.strings("options"))))
