"""The quorum disk runner of one node: write our slot, read everyone's, elect a master.

Why a quorum disk: when the heartbeat network fails, both halves of a cell are alive and
each would fence the other (a fencing race whose winner is luck). Both can still reach
the shared disk, and the disk has exactly one master at a time, so its votes make
exactly one half quorate; the other half stops and does not fence.

`QuorumDisk` runs in a dedicated thread. Every interval it opens the device, writes its
slot (direct, synchronous), reads every slot, updates liveness and the election
(`protocol`, `elect`), and publishes a `QdiskView`. `snapshot()` only takes a
lock and compares times, so it never waits for the disk. A view stays usable for the
I/O budget (tko/2) after the start of the cycle that produced it: a failed cycle is
reported in `error` but costs nothing until then, while a cycle stuck in the kernel (a
dead path, a frozen device) or repeated failures make the view expire and the disk
"not answering" / unavailable, long before the others may declare this node dead.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from tandem.quorum.qdisk.config import QdiskDef
from tandem.quorum.qdisk.device import DiskImage, QdiskDevice
from tandem.quorum.qdisk.elect import Election
from tandem.quorum.qdisk.format import MAX_NODES, Header, QdiskError, Role
from tandem.quorum.qdisk.heuristics import HeuristicsRunner, Score
from tandem.quorum.qdisk.protocol import DiskProtocol

log = logging.getLogger(__name__)
STOP_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class DiskNode:
    """One node as the disk shows it."""

    node_id: int
    name: str
    alive: bool
    liveness: str
    seq: int
    last_write: float
    score: int
    max_score: int
    score_ok: bool
    state: str
    role: str
    vote: int
    holding: bool = False
    quorate: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"node_id": self.node_id, "name": self.name, "alive": self.alive,
                "liveness": self.liveness, "seq": self.seq, "last_write": self.last_write,
                "score": self.score, "max_score": self.max_score,
                "score_ok": self.score_ok, "state": self.state, "role": self.role,
                "vote": self.vote, "holding": self.holding, "quorate": self.quorate}


@dataclass(frozen=True)
class QdiskView:
    """What the engine needs from the quorum disk, consistent at one instant.

    `votes` is what the disk is worth to the partition that holds `master` (0 while
    unavailable or without a master); `score_ok` false means this node must give up its
    own vote and its services. `error` may be set while `available` is still true: the
    latest cycle failed but the last good view has not expired yet."""

    available: bool
    error: str
    master: int | None
    i_am_master: bool
    my_score: int
    max_score: int
    score_ok: bool
    alive_on_disk: frozenset[int]
    nodes: Mapping[int, DiskNode] = field(default_factory=dict)
    votes: int = 0
    state: str = "init"
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"available": self.available, "error": self.error, "master": self.master,
                "i_am_master": self.i_am_master, "my_score": self.my_score,
                "max_score": self.max_score, "score_ok": self.score_ok,
                "alive_on_disk": sorted(self.alive_on_disk), "votes": self.votes,
                "state": self.state, "reason": self.reason,
                "nodes": {str(n): d.to_dict() for n, d in sorted(self.nodes.items())}}


class QuorumDisk:
    """The per-node quorum disk runner (see module docstring)."""

    def __init__(self, config: QdiskDef, node_id: int, *, node_name: str = "",
                 cell: str = "", heuristics: HeuristicsRunner | None = None) -> None:
        if not 1 <= node_id <= MAX_NODES:
            raise QdiskError(f"node id {node_id} cannot use a quorum disk "
                             f"(ids 1..{MAX_NODES} only)")
        self.config = config
        self.node_id = node_id
        self.cell = cell
        self.heuristics = heuristics or HeuristicsRunner(config.heuristics, config.min_score)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Owned by the runner thread.
        self._header: Header | None = None
        self._proto = DiskProtocol(config, node_id, node_name)
        # Published to snapshot(), under the lock.
        self._lock = threading.Lock()
        self._view: QdiskView | None = None
        self._view_time: float | None = None
        self._busy_since: float | None = None
        self._error = ""
        self._stopping = False
        self._holding = False
        self._quorate = False

    def reconfigure(self, config: QdiskDef) -> None:
        """A reloaded configuration of the same disk (the engine refuses a new device or
        label): the cycle, timeouts, votes and stop wait apply from the next cycle on,
        new heuristics from now (the old ones are stopped)."""
        if (config.heuristics, config.min_score) != (self.config.heuristics,
                                                     self.config.min_score):
            old, self.heuristics = self.heuristics, HeuristicsRunner(config.heuristics,
                                                                      config.min_score)
            if self._thread is not None:
                old.stop()
                self.heuristics.start()
        self.config = config
        self._proto.config = config

    def set_holding(self, holding: bool) -> None:
        """Say in our next slot writes whether this node still runs services. A peer that
        lost us on the network but sees us alive on the disk waits (a bounded time) for
        this to clear before it fences us: we stop our services first, as quorum demands."""
        with self._lock:
            self._holding = holding

    def set_quorate(self, quorate: bool) -> None:
        """Say in our next slot writes whether this node's engine is quorate. A quorate
        node keeps its services, so a peer that lost us on the network need not wait for
        us to stop them: it may fence us at once (see DiskQuorum.stopping)."""
        with self._lock:
            self._quorate = quorate

    # -- life cycle ---------------------------------------------------------------------
    def start(self) -> None:
        """Start the runner thread (and the heuristics)."""
        if self._thread is not None:
            raise RuntimeError("QuorumDisk already started")
        self._thread = threading.Thread(target=self._run, name=f"qdisk-{self.node_id}",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> bool:
        """Leave the disk (our slot says STOPPED if the disk answers) and stop the thread.
        From this call on, snapshot() reports the disk unavailable. False if the thread
        is still stuck in I/O after `timeout`."""
        with self._lock:
            self._stopping = True
        self._stop.set()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        self.heuristics.start()
        try:
            next_at = time.monotonic()
            while not self._stop.is_set():
                try:
                    self._cycle()
                except Exception as exc:  # a bug must show in status, not kill the thread
                    log.exception("quorum disk cycle failed")
                    self._failed(f"internal error: {exc!r}")
                next_at = max(next_at + self.config.interval_s, time.monotonic())
                self._stop.wait(next_at - time.monotonic())
            self._leave()
        finally:
            self.heuristics.stop()

    # -- one cycle ----------------------------------------------------------------------
    def _cycle(self) -> None:
        start = time.monotonic()
        score = self.heuristics.score()
        self._proto.begin(start)
        with self._lock:
            self._busy_since = start
        try:
            image, read_start, read_end = self._exchange(score)
        except QdiskError as exc:
            self._failed(str(exc))
            return
        finally:
            with self._lock:
                self._busy_since = None
        took = read_end - start
        if took > self.config.io_budget_s:
            self._failed(f"disk too slow: a cycle took {took:.1f} s "
                         f"(budget {self.config.io_budget_s:g} s)")
            return
        before = self._proto.role
        election = self._proto.finish(image.slots, score.ok, start, read_start, read_end)
        if election.role != before:
            log.info("quorum disk: %s -> %s (%s)", before.name, election.role.name,
                     election.reason)
        view = self._build_view(image, election, score)
        with self._lock:
            self._view, self._view_time, self._error = view, start, ""

    def _exchange(self, score: Score) -> tuple[DiskImage, float, float]:
        """Write our slot, then read everything (the order the election relies on)."""
        with QdiskDevice(self.config.device) as dev:
            if self._header is None:
                self._header = self._attach(dev)
            with self._lock:
                holding, quorate = self._holding, self._quorate
            dev.write_slot(self._header, self._proto.slot(self._header.uuid, score,
                                                          time.time(), holding, quorate))
            read_start = time.monotonic()
            image = dev.read_image()
            read_end = time.monotonic()
        if image.header.uuid != self._header.uuid:
            # Every slot was wiped, ours included: what we knew is void at once.
            self._header = None
            self._proto.attach()
            with self._lock:
                self._view = self._view_time = None
            raise QdiskError(f"{self.config.device}: the disk was initialised again "
                             f"(its uuid changed): rejoining")
        return image, read_start, read_end

    def _attach(self, dev: QdiskDevice) -> Header:
        header = dev.read_header()
        if self.config.label and header.label != self.config.label:
            raise QdiskError(f"{dev.path}: label is {header.label!r}, the configuration "
                             f"expects {self.config.label!r}")
        if self.cell and header.cell and header.cell != self.cell:
            raise QdiskError(f"{dev.path}: belongs to cell {header.cell!r}, not {self.cell!r}")
        if self.node_id > header.max_nodes:
            raise QdiskError(f"{dev.path}: has slots for nodes 1..{header.max_nodes} only, "
                             f"this node is {self.node_id}")
        self._proto.attach()
        return header

    def _build_view(self, image: DiskImage, election: Election, score: Score) -> QdiskView:
        proto = self._proto
        liveness = {p.node_id: p.liveness for p in proto.peers}
        liveness[self.node_id] = "alive"
        slots = {n: t.last for n, t in proto.tracks.items() if t.last is not None}
        mine = image.record(self.node_id).slot
        if mine is not None:
            slots[self.node_id] = mine
        nodes: dict[int, DiskNode] = {}
        for node_id, slot in sorted(slots.items()):
            state = liveness.get(node_id, "dead")
            nodes[node_id] = DiskNode(
                node_id=node_id, name=slot.name, alive=state == "alive", liveness=state,
                seq=slot.seq, last_write=slot.timestamp, score=slot.score,
                max_score=slot.max_score, score_ok=slot.score_ok,
                state=slot.state.name.lower(), role=slot.role.name.lower(), vote=slot.vote,
                holding=slot.holding, quorate=slot.quorate)
        return QdiskView(
            available=True, error="", master=election.master,
            i_am_master=election.role == Role.MASTER, my_score=score.score,
            max_score=score.max_score, score_ok=score.ok, alive_on_disk=proto.seen,
            nodes=nodes, votes=self.config.votes if election.master is not None else 0,
            state=proto.state.name.lower(), reason=election.reason)

    def _failed(self, error: str) -> None:
        """A cycle failed. The last good view stays usable until it expires (see
        `protocol`); snapshot() reports the error meanwhile."""
        log.warning("quorum disk: %s", error)
        with self._lock:
            self._error = error

    def _leave(self) -> None:
        """Best effort: tell the others at once that we left (STOPPED, no role)."""
        self._proto.leave()
        if self._header is None:
            return
        slot = self._proto.slot(self._header.uuid, self.heuristics.score(), time.time())
        try:
            with QdiskDevice(self.config.device) as dev:
                dev.write_slot(self._header, slot)
        except QdiskError as exc:
            log.warning("quorum disk: could not write our leaving: %s", exc)

    # -- the engine's side ----------------------------------------------------------------
    def snapshot(self) -> QdiskView:
        """The current view; never blocks on the disk (safe from the event loop)."""
        score = self.heuristics.score()
        with self._lock:
            view, view_time = self._view, self._view_time
            busy, error, stopping = self._busy_since, self._error, self._stopping
        problem = self._problem(time.monotonic(), view_time, busy, error, stopping)
        if problem or view is None:
            state = "stopped" if stopping else view.state if view is not None else "init"
            return _unavailable(problem, score, state)
        if score.ok or not view.i_am_master:
            return replace(view, error=error, my_score=score.score, score_ok=score.ok)
        return replace(view, error=error, my_score=score.score, score_ok=False,
                       i_am_master=False, master=None, votes=0)

    def _problem(self, now: float, view_time: float | None, busy: float | None,
                 error: str, stopping: bool) -> str:
        """Why the published view cannot be used now (empty when it can)."""
        budget = self.config.io_budget_s
        if stopping:
            return "stopped"
        if busy is not None and now - busy > budget:
            return (f"{self.config.device}: not answering: I/O pending for "
                    f"{now - busy:.1f} s")
        if view_time is None:
            return error or "starting: the disk has not been read yet"
        if now - view_time > budget:
            return error or f"stale: no complete cycle for {now - view_time:.1f} s"
        return ""

def _unavailable(error: str, score: Score, state: str) -> QdiskView:
    return QdiskView(available=False, error=error, master=None, i_am_master=False,
                     my_score=score.score, max_score=score.max_score, score_ok=score.ok,
                     alive_on_disk=frozenset(), votes=0, state=state, reason=error)
