"""Logging of tandemd and of its heartbeat process: stderr (the journal, under systemd),
syslog when asked (facility and identifier configurable, for a site's central syslog), and
the daemon's log file (the manual's /var/log/ha.log style, `--log-file`).

Both processes append to the same file, each line says which. The file is reopened when
logrotate moves it (the handler notices by itself) and on SIGHUP (`reopen_files`), so a
rotation never leaves the daemon writing into a deleted file.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("tandemd")
SYSLOG_SOCKET = "/dev/log"
FACILITIES = tuple(sorted(logging.handlers.SysLogHandler.facility_names))


@dataclass(frozen=True)
class SyslogTarget:
    """Where syslog lines go: the facility, the identifier, the socket."""

    facility: str = "daemon"
    ident: str = "tandemd"
    address: str = SYSLOG_SOCKET


def setup_logging(log_file: str | None, ident: str = "tandemd",
                  syslog: SyslogTarget | None = None) -> None:
    """Log to stderr, to `log_file` when it can be opened, and to `syslog` if given."""
    fmt = logging.Formatter(f"%(asctime)s.%(msecs)03d {ident}[%(process)d] %(levelname)s "
                            "%(message)s", "%Y-%m-%d %H:%M:%S")
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for old in root.handlers:
        old.close()
    root.handlers.clear()
    err = logging.StreamHandler(sys.stderr)
    err.setFormatter(fmt)
    root.addHandler(err)
    if log_file:
        try:
            Path(log_file).parent.mkdir(parents=True, exist_ok=True)
            handler: logging.Handler = logging.handlers.WatchedFileHandler(log_file)
        except OSError as exc:
            log.warning("cannot log to %s: %s", log_file, exc)
        else:
            handler.setFormatter(fmt)
            root.addHandler(handler)
    if syslog is not None:
        _add_syslog(root, syslog, ident)


def _add_syslog(root: logging.Logger, target: SyslogTarget, ident: str) -> None:
    """Syslog lines carry `IDENT[PID]: LEVEL message` (the date is syslog's own)."""
    name = target.ident if ident == "tandemd" else f"{target.ident}-hb"
    try:
        handler = logging.handlers.SysLogHandler(
            address=target.address,
            facility=logging.handlers.SysLogHandler.facility_names[target.facility])
    except OSError as exc:
        log.warning("cannot log to syslog at %s: %s", target.address, exc)
        return
    handler.setFormatter(logging.Formatter(f"{name}[{os.getpid()}]: %(levelname)s "
                                           "%(message)s"))
    root.addHandler(handler)


def reopen_files() -> int:
    """Reopen each log file that logrotate moved or removed; how many were reopened."""
    count = 0
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.handlers.WatchedFileHandler):
            handler.reopenIfNeeded()
            count += 1
    return count
