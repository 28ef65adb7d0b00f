"""The node engine: one observe -> decide -> act cycle, and the loop that runs it.

Heartbeats are sent and heard by the heartbeat process (hbproc, through hblink), which
takes only the claims the engine publishes after each cycle. Here, on the engine's
asyncio loop, each `tick` observes (observe.py builds one immutable `CellView`), decides (the pure
`manager.decide`), acts (act.py) and publishes. Everything slow (fence agents, resource
agents, disk I/O) runs in tasks or threads of its own, never in a tick.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from tandem.common.events import EventKind
from tandem.config import ClusterConfig
from tandem.daemon.act import act
from tandem.daemon.cellstate import CellState, DiskStanding
from tandem.daemon.configdist import ConfigDistribution
from tandem.daemon.cycle import CycleResult, make_detector, status_line
from tandem.daemon.diskquorum import DiskQuorum
from tandem.daemon.diskwait import DiskStopWait
from tandem.daemon.env import EngineEnv
from tandem.daemon.events import EventLog
from tandem.daemon.fencecheck import FenceDeviceChecker
from tandem.daemon.fencer import Fencer
from tandem.daemon.fencereq import FenceRequests
from tandem.daemon.logsetup import SyslogTarget
from tandem.daemon.messages import Messages
from tandem.daemon.network import NetSetup, NetSnapshot, Network
from tandem.daemon.observe import observe
from tandem.daemon.paths import Paths, next_incarnation
from tandem.daemon.pause import PauseGuard
from tandem.daemon.reload import reload_refusal
from tandem.daemon.services.display import ServiceDisplay
from tandem.daemon.services.executor import LocalServices
from tandem.daemon.services.pacing import RoundPacing
from tandem.daemon.services.store import ServiceStore
from tandem.fencing.ipmi import STATUS_ANSWER
from tandem.fencing.ipmishell import IpmiSessions
from tandem.manager.actions import Publish
from tandem.manager.decide import decide
from tandem.membership.claims import HeartbeatClaims, PeerClaims
from tandem.membership.detector import MembershipView
from tandem.membership.ledger import Ledger, NodeState, Transition
from tandem.storage.config import watch_kernel_log
from tandem.storage.kmsgwatch import KernelLogWatch
from tandem.system.blockdev import number_of_name
from tandem.system.kernlog import IoError

log = logging.getLogger("tandemd.engine")

STATE_PERIOD_S = 2.0
SAFETY_TICK_S = 0.5
# At rest (every node online and settled, quorate, nothing fencing, starting or
# stopping): no decision can become due by the clock alone, so the safety tick slows
# down; a peer about to go stale still wakes the loop on time, and every event at once.
REST_TICK_S = 1.0


class Engine:
    """Membership, quorum, fencing and services of the local node."""

    def __init__(self, config: ClusterConfig, local_name: str, *, paths: Paths | None = None,
                 unblocked: bool = False, config_path: Path | None = None,
                 realtime: bool = False, env: EngineEnv | None = None,
                 log_file: str | None = None,
                 syslog: SyslogTarget | None = None) -> None:
        self.env = env or EngineEnv()
        self.clock = self.env.clock
        self.config = config
        self.paths = paths or Paths()
        self.local = config.node(local_name)
        self.ids = {n.id: n.name for n in config.nodes}
        self.incarnation = next_incarnation(self.paths.state_dir)
        self.started = self.clock.monotonic()
        self.realtime = realtime
        self.log_file = log_file
        self.syslog = syslog
        # Called after every cycle (tandemd feeds systemd's watchdog there).
        self.on_cycle: Callable[[], None] = _nothing
        self.halted = ""  # why the engine had to stop on its own (the rings are gone)
        self._stop: asyncio.Event | None = None
        self.events = EventLog(self.paths.events)
        self.lock = threading.Lock()  # guards the detector, shared with the net thread
        self.detector = make_detector(config, self.local.id)
        self.ledger = Ledger.create(self.local.id, self.ids, self.started, self.incarnation)
        self.cell = CellState(config, self.local.id, self.events, unblocked=unblocked)
        self.pause = PauseGuard(config.timing.token_ms / 1000.0, self._paused)
        self.ipmi_sessions = IpmiSessions()
        self.fencer = Fencer(config, self.ledger, self.events, self.paths.fence_history,
                             self.transitions, clock=self.clock,
                             devices=self.env.fence_devices, sessions=self.ipmi_sessions)
        self.fence_requests = FenceRequests()
        self.store = ServiceStore(config, self.local.id, self.paths.state_dir)
        self.local_services = LocalServices(config, self.local.name, self.events,
                                            self._local_changed, clock=self.clock,
                                            agents=self.env.agents)
        self.local_services.frozen = self.store.frozen
        self.storage_watch = KernelLogWatch(self._kernel_io_error,
                                            self.env.kernel_log or "/dev/kmsg")
        self.display = ServiceDisplay(self.events, self.ids)
        self.pacing = RoundPacing()
        self.disk = DiskQuorum(config, self.local, self.env.disk)
        self.standing = DiskStanding()
        self.disk_wait = DiskStopWait(self.events, self.ids,
                                      lambda delay: self.wake_in("disk", delay))
        self.fence_checks = FenceDeviceChecker(config, self.local.name, self.events,
                                               config.timing.fence_check_s,
                                               sessions=self.ipmi_sessions)
        self.distribution = ConfigDistribution(config_path, self.ids, self.local.id,
                                               self.events, self.reload)
        self.messages = Messages(self)
        self.claims: dict[int, PeerClaims] = {}
        self.state_seen: dict[int, tuple[int, bytes]] = {}  # last STATE per peer
        self.view: MembershipView | None = None
        self.net: Network | None = None
        self.wake = asyncio.Event()
        self.stopping = False
        self.last_cycle = CycleResult("starting", ())
        self._timers: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._state_pending = False
        self._last_state_sent = float("-inf")
        self._state_members: frozenset[int] = frozenset()

    @property
    def startup_grace_s(self) -> float:
        return max(5.0, 3 * self.config.timing.token_ms / 1000.0)

    # -- lifecycle -----------------------------------------------------------------------
    async def open(self) -> None:
        """Load the key, open the rings and start heartbeating (on the net thread)."""
        key = self.env.load_key(self.config.key_file)
        self.net = self.env.network(NetSetup(
            self.config, self.local.name, key=key, incarnation=self.incarnation,
            detector=self.detector, lock=self.lock, main_loop=asyncio.get_running_loop(),
            deliver=self.messages.deliver, run_dir=self.paths.run_dir,
            log_file=self.log_file, syslog=self.syslog, on_failure=self._network_failed,
            realtime=self.realtime))
        self.net.publish(self._snapshot())
        await self.net.start()
        self.disk.start()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self.local_services.probe(), name="probe")]
        if self.env.kernel_log and watch_kernel_log(self.config):
            self._tasks.append(loop.create_task(self.storage_watch.run(), name="kmsg"))
        if self.env.device_checks:
            self._tasks.append(loop.create_task(self.fence_checks.run(), name="checks"))
            self._tasks.append(loop.create_task(
                self.ipmi_sessions.keep_alive(STATUS_ANSWER), name="ipmi-sessions"))
        self.events.add(EventKind.DAEMON_START, node=self.local.name,
                        detail=f"incarnation {self.incarnation}, config version "
                               f"{self.config.config_version}")

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until `stop` is set, then leave the cell cleanly."""
        # Between events (messages, state changes, a peer about to go stale) there is
        # nothing to decide: a slow periodic tick is only a safety net.
        loop = asyncio.get_running_loop()
        self._stop = stop
        stopper = loop.create_task(stop.wait())
        while not stop.is_set():
            self.wake.clear()
            try:
                self.tick()
            except Exception:  # keep heartbeating whatever a decision bug does
                log.exception("tick failed")
            self.on_cycle()
            waker = loop.create_task(self.wake.wait())
            now = self.clock.monotonic()
            timeout = self.sleep_for(now)
            self.pause.expect(now + timeout)
            await asyncio.wait({stopper, waker}, timeout=timeout,
                               return_when=asyncio.FIRST_COMPLETED)
            waker.cancel()
        await self.close()

    def sleep_for(self, now: float) -> float:
        """How long the loop may wait for an event: until a peer would go stale (so a
        loss is seen when it happens), and at most the safety tick."""
        period = max(self.config.timing.heartbeat_ms / 1000.0, SAFETY_TICK_S)
        if self.at_rest(now):
            period = max(period, REST_TICK_S)
        with self.lock:
            expiry = self.detector.next_expiry(now)
        return period if expiry is None else min(period, max(expiry - now, 0.0) + 0.001)

    def at_rest(self, now: float) -> bool:
        """Nothing the decision acts on by the clock can be pending: every node online
        for longer than any failback delay, quorate, past the startup grace, the
        placement known, no fence running, no local operation, no round pending."""
        settle = max((s.domain.failback_delay_s for s in self.config.services), default=0.0)
        return (self.cell.quorum.quorate and not self.fencer.running
                and not self.local_services.busy and not self.pacing.dirty
                and self.store.placement_known
                and now - self.started > self.startup_grace_s
                and all(r.state == NodeState.ONLINE and now - r.since > settle
                        for r in self.ledger.records.values()))

    async def close(self) -> None:
        """Announce a clean departure, stop fencing and heartbeats, close the rings."""
        self.stopping = True
        for task in self._tasks:
            task.cancel()
        self.fencer.cancel_all()
        await self.ipmi_sessions.close()
        await self.local_services.stop_all("tandemd stopping")
        self.send_state()
        await self.messages.leave()
        if self.net is not None:
            await self.net.stop()
        await asyncio.to_thread(self.disk.stop)
        self.events.add(EventKind.DAEMON_STOP, node=self.local.name, detail="left the cell cleanly")
        self.events.close()

    # -- the cycle -------------------------------------------------------------------------
    def tick(self, now: float | None = None) -> CycleResult:
        """Observe, decide and act once; what was seen and done."""
        now = self.clock.monotonic() if now is None else now
        started = self.clock.monotonic()
        view, membership = observe(self, now)
        round_began = view.services is not None and self.pacing.begin(now)
        actions = decide(view, self.config)
        published = act(self, actions)
        if view.services is not None:
            if round_began or published:
                self.display.redraw(self.config, view, self.store)
            self.pacing.done(now, self.clock.monotonic() - started)
        if self.disk.qdisk is not None:  # (no need to scan the services otherwise)
            self.disk.publish(holding=self.local_services.holding,
                              quorate=self.cell.quorum.quorate)
        joined = membership.members - self._state_members
        self._state_members = membership.members
        if published or joined or now - self._last_state_sent > STATE_PERIOD_S:
            self.send_state()  # a node that just joined learns the table at once
        self.messages.send_config(now)
        if self.net is not None:
            self.net.publish(self._snapshot())
            self.net.feed(self.clock.monotonic())
        self.last_cycle = CycleResult(status_line(view, self.cell.quorum, actions),
                                      tuple(actions))
        if any(not isinstance(a, Publish) for a in actions):
            log.info("cycle: %s", self.last_cycle.status)
        return self.last_cycle

    def _snapshot(self) -> NetSnapshot:
        """What the heartbeats say until the next cycle (published after each)."""
        members = self.view.members if self.view else frozenset({self.local.id})
        claims = HeartbeatClaims(
            members=members, quorate=self.cell.quorum.quorate,
            withdrawn=self.standing.withdrawn, gave_up=self.standing.gave_up,
            fenced=self.ledger.fenced_records())
        return NetSnapshot(claims.to_wire())

    def wake_in(self, key: str, delay: float) -> None:
        """Tick again in `delay` seconds (one pending timer per `key`)."""
        if key in self._timers:
            return
        self._timers.add(key)

        def fire() -> None:
            self._timers.discard(key)
            self.wake.set()

        asyncio.get_running_loop().call_later(delay, fire)

    def _network_failed(self, why: str) -> None:
        """The rings are gone (the heartbeat process died): peers will take this node
        for failed and fence it; stop cleanly meanwhile instead of running blind."""
        self.halted = why
        self.events.add(EventKind.DAEMON_STOP, node=self.local.name,
                        detail=f"{why}: stopping")
        if self._stop is not None:
            self._stop.set()

    def _paused(self, seconds: float) -> None:
        self.events.add(EventKind.PAUSED, node=self.local.name,
                        detail=f"not scheduled for {seconds * 1000:.0f} ms")

    def transitions(self, changes: list[Transition]) -> None:
        for change in changes:
            if change.new == NodeState.ONLINE:
                life = self.ledger.records[change.node_id].incarnation
                if self.store.forget(change.node_id, life):
                    self.pacing.mark()
                self.state_seen.pop(change.node_id, None)
            self.wake.set()
            self.events.add(EventKind.NODE, node=self.ids[change.node_id],
                            detail=f"{change.old.value} -> {change.new.value}"
                                   + (f" ({change.note})" if change.note else ""),
                            state=change.new.value)

    # -- what peers learn ------------------------------------------------------------------
    def _kernel_io_error(self, error: IoError) -> None:
        """The kernel reported an I/O error: the local services on that device move."""
        number = number_of_name(error.device)
        if number is not None:
            self.local_services.storage_error(number, f"kernel: {error.message}")

    def _local_changed(self) -> None:
        """A local service changed: decide again, and tell the peers soon (coalesced)."""
        self.pacing.mark()
        self.state_changed()

    def state_changed(self) -> None:
        self.wake.set()
        if not self._state_pending:
            self._state_pending = True
            asyncio.get_running_loop().call_soon(self.send_state)

    def send_state(self) -> None:
        self._state_pending = False
        if self.net is None:
            return
        self._last_state_sent = self.clock.monotonic()
        self.messages.send_state()

    # -- configuration ---------------------------------------------------------------------
    def reload(self, config: ClusterConfig) -> str:
        """Adopt a new configuration of the same cell in every component at once;
        ValueError naming the key if a change cannot be applied while running."""
        refusal = reload_refusal(self.config, config) or self.disk.refusal(config)
        if refusal:
            raise ValueError(refusal)
        self.config = config
        for component in (self.cell, self.fencer, self.fence_checks, self.store,
                          self.local_services, self.disk):
            component.reconfigure(config)
        self.pacing.mark()
        self.pause.token_s = config.timing.token_ms / 1000.0
        with self.lock:
            self.detector.token_s = config.timing.token_ms / 1000.0
        if self.net is not None:
            self.net.retime(config.timing.heartbeat_ms / 1000.0, config.config_version,
                            config.timing.token_ms / 1000.0)
        self.events.add(EventKind.CONFIG, node=self.local.name,
                        detail=f"configuration version {config.config_version} loaded")
        return f"configuration reloaded (version {config.config_version})"


def _nothing() -> None:
    """The default after-cycle hook."""
