"""`hatstfs`: can the shared file systems still be written? For each line of
/etc/HA/mnttab, the file system must be mounted and accept a small file that is written,
flushed to the device and removed, within a deadline (a hung storage path fails instead
of hanging the check). Uses the `fs` agent's write probe."""

from __future__ import annotations

from tandem.hpc.mgmt.agentcall import call
from tandem.hpc.mgmt.errors import CheckFailed
from tandem.hpc.mgmt.hamount import fs_agent, shared_filesystems
from tandem.hpc.mgmt.tool import OK, Tool, counted


class Hatstfs(Tool):
    name = "hatstfs"
    summary = "write test of the shared file systems (/etc/HA/mnttab)"
    actions = ("start", "status")

    def do_start(self) -> str:
        return self.do_status()

    def do_status(self) -> str:
        entries = shared_filesystems(self.ctx)
        for entry in entries:
            result = call(fs_agent(self.ctx, entry, write_test=True), "status")
            if result.stopped:
                raise CheckFailed(f"{entry.where}: {entry.value}: not mounted")
            if not result.ok:
                raise CheckFailed(f"{entry.where}: {result.message}")
            self.ctx.say(f"{entry.value.mountpoint}: writable")
        return f"{OK} ({counted(len(entries), 'file system')})"
