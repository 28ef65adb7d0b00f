"""The node engine: heartbeats in and out, membership, quorum, coordinator, fencing.

One asyncio loop carries the heartbeats; everything slow (fence agents, later resource
agents) runs in tasks that await helper processes, never on the loop itself. Every
`tick` observes (detector), updates the ledger, recomputes quorum and coordinator, asks
the pure decision core what to do, and starts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tandem.common.events import EventKind
from tandem.config import ClusterConfig, ConfigError, parse_config
from tandem.daemon.configpush import (
    MAX_SENDS,
    ConfigAssembler,
    ConfigSender,
    config_chunks,
    install,
)
from tandem.daemon.diskquorum import DiskQuorum
from tandem.daemon.events import EventLog
from tandem.daemon.fencecheck import FenceDeviceChecker
from tandem.daemon.fencer import Fencer
from tandem.daemon.netthread import NetThread
from tandem.daemon.svcsync import Membership, ServiceSync
from tandem.daemon.sync import decode_state, encode_state
from tandem.manager.actions import Fence
from tandem.manager.decide import NodeFacts, NodeView, coordinator_of, decide_fencing
from tandem.membership.detector import FailureDetector, MembershipView, RingState
from tandem.membership.heartbeat import HeartbeatPayload
from tandem.membership.ledger import Ledger, NodeState, Transition
from tandem.quorum.votes import QuorumInputs, QuorumState, compute_quorum
from tandem.wire import (
    BadPayload,
    Message,
    MsgType,
    dump_json,
    load_json,
    load_key,
)

log = logging.getLogger("tandemd.engine")

LEAVE_REPEATS = 3
STATE_PERIOD_S = 2.0
CONFIG_RESEND_S = 1.0


@dataclass
class Paths:
    """Where the daemon keeps its files (private per node in the lab)."""

    state_dir: Path = Path("/var/lib/tandem")
    run_dir: Path = Path("/run/tandem")

    @property
    def socket(self) -> Path:
        return self.run_dir / "tandemd.sock"


@dataclass
class PeerReport:
    """What a peer's last heartbeat told us beyond 'I am alive'."""

    members: frozenset[int] = frozenset()
    quorate: bool = False
    withdrawn: bool = False
    gave_up: bool = False  # withdrawn after having passed its heuristics: to be fenced
    config_version: int = 0
    fenced: dict[int, tuple[int | None, float]] = field(default_factory=dict)


def next_incarnation(state_dir: Path) -> int:
    """A number larger than any this node used before, even across clock steps."""
    path = state_dir / "incarnation"
    last = 0
    with contextlib.suppress(OSError, ValueError):
        last = int(path.read_text().strip())
    value = max(time.time_ns(), last + 1)
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{value}\n")
    except OSError as exc:
        log.warning("cannot record the incarnation in %s: %s", path, exc)
    return value


class Engine:
    """Membership, quorum and fencing of the local node."""

    def __init__(self, config: ClusterConfig, local_name: str, *, paths: Paths | None = None,
                 unblocked: bool = False, config_path: Path | None = None,
                 realtime: bool = False) -> None:
        self.config = config
        self.config_path = config_path
        self.assembler = ConfigAssembler()
        self.paths = paths or Paths()
        self.local = config.node(local_name)
        self.ids = {n.id: n.name for n in config.nodes}
        self.incarnation = next_incarnation(self.paths.state_dir)
        self.started = time.monotonic()
        self.events = EventLog(self.paths.state_dir / "events.jsonl")
        self.detector = self._make_detector(config)
        self.ledger = Ledger.create(self.local.id, self.ids, self.started, self.incarnation)
        self.fencer = Fencer(config, self.ledger, self.events,
                             self.paths.state_dir / "fence-history.json", self._transitions)
        self.svc = ServiceSync(config, self.local.id, self.paths.state_dir, self.events,
                               self._state_changed)
        self.disk = DiskQuorum(config, self.local)
        self.fence_checks = FenceDeviceChecker(config, self.local.name, self.events,
                                               config.timing.fence_check_s)
        self.wake = asyncio.Event()
        self._due: float | None = None  # when the loop meant to tick next
        self._disk_stops: set[int] = set()  # lost peers we wait for (quorum disk)
        self._disk_recheck = False
        self.config_sender = ConfigSender(CONFIG_RESEND_S)
        self._state_seen: dict[int, bytes] = {}
        self._paused: tuple[float, float] | None = None
        self._state_pending = False
        self._last_state_sent = 0.0
        self._state_members: frozenset[int] = frozenset()
        self.reports: dict[int, PeerReport] = {}
        self.view: MembershipView | None = None
        self.unblocked = unblocked
        self.seen_all = False
        self.quorum = QuorumState(False, 0, 0, "starting")
        self.coordinator: int | None = None
        self.ring_states: dict[int, RingState] = {}
        self.realtime = realtime
        self.lock = threading.Lock()  # guards the detector, shared with the net thread
        self.alive: frozenset[int] = frozenset()
        self.net: NetThread | None = None
        self.stopping = False

    def _make_detector(self, config: ClusterConfig) -> FailureDetector:
        peers = [n.id for n in config.nodes if n.id != self.local.id]
        ring_peers = {r.ring: [n.id for n in config.nodes if n.id != self.local.id
                               and n.interface_on(r.name) is not None]
                      for r in config.rings if r.ring is not None}
        return FailureDetector(self.local.id, peers, ring_peers.keys(),
                               config.timing.token_ms / 1000.0, ring_peers=ring_peers)

    # -- lifecycle -----------------------------------------------------------------------
    async def open(self) -> None:
        """Load the key, open the rings and start heartbeating (on the net thread)."""
        key = load_key(self.config.key_file)
        self.net = NetThread(self.config, self.local.name, key=key,
                             incarnation=self.incarnation, detector=self.detector,
                             lock=self.lock, main_loop=asyncio.get_running_loop(),
                             deliver=self._on_message, hears=lambda: self.alive,
                             extra=self._heartbeat_extra, realtime=self.realtime)
        await asyncio.to_thread(self.net.start)
        self.disk.start()
        loop = asyncio.get_running_loop()
        self._probe = loop.create_task(self.svc.local.probe(), name="probe")
        self._checks = loop.create_task(self.fence_checks.run(), name="fence-checks")
        self.events.add(EventKind.DAEMON_START, node=self.local.name,
                        detail=f"incarnation {self.incarnation}, config version "
                               f"{self.config.config_version}")

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until `stop` is set, then leave the cell cleanly."""
        # Between events (messages, state changes, a peer about to go stale) there is
        # nothing to decide: a slow periodic tick is only a safety net.
        period = max(self.config.timing.heartbeat_ms / 1000.0, 0.5)
        loop = asyncio.get_running_loop()
        stopper = loop.create_task(stop.wait())
        while not stop.is_set():
            self.wake.clear()
            try:
                self.tick(time.monotonic())
            except Exception:  # keep heartbeating whatever a decision bug does
                log.exception("tick failed")
            waker = loop.create_task(self.wake.wait())
            now = time.monotonic()
            with self.lock:
                expiry = self.detector.next_expiry(now)
            # Look again when a peer would go stale, so a loss is seen when it happens.
            timeout = period if expiry is None else min(period, max(expiry - now, 0.0) + 0.001)
            self._due = now + timeout
            await asyncio.wait({stopper, waker}, timeout=timeout,
                               return_when=asyncio.FIRST_COMPLETED)
            waker.cancel()
        await self.close()

    async def close(self) -> None:
        """Announce a clean departure, stop fencing and heartbeats, close the rings."""
        self.stopping = True
        self._checks.cancel()
        self.fencer.cancel_all()
        await self.svc.local.stop_all("tandemd stopping")
        self._send_state()
        if self.net is not None:
            for _ in range(LEAVE_REPEATS):
                self.net.send(MsgType.REQUEST, dump_json({"op": "leave"}))
                await asyncio.sleep(0.01)
            await asyncio.to_thread(self.net.stop)
        await asyncio.to_thread(self.disk.stop)
        self.events.add(EventKind.DAEMON_STOP, node=self.local.name, detail="left the cell cleanly")
        self.events.close()

    # -- messages ------------------------------------------------------------------------
    def _heartbeat_extra(self) -> dict[str, Any]:
        members = sorted(self.view.members) if self.view else [self.local.id]
        fenced = {str(n): [inc, at] for n, (inc, at) in self.ledger.fenced_records().items()}
        withdrawn, gave_up = self.disk.heuristics_flags()
        return {"m": members, "q": self.quorum.quorate, "f": fenced,
                "w": withdrawn, "g": gave_up}

    def _on_message(self, msg: Message, ring: int, now: float,
                    body: HeartbeatPayload | None) -> None:
        """A verified message, on the engine's loop (heartbeats were already recorded in
        the detector by the net thread)."""
        if msg.msg_type == MsgType.HEARTBEAT and body is not None:
            self._on_heartbeat(msg, body)
        elif msg.msg_type == MsgType.STATE:
            if self._state_seen.get(msg.sender) == msg.payload:
                return  # the periodic repeat of what this peer already told us
            self._state_seen[msg.sender] = msg.payload
            if self.svc.incoming(msg.sender, decode_state(msg.payload), self.coordinator):
                self._state_changed()
            if self.svc.dirty:
                self.wake.set()
        elif msg.msg_type == MsgType.REQUEST:
            self._on_request(msg)

    def _on_heartbeat(self, msg: Message, body: HeartbeatPayload) -> None:
        report = self.reports.setdefault(msg.sender, PeerReport())
        extra = body.extra
        report.config_version = body.config_version
        members = frozenset(int(x) for x in extra.get("m", []) if isinstance(x, int))
        if members != report.members or self.view is None \
                or msg.sender not in self.view.members:
            self.wake.set()  # a peer joining or a view changing: decide now
        report.members = members
        report.quorate = bool(extra.get("q", False))
        report.withdrawn = bool(extra.get("w", False))
        report.gave_up = bool(extra.get("g", False))
        fenced = extra.get("f", {})
        if isinstance(fenced, dict):
            report.fenced = {int(k): (v[0], float(v[1])) for k, v in fenced.items()
                             if str(k).isdigit() and isinstance(v, list) and len(v) == 2}

    def _on_request(self, msg: Message) -> None:
        try:
            body = load_json(msg.payload)
        except BadPayload:
            return
        if body.get("op") == "leave" and msg.sender in self.ids:
            current = self.ledger.records[msg.sender].incarnation
            if current is None or current == msg.incarnation:
                self._transitions(self.ledger.left(msg.sender, time.monotonic()))
                self.wake.set()
        elif body.get("op") == "config":
            self._on_config_chunk(msg.sender, body)
        elif body.get("op") == "fence" and isinstance(body.get("node"), int):
            target = body["node"]
            if (self.quorum.quorate and target != self.local.id and target in self.ids
                    and msg.sender in (self.view.members if self.view else ())):
                self.fencer.start(target, str(body.get("reason", "asked by a peer")))

    # -- the cycle -------------------------------------------------------------------------
    def _judge_at(self, now: float) -> float:
        """The moment to judge peers at. If this daemon itself was not scheduled for a
        long while (a hung or overloaded node, a VM pause), the silence it sees is its own:
        for one token it judges peers as of the moment it stopped, so that it does not
        declare healthy peers lost (and fence them) while it catches up on their messages."""
        token = self.config.timing.token_ms / 1000.0
        due, self._due = self._due, None
        if due is not None and now - due > token / 2:
            self._paused = (due, now + token)
            log.warning("tandemd was not scheduled for %.0f ms: judging peers as of before "
                        "the pause for one token", (now - due) * 1000)
            self.events.add(EventKind.PAUSED, node=self.local.name,
                            detail=f"not scheduled for {(now - due) * 1000:.0f} ms")
        if self._paused is not None:
            judged_at, until = self._paused
            if now < until:
                return judged_at
            self._paused = None
        return now

    def tick(self, now: float) -> None:
        """Observe, decide and act once."""
        at = self._judge_at(now)
        with self.lock:
            view = self.detector.evaluate(at)
        self.view = view
        self.alive = view.alive
        for peer_id, peer in view.peers.items():
            self._transitions(self.ledger.observe(peer_id, peer.member, peer.incarnation, now,
                                                  alive=peer.alive, heard_at=peer.last_heard))
        self._adopt_peer_fences(view, now)
        self._update_rings(view)
        self._update_quorum(view)
        node_view = self.node_view(now)
        self._note_disk_stops(node_view)
        for action in decide_fencing(node_view):
            if isinstance(action, Fence):
                self.fencer.start(action.node_id, action.reason)
        fences, changed = self.svc.round(self.membership(view, now))
        if self.config.qdisk is not None:  # (no need to scan the services otherwise)
            self.disk.set_holding(self.svc.local.holding)
        for fence in fences:
            self._fence_for_service(fence)
        joined = view.members - self._state_members
        self._state_members = view.members
        if changed or joined or now - self._last_state_sent > STATE_PERIOD_S:
            self._send_state()  # a node that just joined learns the table at once
        self._send_config(now)

    def _note_disk_stops(self, node_view: NodeView) -> None:
        """Lost peers whose fencing waits for them to stop their services (seen on the
        quorum disk): say so once, and look again at the disk's pace meanwhile."""
        waiting = {i for i, facts in node_view.nodes.items() if facts.stopping}
        for node_id in sorted(waiting - self._disk_stops):
            self.events.add(EventKind.FENCE_DEFERRED, node=self.ids[node_id],
                            detail="alive on the quorum disk, stopping its services: "
                                   "fenced once they are stopped")
        self._disk_stops = waiting
        if waiting and self.config.qdisk is not None and not self._disk_recheck:
            self._disk_recheck = True  # one timer at a time, however often we tick
            asyncio.get_running_loop().call_later(self.config.qdisk.interval_s,
                                                  self._recheck_disk)

    def _recheck_disk(self) -> None:
        self._disk_recheck = False
        self.wake.set()

    def membership(self, view: MembershipView, now: float) -> Membership:
        wall = time.time() - now
        return Membership(
            now=now, members=view.members, quorate=self.quorum.quorate,
            coordinator=self.coordinator,
            states={i: r.state for i, r in self.ledger.records.items()},
            online_since={i: r.since + wall for i, r in self.ledger.records.items()},
            fenceable=frozenset(i for i in self.ids if self.fencer.fenceable(i)))

    def _fence_for_service(self, fence: Fence) -> None:
        """Fence a node whose stop failed; a node cannot fence itself, so then a peer
        is asked to."""
        if fence.node_id in self.fencer.running:
            return
        if fence.node_id != self.local.id:
            self.fencer.start(fence.node_id, fence.reason)
            return
        others = sorted((self.view.members if self.view else frozenset()) - {self.local.id})
        if others and self.net is not None:
            self.net.send(MsgType.REQUEST, dump_json(
                {"op": "fence", "node": self.local.id, "reason": fence.reason}), [others[0]])

    def _state_changed(self) -> None:
        """Something peers should know changed: send STATE soon (coalesced)."""
        self.wake.set()
        if not self._state_pending:
            self._state_pending = True
            asyncio.get_running_loop().call_soon(self._send_state)

    def _send_state(self) -> None:
        self._state_pending = False
        if self.net is None:
            return
        self._last_state_sent = time.monotonic()
        message = self.svc.outgoing(self.coordinator == self.local.id)
        self.net.send(MsgType.STATE, encode_state(message))

    def node_view(self, now: float) -> NodeView:
        return NodeView(
            local_id=self.local.id, now=now, quorate=self.quorum.quorate,
            coordinator=self.coordinator,
            nodes={i: NodeFacts(r.state, r.retry_at, self.fencer.fenceable(i),
                                stopping=r.state == NodeState.LOST
                                and self.disk.stopping(i, now - r.since))
                   for i, r in self.ledger.records.items()},
            fencing=self.fencer.running,
            startup_grace_over=now - self.started > self.startup_grace_s,
            evicted=frozenset(m for m in (self.view.members if self.view else ())
                              if m in self.reports and self.reports[m].gave_up))

    @property
    def startup_grace_s(self) -> float:
        return max(5.0, 3 * self.config.timing.token_ms / 1000.0)

    def _adopt_peer_fences(self, view: MembershipView, now: float) -> None:
        for peer in view.members - {self.local.id}:
            report = self.reports.get(peer)
            for node_id, (incarnation, at) in (report.fenced if report else {}).items():
                self._transitions(self.ledger.adopt_fence(node_id, incarnation, at, now))

    def _update_rings(self, view: MembershipView) -> None:
        for ring, state in view.rings.items():
            old = self.ring_states.get(ring)
            if old != state:
                self.ring_states[ring] = state
                if old is not None or state != RingState.UNKNOWN:
                    self.events.add(EventKind.RING, detail=f"ring {ring} ({self.ring_name(ring)}) "
                                                   f"{state.value}", ring=ring)

    def ring_name(self, ring: int) -> str:
        return next((r.name for r in self.config.rings if r.ring == ring), "?")

    def withdrawn(self, members: frozenset[int]) -> frozenset[int]:
        """Members that gave up their vote (their quorum disk heuristics fail)."""
        found = {m for m in members if m in self.reports and self.reports[m].withdrawn}
        if not self.disk.score_ok():
            found.add(self.local.id)
        return frozenset(found)

    def _update_quorum(self, view: MembershipView) -> None:
        members = view.members
        if members == frozenset(self.ids):
            self.seen_all = True
        withdrawn = self.withdrawn(members)
        quorum = compute_quorum(QuorumInputs(
            expected_votes=self.config.expected_votes,
            node_votes={n.id: 0 if n.id in withdrawn else n.votes for n in self.config.nodes},
            present=members, two_node=self.config.two_node,
            wait_for_all=self.config.wait_for_all, seen_all_since_boot=self.seen_all,
            operator_unblocked=self.unblocked, qdisk_votes=self.disk.configured_votes,
            qdisk_owned_by_partition=self.disk.owned_by(members)))
        if self.local.id in withdrawn:
            quorum = QuorumState(False, quorum.total_votes, quorum.needed,
                                 "not quorate: this node's quorum disk heuristics fail "
                                 "(it gave up its vote and its services)")
        if quorum.quorate != self.quorum.quorate:
            self.events.add(EventKind.QUORUM, node=self.local.name, detail=quorum.reason,
                            quorate=quorum.quorate)
            if not quorum.quorate:
                self.fencer.cancel_all()
        self.quorum = quorum
        reported = {m: self.reports[m].members for m in members if m in self.reports}
        coordinator = coordinator_of(self.local.id, members, reported, withdrawn) \
            if quorum.quorate else None
        if coordinator != self.coordinator:
            who = self.ids.get(coordinator, "none") if coordinator else "none"
            self.events.add(EventKind.COORDINATOR, node=who, detail=f"coordinator is {who}")
            self.coordinator = coordinator
            # How a STATE was taken depends on who coordinates (only the coordinator's
            # placement is followed): take the next repeats afresh, not as duplicates.
            self._state_seen.clear()

    def _transitions(self, changes: list[Transition]) -> None:
        for change in changes:
            if change.new == NodeState.ONLINE:
                self.svc.forget(change.node_id)
                self._state_seen.pop(change.node_id, None)
            self.wake.set()
            self.events.add(EventKind.NODE, node=self.ids[change.node_id],
                            detail=f"{change.old.value} -> {change.new.value}"
                                   + (f" ({change.note})" if change.note else ""),
                            state=change.new.value)

    # -- operator requests -------------------------------------------------------------------
    def service_request_made(self) -> None:
        """An operator changed an intent here: tell every peer at once."""
        self._state_changed()

    def unblock(self) -> str:
        """Operator override of wait-for-all."""
        self.unblocked = True
        self.events.add(EventKind.UNBLOCK, node=self.local.name,
                        detail="operator lifted wait-for-all")
        return "wait-for-all lifted on this node"

    def node_id(self, name: str) -> int:
        for node_id, node_name in self.ids.items():
            if node_name == name:
                return node_id
        raise ValueError(f"unknown node {name!r} (known: {', '.join(self.ids.values())})")

    async def fence(self, name: str) -> dict[str, Any]:
        """Operator-requested fence of `name`; waits for the outcome."""
        node_id = self.node_id(name)
        if node_id == self.local.id:
            raise ValueError("refusing to fence the local node from itself")
        if not self.quorum.quorate:
            raise ValueError(f"this node is not quorate ({self.quorum.reason}): "
                             f"only a quorate node fences")
        if not self.fencer.fenceable(node_id):
            raise ValueError(f"{name} has no fence levels configured")
        result = await self.fencer.start(node_id, "requested by an operator")
        if result is None:
            raise ValueError(f"fencing {name} failed (see tandem events)")
        return {"node": name, "success": result.success, "message": result.message,
                "duration_ms": result.duration_ms}

    def reload(self, config: ClusterConfig) -> str:
        """Adopt a new configuration of the same cell (timing, fencing, later services);
        ValueError if it changes the membership or the networks, which need a restart."""
        def shape(c: ClusterConfig) -> object:
            return ([(n.name, n.id, n.interfaces) for n in c.nodes], c.networks, c.port,
                    c.name, c.key_file)
        if shape(config) != shape(self.config):
            raise ValueError("nodes, networks, port, name or key file changed: restart "
                             "tandemd to apply this configuration")
        self.config = config
        self.svc.update_config(config)
        self.fencer.config = config
        self.fence_checks.config = config
        with self.lock:
            self.detector.token_s = config.timing.token_ms / 1000.0
        if self.net is not None:
            self.net.retime(config.timing.heartbeat_ms / 1000.0, config.config_version)
        self.events.add(EventKind.CONFIG, node=self.local.name,
                        detail=f"configuration version {config.config_version} loaded")
        return f"configuration reloaded (version {config.config_version})"

    # -- configuration distribution --------------------------------------------------------
    def push_config(self, text: str) -> dict[str, Any]:
        """Install a newer configuration here and send it to every member."""
        source = str(self.config_path or "pushed configuration")
        try:
            config = parse_config(text, source)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        if config.config_version <= self.config.config_version:
            raise ValueError(f"config_version {config.config_version} is not newer than "
                             f"the running version {self.config.config_version}: raise it")
        message = self.reload(config)
        if self.config_path is not None:
            install(self.config_path, text)
        self.config_sender.push(config.config_version, text)
        members = self._send_config(time.monotonic())
        self.events.add(EventKind.CONFIG_PUSH, node=self.local.name,
                        detail=f"version {config.config_version} sent to "
                               f"{', '.join(self.ids[m] for m in members) or 'nobody'}")
        return {"version": config.config_version, "sent_to": [self.ids[m] for m in members],
                "applied": message}

    def _send_config(self, now: float) -> list[int]:
        """Send our configuration to members on an older version, if due (ConfigSender)."""
        if self.net is None or self.view is None:
            return []
        versions = {m: self.reports[m].config_version
                    for m in self.view.members - {self.local.id} if m in self.reports}
        sends = self.config_sender.due(now, self.local.id, self.config.config_version,
                                       versions, self._running_text)
        for member in sends.gave_up:
            self.events.add(EventKind.CONFIG_REFUSED, node=self.ids[member],
                            detail=f"still on an older version after {MAX_SENDS} sends of "
                                   f"version {sends.version}")
        if sends.members:
            transfer = time.monotonic_ns() & 0x7FFFFFFF
            for body in config_chunks(sends.text, sends.version, transfer):
                self.net.send(MsgType.REQUEST, dump_json(body), sends.members)
        return list(sends.members)

    def _running_text(self) -> str | None:
        """The installed configuration file, if it is the version that runs here."""
        if self.config_path is None:
            return None
        try:
            text = self.config_path.read_text()
            if parse_config(text, str(self.config_path)).config_version \
                    == self.config.config_version:
                return text
        except (OSError, ConfigError):
            pass
        return None

    def _on_config_chunk(self, sender: int, body: dict[str, Any]) -> None:
        try:
            done = self.assembler.add(sender, body)
        except ValueError as exc:
            log.warning("config from %s dropped: %s", self.ids.get(sender, sender), exc)
            return
        if done is None:
            return
        version, text = done
        if version <= self.config.config_version:
            return
        try:
            config = parse_config(text, str(self.config_path or "pushed configuration"))
            self.reload(config)
        except (ConfigError, ValueError) as exc:
            self.events.add(EventKind.CONFIG_REFUSED, node=self.local.name,
                            detail=f"version {version} from {self.ids.get(sender)}: {exc}")
            return
        if self.config_path is not None:
            install(self.config_path, text)

    def ensure_paths(self) -> None:
        for path in (self.paths.state_dir, self.paths.run_dir):
            path.mkdir(parents=True, exist_ok=True)
            os.chmod(path, 0o755)
