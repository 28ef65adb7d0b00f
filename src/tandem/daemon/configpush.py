"""Moving a new configuration to every member: chunked, compressed REQUEST messages that
each member reassembles, validates and installs only if its version is newer."""

from __future__ import annotations

import base64
import os
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHUNK_BYTES = 30_000
ASSEMBLY_TIMEOUT_S = 30.0


def config_chunks(text: str, version: int, transfer: int) -> list[dict[str, Any]]:
    """The REQUEST bodies that carry `text` (compressed, in order)."""
    data = zlib.compress(text.encode(), 9)
    parts = [data[i:i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)] or [b""]
    return [{"op": "config", "v": version, "x": transfer, "i": i, "n": len(parts),
             "d": base64.b64encode(part).decode()} for i, part in enumerate(parts)]


@dataclass
class _Transfer:
    parts: dict[int, bytes] = field(default_factory=dict)
    count: int = 0
    started: float = field(default_factory=time.monotonic)


class ConfigAssembler:
    """Collects config chunks per (sender, transfer); yields complete texts."""

    def __init__(self) -> None:
        self._transfers: dict[tuple[int, int], _Transfer] = {}

    def add(self, sender: int, body: dict[str, Any]) -> tuple[int, str] | None:
        """Record one chunk; (version, text) once the transfer is complete. Malformed
        chunks raise ValueError (the caller drops and counts them)."""
        self._expire()
        try:
            version, transfer = int(body["v"]), int(body["x"])
            index, count = int(body["i"]), int(body["n"])
            data = base64.b64decode(str(body["d"]), validate=True)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"bad config chunk: {exc}") from None
        if not 0 <= index < count <= 1000:
            raise ValueError("bad config chunk numbering")
        entry = self._transfers.setdefault((sender, transfer), _Transfer(count=count))
        entry.parts[index] = data
        if len(entry.parts) < entry.count:
            return None
        del self._transfers[(sender, transfer)]
        payload = b"".join(entry.parts[i] for i in range(entry.count))
        try:
            return version, zlib.decompress(payload).decode()
        except (zlib.error, UnicodeDecodeError) as exc:
            raise ValueError(f"config transfer is corrupt: {exc}") from None

    def _expire(self) -> None:
        now = time.monotonic()
        for key in [k for k, t in self._transfers.items()
                    if now - t.started > ASSEMBLY_TIMEOUT_S]:
            del self._transfers[key]


def install(path: Path, text: str) -> None:
    """Write the configuration file atomically, keeping the previous one as `.prev`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".new")
    tmp.write_text(text)
    os.chmod(tmp, 0o644)
    if path.exists():
        os.replace(path, path.with_suffix(path.suffix + ".prev"))
    os.replace(tmp, path)
