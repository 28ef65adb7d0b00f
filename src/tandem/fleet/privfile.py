"""Writing a file only root may read (a cluster key, a password) on a node: 0600 from
its creation on, replaced atomically, never a half-written file in place."""

from __future__ import annotations

from pathlib import Path

from tandem.fleet.errors import FleetError
from tandem.util.atomicfile import replace_file


def write_private(path: Path, data: bytes, what: str) -> None:
    """Replace `path` with `data`; FleetError naming `what` and the path (never the
    data) when that fails."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_file(path, data, 0o600)
    except OSError as exc:
        raise FleetError(f"cannot write the {what} {path}: {exc.strerror or exc}") from None
