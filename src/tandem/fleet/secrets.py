"""The password files a cell's configuration names (each node's BMC, each fence
device), which `tandem cells push --with-key` carries to the nodes with the key.

On the management node each file is read before anything is sent: a file that cannot
be read stops the push in one line naming it (never its content). On a node each one
is written 0600, atomically, at the same path (`write_secret`). The paths must be
absolute: a node resolves nothing against the management node's directories.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from tandem.config import ClusterConfig
from tandem.fleet.errors import FleetError
from tandem.fleet.privfile import write_private

MAX_SECRET_BYTES = 4096


def secret_paths(config: ClusterConfig) -> list[str]:
    """Every password file `config` names, each once, in order."""
    paths = [n.bmc.password_file for n in config.nodes
             if n.bmc is not None and n.bmc.password_file]
    paths += [d.password_file for d in config.fence_devices if d.password_file]
    return list(dict.fromkeys(p for p in paths if p))


def read_secrets(config: ClusterConfig) -> dict[str, str]:
    """{path: content} of every password file of `config`, read here; FleetError
    naming the cell and the first file that cannot be sent."""
    found = {}
    for path in secret_paths(config):
        where = f"cell {config.name}: password file {path}"
        if not is_clean_path(path):
            raise FleetError(f"{where}: expected an absolute path (the nodes get the "
                             f"file at the same path)")
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise FleetError(f"{where}: cannot be read on this node: "
                             f"{exc.strerror or exc} (put the password there, mode 0600)") \
                from None
        if len(data) > MAX_SECRET_BYTES:
            raise FleetError(f"{where}: larger than {MAX_SECRET_BYTES} bytes: not a "
                             f"password")
        try:
            found[path] = data.decode("utf-8")
        except UnicodeDecodeError:
            raise FleetError(f"{where}: not UTF-8 text") from None
    return found


def is_clean_path(path: str) -> bool:
    """An absolute path without `.`, `..` or doubled separators."""
    return (path.startswith("/") and "\0" not in path and os.path.normpath(path) == path
            and path != "/")


def check_secrets(secrets: Mapping[str, str]) -> None:
    """What a node checks before writing anything: FleetError for a path it will not
    write to (never quoting a value)."""
    for path, value in secrets.items():
        if not is_clean_path(path):
            raise FleetError(f"password file {path!r}: not an absolute, plain path")
        if len(value.encode()) > MAX_SECRET_BYTES:
            raise FleetError(f"password file {path}: larger than {MAX_SECRET_BYTES} bytes")


def write_secret(path: Path, value: str) -> bool:
    """Make `path` hold `value` (0600 from its creation on); False when it already
    did (nothing written)."""
    try:
        if path.read_text(encoding="utf-8") == value and path.stat().st_mode & 0o077 == 0:
            return False
    except (OSError, UnicodeDecodeError):
        pass
    write_private(path, value.encode("utf-8"), "password file")
    return True
