"""The page the heartbeat process and the engine share: when each peer was last heard on
each ring, when the engine last showed it was alive, and the transport's counters.

Both processes map one small file under the daemon's run directory. Timestamps are
CLOCK_MONOTONIC seconds, the same clock in both processes. The heartbeat process writes
what it hears the moment it hears it; the engine reads it when it decides, without being
woken for every heartbeat (the engine is not disturbed 10 times a second per peer, and
how late the engine runs never changes when a peer was heard). The engine writes its
feed at every cycle; the heartbeat process stops beating if the feed gets old, so a hung
engine is seen by the peers as a failed node.

Every record is guarded by a sequence lock (one writer each: odd while being written),
so a reader never sees a torn value.

Each peer's life (the incarnation of its daemon) is on the page too, written before the
first time it is heard with that life: the peer's claims reach the engine over the
channel, a little later than the page, and a time stamp of a new life must not be read
as one of the old life (a rebooted peer that we had fenced would look like the same life
heard again, "the fence device lied", and be fenced once more).
"""

from __future__ import annotations

import json
import mmap
import os
import struct
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tandem.common.errors import TandemError

MAGIC = 0x7461_6862  # "tahb"
VERSION = 2
_HEADER = struct.Struct("<IIHH")  # magic, version, peers, rings
_SLOT = struct.Struct("<Qd")  # sequence, value
_STATS_HEAD = struct.Struct("<QI")  # sequence, length
STATS_BYTES = 8192
READ_TRIES = 1000


class SharedPageError(TandemError):
    """The shared page is missing or not ours."""


class SharedPage:
    """One mapping of the shared file. `peers` and `rings` fix the layout: both sides
    must give the same ones (from the same configuration)."""

    def __init__(self, path: Path, peers: Sequence[int], rings: Sequence[int], *,
                 create: bool) -> None:
        self.path = path
        self.peers = {p: i for i, p in enumerate(peers)}
        self.rings = {r: i for i, r in enumerate(rings)}
        self._slots_at = _HEADER.size + _SLOT.size  # after the header and the feed
        self._lives_at = self._slots_at + _SLOT.size * len(peers) * len(rings)
        self._stats_at = self._lives_at + _SLOT.size * len(peers)
        size = self._stats_at + _STATS_HEAD.size + STATS_BYTES
        flags = os.O_RDWR | (os.O_CREAT | os.O_TRUNC if create else 0)
        try:
            fd = os.open(path, flags, 0o600)
        except OSError as exc:
            raise SharedPageError(f"{path}: {exc.strerror}") from None
        try:
            if create:
                os.ftruncate(fd, size)
            elif os.fstat(fd).st_size != size:
                raise SharedPageError(f"{path}: not laid out for this configuration")
            self._map = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        if create:
            _HEADER.pack_into(self._map, 0, MAGIC, VERSION, len(peers), len(rings))
        elif _HEADER.unpack_from(self._map, 0) != (MAGIC, VERSION, len(peers), len(rings)):
            raise SharedPageError(f"{path}: not a heartbeat page of this configuration")

    # -- sequence-locked values -------------------------------------------------------
    def _write(self, offset: int, value: float) -> None:
        seq, _ = _SLOT.unpack_from(self._map, offset)
        _SLOT.pack_into(self._map, offset, seq + 1, value)  # odd: being written
        _SLOT.pack_into(self._map, offset, seq + 2, value)

    def _read(self, offset: int) -> float:
        for _ in range(READ_TRIES):
            seq, value = _SLOT.unpack_from(self._map, offset)
            if seq % 2 == 0 and _SLOT.unpack_from(self._map, offset)[0] == seq:
                return float(value)
        raise SharedPageError(f"{self.path}: a record stayed busy")  # writer died mid-way

    def _slot(self, peer: int, ring: int) -> int:
        return self._slots_at + _SLOT.size * (self.peers[peer] * len(self.rings)
                                              + self.rings[ring])

    # -- heard ---------------------------------------------------------------------------
    def heard(self, peer: int, ring: int, at: float) -> None:
        """The heartbeat process heard `peer` on `ring` at `at`."""
        self._write(self._slot(peer, ring), at)

    def last_heard(self) -> dict[tuple[int, int], float]:
        """(peer, ring) -> when last heard (0.0: never)."""
        return {(p, r): self._read(self._slot(p, r)) for p in self.peers for r in self.rings}

    def life(self, peer: int, incarnation: int) -> None:
        """`peer` is heard with `incarnation` from now on (written before its times)."""
        self._write(self._lives_at + _SLOT.size * self.peers[peer], float(incarnation))

    def lives(self) -> dict[int, float]:
        """peer -> the life its time stamps belong to (as a float; 0.0: none yet)."""
        return {p: self._read(self._lives_at + _SLOT.size * i) for p, i in self.peers.items()}

    # -- the engine's feed ---------------------------------------------------------------
    def feed(self, at: float) -> None:
        """The engine ran a cycle at `at`."""
        self._write(_HEADER.size, at)

    def fed_at(self) -> float:
        return self._read(_HEADER.size)

    # -- counters ------------------------------------------------------------------------
    def put_stats(self, stats: Mapping[str, Any]) -> None:
        """The heartbeat process's counters (JSON; cut to the space there is)."""
        data = json.dumps(stats, separators=(",", ":")).encode()[:STATS_BYTES]
        seq, _ = _STATS_HEAD.unpack_from(self._map, self._stats_at)
        _STATS_HEAD.pack_into(self._map, self._stats_at, seq + 1, 0)
        start = self._stats_at + _STATS_HEAD.size
        self._map[start:start + len(data)] = data
        _STATS_HEAD.pack_into(self._map, self._stats_at, seq + 2, len(data))

    def stats(self) -> dict[str, Any]:
        for _ in range(READ_TRIES):
            seq, length = _STATS_HEAD.unpack_from(self._map, self._stats_at)
            start = self._stats_at + _STATS_HEAD.size
            data = bytes(self._map[start:start + length])
            if seq % 2 == 0 and _STATS_HEAD.unpack_from(self._map, self._stats_at)[0] == seq:
                try:
                    loaded = json.loads(data) if data else {}
                except ValueError:
                    return {}
                return dict(loaded) if isinstance(loaded, dict) else {}
        return {}

    def close(self) -> None:
        self._map.close()
