"""Passwords that imported files hold inline, on their way to files of their own.

The inventory keeps no secret: a BMC or fence device names the file its password is
in. A file written for a lab or by hand often has the password inline instead; with
`tandem db import --secrets-dir DIR` each one goes to a file of DIR (mode 0600, DIR
0700 when made) and the inventory records that path; without the option such a file
is refused, in one line naming the option.

Files are written only once the whole import has been checked: `stage` (inside the
transaction, after generation) writes them under temporary names, `publish` (after the
commit) renames them into place, `discard` removes what was staged. Values never appear
in a repr, a message or a log.
"""

from __future__ import annotations

import contextlib
import os
import secrets as random
from dataclasses import dataclass, field
from pathlib import Path

from tandem.inventory.edit import NO_SECRETS
from tandem.inventory.errors import InventoryInvalid

SUFFIX = ".password"
OPTION = "--secrets-dir DIR"


def secret_stem(*parts: str) -> str:
    """The file name (without suffix) of a secret: `io1-bmc`, `CELL-DEVICE`."""
    return "-".join(parts)


@dataclass
class SecretFiles:
    """Where inline passwords go (None: nowhere, they are refused) and those met so far."""

    directory: Path | None = None
    pending: dict[Path, str] = field(default_factory=dict, repr=False)
    staged: dict[Path, Path] = field(default_factory=dict, repr=False)
    made_directory: bool = False

    def __post_init__(self) -> None:
        if self.directory is not None and not self.directory.is_absolute():
            raise InventoryInvalid(f"--secrets-dir {str(self.directory)!r}: expected an "
                                   f"absolute path (the nodes get the files at the same "
                                   f"path)")

    def keep(self, stem: str, value: str, where: str) -> str:
        """The path `value` will be written to; InventoryInvalid when there is no
        directory for it, or when two files give it two different values."""
        if self.directory is None:
            raise InventoryInvalid(f"{where}: a password in the file: {NO_SECRETS} "
                                   f"(password_file), or import with {OPTION}")
        if "\n" in value.rstrip("\r\n") or not value:
            raise InventoryInvalid(f"{where}: the password must be one non-empty line")
        path = self.directory / f"{stem}{SUFFIX}"
        known = self.pending.get(path)
        if known is not None and known != value:
            raise InventoryInvalid(f"{where}: another file gives {path} another password")
        self.pending[path] = value
        return str(path)

    def stage(self) -> None:
        """Write every pending secret under a temporary name (0600); InventoryInvalid,
        with what was staged removed, when that fails."""
        if not self.pending:
            return
        assert self.directory is not None
        try:
            if not self.directory.exists():
                self.directory.mkdir(mode=0o700, parents=True)
                self.made_directory = True
            for path, value in sorted(self.pending.items()):
                tmp = path.with_name(f".{path.name}.{random.token_hex(6)}.tmp")
                self.staged[path] = tmp
                _write_private(tmp, value)
        except OSError as exc:
            self.discard()
            raise InventoryInvalid(f"cannot write the password files in {self.directory}: "
                                   f"{exc.strerror or exc}") from None

    def publish(self) -> list[str]:
        """Rename the staged files into place; the paths written."""
        done = []
        for path, tmp in sorted(self.staged.items()):
            os.replace(tmp, path)
            done.append(str(path))
        self.staged.clear()
        return done

    def discard(self) -> None:
        """Remove whatever was staged (and the directory if this made it)."""
        for tmp in self.staged.values():
            with contextlib.suppress(OSError):
                tmp.unlink()
        self.staged.clear()
        if self.made_directory and self.directory is not None:
            with contextlib.suppress(OSError):
                self.directory.rmdir()
            self.made_directory = False


def _write_private(path: Path, value: str) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (value.rstrip("\r\n") + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
