"""Where a lab's virtual BMC gets its password: the node's `bmc` in the lab's
configuration, inline (`password`) or in a file (`password_file`).

The file is read on the host when the lab is built, from the host's filesystem (a
relative path from the configuration's directory), never from a node: the nodes of a
site lab boot blank and get their copies only when the management node pushes them.
What was read is kept in the lab's directory, 0600, for the BMC process; a file that
cannot be read stops `lab up` in one line naming it.
"""

from __future__ import annotations

import os
from pathlib import Path

from tandem.config import ClusterConfig
from tandem.config.model import BmcDef
from tandem.lab.names import LabNames
from tandem.lab.proc import LabError


def host_password(bmc: BmcDef, node: str, base: Path) -> str:
    """The password of `node`'s BMC, read on the host; LabError naming the file."""
    if bmc.password is not None:
        return bmc.password
    assert bmc.password_file is not None  # the loader requires one of the two
    path = Path(bmc.password_file)
    path = path if path.is_absolute() else base / path
    try:
        return path.read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise LabError(f"the BMC password of {node}: cannot read {path} on this host: "
                       f"{reason} (the lab's BMC takes its password from it)") from None


def read_passwords(config: ClusterConfig) -> dict[str, str]:
    """Each node's BMC password, read now (before the lab makes anything)."""
    base = Path(config.source).resolve().parent
    return {n.name: host_password(n.bmc, n.name, base) for n in config.nodes
            if n.bmc is not None}


def save_passwords(passwords: dict[str, str], names: LabNames) -> None:
    """Keep each node's BMC password for its BMC process, 0600."""
    for node, password in passwords.items():
        path = password_path(names, node)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(password + "\n")


def password_path(names: LabNames, node: str) -> Path:
    return names.node_dir(node) / "bmc.password"


def load_password(names: LabNames, node: str) -> str:
    """What `save_passwords` kept for `node`'s BMC."""
    return password_path(names, node).read_text(encoding="utf-8").rstrip("\n")
