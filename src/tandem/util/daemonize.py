"""Start a long-lived process fully detached from the caller, and learn its real PID."""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence
from pathlib import Path


def spawn_detached(argv: Sequence[str], log_path: Path,
                   env: dict[str, str] | None = None) -> int:
    """Start `argv` in a new session, detached from us, and return its real PID.

    The double fork hands the daemon to init, so that neither the CLI nor a long-lived
    parent (the BMC, a test run) has to reap it, and the PID we return is the one that
    ends up running `argv` (it is exec'd, never forked again by us).
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the forked child
        status = 1
        try:
            os.close(read_end)
            os.setsid()
            grandchild = os.fork()
            if grandchild == 0:
                _exec_daemon(argv, log_path, env)
            os.write(write_end, str(grandchild).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    os.waitpid(child, 0)
    if not data:
        raise OSError(f"could not start {argv[0]}")
    return int(data)


def _exec_daemon(argv: Sequence[str], log_path: Path,
                 env: dict[str, str] | None) -> None:  # pragma: no cover - child only
    try:
        log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        null_fd = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null_fd, 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.closerange(3, 65536)
        for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        os.execvpe(argv[0], list(argv), env if env is not None else dict(os.environ))
    except OSError as exc:
        os.write(2, f"cannot exec {argv[0]}: {exc}\n".encode())
    os._exit(127)
