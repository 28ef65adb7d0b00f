"""Runs the fence operations the decision core asked for, off the heartbeat path.

`start` has one caller, the daemon's actuator: every fence (the coordinator's own, a
peer's or an operator's request) is decided by `manager.decide` first.

Each fence is its own asyncio task around `tandem.fencing.runner.fence_node` (whose
helper processes die with it when cancelled). Results go into the ledger, the event
timeline and the persisted fence history; failures are retried with a growing pause.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from pathlib import Path

from tandem.common.events import EventKind
from tandem.config import ClusterConfig
from tandem.daemon.clock import Clock, RealClock
from tandem.daemon.events import EventLog
from tandem.fencing.base import FenceDevice
from tandem.fencing.history import FenceHistory, FenceHistoryError
from tandem.fencing.ipmishell import IpmiSessions
from tandem.fencing.manual import ManualAcks
from tandem.fencing.runner import FenceResult, fence_node
from tandem.membership.ledger import SUSPECT, Ledger, NodeState, Transition

log = logging.getLogger("tandemd.fencer")

RETRY_BASE_S = 5.0
RETRY_MAX_S = 60.0


def retry_pause(failures: int) -> float:
    """Pause before the next attempt after `failures` failed ones (5, 10, 20.. 60 s)."""
    return float(min(RETRY_BASE_S * 2.0 ** max(failures - 1, 0), RETRY_MAX_S))


class Fencer:
    """Fence tasks of the local node, and what they changed."""

    def __init__(self, config: ClusterConfig, ledger: Ledger, events: EventLog,
                 history_path: Path | None,
                 on_change: Callable[[list[Transition]], None], *,
                 clock: Clock | None = None,
                 devices: Mapping[str, FenceDevice] | None = None,
                 sessions: IpmiSessions | None = None) -> None:
        self.config = config
        self.sessions = sessions  # IPMI sessions kept open (shared with the checks)
        self.clock = clock or RealClock()
        self.devices = devices  # replaces the configured devices by name (tests)
        self.ledger = ledger
        self.events = events
        self.acks = ManualAcks()
        self.history_path = history_path
        self.history = self._load_history()
        self.tasks: dict[int, asyncio.Task[FenceResult | None]] = {}
        self._on_change = on_change

    def _load_history(self) -> FenceHistory:
        if self.history_path is not None and self.history_path.exists():
            try:
                return FenceHistory.load(self.history_path)
            except FenceHistoryError as exc:
                log.warning("starting with an empty fence history: %s", exc)
        return FenceHistory()

    @property
    def running(self) -> frozenset[int]:
        return frozenset(n for n, t in self.tasks.items() if not t.done())

    def name(self, node_id: int) -> str:
        return next(n.name for n in self.config.nodes if n.id == node_id)

    def fenceable(self, node_id: int) -> bool:
        return any(n.fence for n in self.config.nodes if n.id == node_id)

    def start(self, node_id: int, reason: str) -> asyncio.Task[FenceResult | None]:
        """Begin fencing `node_id` (returns the running task if one exists)."""
        task = self.tasks.get(node_id)
        if task is not None and not task.done():
            return task
        self._on_change(self.ledger.fencing_started(node_id, self.clock.monotonic()))
        self.events.add(EventKind.FENCE_START, node=self.name(node_id), detail=reason)
        task = asyncio.get_running_loop().create_task(self._run(node_id),
                                                      name=f"fence-{node_id}")
        self.tasks[node_id] = task
        return task

    async def _run(self, node_id: int) -> FenceResult | None:
        node = next(n for n in self.config.nodes if n.id == node_id)
        try:
            result = await fence_node(node, self.config, self.history, self.acks,
                                      devices=self.devices, sessions=self.sessions)
        except asyncio.CancelledError:
            if self.ledger.state(node_id) == NodeState.FENCING:
                self._failed(node_id, "cancelled: this node lost quorum", 0)
            raise
        except Exception as exc:  # a bug must not leave the node marked 'fencing'
            log.exception("fencing %s crashed", node.name)
            self._failed(node_id, f"internal error: {exc}", 0)
            return None
        self._save_history()
        if result.success:
            self._on_change(self.ledger.fence_succeeded(node_id, self.clock.monotonic(),
                                                        wall=self.clock.time()))
            self.events.add(EventKind.FENCE_DONE, node=node.name, detail=result.message,
                            duration_ms=result.duration_ms, level=result.level,
                            devices=list(result.devices))
        else:
            self._failed(node_id, result.message, result.duration_ms)
        return result

    def _failed(self, node_id: int, message: str, duration_ms: int) -> None:
        record = self.ledger.records[node_id]
        pause = retry_pause(record.fence_failures + 1)
        self._on_change(self.ledger.fence_failed(node_id, self.clock.monotonic(), pause, message))
        self.events.add(EventKind.FENCE_FAILED, node=self.name(node_id),
                        detail=f"{message}; next attempt in {pause:.0f} s",
                        duration_ms=duration_ms)

    def _save_history(self) -> None:
        if self.history_path is None:
            return
        try:
            self.history.save(self.history_path)
        except (OSError, FenceHistoryError) as exc:
            log.warning("cannot save the fence history: %s", exc)

    def reconfigure(self, config: ClusterConfig) -> None:
        self.config = config

    def cancel_all(self) -> None:
        """Stop every fence in progress (quorum lost, or shutting down)."""
        for task in self.tasks.values():
            if not task.done():
                task.cancel()

    def acknowledge(self, node_id: int) -> str:
        """An operator confirms `node_id` is off: completes a waiting manual fence, or
        marks a suspect node fenced. Returns what happened; ValueError if not suspect."""
        name = self.name(node_id)
        if self.acks.ack(name):
            return f"manual fencing of {name} acknowledged"
        if self.ledger.state(node_id) not in SUSPECT:
            raise ValueError(f"{name} is {self.ledger.state(node_id).value}: nothing "
                             f"to acknowledge")
        task = self.tasks.get(node_id)
        if task is not None and not task.done():
            task.cancel()
        self._on_change(self.ledger.fence_succeeded(node_id, self.clock.monotonic(),
                                                    "acknowledged off by an operator",
                                                    wall=self.clock.time()))
        self.events.add(EventKind.FENCE_ACK, node=name, detail="operator confirmed it is off")
        return f"{name} marked fenced on the operator's word"
