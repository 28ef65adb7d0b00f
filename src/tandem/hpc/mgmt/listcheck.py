"""The programs of the /etc/HA start, stop and status lists, checked when the cell is
configured (`tandem ha config-admin`): a missing one is a `FILE:LINE` there, instead of
a failed HA_NSM start on the day of a failover.

An entry is known when it is a toolkit command (its /etc/HA/bin link is laid out by
`tandem install`), else it must be an executable file: looked for in the /etc/HA being
read when it is under /etc/HA (or under the /etc/HA the nodes see, --node-root), else
on this machine. The manual's stock lists name Bull programs that do not exist here;
those get a word on what to use instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tandem.hpc.mgmt.context import DEFAULT_ROOT
from tandem.hpc.mgmt.datafile import Entry
from tandem.hpc.mgmt.tools import TOOLS

ACTIONS = ("start", "stop", "status")

# The manual's programs that are not provided, and what to do instead.
NOT_PROVIDED = {
    "hasyslogng": "list /etc/HA/bin/hasyslog instead (the log on the shared disk, rsyslog)",
    "dbmconfig": "Bull's ClusterDB tool: `tandem db generate` writes the cells' files from "
                 "the inventory; remove the line",
    "hacisco": "flushed the ARP tables of 2008's Cisco switches; haip announces the "
               "moved address with gratuitous ARP, which is enough: remove the line",
    "hapostfix": "list /etc/init.d/postfix (or a script running `systemctl start|stop|"
                 "status postfix`) instead",
    "hasystemimager": "SystemImager is gone: list the image server's own init script",
    "hafda": "Bull FDA storage management is not provided: remove the line",
    "harms": "Quadrics RMS is not provided: remove the line",
    "halsf": "list LSF's own init script (/etc/init.d/lsf) instead",
}


@dataclass(frozen=True)
class ListProblem:
    """One entry that would fail at run time; `certain` is False when it could only be
    looked for on this machine while the nodes see another tree."""

    where: str
    text: str
    certain: bool

    def __str__(self) -> str:
        return f"{self.where}: {self.text}"


def program_problems(lists: dict[str, list[Entry[str]]], root: Path, sysroot: Path,
                     node_root: str | None) -> list[ListProblem]:
    """Every entry of the lists whose program is missing or not executable."""
    problems = []
    for action in ACTIONS:
        for entry in lists.get(action, []):
            problem = _problem(entry, root, sysroot, node_root)
            if problem is not None:
                problems.append(problem)
    return problems


def _problem(entry: Entry[str], root: Path, sysroot: Path,
             node_root: str | None) -> ListProblem | None:
    path = entry.value
    name = os.path.basename(path)
    if name in TOOLS:
        return None
    if name.lower() in NOT_PROVIDED:
        return ListProblem(entry.where, f"{path}: no such program here: "
                                        f"{NOT_PROVIDED[name.lower()]}", True)
    local, in_root = _where(path, root, sysroot, node_root)
    certain = in_root or node_root is None
    if not local.is_file():
        seen = "" if str(local) == path else f" (looked at {local})"
        return ListProblem(entry.where, f"{path} does not exist{seen}", certain)
    if not os.access(local, os.X_OK):
        return ListProblem(entry.where, f"{path} is not executable "
                                        f"(chmod +x {local})", certain)
    return None


def _where(path: str, root: Path, sysroot: Path, node_root: str | None) -> tuple[Path, bool]:
    """Where to look for `path` from here, and whether that is the /etc/HA being read."""
    for prefix in (str(DEFAULT_ROOT), node_root):
        if prefix and path.startswith(prefix.rstrip("/") + "/"):
            return root / path[len(prefix.rstrip("/")) + 1:], True
    return sysroot / path.lstrip("/"), False
