"""`hasyslog`: the active management node logs on the shared disk (the manual's
`hasyslogng`, for today's rsyslog).

/etc/HA/syslog holds one line: the directory on the shared storage where the active
node's system log goes (the manual's /varha/log). `start` writes an rsyslog drop-in,
/etc/rsyslog.d/00-tandem-ha.conf, that sends every message to DIR/messages and no
further (so the next active node finds the whole story in one place), then restarts
rsyslog; `stop` removes the drop-in and restarts rsyslog, so the node logs in /var/log
again, as a passive node does; `status` checks that the drop-in is in place. rsyslog is
restarted only when the drop-in changed, and only if systemd runs it (try-restart).

syslog-ng is not handled: its Debian and RHEL layouts include drop-ins after the main
log paths, so a drop-in cannot redirect them.
"""

from __future__ import annotations

from pathlib import Path

from tandem.hpc.mgmt.datafile import absolute_path, parse_file
from tandem.hpc.mgmt.errors import CheckFailed, DataError
from tandem.hpc.mgmt.tool import OK, Tool
from tandem.util.atomicfile import replace_file

DATA_FILE = "syslog"
DROPIN_DIR = "/etc/rsyslog.d"
DROPIN = f"{DROPIN_DIR}/00-tandem-ha.conf"  # read first: its `stop` ends the other rules
LOG_FILE = "messages"
RESTART = ("systemctl", "try-restart", "rsyslog.service")
SYSTEMD_RUNNING = "/run/systemd/system"

DROPIN_TEXT = """\
# Written by `hasyslog start` (tandem): this node runs HA_NSM, so its log goes to the
# shared disk, where the next active node finds it. `hasyslog stop` removes this file.
*.* {log}
& stop
"""


class Hasyslog(Tool):
    name = "hasyslog"
    summary = ("send the system log to the shared disk (start) or back to /var/log "
               "(stop), through an rsyslog drop-in")
    actions = ("start", "stop", "status")

    @property
    def dropin(self) -> Path:
        return self.ctx.host(DROPIN)

    def log_file(self) -> str:
        """DIR/messages, DIR being the one line of /etc/HA/syslog."""
        entries = parse_file(self.ctx.data(DATA_FILE), absolute_path)
        if len(entries) != 1:
            raise DataError(f"{self.ctx.data(DATA_FILE)}: expected one directory (where "
                            f"the active node logs), found {len(entries)}")
        return f"{entries[0].value.rstrip('/')}/{LOG_FILE}"

    def do_start(self) -> str:
        log = self.log_file()
        directory = log.rsplit("/", 1)[0]
        if not self.ctx.host(directory).is_dir():
            raise CheckFailed(f"{directory} does not exist: is the shared disk mounted "
                              f"(hamount start comes first)?")
        if not self.ctx.host(DROPIN_DIR).is_dir():
            raise CheckFailed(f"no {DROPIN_DIR}: hasyslog needs rsyslog (syslog-ng is not "
                              f"handled)")
        wanted = DROPIN_TEXT.format(log=log)
        if self._current() == wanted:
            return OK
        replace_file(self.dropin, wanted.encode(), 0o644)
        self._restart()
        self.ctx.say(f"the system log now goes to {log}")
        return f"{OK} (logging to {log})"

    def do_stop(self) -> str:
        if self._current() is None:
            return OK
        self.dropin.unlink()
        self._restart()
        self.ctx.say("the system log goes to /var/log again")
        return f"{OK} (logging locally)"

    def do_status(self) -> str:
        log = self.log_file()
        current = self._current()
        if current is None:
            raise CheckFailed(f"{DROPIN} is missing: the log stays on this node "
                              f"(`hasyslog start` sends it to {log})")
        if current != DROPIN_TEXT.format(log=log):
            raise CheckFailed(f"{DROPIN} does not send the log to {log}: "
                              f"`hasyslog start` rewrites it")
        return OK

    def _current(self) -> str | None:
        try:
            return self.dropin.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def _restart(self) -> None:
        """rsyslog reads its rules only when it starts (a HUP merely reopens files)."""
        if not self.ctx.host(SYSTEMD_RUNNING).is_dir():
            self.ctx.say(f"systemd does not run here: restart rsyslog to apply {DROPIN}")
            return
        result = self.ctx.run(RESTART)
        if not result.ok:
            raise CheckFailed(f"`{' '.join(RESTART)}` failed (exit {result.returncode}): "
                              f"{result.tail()}")
