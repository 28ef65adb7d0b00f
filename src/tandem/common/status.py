"""The status of a cell as one node's daemon sees it: what `tandem status --json` prints.

The daemon builds a CellStatus (tandem.daemon.status) and sends `to_json()` on its
control socket; `tandem status`, `clustat`, the lab and bench read it back with
`CellStatus.from_json`. Monitoring and the management node read the JSON document,
described by `status.schema.json` beside this module (`schema()`).

Field names are the JSON keys, in the order the document has them; the state strings
each field may hold are listed in the schema. A field added later needs a default, so
that a newer reader still reads an older daemon.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from tandem.common.jsonrecord import EMPTY_WHEN_NONE, JsonRecord

SCHEMA_FILE = "status.schema.json"

# How a service looks cell-wide (tandem.manager.display); the fence device check.
SERVICE_STATES = ("stopped", "starting", "started", "stopping", "failed", "disabled",
                  "recovering", "frozen")
FENCE_DEVICE_STATES = ("unknown", "ok", "failed")


@dataclass(frozen=True)
class QuorumStatus(JsonRecord):
    """The quorum verdict and the numbers behind it."""

    votes: int
    needed: int
    expected: int
    reason: str
    two_node: bool
    wait_for_all: bool
    unblocked: bool  # an operator lifted wait-for-all on this node


@dataclass(frozen=True)
class NodeStatus(JsonRecord):
    """One member of the cell. `rings` maps a network to "local" (this node), "up" or
    "down" (heard on it or not); `config_version` is None until the node reported."""

    name: str
    id: int
    votes: int
    state: str
    local: bool
    since: float  # wall-clock time of the last state change
    note: str
    incarnation: int | None
    rings: Mapping[str, str]
    config_version: int | None
    fence_failures: int
    config_outdated: bool  # online but on an older config_version than the newest


@dataclass(frozen=True)
class RingStatus(JsonRecord):
    """One heartbeat network."""

    ring: int
    network: str
    state: str


@dataclass(frozen=True)
class FenceDeviceStatus(JsonRecord):
    """The last check that a fence device this node would use still answers."""

    node: str
    level: int
    device: str
    state: str
    detail: str
    checked_at: float  # wall-clock time, 0 before the first check


@dataclass(frozen=True)
class HeartbeatStatus(JsonRecord):
    """Heartbeats sent by this node and how late the sender woke up."""

    sent: int
    errors: int
    skipped: int
    max_lag_ms: float
    mean_lag_ms: float
    p99_lag_ms: float = 0.0  # over the last few thousand beats (absent before 2026-12)


@dataclass(frozen=True)
class StorageStatus(JsonRecord):
    """The watch of back-end I/O errors on this node (kernel log and storage-error)."""

    kernel_log: bool       # the kernel log is being read
    records: int           # kernel log records read
    io_errors: int         # of those, I/O errors (any device)
    reported: int          # errors handed to the services (kernel log and operators)
    relevant: int          # of those, errors on a device of a service running here
    lost: int              # records the kernel overwrote before they were read
    last_error: str


@dataclass(frozen=True)
class ServiceStatus(JsonRecord):
    """One service: its cell-wide state and owner, and its state on this node."""

    name: str
    state: str
    owner: str | None
    last_owner: str | None
    note: str
    enabled: bool
    frozen: bool
    placement: str | None  # where the coordinator wants it
    since: float | None  # when its owner last changed its local state
    local: str


@dataclass(frozen=True)
class QdiskNodeStatus(JsonRecord):
    """One node as the quorum disk shows it."""

    name: str
    id: int
    score: int
    alive: bool
    holding: bool  # it wrote that it still runs services


@dataclass(frozen=True)
class QdiskStatus(JsonRecord):
    """The quorum disk as this node uses it."""

    device: str
    label: str
    online: bool
    state: str
    error: str
    master: str | None
    votes: int  # what the disk is worth to the side that holds its master now
    configured_votes: int
    my_score: int
    max_score: int
    score_ok: bool
    nodes: tuple[QdiskNodeStatus, ...]


@dataclass(frozen=True)
class CellStatus(JsonRecord):
    """Everything `tandem status` shows, as one node sees it."""

    cluster: str
    local: str
    quorate: bool
    quorum: QuorumStatus
    coordinator: str | None
    config_version: int
    nodes: tuple[NodeStatus, ...]
    rings: tuple[RingStatus, ...]
    redundancy_degraded: bool
    fencing: tuple[str, ...]
    fence_devices: tuple[FenceDeviceStatus, ...]
    manual_fence_pending: tuple[str, ...]
    transport: Mapping[str, Mapping[str, int]]  # ring number -> counter -> value
    realtime: str
    heartbeat: HeartbeatStatus | None = field(metadata=EMPTY_WHEN_NONE)
    services: tuple[ServiceStatus, ...]
    qdisk: QdiskStatus | None
    probed: bool  # the start-up probe of local services is done
    uptime_s: float
    locked: bool = False  # `clusvcadm -l`: no service starts anywhere (absent before 2026-12)
    storage: StorageStatus | None = field(default=None, metadata=EMPTY_WHEN_NONE)

    def node(self, name: str) -> NodeStatus | None:
        return next((n for n in self.nodes if n.name == name), None)

    def service(self, name: str) -> ServiceStatus | None:
        return next((s for s in self.services if s.name == name), None)


def schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of `CellStatus.to_json()`."""
    text = resources.files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded
