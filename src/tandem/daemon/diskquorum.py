"""The engine's side of the quorum disk: runs the disk's own thread and turns its view
into what quorum needs (the disk's votes, this node's standing) and what status shows.

Everything here runs on the engine's loop; the disk thread is only read through
`snapshot()`, which never waits for the disk.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from tandem.common.status import QdiskNodeStatus, QdiskStatus
from tandem.config import ClusterConfig, NodeDef
from tandem.daemon.cellstate import DiskStanding
from tandem.quorum.qdisk.config import QdiskDef
from tandem.quorum.qdisk.runner import QdiskView, QuorumDisk


class DiskRunner(Protocol):
    """The disk thread as the engine uses it (QuorumDisk, or a test's stand-in)."""

    def start(self) -> None: ...
    def stop(self) -> bool: ...
    def snapshot(self) -> QdiskView: ...
    def set_holding(self, holding: bool) -> None: ...
    def set_quorate(self, quorate: bool) -> None: ...
    def reconfigure(self, config: QdiskDef) -> None: ...


DiskFactory = Callable[[QdiskDef, NodeDef, str], DiskRunner]


def real_disk(config: QdiskDef, local: NodeDef, cell: str) -> DiskRunner:
    return QuorumDisk(config, local.id, node_name=local.name, cell=cell)


# Keys of [qdisk] that a running node cannot change: the disk it writes to.
RESTART_KEYS = ("device", "label")


class DiskQuorum:
    """The quorum disk of this node, if the cell has one (all methods are no-ops
    otherwise)."""

    def __init__(self, config: ClusterConfig, local: NodeDef,
                 factory: DiskFactory = real_disk) -> None:
        self.config = config
        qdisk = config.section(QdiskDef)
        self.runner = factory(qdisk, local, config.name) if qdisk is not None else None
        self._passed = False  # heuristics passed at least once since start

    @property
    def qdisk(self) -> QdiskDef | None:
        """The configuration's [qdisk] section (None: the cell has no quorum disk)."""
        return self.config.section(QdiskDef)

    def start(self) -> None:
        if self.runner is not None:
            self.runner.start()

    def stop(self) -> None:
        if self.runner is not None:
            self.runner.stop()

    def refusal(self, config: ClusterConfig) -> str:
        """Why `config` cannot be applied while running (empty if it can)."""
        old, new = self.qdisk, config.section(QdiskDef)
        if (old is None) != (new is None):
            return "qdisk: adding or removing the quorum disk needs a restart of tandemd"
        if old is not None and new is not None:
            for key in RESTART_KEYS:
                if getattr(old, key) != getattr(new, key):
                    return f"qdisk.{key}: changing it needs a restart of tandemd"
        return ""

    def reconfigure(self, config: ClusterConfig) -> None:
        """Apply a configuration `refusal()` accepted (the disk cycle, votes,
        heuristics and stop wait take effect at once)."""
        self.config = config
        if self.runner is not None and self.qdisk is not None:
            self.runner.reconfigure(self.qdisk)

    def view(self) -> QdiskView | None:
        return self.runner.snapshot() if self.runner is not None else None

    def standing(self, members: frozenset[int]) -> DiskStanding:
        """One look at the disk for this cycle: its votes, whether our partition owns
        them, and whether this node gave up its vote (and, after having passed, its
        services: then peers fence it)."""
        view, qdisk = self.view(), self.qdisk
        if view is None or qdisk is None:
            return DiskStanding()
        if view.score_ok:
            self._passed = True
        owned = view.available and view.votes > 0 and view.master in members
        return DiskStanding(votes=qdisk.votes, owned=owned,
                            withdrawn=not view.score_ok,
                            gave_up=not view.score_ok and self._passed)

    def publish(self, *, holding: bool, quorate: bool) -> None:
        """Publish on the disk whether this node still runs services and is quorate."""
        if self.runner is not None:
            self.runner.set_holding(holding)
            self.runner.set_quorate(quorate)

    def stopping(self, node_id: int, lost_for: float) -> bool:
        """A node lost on the network `lost_for` seconds ago but alive on the disk and
        still holding services: it lost quorum too and is stopping them, so fencing it
        waits (at most qdisk.stop_wait_ms) and the services do not move while it still
        runs them. A node dead on disk, or one that has stopped, is fenced at once.

        So is one whose slot says it is quorate once its word is fresh (`settle_s`): it
        still hears us (a one-way loss), keeps its services and would never stop them,
        so waiting for it only delays the failover. Before that, its slot may predate
        its own verdict on the same loss, and a slot without the flag (an older build)
        reads as not quorate: both are waited for."""
        qdisk = self.qdisk
        if qdisk is None or lost_for >= qdisk.stop_wait_s:
            return False
        view = self.view()
        disk = view.nodes.get(node_id) if view is not None and view.available else None
        if disk is None or not disk.alive or not disk.holding:
            return False
        return not (disk.quorate and lost_for >= self.settle_s)

    @property
    def settle_s(self) -> float:
        """How long after we lost a node its slot shows its own verdict on that loss, had
        the loss been mutual: its detector fires about when ours did (same token: within
        a heartbeat; a whole token is allowed, for a loaded node), then it writes its
        slot within one disk cycle and we read it within another (each may take up to
        the I/O budget)."""
        qdisk = self.qdisk
        if qdisk is None:
            return 0.0
        token_s = self.config.timing.token_ms / 1000.0
        return token_s + 2 * (qdisk.interval_s + qdisk.io_budget_s)

    def status(self, names: dict[int, str]) -> QdiskStatus | None:
        view, qdisk = self.view(), self.qdisk
        if view is None or qdisk is None:
            return None
        return QdiskStatus(
            device=qdisk.device, label=qdisk.label, online=view.available,
            state=view.state, error=view.error,
            master=names.get(view.master) if view.master is not None else None,
            votes=view.votes, configured_votes=qdisk.votes, my_score=view.my_score,
            max_score=view.max_score, score_ok=view.score_ok,
            nodes=tuple(QdiskNodeStatus(name=names.get(node_id, str(node_id)), id=node_id,
                                        score=disk.score, alive=disk.alive,
                                        holding=disk.holding)
                        for node_id, disk in sorted(view.nodes.items())),
        )
