"""Logging of tandemd and of its heartbeat process: stderr, and the daemon's log file
when it can be opened (both processes append to the same file, each line says which)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

log = logging.getLogger("tandemd")


def setup_logging(log_file: str | None, ident: str = "tandemd") -> None:
    """Log to stderr and, when possible, to `log_file`."""
    fmt = logging.Formatter(f"%(asctime)s.%(msecs)03d {ident}[%(process)d] %(levelname)s "
                            "%(message)s", "%Y-%m-%d %H:%M:%S")
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    root.handlers.clear()
    err = logging.StreamHandler(sys.stderr)
    err.setFormatter(fmt)
    root.addHandler(err)
    if log_file:
        try:
            Path(log_file).parent.mkdir(parents=True, exist_ok=True)
            handler = logging.FileHandler(log_file)
        except OSError as exc:
            log.warning("cannot log to %s: %s", log_file, exc)
        else:
            handler.setFormatter(fmt)
            root.addHandler(handler)
