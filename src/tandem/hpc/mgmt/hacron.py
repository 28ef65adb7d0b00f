"""`hacron`: cron jobs that must run only on the active management node.

Each line of /etc/HA/cron names a file of /etc/cron.d. `start` activates them (moves
them back from /etc/cron.d/SLEEP, where cron does not look), `stop` puts them to sleep,
`status` checks that they are all active. `boot` is `stop` for a node that just booted
(tandemd runs it through the HA_NSM resource before HA_NSM may run here): a node that
crashed with the crons active must not run them beside the peer that took over; without
a cron list it has nothing to do.

The manual contradicts itself here: its description of hacron has `start` put the files
to sleep, while its installation procedure runs `hacron stop` on both nodes "to
deactivate the crons". The jobs work on shared data, so they belong to the active node;
we follow the procedure: start activates, stop deactivates.
"""

from __future__ import annotations

import os
from pathlib import Path

from tandem.hpc.mgmt.datafile import Entry, parse_file, plain_name
from tandem.hpc.mgmt.errors import CheckFailed
from tandem.hpc.mgmt.tool import OK, Tool, counted

DATA_FILE = "cron"
CRON_DIR = "/etc/cron.d"
SLEEP_DIR = "SLEEP"


class Hacron(Tool):
    name = "hacron"
    summary = ("activate (start) or put to sleep (stop, and boot: at boot, before HA_NSM "
               "may run here) the cron files of /etc/HA/cron")
    actions = ("start", "stop", "status", "boot")

    @property
    def active_dir(self) -> Path:
        return self.ctx.host(CRON_DIR)

    @property
    def sleep_dir(self) -> Path:
        return self.active_dir / SLEEP_DIR

    def entries(self) -> list[Entry[str]]:
        return parse_file(self.ctx.data(DATA_FILE), plain_name)

    def do_start(self) -> str:
        return self._move_all(self.sleep_dir, self.active_dir, "activated")

    def do_stop(self) -> str:
        return self._move_all(self.active_dir, self.sleep_dir, "put to sleep")

    def do_boot(self) -> str:
        if not self.ctx.data(DATA_FILE).exists():
            return f"{OK} (no {self.ctx.data(DATA_FILE)}: no cron to put to sleep)"
        return self.do_stop()

    def do_status(self) -> str:
        for entry in self.entries():
            if not (self.active_dir / entry.value).is_file():
                where = "sleeping" if (self.sleep_dir / entry.value).exists() else "missing"
                raise CheckFailed(f"{entry.where}: {CRON_DIR}/{entry.value} is not active "
                                  f"({where})")
        return OK

    def _move_all(self, source: Path, target: Path, done: str) -> str:
        moves = []
        for entry in self.entries():  # check every line before moving anything
            here, there = source / entry.value, target / entry.value
            if os.path.lexists(there):
                if os.path.lexists(here):
                    raise CheckFailed(f"{entry.where}: {entry.value} is in both "
                                      f"{self.active_dir} and {self.sleep_dir}: keep one")
                continue
            if not os.path.lexists(here):
                raise CheckFailed(f"{entry.where}: {entry.value} is in neither "
                                  f"{self.active_dir} nor {self.sleep_dir}")
            moves.append((entry, here, there))
        for entry, here, there in moves:
            target.mkdir(mode=0o755, exist_ok=True)
            os.rename(here, there)
            self.ctx.say(f"{entry.value}: {done}")
        return OK if not moves else f"{OK} ({counted(len(moves), 'cron file')} {done})"
