"""The shared facts about services: what each node reports running, what operators
asked for, and where the coordinator placed each service. Plain, serialisable data.

- A node's *report* is the truth about what runs on that node (it is authoritative for
  itself and nothing else).
- An *intent* is an operator's wish (enabled or disabled, frozen, a target node, a
  restart request, stopped until the membership changes), replicated to every node and
  ordered by (version, origin).
- The *placement* is the coordinator's decision: for each service, the node that should
  run it (0 for nowhere) and a generation number that increases on every change, so a
  node can tell a restart request from the assignment it already carries out.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Any


class LocalState(enum.Enum):
    """A service as one node runs it."""

    STOPPED = "stopped"
    STARTING = "starting"
    STARTED = "started"
    STOPPING = "stopping"
    FAILED = "failed"          # a start or a monitor failed; it was stopped cleanly
    STOP_FAILED = "stop_failed"  # a stop failed: the node may still hold part of it

    @property
    def active(self) -> bool:
        """The node may hold some of the service's resources."""
        return self in (LocalState.STARTING, LocalState.STARTED, LocalState.STOPPING,
                        LocalState.STOP_FAILED)


STORAGE_CAUSE = "storage"  # a failure of the node's path to the service's disks


@dataclass(frozen=True)
class ServiceReport:
    """One service on one node."""

    state: LocalState = LocalState.STOPPED
    gen: int = 0
    since: float = 0.0
    error: str = ""
    restarts: tuple[float, ...] = ()
    cause: str = ""  # why it FAILED, when not the service itself ("storage": the node's path)

    def to_wire(self) -> list[Any]:
        wire = [self.state.value, self.gen, round(self.since, 3), self.error,
                [round(t, 3) for t in self.restarts]]
        return [*wire, self.cause] if self.cause else wire

    @classmethod
    def from_wire(cls, data: list[Any]) -> ServiceReport:
        cause = str(data[5]) if len(data) > 5 else ""  # older peers send five fields
        return cls(LocalState(data[0]), int(data[1]), float(data[2]), str(data[3]),
                   tuple(float(t) for t in data[4]), cause)


@dataclass(frozen=True)
class NodeReport:
    """Everything one node says about its services."""

    probed: bool = False
    services: dict[str, ServiceReport] = field(default_factory=dict)

    def get(self, service: str) -> ServiceReport:
        return self.services.get(service, ServiceReport())


@dataclass(frozen=True)
class Intent:
    """What operators want for one service (absent: follow `autostart`).

    `stopped` is set by a stop that does not disable (`clusvcadm -s`): the members of the
    cell at that moment. As rgmanager does with a stopped service, the cell starts it
    again on the next membership change (or on an enable)."""

    version: int = 0
    origin: int = 0
    enabled: bool = True
    frozen: bool = False
    target: str | None = None
    restart: int = 0
    stopped: frozenset[int] | None = None

    def newer_than(self, other: Intent) -> bool:
        return (self.version, self.origin) > (other.version, other.origin)

    def to_wire(self) -> list[Any]:
        return [self.version, self.origin, self.enabled, self.frozen, self.target,
                self.restart, sorted(self.stopped) if self.stopped is not None else None]

    @classmethod
    def from_wire(cls, data: list[Any]) -> Intent:
        """Reads the six fields of intents saved before `stopped` too."""
        target = data[4]
        stopped = data[6] if len(data) > 6 else None
        return cls(int(data[0]), int(data[1]), bool(data[2]), bool(data[3]),
                   str(target) if target is not None else None, int(data[5]),
                   frozenset(int(n) for n in stopped) if stopped is not None else None)

    def bump(self, origin: int, **changes: Any) -> Intent:
        """The next intent after this one, from `origin`, with `changes`."""
        return replace(self, version=self.version + 1, origin=origin, **changes)


@dataclass(frozen=True)
class Assignment:
    """Where the coordinator wants a service.

    `node` is the node id that should run it (0: nowhere), `gen` increases on every
    change (a new generation on the same node means "restart it"), `next` is the node
    to start it on once it has stopped (a relocation in progress), `avoid` lists nodes
    where it failed, and `intent_seen`/`restart_seen` record which operator requests
    were already carried out.
    """

    node: int = 0
    gen: int = 0
    next: int = 0
    avoid: frozenset[int] = frozenset()
    intent_seen: int = 0
    restart_seen: int = 0

    def to_wire(self) -> list[Any]:
        return [self.node, self.gen, self.next, sorted(self.avoid), self.intent_seen,
                self.restart_seen]

    @classmethod
    def from_wire(cls, data: list[Any]) -> Assignment:
        return cls(int(data[0]), int(data[1]), int(data[2]),
                   frozenset(int(x) for x in data[3]), int(data[4]), int(data[5]))
