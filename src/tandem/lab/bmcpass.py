"""The BMC passwords of a lab: inline in the cell file, or in a `password_file`.

A cell that keeps its BMC passwords out of the cell file (`password_file`, as a real cell
should) gets them made up by the lab: one random password per BMC, written 0600 at the
named path in every node (each node fences through the others' BMCs), unless the file
exists on the host already (then that one is used). The virtual BMC and anything that
drives it (the benchmarks' peers) read the password back with `bmc_password`.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from tandem.config import ClusterConfig, NodeDef
from tandem.lab.names import LabNames
from tandem.lab.nodes import CONFIG_IN_NODE, is_runtime_dir, private_dirs
from tandem.lab.proc import LabError


def node_path(file: str) -> str:
    """Where a node finds `file`: relative paths are taken from its cell file's directory
    (as the fencing code does)."""
    return file if file.startswith("/") else str(Path(CONFIG_IN_NODE).parent / file)


def _in_private_dir(config: ClusterConfig, path: str) -> bool:
    persistent = [d for d in private_dirs(config) if not is_runtime_dir(d)]
    return any(path.startswith(d.rstrip("/") + "/") for d in persistent)


def lab_password_files(config: ClusterConfig) -> dict[str, str]:
    """Path -> password of every BMC password file the lab makes (not those on the host);
    LabError for a file it can neither make nor find."""
    made: dict[str, str] = {}
    for node in config.nodes:
        named = node.bmc.password_file if node.bmc is not None else None
        if named is None or node_path(named) in made:
            continue
        file = node_path(named)
        if _in_private_dir(config, file):
            made[file] = secrets.token_urlsafe(12)
        elif not Path(file).is_file():
            raise LabError(f"{config.source}: node {node.name}: bmc.password_file {file!r} "
                           f"must lie in a private node directory "
                           f"({', '.join(private_dirs(config))}) or exist on the host")
    return made


def write_password_files(files: dict[str, str], root: Path) -> None:
    """Write each password file under a node's `root`, 0600 from its creation."""
    for file, password in files.items():
        path = root / file.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(password + "\n")


def bmc_password(lab: str, node: NodeDef) -> str:
    """The password of `node`'s BMC in lab `lab` (inline, or read from its file as the
    node itself has it, else from the host)."""
    bmc = node.bmc
    if bmc is None:
        raise LabError(f"node {node.name} has no BMC")
    if bmc.password is not None:
        return bmc.password
    assert bmc.password_file is not None  # the loader requires one of the two
    in_node = LabNames(lab).node_root(node.name) / node_path(bmc.password_file).lstrip("/")
    path = in_node if in_node.exists() else Path(bmc.password_file)
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise LabError(f"node {node.name}: cannot read its BMC password {path}: "
                       f"{exc.strerror or exc}") from None
