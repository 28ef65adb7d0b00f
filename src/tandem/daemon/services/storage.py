"""Which local services stand on a device that reports I/O errors, and which failures
came from the storage.

A failure of the storage path is the node's, not the service's: restarting in place
would meet the same broken path, so such a failure is marked (`STORAGE_CAUSE`) and the
decision relocates at once. A failure that follows a storage error within
`MEMORY_S` (a start that could not mount, a stop after a monitor saw EIO) counts as
one too.
"""

from __future__ import annotations

from collections.abc import Iterable

from tandem.manager.model import STORAGE_CAUSE
from tandem.resources.base import ResourceAgent
from tandem.system.blockdev import DevNum, device_number, stack_below

MEMORY_S = 60.0


def devices_of(agents: Iterable[ResourceAgent]) -> set[DevNum]:
    """Every device the resources stand on, with the devices under them (now: a path
    may appear only once the service holds it, e.g. a multipath map)."""
    found: set[DevNum] = set()
    for agent in agents:
        for path in agent.devices():
            number = device_number(path)
            if number is not None:
                found |= stack_below(number)
    return found


class StorageErrors:
    """When each service last saw a storage error on this node."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}
        self.reported = 0   # errors reported (kernel log or operator), any device
        self.relevant = 0   # of those, errors on a device of a service here

    def note(self, service: str, now: float) -> None:
        self._seen[service] = now

    def cause(self, service: str, now: float) -> str:
        """STORAGE_CAUSE when the service saw a storage error recently, else ""."""
        seen = self._seen.get(service)
        return STORAGE_CAUSE if seen is not None and now - seen <= MEMORY_S else ""

    def forget(self, service: str) -> None:
        self._seen.pop(service, None)
