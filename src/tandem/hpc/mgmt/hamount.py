"""`hamount`: the file systems of the shared storage.

Each line of /etc/HA/mnttab is a device under /dev/, blanks, and a mount point, as
matched by the manual's expression `^(/dev/.*?)\\s+(.*?)\\s*$` (no blanks inside either
name). `start` unmounts and mounts each one again, but refuses to touch a busy mount
point, and refuses when HA_NSM runs on another member (tandem.hpc.mgmt.cellguard;
--force overrides); `stop` unmounts with the full escalation (plain
unmount, then signalling the processes that keep it busy, round after round, then a
lazy unmount as the last resort); `status` fails at the first file system not mounted.
The mounting itself is the engine's `fs` resource agent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tandem.hpc.mgmt.agentcall import bind, call
from tandem.hpc.mgmt.cellguard import guard
from tandem.hpc.mgmt.context import MgmtContext
from tandem.hpc.mgmt.datafile import Entry, LineError, parse_file
from tandem.hpc.mgmt.errors import CheckFailed
from tandem.hpc.mgmt.tool import OK, Tool, counted
from tandem.resources.base import ResourceAgent

DATA_FILE = "mnttab"
MNTTAB_RE = re.compile(r"^(/dev/.*?)\s+(.*?)\s*$")  # the manual's expression


@dataclass(frozen=True)
class SharedFs:
    device: str
    mountpoint: str

    def __str__(self) -> str:
        return f"{self.device} on {self.mountpoint}"


def mnttab_line(text: str) -> SharedFs:
    """A data line: device and mount point."""
    match = MNTTAB_RE.match(text)
    if not match or not match[2]:
        raise LineError(f"expected /dev/DEVICE and a mount point, got {text.strip()!r}")
    device, mountpoint = match[1], match[2]
    if any(ch.isspace() for ch in mountpoint):
        raise LineError(f"no blanks allowed in a mount point: {mountpoint!r}")
    if not mountpoint.startswith("/") or mountpoint.rstrip("/") == "":
        raise LineError(f"expected an absolute mount point other than /, got {mountpoint!r}")
    return SharedFs(device, mountpoint)


def shared_filesystems(ctx: MgmtContext) -> list[Entry[SharedFs]]:
    return parse_file(ctx.data(DATA_FILE), mnttab_line)


def fs_agent(ctx: MgmtContext, entry: Entry[SharedFs], **params: object) -> ResourceAgent:
    """The engine's `fs` agent for one line (mount point seen under the sysroot)."""
    return bind("fs", entry.where, {"device": entry.value.device,
                                    "mountpoint": str(ctx.host(entry.value.mountpoint)),
                                    "write_test": False, **params})


class Hamount(Tool):
    name = "hamount"
    summary = "mount (start), unmount with escalation (stop) or check the shared file systems"
    actions = ("start", "stop", "status")

    def do_start(self) -> str:
        entries = shared_filesystems(self.ctx)
        if entries:
            guard(self.ctx, "mounting its disks here would corrupt them", unknown_refuses=True)
        for entry in entries:
            self._remount(entry)
        return f"{OK} ({counted(len(entries), 'file system')})"

    def _remount(self, entry: Entry[SharedFs]) -> None:
        gentle = fs_agent(self.ctx, entry, force_unmount=False, lazy_unmount=False)
        unmounted = call(gentle, "stop")
        if not unmounted.ok:
            raise CheckFailed(f"{entry.where}: cannot unmount {entry.value.mountpoint} to "
                              f"mount it again, not forcing it at start ({unmounted.message}); "
                              f"`hamount stop` forces the unmount")
        result = call(fs_agent(self.ctx, entry), "start")
        if not result.ok:
            raise CheckFailed(f"{entry.where}: mounting {entry.value}: {result.message}")
        self.ctx.say(f"{entry.value}: mounted")

    def do_stop(self) -> str:
        entries = shared_filesystems(self.ctx)
        agents = [(entry, fs_agent(self.ctx, entry)) for entry in entries]
        for entry, agent in reversed(agents):  # nested mount points come off first
            result = call(agent, "stop")
            if not result.ok:
                raise CheckFailed(f"{entry.where}: unmounting {entry.value}: {result.message}")
            self.ctx.say(f"{entry.value}: " + (result.message or "unmounted"))
        return f"{OK} ({counted(len(entries), 'file system')})"

    def do_status(self) -> str:
        for entry in shared_filesystems(self.ctx):
            result = call(fs_agent(self.ctx, entry), "status")
            if not result.ok:
                raise CheckFailed(f"{entry.where}: {entry.value}: "
                                  f"{result.message or 'not mounted'}")
        return OK

    def is_active(self) -> bool | None:
        """True if every shared file system is mounted here, None if there are none."""
        entries = shared_filesystems(self.ctx)
        if not entries:
            return None
        return all(call(fs_agent(self.ctx, entry), "status").ok for entry in entries)
