"""`hapidcleaner`: remove pid files left behind by processes that no longer exist.

A service that died with the node leaves its pid file on shared storage, and some
services refuse to start while it is there. Each line of /etc/HA/pid2clean names a pid
file; `start` removes it when the process whose id is on its first line is gone (or the
file holds no id at all), and keeps it while that process runs. `status` only reports.
"""

from __future__ import annotations

import os
from pathlib import Path

from tandem.hpc.mgmt.datafile import Entry, absolute_path, parse_file
from tandem.hpc.mgmt.errors import CheckFailed
from tandem.hpc.mgmt.tool import OK, Tool, counted

DATA_FILE = "pid2clean"


def pid_in(path: Path) -> int | None:
    """The process id on the first line of a pid file (None if there is none)."""
    with path.open("rb") as handle:
        first = handle.readline(64).strip()
    try:
        pid = int(first)
    except ValueError:
        return None
    return pid if pid > 0 else None


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, it just is not ours
    return True


def stale_reason(path: Path) -> str | None:
    """Why the pid file at `path` is stale, or None if it is absent or still in use."""
    try:
        pid = pid_in(path)
    except FileNotFoundError:
        return None
    if pid is None:
        return "holds no process id"
    if process_exists(pid):
        return None
    return f"process {pid} is gone"


class Hapidcleaner(Tool):
    name = "hapidcleaner"
    summary = "remove pid files whose process is gone (/etc/HA/pid2clean)"
    actions = ("start", "status")

    def entries(self) -> list[Entry[str]]:
        return parse_file(self.ctx.data(DATA_FILE), absolute_path)

    def _stale(self) -> list[tuple[Entry[str], str]]:
        found = []
        for entry in self.entries():
            path = self.ctx.host(entry.value)
            if path.is_dir():
                raise CheckFailed(f"{entry.where}: {entry.value} is a directory, not a pid "
                                  f"file")
            try:
                reason = stale_reason(path)
            except OSError as exc:
                raise CheckFailed(f"{entry.where}: cannot read {entry.value}: "
                                  f"{exc.strerror or exc}") from None
            if reason:
                found.append((entry, reason))
        return found

    def do_start(self) -> str:
        stale = self._stale()
        for entry, reason in stale:
            self.ctx.host(entry.value).unlink(missing_ok=True)
            self.ctx.say(f"{entry.value}: removed ({reason})")
        return OK if not stale else f"{OK} ({counted(len(stale), 'stale pid file')} removed)"

    def do_status(self) -> str:
        stale = self._stale()
        if stale:
            entry, reason = stale[0]
            raise CheckFailed(f"{entry.where}: {entry.value} is stale ({reason})")
        return OK
