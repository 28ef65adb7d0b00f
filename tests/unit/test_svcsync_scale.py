"""What keeps a large cell cheap: STATE leaves out services a node never ran, rounds
prompted by a burst of reports are batched (membership changes never wait), and the
placement looks only at reports that mention a service otherwise than stopped."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tandem.config.model import (
    ClusterConfig,
    DomainDef,
    NetworkDef,
    NodeDef,
    ResourceDef,
    ServiceDef,
)
from tandem.daemon.events import EventLog
from tandem.daemon.svcsync import Membership, ServiceSync
from tandem.daemon.sync import StateMessage, decode_state, encode_state
from tandem.manager.model import LocalState, NodeReport, ServiceReport
from tandem.manager.placement import held
from tandem.membership.ledger import NodeState


def _service(name: str) -> ServiceDef:
    return ServiceDef(name=name, resources=(ResourceDef(f"{name}-r", "dummy"),),
                      autostart=False, domain=DomainDef(nodes=(("n1", 1), ("n2", 2))))


CONFIG = ClusterConfig(name="c", key_file="/k", networks=(NetworkDef("a", 0),),
                       nodes=(NodeDef("n1", 1), NodeDef("n2", 2)),
                       services=tuple(_service(f"s{i}") for i in range(3)))
RUNNING = ServiceReport(LocalState.STARTED, gen=4, since=12.5)
STOPPED_AFTER_RUNNING = ServiceReport(LocalState.STOPPED, gen=4, since=13.0)


def test_state_leaves_out_services_never_run_here() -> None:
    report = NodeReport(True, {"a": RUNNING, "b": ServiceReport(), "c": STOPPED_AFTER_RUNNING})
    decoded = decode_state(encode_state(StateMessage(report)))
    assert decoded.report.services == {"a": RUNNING, "c": STOPPED_AFTER_RUNNING}
    assert decoded.report.get("b") == ServiceReport()  # absent reads as never run


def test_held_keeps_only_reports_that_mention_a_service() -> None:
    reports = {1: NodeReport(True, {"a": RUNNING, "b": STOPPED_AFTER_RUNNING}),
               2: NodeReport(True, {"a": ServiceReport(LocalState.STOP_FAILED)})}
    assert held(reports) == {"a": reports}


def _membership(now: float, members: frozenset[int]) -> Membership:
    return Membership(now=now, members=members, quorate=True, coordinator=2,
                      states={1: NodeState.ONLINE, 2: NodeState.ONLINE},
                      online_since={1: 0.0, 2: 0.0}, fenceable=frozenset({1, 2}))


def test_rounds_prompted_by_reports_are_batched(tmp_path: Path) -> None:
    async def scenario() -> tuple[bool, bool, bool, int]:
        woken: list[int] = []
        sync = ServiceSync(CONFIG, 1, tmp_path, EventLog(), lambda: woken.append(1))
        both = frozenset({1, 2})
        sync.round(_membership(100.0, both))
        sync._next_round = 100.5  # the last round was costly: the next one waits
        sync.dirty = True
        sync.round(_membership(100.1, both))
        deferred = sync.dirty
        sync.round(_membership(100.2, frozenset({1})))  # membership: at once
        immediate = not sync.dirty
        sync._next_round = 0.0
        sync.dirty = True
        sync.round(_membership(100.3, frozenset({1})))
        later = not sync.dirty
        await asyncio.sleep(0.45)  # the deferred round asked for a tick when due
        return deferred, immediate, later, len(woken)

    deferred, immediate, later, woken = asyncio.run(scenario())
    assert deferred and immediate and later
    assert woken >= 1
