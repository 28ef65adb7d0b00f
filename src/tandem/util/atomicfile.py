"""Replacing a file in one step: a reader sees the old content or the new, never half of
it, and the new file has its final mode from its creation on (so a secret is never
readable by others, even for a moment)."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def replace_file(path: Path, data: bytes, mode: int) -> None:
    """Write `data` to a temporary file beside `path` (mode `mode`, synced), then rename
    it over `path`. OSError as the system gives it; the temporary file is removed."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(tmp, flags, mode)
        try:
            os.fchmod(fd, mode)  # whatever the umask took away
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
