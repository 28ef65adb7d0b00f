"""Node states over time: a table of observations and the states they lead to."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tandem.membership.ledger import Ledger, NodeState

S = NodeState
Step = Callable[[Ledger], object]


def heard(inc: int) -> Step:
    return lambda ledger: ledger.observe(2, True, inc, 1.0)


def silent() -> Step:
    return lambda ledger: ledger.observe(2, False, None, 2.0)


def one_way() -> Step:
    """Heard, but the peer says it does not hear us."""
    return lambda ledger: ledger.observe(2, False, 10, 2.0, alive=True)


def fencing() -> Step:
    return lambda ledger: ledger.fencing_started(2, 3.0)


def fenced() -> Step:
    return lambda ledger: ledger.fence_succeeded(2, 4.0)


def failed() -> Step:
    return lambda ledger: ledger.fence_failed(2, 4.0, 5.0, "unreachable")


def heard_at(inc: int, when: float) -> Step:
    """Observed at 5.0 as a member whose last heartbeat arrived at `when`."""
    return lambda ledger: ledger.observe(2, True, inc, 5.0, heard_at=when)


def fenced_while_online() -> Step:
    """A failed stop: the node is fenced while still in contact (fence done at 4.0)."""
    return lambda ledger: (ledger.fencing_started(2, 3.0), ledger.fence_succeeded(2, 4.0))


def left() -> Step:
    return lambda ledger: ledger.left(2, 5.0)


def peer_fenced(inc: int) -> Step:
    return lambda ledger: ledger.adopt_fence(2, inc, 9.0, 6.0)


CASES = [
    ("never heard", [], S.UNKNOWN),
    ("joins", [heard(10)], S.ONLINE),
    ("goes silent", [heard(10), silent()], S.LOST),
    ("unknown stays unknown when silent", [silent()], S.UNKNOWN),
    ("heard one way only: not lost (the peer is the one to act)", [heard(10), one_way()],
     S.ONLINE),
    ("fencing", [heard(10), silent(), fencing()], S.FENCING),
    ("fenced", [heard(10), silent(), fencing(), fenced()], S.FENCED),
    ("fence failed", [heard(10), silent(), fencing(), failed()], S.UNCLEAN),
    ("stalled node heard again stays suspect", [heard(10), silent(), heard(10)], S.LOST),
    ("unclean heard again stays unclean",
     [heard(10), silent(), fencing(), failed(), heard(10)], S.UNCLEAN),
    ("restarted node is online again", [heard(10), silent(), heard(11)], S.ONLINE),
    ("fenced then rebooted", [heard(10), silent(), fencing(), fenced(), heard(11)], S.ONLINE),
    ("heard after fence without restart: the device lied",
     [heard(10), silent(), fencing(), fenced(), heard(10)], S.UNCLEAN),
    ("heartbeats from before the power-off are not a lie",
     [heard(10), fenced_while_online(), heard_at(10, 3.9)], S.FENCED),
    ("within the in-flight grace", [heard(10), fenced_while_online(), heard_at(10, 4.1)],
     S.FENCED),
    ("heard well after the power-off: the device lied",
     [heard(10), fenced_while_online(), heard_at(10, 4.5)], S.UNCLEAN),
    ("peer's fence, then heartbeats older than our news",
     [heard(10), silent(), peer_fenced(10), heard_at(10, 5.5)], S.FENCED),
    ("clean leave", [heard(10), left()], S.OFFLINE),
    ("back after a clean leave", [heard(10), left(), heard(11)], S.ONLINE),
    ("late heartbeats after a leave", [heard(10), left(), heard(10)], S.OFFLINE),
    ("peer's fence report adopted", [heard(10), silent(), peer_fenced(10)], S.FENCED),
    ("stale fence report of an older life ignored",
     [heard(10), silent(), heard(11), silent(), peer_fenced(10)], S.LOST),
    ("fence report ignored for an online node", [heard(10), peer_fenced(10)], S.ONLINE),
]


@pytest.mark.parametrize(("what", "steps", "final"), CASES, ids=[c[0] for c in CASES])
def test_ledger(what: str, steps: list[Step], final: NodeState) -> None:
    ledger = Ledger.create(1, [1, 2], 0.0, local_incarnation=5)
    for step in steps:
        step(ledger)
    assert ledger.state(2) == final
    assert ledger.state(1) == S.ONLINE


def test_transitions_carry_times_and_notes() -> None:
    ledger = Ledger.create(1, [1, 2], 0.0, local_incarnation=5)
    assert [(t.old, t.new) for t in ledger.observe(2, True, 10, 1.0)] == [(S.UNKNOWN, S.ONLINE)]
    lost = ledger.observe(2, False, None, 2.5)
    assert len(lost) == 1 and lost[0].at == 2.5 and "token" in lost[0].note
    assert ledger.observe(2, False, None, 3.0) == []  # no repeated transitions
    ledger.fencing_started(2, 3.0)
    ledger.fence_succeeded(2, 3.2)
    assert ledger.fenced_records() == {2: (10, 3.2)}


def test_a_node_fenced_before_it_was_ever_heard_may_boot_again() -> None:
    """Startup fencing powers off a node never heard since this daemon started. When it
    is powered on again, its first heartbeat comes from a life that began after the
    power-off (its incarnation is its start time): admit it. A life that began before
    (the fence device lied: it never went off) stays unclean, as for any other node."""
    booted = Ledger.create(1, [1, 2], 0.0, local_incarnation=5)
    booted.fencing_started(2, 5.0)
    booted.fence_succeeded(2, 5.5, wall=1000.0)
    later = int((1000.0 + 3.0) * 1e9)
    changes = booted.observe(2, True, later, 9.0, heard_at=9.0)
    assert [(t.old, t.new, t.note) for t in changes] == [
        (S.FENCED, S.ONLINE, "booted after being fenced")]
    lied = Ledger.create(1, [1, 2], 0.0, local_incarnation=5)
    lied.fencing_started(2, 5.0)
    lied.fence_succeeded(2, 5.5, wall=1000.0)
    before = int((1000.0 - 30.0) * 1e9)
    assert lied.observe(2, True, before, 9.0, heard_at=9.0)[0].new == S.UNCLEAN
    within_margin = Ledger.create(1, [1, 2], 0.0, local_incarnation=5)
    within_margin.fencing_started(2, 5.0)
    within_margin.fence_succeeded(2, 5.5, wall=1000.0)
    assert within_margin.observe(2, True, int(1000.5e9), 9.0,
                                 heard_at=9.0)[0].new == S.UNCLEAN
