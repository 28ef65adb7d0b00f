"""Each cell's cluster key on the management node: `KEY_DIR/CELL.key` (0600, as
`tandem keygen` writes it). Read only to be sent on a node's stdin; never printed."""

from __future__ import annotations

from pathlib import Path

from tandem.fleet.errors import FleetError
from tandem.wire import KeyFileError
from tandem.wire.keyfile import load_key


def key_path(key_dir: str, cell: str) -> Path:
    return Path(key_dir) / f"{cell}.key"


def cell_key(key_dir: str, cell: str) -> bytes:
    """The key of `cell`; FleetError (naming the file, never the key) otherwise."""
    path = key_path(key_dir, cell)
    try:
        return load_key(path)
    except KeyFileError as exc:
        raise FleetError(f"key of cell {cell}: {exc} (make one with `tandem keygen "
                         f"{path}`)") from None
