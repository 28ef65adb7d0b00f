"""Cell files on disk: who may read them, and how tandem writes them.

A cell file may hold a BMC or fence-device password inline; whoever reads it can power
any node of the cell off. Wherever tandem writes a cell file (a push, a resync, an
install, an import, the lab's node copies) it is therefore created 0600 when it holds
such a password (0644 otherwise: then it is no secret), never passing through a wider
mode. `exposures` says when a file, or a `password_file` it names, is open to other
users, so that `tandem config check` and tandemd can warn as ssh does for a private key
(they warn; they do not refuse, since the cell must still start).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tandem.config.errors import ConfigError
from tandem.config.model import ClusterConfig

SECRET_KEYS = frozenset({"password", "passwd"})
PRIVATE_MODE = 0o600
PUBLIC_MODE = 0o644
OPEN_BITS = 0o077  # any access for the group or others (ssh's test for private keys)


def inline_secrets(text: str) -> list[str]:
    """Where `text` holds a password inline, as dotted paths (nodes[0].bmc.password);
    a text that is not TOML counts as a secret (it cannot be shown not to hold one)."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return ["(unparsable)"]
    return list(_walk(document, ""))


def _walk(value: Any, where: str) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            path = f"{where}.{key}" if where else str(key)
            if key in SECRET_KEYS and isinstance(inner, str) and inner:
                yield path
            else:
                yield from _walk(inner, path)
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _walk(inner, f"{where}[{index}]")


def mode_for(text: str) -> int:
    """0600 for a cell file that holds a password inline, 0644 otherwise."""
    return PRIVATE_MODE if inline_secrets(text) else PUBLIC_MODE


def write_cell_file(path: Path, text: str, *, keep_previous: bool = False) -> None:
    """Replace `path` atomically with `text`, created at `mode_for(text)` from its first
    byte; with `keep_previous`, the file it replaces is kept as `path.prev` (made 0600
    if it holds a password inline). ConfigError naming the file if it cannot be written."""
    mode = mode_for(text)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, flags, PRIVATE_MODE)
        try:
            os.write(fd, text.encode("utf-8"))
            os.fchmod(fd, mode)  # widened, if at all, only once the whole text is in
            os.fsync(fd)
        finally:
            os.close(fd)
        if keep_previous and path.exists():
            previous = path.with_name(path.name + ".prev")
            os.replace(path, previous)
            tighten(previous)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise ConfigError(str(path), "", f"cannot write: {exc.strerror or exc}") from None


def tighten(path: Path) -> None:
    """Make an existing cell file 0600 if it holds a password inline and others may
    read it (never widens a mode)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
        if stat.S_IMODE(path.stat().st_mode) & OPEN_BITS and inline_secrets(text):
            os.chmod(path, PRIVATE_MODE)
    except FileNotFoundError:
        pass


def exposures(path: Path, config: ClusterConfig | None = None) -> list[str]:
    """One line per secret others can read: the cell file at `path` if it holds a
    password inline, and every existing `password_file` of `config` (relative ones are
    taken from the cell file's directory)."""
    found = []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
        where = inline_secrets(text)
        mode = _open_mode(path)
    except OSError:
        where, mode = [], None
    if where and mode is not None:
        found.append(f"{path} holds a password inline ({', '.join(where)}) and is "
                     f"readable by other users (mode {mode:04o}): chmod 600 it, or "
                     f"move the password to a password_file")
    for file in password_files(config) if config is not None else []:
        full = file if file.is_absolute() else path.parent / file
        mode = _open_mode(full)
        if mode is not None:
            found.append(f"password file {full} is readable by other users (mode "
                         f"{mode:04o}): chmod 600 it")
    return found


def _open_mode(path: Path) -> int | None:
    """The permission bits of `path` when the group or others have any access to it."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
    return mode if mode & OPEN_BITS else None


def password_files(config: ClusterConfig) -> list[Path]:
    """Every password file the configuration names (BMCs and fence devices), once."""
    named = [n.bmc.password_file for n in config.nodes if n.bmc is not None]
    named += [d.password_file for d in config.fence_devices]
    return [Path(p) for p in dict.fromkeys(p for p in named if p)]
