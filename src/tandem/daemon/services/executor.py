"""The services of the local node: probing at start, starting and stopping them in
order, monitoring them, and reporting exactly what runs here.

This module decides nothing: what to start, stop, restart or adopt comes from the
decision core as actions (`carry_out`); what it reports (`report`, `facts`) is what the
next decision is based on. Every operation runs as a task of its own, so the engine's
loop (and the heartbeats) never wait for an agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from tandem.common.events import RESOURCE_KINDS, EventKind
from tandem.config import ClusterConfig
from tandem.config.model import ResourceDef, ServiceDef
from tandem.daemon.clock import Clock, RealClock
from tandem.daemon.events import EventLog
from tandem.daemon.services.storage import StorageErrors, devices_of
from tandem.manager.actions import Adopt, Recover, Restart, ServiceAction, Start, Stop
from tandem.manager.local import FOUND_RUNNING
from tandem.manager.model import LocalState, NodeReport, ServiceReport
from tandem.manager.view import LocalFacts
from tandem.resources.base import AgentResult, ResourceAgent, timed
from tandem.system.blockdev import DevNum

log = logging.getLogger("tandemd.services")

MAX_RESTART_HISTORY = 20
Agents = list[tuple[ResourceDef, ResourceAgent]]
AgentFactory = Callable[[ServiceDef], Agents]


@dataclass
class _Service:
    definition: ServiceDef
    agents: Agents
    report: ServiceReport = field(default_factory=ServiceReport)
    task: asyncio.Task[None] | None = None
    monitors: list[asyncio.Task[None]] = field(default_factory=list)
    pending: ServiceDef | None = None  # a new definition, applied once it is stopped
    removed: bool = False  # no longer configured: dropped once it is stopped

    @property
    def busy(self) -> bool:
        return self.task is not None and not self.task.done()


def build_agents(svc: ServiceDef) -> Agents:
    """One bound agent per resource (parameters were checked at config load)."""
    from tandem.resources.registry import get_agent

    return [(res, get_agent(res.agent).create(res.name, dict(res.params)))
            for res in svc.resources]


class LocalServices:
    """Runs this node's share of the services."""

    def __init__(self, config: ClusterConfig, node: str, events: EventLog,
                 on_change: Callable[[], None], *, clock: Clock | None = None,
                 agents: AgentFactory = build_agents) -> None:
        self.node = node
        self.events = events
        self.on_change = on_change
        self.clock = clock or RealClock()
        self.build = agents
        self.probed = False
        self.services = {s.name: _Service(s, agents(s)) for s in config.services}
        self.frozen: frozenset[str] = frozenset()  # monitors do not act on these
        self.storage = StorageErrors()

    # -- configuration changes ------------------------------------------------------------------
    def reconfigure(self, config: ClusterConfig) -> None:
        """Adopt a new set of service definitions. Services that are not running here
        change at once; running ones keep their old definition until they stop (a
        removed one is stopped now)."""
        new = {s.name: s for s in config.services}
        for name, svc in list(self.services.items()):
            if name not in new:
                svc.removed = True
                if svc.report.state.active and not svc.busy:
                    self._run(svc, self._stop(svc, "removed from the configuration"))
                elif not svc.report.state.active:
                    del self.services[name]
        for name, definition in new.items():
            current = self.services.get(name)
            if current is None:
                self.services[name] = _Service(definition, self.build(definition))
            elif current.definition != definition:
                current.pending = definition
                self._apply_pending(current)
        self.on_change()

    def _apply_pending(self, svc: _Service) -> None:
        if svc.report.state.active or svc.busy:
            return
        name = svc.definition.name
        if svc.removed:
            self.services.pop(name, None)
        elif svc.pending is not None:
            svc.definition, svc.agents = svc.pending, self.build(svc.pending)
            svc.pending = None

    # -- reporting ---------------------------------------------------------------------------
    def report(self) -> NodeReport:
        return NodeReport(self.probed, {n: s.report for n, s in self.services.items()})

    def facts(self) -> Mapping[str, LocalFacts]:
        """What the decision must know beyond the report: operations running, services
        that are only being removed."""
        return {n: LocalFacts(busy=s.busy, removed=s.removed)
                for n, s in self.services.items() if s.busy or s.removed}

    def _set(self, svc: _Service, state: LocalState, *, gen: int | None = None,
             error: str | None = None, restarted: bool = False) -> None:
        old = svc.report
        restarts = old.restarts
        if restarted:
            restarts = (*restarts, self.clock.time())[-MAX_RESTART_HISTORY:]
        cause = self.storage.cause(svc.definition.name, self.clock.time()) \
            if state == LocalState.FAILED else ""
        svc.report = ServiceReport(state, old.gen if gen is None else gen, self.clock.time(),
                                   old.error if error is None else error, restarts, cause)
        if old.state != state:
            self.events.add(EventKind.LOCAL_SERVICE, node=self.node, service=svc.definition.name,
                            detail=f"{old.state.value} -> {state.value}"
                                   + (f": {error}" if error else ""), state=state.value)
        self.on_change()

    @property
    def holding(self) -> bool:
        """Whether this node may still hold any service's resources."""
        return self.busy or any(s.report.state.active for s in self.services.values())

    @property
    def busy(self) -> bool:
        return any(s.busy for s in self.services.values())

    # -- probing --------------------------------------------------------------------------------
    async def probe(self) -> None:
        """Find out what already runs here (after a daemon restart); clean up halves."""
        await asyncio.gather(*(self._probe_one(s) for s in self.services.values()))
        self.probed = True
        self.on_change()

    async def _probe_one(self, svc: _Service) -> None:
        results = [await timed("status", agent, res.timeouts.get("status"))
                   for res, agent in svc.agents]
        running = [r.running for r in results]
        if all(running):
            self._set(svc, LocalState.STARTED, gen=FOUND_RUNNING, error="")
            self.events.add(EventKind.PROBE, node=self.node, service=svc.definition.name,
                            detail="found running")
        elif any(running) or any(not r.running and not r.stopped for r in results):
            self.events.add(EventKind.PROBE, node=self.node, service=svc.definition.name,
                            detail="found partly running: stopping it")
            await self._stop_resources(svc, "cleanup after probe")

    # -- carrying out the decisions --------------------------------------------------------------
    def carry_out(self, action: ServiceAction) -> None:
        """Begin one decided operation (the decision checked it is safe and due)."""
        svc = self.services.get(action.service)
        if svc is None or svc.busy:
            log.warning("%s dropped: the service is unknown or busy", action)
            return
        match action:
            case Start(gen=gen):
                self._run(svc, self._start(svc, gen))
            case Recover(gen=gen):
                self._run(svc, self._start(svc, gen, restarted=True))
            case Restart(gen=gen):
                self._run(svc, self._restart(svc, gen))
            case Stop(reason=reason):
                self._run(svc, self._stop(svc, reason))
            case Adopt(gen=gen):
                if svc.report.gen == FOUND_RUNNING:
                    svc.report = replace(svc.report, gen=gen)
                    self._start_monitors(svc)
                    self.on_change()

    def _run(self, svc: _Service, coro: asyncio.Future[None] | object) -> None:
        svc.task = asyncio.get_running_loop().create_task(coro,  # type: ignore[arg-type]
                                                          name=f"svc-{svc.definition.name}")
        svc.task.add_done_callback(lambda _: self._settled(svc))

    def _settled(self, svc: _Service) -> None:
        if svc.pending is not None or svc.removed:
            self._apply_pending(svc)
        self.on_change()

    # -- operations --------------------------------------------------------------------------------
    async def _start(self, svc: _Service, gen: int, restarted: bool = False) -> None:
        name = svc.definition.name
        self._set(svc, LocalState.STARTING, gen=gen, error="", restarted=restarted)
        started = self.clock.monotonic()
        for index, (res, agent) in enumerate(svc.agents):
            result = await self._action("start", svc, res, agent)
            if not result.ok:
                error = f"start of {res.name} failed: {result.message}"
                self.events.add(EventKind.SERVICE_FAILED, node=self.node, service=name,
                                detail=error)
                if await self._stop_resources(svc, "start failed", upto=index + 1):
                    self._set(svc, LocalState.FAILED, error=error)
                return
        self._set(svc, LocalState.STARTED)
        self.events.add(EventKind.SERVICE_STARTED, node=self.node, service=name,
                        detail=f"all resources started in "
                               f"{(self.clock.monotonic() - started) * 1000:.0f} ms",
                        duration_ms=round((self.clock.monotonic() - started) * 1000))
        self._start_monitors(svc)

    async def _stop(self, svc: _Service, why: str) -> None:
        self._stop_monitors(svc)
        if await self._stop_resources(svc, why):
            self._set(svc, LocalState.STOPPED, error="")

    async def _restart(self, svc: _Service, gen: int) -> None:
        self._stop_monitors(svc)
        if await self._stop_resources(svc, "restart requested"):
            await self._start(svc, gen)

    async def _stop_resources(self, svc: _Service, why: str, upto: int | None = None) -> bool:
        """Stop resources in reverse order; False (and STOP_FAILED) if any stop failed."""
        name = svc.definition.name
        self._set(svc, LocalState.STOPPING)
        started = self.clock.monotonic()
        agents = svc.agents[:upto] if upto is not None else svc.agents
        failures = []
        for res, agent in reversed(agents):
            result = await self._action("stop", svc, res, agent)
            if not result.ok:
                failures.append(f"stop of {res.name} failed: {result.message}")
        if failures:
            self._set(svc, LocalState.STOP_FAILED, error="; ".join(failures))
            self.events.add(EventKind.STOP_FAILED, node=self.node, service=name,
                            detail="; ".join(failures))
            return False
        took_ms = round((self.clock.monotonic() - started) * 1000)
        self.events.add(EventKind.SERVICE_STOPPED, node=self.node, service=name,
                        detail=f"{why}; stopped in {took_ms} ms", duration_ms=took_ms)
        return True

    async def _action(self, action: str, svc: _Service, res: ResourceDef,
                      agent: ResourceAgent) -> AgentResult:
        result = await timed(action, agent, res.timeouts.get(action))
        self.events.add(RESOURCE_KINDS[action], node=self.node, service=svc.definition.name,
                        detail=f"{res.name} ({res.agent}) "
                               f"{'ok' if result.ok else 'FAILED'} in "
                               f"{result.duration_s * 1000:.0f} ms"
                               + (f": {result.message}" if result.message and not result.ok
                                  else ""),
                        resource=res.name, ok=result.ok,
                        duration_ms=round(result.duration_s * 1000))
        return result

    # -- monitoring --------------------------------------------------------------------------------
    def _start_monitors(self, svc: _Service) -> None:
        self._stop_monitors(svc)
        loop = asyncio.get_running_loop()
        for res, agent in svc.agents:
            if res.monitor_interval_s > 0:
                svc.monitors.append(loop.create_task(self._monitor(svc, res, agent),
                                                     name=f"mon-{res.name}"))

    def _stop_monitors(self, svc: _Service) -> None:
        current = asyncio.current_task()
        for task in svc.monitors:
            if task is not current:
                task.cancel()
        svc.monitors.clear()

    async def _monitor(self, svc: _Service, res: ResourceDef, agent: ResourceAgent) -> None:
        while True:
            await asyncio.sleep(res.monitor_interval_s)
            if svc.definition.name in self.frozen or svc.report.state != LocalState.STARTED:
                continue
            result = await timed("monitor", agent, res.timeouts.get("monitor"))
            if result.ok or svc.definition.name in self.frozen:
                continue
            if svc.busy:
                continue
            error = f"monitor of {res.name} failed: {result.message or result.code.name}"
            self.events.add(EventKind.MONITOR_FAILED, node=self.node, service=svc.definition.name,
                            detail=error)
            self._run(svc, self._fail(svc, error))
            return

    async def _fail(self, svc: _Service, error: str, why: str = "monitor failed") -> None:
        self._stop_monitors(svc)
        if await self._stop_resources(svc, why):
            self._set(svc, LocalState.FAILED, error=error)

    # -- back-end storage errors -------------------------------------------------------------------
    def storage_error(self, device: DevNum, detail: str) -> list[str]:
        """An I/O error on `device`: every service here that stands on it is failed
        (marked as the storage's failure, so it relocates rather than restarts); one
        that is starting or stopping is marked, and the outcome of that operation
        carries the mark. Frozen services are left alone. Returns the services
        concerned."""
        self.storage.reported += 1
        concerned = []
        for name, svc in self.services.items():
            if not (svc.report.state.active or svc.busy):
                continue
            if device not in devices_of(agent for _, agent in svc.agents):
                continue
            concerned.append(name)
            self.storage.note(name, self.clock.time())
            frozen = name in self.frozen
            act = svc.report.state == LocalState.STARTED and not svc.busy and not frozen
            self.events.add(EventKind.STORAGE_ERROR, node=self.node, service=name,
                            detail=detail + (": moving the service" if act else
                                             " (frozen: no action)" if frozen else
                                             f" (service {svc.report.state.value})"))
            if act:
                self._run(svc, self._fail(svc, f"storage error: {detail}", "storage error"))
        if concerned:
            self.storage.relevant += 1
        return concerned

    async def stop_all(self, why: str) -> None:
        """Stop every service here (clean shutdown); waits for running operations."""
        for svc in self.services.values():
            if svc.busy and svc.task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await svc.task
        await asyncio.gather(*(self._stop(s, why) for s in self.services.values()
                               if s.report.state.active or s.report.state == LocalState.FAILED))
