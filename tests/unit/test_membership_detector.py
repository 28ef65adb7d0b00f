"""Failure detector tables: ring loss versus node loss, asymmetric hearing, timing edges."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tandem.membership import FailureDetector, MembershipError, RingState

UP, DEG, DOWN, UNK = RingState.UP, RingState.DEGRADED, RingState.DOWN, RingState.UNKNOWN
TOKEN = 1.0
BOTH = frozenset({1, 2})
ALL3 = frozenset({1, 2, 3})


@dataclass(frozen=True)
class Case:
    """Heartbeats (peer, ring, time, ids the peer hears) and the verdict at `now`."""

    name: str
    peers: tuple[int, ...]
    heard: tuple[tuple[int, int, float, frozenset[int] | None], ...]
    now: float
    alive: frozenset[int]
    members: frozenset[int]
    rings: dict[int, RingState]
    degraded: bool


CASES = [
    Case("two nodes, both rings fine", (2,),
         ((2, 0, 9.5, BOTH), (2, 1, 9.5, BOTH)), 10.0,
         frozenset({2}), BOTH, {0: UP, 1: UP}, False),
    Case("ring 1 lost: degraded redundancy, not node loss", (2,),
         ((2, 0, 9.9, BOTH), (2, 1, 8.0, BOTH)), 10.0,
         frozenset({2}), BOTH, {0: UP, 1: DOWN}, True),
    Case("ring 0 lost instead", (2,),
         ((2, 0, 5.0, BOTH), (2, 1, 9.9, BOTH)), 10.0,
         frozenset({2}), BOTH, {0: DOWN, 1: UP}, True),
    Case("both rings silent: node loss, rings cannot be judged", (2,),
         ((2, 0, 8.0, BOTH), (2, 1, 8.5, BOTH)), 10.0,
         frozenset(), frozenset({1}), {0: UNK, 1: UNK}, False),
    Case("never heard at all", (2,), (), 10.0,
         frozenset(), frozenset({1}), {0: UNK, 1: UNK}, False),
    Case("heard exactly one token ago still counts", (2,),
         ((2, 0, 9.0, BOTH),), 10.0,
         frozenset({2}), BOTH, {0: UP, 1: DOWN}, True),
    Case("asymmetric: peer is heard but does not hear us", (2,),
         ((2, 0, 9.9, frozenset({2})), (2, 1, 9.9, frozenset({2}))), 10.0,
         frozenset({2}), frozenset({1}), {0: UP, 1: UP}, False),
    Case("hearing list only from a heartbeat; other messages keep it", (2,),
         ((2, 0, 9.0, BOTH), (2, 0, 9.8, None), (2, 1, 9.8, None)), 10.0,
         frozenset({2}), BOTH, {0: UP, 1: UP}, False),
    Case("hearing list older than the token no longer counts", (2,),
         ((2, 0, 8.5, BOTH), (2, 0, 9.8, None), (2, 1, 9.8, None)), 10.0,
         frozenset({2}), frozenset({1}), {0: UP, 1: UP}, False),
    Case("latest hearing list wins", (2,),
         ((2, 0, 9.5, BOTH), (2, 1, 9.6, frozenset({2}))), 10.0,
         frozenset({2}), frozenset({1}), {0: UP, 1: UP}, False),
    Case("late-arriving older heartbeat does not override a newer one", (2,),
         ((2, 0, 9.6, frozenset({2})), (2, 1, 9.5, BOTH)), 10.0,
         frozenset({2}), frozenset({1}), {0: UP, 1: UP}, False),
    Case("three nodes: one peer silent on ring 1 only", (2, 3),
         ((2, 0, 9.9, ALL3), (3, 0, 9.9, ALL3), (3, 1, 9.9, ALL3)), 10.0,
         frozenset({2, 3}), ALL3, {0: UP, 1: DEG}, True),
    Case("three nodes: one peer dead, other fine", (2, 3),
         ((2, 0, 5.0, ALL3), (2, 1, 5.0, ALL3), (3, 0, 9.9, ALL3), (3, 1, 9.9, ALL3)), 10.0,
         frozenset({3}), frozenset({1, 3}), {0: UP, 1: UP}, False),
    Case("three nodes: 3 hears only 2, so only 2 is a member with us", (2, 3),
         ((2, 0, 9.9, ALL3), (2, 1, 9.9, ALL3), (3, 0, 9.9, frozenset({2, 3})),
          (3, 1, 9.9, frozenset({2, 3}))), 10.0,
         frozenset({2, 3}), frozenset({1, 2}), {0: UP, 1: UP}, False),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_detector_table(case: Case) -> None:
    detector = FailureDetector(1, case.peers, (0, 1), TOKEN)
    for peer, ring, when, sees in case.heard:
        detector.heard(peer, ring, when, sees)
    view = detector.evaluate(case.now)
    assert view.alive == case.alive
    assert view.members == case.members
    assert dict(view.rings) == case.rings
    assert view.redundancy_degraded is case.degraded


def test_peer_view_details() -> None:
    detector = FailureDetector(1, [2], [0, 1], TOKEN)
    detector.heard(2, 0, 3.0, BOTH, incarnation=7)
    detector.heard(2, 1, 2.8, BOTH, incarnation=5)  # a stale packet of an older life
    peer = detector.evaluate(3.5).peers[2]
    assert peer.last_heard == 3.0
    assert peer.incarnation == 7
    assert dict(peer.rings) == {0: True, 1: True}
    assert peer.member and not peer.degraded
    later = detector.evaluate(3.8 + TOKEN).peers[2]
    assert dict(later.rings) == {0: False, 1: False}
    assert not later.alive and not later.member and not later.hears_us
    assert later.last_heard == 3.0


def test_same_history_judged_at_different_times() -> None:
    detector = FailureDetector(1, [2], [0, 1], TOKEN)
    detector.heard(2, 0, 10.0, BOTH)
    detector.heard(2, 1, 10.4, BOTH)
    assert dict(detector.evaluate(10.9).rings) == {0: UP, 1: UP}
    assert dict(detector.evaluate(11.2).rings) == {0: DOWN, 1: UP}
    assert detector.evaluate(11.2).members == BOTH
    assert detector.evaluate(11.5).members == frozenset({1})


def test_a_peer_not_attached_to_a_ring_does_not_degrade_it() -> None:
    detector = FailureDetector(1, [2, 3], [0, 1], TOKEN, ring_peers={0: [2, 3], 1: [3]})
    for peer, ring in ((2, 0), (3, 0), (3, 1)):
        detector.heard(peer, ring, 5.0, ALL3)
    view = detector.evaluate(5.5)
    assert dict(view.rings) == {0: UP, 1: UP}
    assert dict(view.peers[2].rings) == {0: True}
    with pytest.raises(MembershipError, match="not configured on ring 1"):
        detector.heard(2, 1, 5.0, None)


@pytest.mark.parametrize(("args", "kwargs", "problem"), [
    ((1, [2], [0], 0.0), {}, "positive"),
    ((1, [2], [], 1.0), {}, "at least one ring"),
    ((1, [2], [0], 1.0), {"ring_peers": {0: [9]}}, "unknown peers"),
])
def test_bad_construction(args: tuple[object, ...], kwargs: dict[str, object],
                          problem: str) -> None:
    with pytest.raises(MembershipError, match=problem):
        FailureDetector(*args, **kwargs)  # type: ignore[arg-type]


def test_unknown_peer_is_refused_and_self_is_not_a_peer() -> None:
    detector = FailureDetector(1, [1, 2], [0], TOKEN)
    assert set(detector.evaluate(0.0).peers) == {2}
    with pytest.raises(MembershipError, match="unknown peer 3"):
        detector.heard(3, 0, 1.0, None)
    with pytest.raises(MembershipError, match="unknown peer 1"):
        detector.heard(1, 0, 1.0, None)


def test_single_node_cell() -> None:
    view = FailureDetector(1, [], [0], TOKEN).evaluate(100.0)
    assert view.members == frozenset({1})
    assert dict(view.rings) == {0: UNK}


def test_next_expiry_is_when_the_freshest_silence_runs_out() -> None:
    detector = FailureDetector(1, [2, 3], [0, 1], 1.0)
    assert detector.next_expiry(0.0) is None
    detector.heard(2, 0, 10.0, frozenset({1}))
    detector.heard(3, 1, 10.4, frozenset({1}))
    assert detector.next_expiry(10.5) == pytest.approx(11.0)
    assert detector.next_expiry(11.2) == pytest.approx(11.4)
    assert detector.next_expiry(12.0) is None
