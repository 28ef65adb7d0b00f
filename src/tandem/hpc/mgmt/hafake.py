"""`hafake`: a stand-in service for trying haservices and the cluster engine without a
real daemon: `start` marks it running (a state file under the run directory, so a
reboot clears it), `stop` clears the mark, `status` fails unless it is running."""

from __future__ import annotations

import os
from pathlib import Path

from tandem.hpc.mgmt.errors import CheckFailed
from tandem.hpc.mgmt.tool import OK, Tool

STATE_FILE = "hafake.running"


class Hafake(Tool):
    name = "hafake"
    summary = "a fake service (test double): start, stop, status"
    actions = ("start", "stop", "status")

    @property
    def state(self) -> Path:
        return self.ctx.run_dir / STATE_FILE

    def do_start(self) -> str:
        self.ctx.run_dir.mkdir(parents=True, exist_ok=True)
        self.state.write_text(f"{os.getpid()}\n")
        return f"{OK} (running)"

    def do_stop(self) -> str:
        self.state.unlink(missing_ok=True)
        return f"{OK} (stopped)"

    def do_status(self) -> str:
        if not self.state.exists():
            raise CheckFailed("the fake service is not running")
        return f"{OK} (running)"
