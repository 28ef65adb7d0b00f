"""Where a lab's virtual BMC gets its password: the node's `bmc` in the lab's
configuration, inline (`password`) or in a file (`password_file`).

A relative path, or a file that exists on the host, is read there when the lab is built
(a relative path from the configuration's directory), never from a node: the nodes of a
site lab boot blank and get their copies only when the management node pushes them. An
absolute path that does not exist on the host but lies in a private node directory
(`/etc/tandem/...`, as a real cell keeps it) is made up by the lab: one random password
per file, written 0600 at that path in every node that is not blank (each node fences
through the others' BMCs). Whatever the BMC uses is kept in the lab's directory, 0600,
for the BMC process and for whatever drives the BMC from outside (`tandem lab power`,
the benchmarks' peers); a file that can be neither read nor made stops `lab up` in one
line naming it.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from tandem.config import ClusterConfig, NodeDef
from tandem.config.model import BmcDef
from tandem.lab.names import LabNames
from tandem.lab.nodes import CONFIG_IN_NODE, is_runtime_dir, private_dirs
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


def node_path(file: str) -> str:
    """Where a node finds `file`: relative paths are taken from its cell file's directory
    (as the fencing code does)."""
    return file if file.startswith("/") else str(Path(CONFIG_IN_NODE).parent / file)


def _in_private_dir(config: ClusterConfig, path: str) -> bool:
    persistent = [d for d in private_dirs(config) if not is_runtime_dir(d)]
    return any(path.startswith(d.rstrip("/") + "/") for d in persistent)


def read_passwords(config: ClusterConfig, *, blank: bool = False
                   ) -> tuple[dict[str, str], dict[str, str]]:
    """(node -> its BMC password, node path -> password of each file the lab makes up),
    decided now, before the lab makes anything (LabError naming a file it cannot use)."""
    base = Path(config.source).resolve().parent
    passwords: dict[str, str] = {}
    made: dict[str, str] = {}
    for node in config.nodes:
        bmc = node.bmc
        if bmc is None:
            continue
        file = bmc.password_file
        if file is None or not file.startswith("/") or Path(file).is_file() or blank \
                or not _in_private_dir(config, file):
            passwords[node.name] = host_password(bmc, node.name, base)
            continue
        inside = node_path(file)
        made.setdefault(inside, secrets.token_urlsafe(12))
        passwords[node.name] = made[inside]
    return passwords, made


def write_password_files(files: dict[str, str], root: Path) -> None:
    """Write each made-up password file under a node's `root`, 0600 from its creation."""
    for file, password in files.items():
        path = root / file.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(password + "\n")


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


def bmc_password(lab: str, node: NodeDef) -> str:
    """The password of `node`'s BMC in lab `lab`, as the lab keeps it for the BMC."""
    if node.bmc is not None and node.bmc.password is not None:
        return node.bmc.password
    try:
        return load_password(LabNames(lab), node.name)
    except OSError as exc:
        raise LabError(f"node {node.name}: the lab keeps no BMC password for it "
                       f"({exc.strerror or exc})") from None
