"""Writing a file only root may read (a cluster key, a password) on a node: 0600 from
its creation on, replaced atomically, never a half-written file in place."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from tandem.fleet.errors import FleetError


def write_private(path: Path, data: bytes, what: str) -> None:
    """Replace `path` with `data`; FleetError naming `what` and the path (never the
    data) when that fails."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, flags, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise FleetError(f"cannot write the {what} {path}: {exc.strerror or exc}") from None
