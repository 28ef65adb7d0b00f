"""Moving a new configuration to every member: chunked, compressed REQUEST messages that
each member reassembles, validates and installs only if its version is newer; a member
that comes back on an older version is brought up to date the same way."""

from __future__ import annotations

import base64
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from tandem.config.cellfile import write_cell_file

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
    """Write the configuration file atomically, keeping the previous one as `.prev`;
    0600 if it holds a password inline (tandem.config.cellfile)."""
    write_cell_file(path, text, keep_previous=True)


MAX_SENDS = 10  # per member and version: a member that keeps refusing is left alone


class Sends(NamedTuple):
    """What to send now: `text` of `version` to `members`; `gave_up` lists the members
    just left alone after MAX_SENDS (to be reported once)."""

    text: str = ""
    version: int = 0
    members: tuple[int, ...] = ()
    gave_up: tuple[int, ...] = ()


@dataclass
class ConfigSender:
    """Which members get this node's configuration, and when.

    Two cases: an operator's `config push` (this node sends its new version until every
    member runs it), and a resync: a member that was away during a push comes back on
    an older version; the lowest-id member running the newest version sends it the
    running configuration (as ccsd did for cluster.conf). Datagrams get lost, so sends
    repeat every `resend_s`, at most MAX_SENDS times per member and version."""

    resend_s: float
    text: str = ""
    version: int = 0
    last: float = float("-inf")
    sends: dict[int, int] = field(default_factory=dict)
    gave_up: set[int] = field(default_factory=set)

    def push(self, version: int, text: str) -> None:
        """An operator pushed `text` (already running here): send it at once."""
        self.version, self.text, self.last = version, text, float("-inf")
        self.sends, self.gave_up = {}, set()

    def due(self, now: float, local: int, running: int, versions: dict[int, int],
            read_running: Callable[[], str | None]) -> Sends:
        """What to send now (empty when no send is due).
        `versions` has the config version every other member reported; `running` is
        ours, whose text `read_running` gives (None if unavailable)."""
        behind = sorted(m for m, v in versions.items() if v < running)
        newer_elsewhere = any(v > running for v in versions.values())
        if not behind or newer_elsewhere or now - self.last < self.resend_s:
            return Sends()
        if self.version != running:
            newest = [m for m, v in versions.items() if v == running]
            text = read_running() if all(local < m for m in newest) else None
            if text is None:
                return Sends()
            self.push(running, text)
        targets = [m for m in behind if self.sends.get(m, 0) < MAX_SENDS]
        newly = sorted(set(behind) - set(targets) - self.gave_up)
        self.gave_up |= set(newly)
        for member in targets:
            self.sends[member] = self.sends.get(member, 0) + 1
        self.last = now
        return Sends(self.text, self.version, tuple(targets), tuple(newly))
