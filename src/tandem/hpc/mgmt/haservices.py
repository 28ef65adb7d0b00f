"""`haservices`: the entry point the cluster engine runs as the management service.

`start`, `stop` and `status` each run the commands listed in the data file of the same
name (/etc/HA/start, /etc/HA/stop, /etc/HA/status), in order, each with the action as
its only argument, and stop at the first one that fails, naming it: the files are kept
separate because the order (and the set) of commands differs per action.
"""

from __future__ import annotations

from tandem.hpc.mgmt.datafile import Entry, absolute_path, parse_file
from tandem.hpc.mgmt.errors import CheckFailed, located
from tandem.hpc.mgmt.tool import OK, Tool, counted


class Haservices(Tool):
    name = "haservices"
    summary = "run the commands of /etc/HA/start, stop or status in order"
    actions = ("start", "stop", "status")

    def do_start(self) -> str:
        return self._run_list("start")

    def do_stop(self) -> str:
        return self._run_list("stop")

    def do_status(self) -> str:
        return self._run_list("status")

    def commands(self, action: str) -> list[Entry[str]]:
        """The commands of one action's data file, in order."""
        return parse_file(self.ctx.data(action), absolute_path)

    def _run_list(self, action: str) -> str:
        entries = self.commands(action)
        for entry in entries:
            command = entry.value
            with located(entry.where):
                result = self.ctx.run([str(self.ctx.host(command)), action])
            if not result.ok:
                raise CheckFailed(f"{entry.where}: `{command} {action}` failed "
                                  f"(exit {result.returncode}): {result.tail()}")
            self.ctx.say(f"{command} {action}: OK")
        return f"{OK} ({counted(len(entries), 'command')})" if entries else f"{OK} (nothing to run)"
