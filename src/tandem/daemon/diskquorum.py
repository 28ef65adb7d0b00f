"""The engine's side of the quorum disk: runs the disk's own thread and turns its view
into what quorum needs (the disk's votes, this node's standing) and what status shows."""

from __future__ import annotations

from tandem.common.status import QdiskNodeStatus, QdiskStatus
from tandem.config import ClusterConfig, NodeDef
from tandem.quorum.qdisk import QdiskView, QuorumDisk


class DiskQuorum:
    """The quorum disk of this node, if the cell has one (all methods are no-ops
    otherwise). Its I/O runs in its own thread: reading the view never blocks."""

    def __init__(self, config: ClusterConfig, local: NodeDef) -> None:
        self.config = config
        self.runner = (QuorumDisk(config.qdisk, local.id, node_name=local.name,
                                  cell=config.name) if config.qdisk is not None else None)
        self._passed = False

    def start(self) -> None:
        if self.runner is not None:
            self.runner.start()

    def stop(self) -> None:
        if self.runner is not None:
            self.runner.stop()

    def view(self) -> QdiskView | None:
        return self.runner.snapshot() if self.runner is not None else None

    @property
    def configured_votes(self) -> int:
        return self.config.qdisk.votes if self.config.qdisk is not None else 0

    def owned_by(self, members: frozenset[int]) -> bool:
        """Do the disk's votes belong to the partition made of `members`?"""
        view = self.view()
        return bool(view and view.available and view.votes > 0 and view.master in members)

    def set_holding(self, holding: bool) -> None:
        """Publish on the disk whether this node still runs services."""
        if self.runner is not None:
            self.runner.set_holding(holding)

    def stopping(self, node_id: int, lost_for: float) -> bool:
        """A node lost on the network `lost_for` seconds ago but alive on the disk and
        still holding services: it lost quorum too and is stopping them, so fencing it
        waits (at most qdisk.stop_wait_ms) and the services do not move while it still
        runs them. A node dead on disk, or one that has stopped, is fenced at once."""
        qdisk = self.config.qdisk
        if qdisk is None or lost_for >= qdisk.stop_wait_s:
            return False
        view = self.view()
        disk = view.nodes.get(node_id) if view is not None and view.available else None
        return disk is not None and disk.alive and disk.holding

    def score_ok(self) -> bool:
        """False when this node's heuristics fail: it must give up its vote and services."""
        view = self.view()
        if view is not None and view.score_ok:
            self._passed = True
        return view is None or view.score_ok

    def gave_up(self) -> bool:
        """Heuristics failing after they had passed since this daemon started: the node
        may still hold services, so peers fence it to be sure. A node that never passed
        (just booted, or booted cut off) never ran anything: it is left alone, without a
        vote, instead of being fenced again at every boot."""
        return self.heuristics_flags()[1]

    def heuristics_flags(self) -> tuple[bool, bool]:
        """(withdrawn, gave up) from one look at the disk thread's view, for the
        heartbeat path (which should not take the view's lock twice per beat)."""
        ok = self.score_ok()
        return not ok, not ok and self._passed

    def status(self, names: dict[int, str]) -> QdiskStatus | None:
        view = self.view()
        if view is None or self.config.qdisk is None:
            return None
        return QdiskStatus(
            device=self.config.qdisk.device, label=self.config.qdisk.label,
            online=view.available, state=view.state, error=view.error,
            master=names.get(view.master) if view.master is not None else None,
            votes=view.votes, configured_votes=self.config.qdisk.votes,
            my_score=view.my_score, max_score=view.max_score,
            score_ok=view.score_ok,
            nodes=tuple(QdiskNodeStatus(name=names.get(node_id, str(node_id)), id=node_id,
                                        score=disk.score, alive=disk.alive,
                                        holding=disk.holding)
                        for node_id, disk in sorted(view.nodes.items())),
        )
