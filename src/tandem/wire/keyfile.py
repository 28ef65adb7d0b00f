"""The cluster key: 256 random bits stored as one line of hex, readable by root only.

Whoever holds the key can speak for any node of the cell (and so make it fence or
start services), which is why a key that others could read or replace is refused
rather than merely warned about.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import string
from pathlib import Path

from tandem.wire.errors import KeyFileError

KEY_BYTES = 32
_MAX_FILE = 4096


def generate_key(path: str | Path, *, force: bool = False) -> None:
    """Write a fresh random key to `path` with mode 0600.

    The file is created with its final mode (never world-readable, even briefly).
    With `force`, an existing key is replaced atomically through a private
    temporary file in the same directory; without it, an existing file is refused.
    """
    target = Path(path)
    line = (secrets.token_bytes(KEY_BYTES).hex() + "\n").encode("ascii")
    if not force:
        _write_new(target, target, line)
        return
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    _write_new(tmp, target, line)
    try:
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise KeyFileError(str(target), f"cannot replace: {exc.strerror or exc}") from None


def _write_new(path: Path, shown: Path, data: bytes) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise KeyFileError(str(shown), "already exists (use force to replace it)") from None
    except OSError as exc:
        raise KeyFileError(str(shown), f"cannot create: {exc.strerror or exc}") from None
    try:
        os.fchmod(fd, 0o600)  # the umask may have removed owner bits; never adds others
        os.write(fd, data)
        os.fsync(fd)
    except OSError as exc:
        os.close(fd)
        with contextlib.suppress(OSError):
            path.unlink()
        raise KeyFileError(str(shown), f"cannot write: {exc.strerror or exc}") from None
    os.close(fd)


def load_key(path: str | Path) -> bytes:
    """Read the key at `path`; KeyFileError if missing, unsafe or malformed."""
    name = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise KeyFileError(name, "no such key file (create one with generate_key)") from None
    except OSError as exc:
        raise KeyFileError(name, f"cannot open: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise KeyFileError(name, "is not a regular file")
        if info.st_mode & 0o077:
            raise KeyFileError(name, f"mode {stat.S_IMODE(info.st_mode):04o} lets group or "
                                     f"others access the key; chmod 600 it")
        raw = os.read(fd, _MAX_FILE + 1)
    except OSError as exc:
        raise KeyFileError(name, f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    return _parse(name, raw)


def _parse(name: str, raw: bytes) -> bytes:
    if len(raw) > _MAX_FILE:
        raise KeyFileError(name, "too large to be a key file")
    try:
        text = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        raise KeyFileError(name, "not hex text") from None
    if not text:
        raise KeyFileError(name, "is empty")
    if len(text) != 2 * KEY_BYTES:
        raise KeyFileError(name, f"expected {2 * KEY_BYTES} hex digits, found {len(text)} "
                                 f"characters")
    if not all(c in string.hexdigits for c in text):
        raise KeyFileError(name, "not hex text")
    return bytes.fromhex(text)
