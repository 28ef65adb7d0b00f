"""The engine's timeline: membership, quorum, fencing and service events with
millisecond wall-clock timestamps, kept in memory (bounded) and appended to a file.
Their kinds are `tandem.common.events.EventKind`."""

from __future__ import annotations

import json
import logging
import os
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from tandem.common.events import EventKind

log = logging.getLogger("tandemd.events")

DEFAULT_CAPACITY = 5000


@dataclass(frozen=True)
class Event:
    """One entry of the timeline."""

    ts_ms: int
    kind: EventKind
    node: str | None = None
    service: str | None = None
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.ts_ms / 1000))
        who = " ".join(x for x in (self.node, self.service) if x)
        return f"{stamp}.{self.ts_ms % 1000:03d} {self.kind:<18} {who:<12} {self.detail}"


class EventLog:
    """Append-only timeline; `since(seq)` lets clients follow it."""

    def __init__(self, path: Path | None = None, capacity: int = DEFAULT_CAPACITY) -> None:
        self._events: deque[tuple[int, Event]] = deque(maxlen=capacity)
        self._seq = 0
        self._path = path
        self._file_broken = False
        self._handle: TextIO | None = None

    def add(self, kind: EventKind, *, node: str | None = None, service: str | None = None,
            detail: str = "", **data: Any) -> Event:
        event = Event(int(time.time() * 1000), kind, node, service, detail, data)
        self._seq += 1
        self._events.append((self._seq, event))
        log.info("event %s", event.line())
        self._persist(event)
        return event

    def _persist(self, event: Event) -> None:
        if self._path is None or self._file_broken:
            return
        try:
            if self._handle is not None and self._rotated(self._handle, self._path):
                self.close()  # logrotate moved or removed it: go on in a new file
            if self._handle is None:
                # Line-buffered: each event reaches the kernel as it is written, so a
                # node that loses power (SIGKILL in the lab) keeps its timeline.
                self._handle = self._path.open("a", encoding="utf-8", buffering=1)
            self._handle.write(json.dumps(asdict(event)) + "\n")
        except OSError as exc:
            self._file_broken = True
            log.warning("cannot append events to %s: %s", self._path, exc)

    @staticmethod
    def _rotated(handle: TextIO, path: Path) -> bool:
        """Whether `path` no longer names the file `handle` writes to (one stat per
        event; events are rare)."""
        try:
            return os.stat(path).st_ino != os.fstat(handle.fileno()).st_ino
        except FileNotFoundError:
            return True

    def close(self) -> None:
        """Close the events file (the daemon is stopping)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def since(self, seq: int = 0, limit: int | None = None) -> list[tuple[int, Event]]:
        """Events after sequence number `seq` (oldest first)."""
        found = [(s, e) for s, e in self._events if s > seq]
        return found[-limit:] if limit else found

    @property
    def last_seq(self) -> int:
        return self._seq
