"""The quorum-disk stop wait, as the daemon sees it: lost peers that are alive on the
disk and still stopping their services are fenced only once they have stopped (or died
on disk, or `qdisk.stop_wait_ms` ran out). The decision skips them; this says so once per
peer and makes sure the disk is looked at again at its own pace meanwhile."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from tandem.common.events import EventKind
from tandem.daemon.events import EventLog


class DiskStopWait:
    """The peers whose fencing waits for them, as of the last cycle."""

    def __init__(self, events: EventLog, names: Mapping[int, str],
                 wake_in: Callable[[float], None]) -> None:
        self.events = events
        self.names = names
        self.wake_in = wake_in  # look again after this many seconds
        self.waiting: frozenset[int] = frozenset()

    def note(self, stopping: frozenset[int], interval_s: float | None) -> None:
        for node_id in sorted(stopping - self.waiting):
            self.events.add(EventKind.FENCE_DEFERRED, node=self.names[node_id],
                            detail="alive on the quorum disk, stopping its services: "
                                   "fenced once they are stopped")
        self.waiting = stopping
        if stopping and interval_s is not None:
            self.wake_in(interval_s)
