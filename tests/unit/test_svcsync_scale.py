"""What keeps a large cell cheap: STATE leaves out services a node never ran, rounds
prompted by a burst of reports are batched (membership changes never wait), and the
placement looks only at reports that mention a service otherwise than stopped."""

from __future__ import annotations

from tandem.config.model import (
    ClusterConfig,
    DomainDef,
    NetworkDef,
    NodeDef,
    ResourceDef,
    ServiceDef,
)
from tandem.daemon.services.pacing import RoundPacing
from tandem.daemon.sync import StateMessage, decode_state, encode_state
from tandem.manager.model import LocalState, NodeReport, ServiceReport
from tandem.manager.placement import held


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


def test_rounds_prompted_by_reports_are_batched() -> None:
    pacing = RoundPacing()
    both, alone = frozenset({1, 2}), frozenset({1})
    assert pacing.due(100.0, both) == (True, None)
    pacing.begin(100.0)
    pacing.done(100.0, 0.125)  # a costly round: the next one prompted by reports waits
    pacing.mark()
    run, later = pacing.due(100.1, both)
    assert not run and later is not None and abs(later - 0.4) < 1e-9
    assert pacing.due(100.2, alone) == (True, None)  # a membership change: at once
    pacing.begin(100.2)
    pacing.done(100.2, 0.0)
    assert pacing.due(100.3, alone) == (False, None)  # nothing changed, not a second yet
    assert pacing.due(101.3, alone) == (True, None)  # the periodic full round
