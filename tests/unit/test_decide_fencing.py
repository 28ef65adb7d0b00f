"""The coordinator rule and the fencing decisions, as tables."""

from __future__ import annotations

import pytest

from tandem.manager.actions import Fence
from tandem.manager.decide import NodeFacts, NodeView, coordinator_of, decide_fencing
from tandem.membership.ledger import NodeState

S = NodeState
F = frozenset

COORDINATOR_CASES = [
    # (local, my members, members each peer reports, expected coordinator)
    ("alone", 1, F({1}), {}, 1),
    ("lowest and agreed", 1, F({1, 2, 3}), {2: F({1, 2, 3}), 3: F({1, 2, 3})}, 1),
    ("not lowest", 2, F({1, 2}), {1: F({1, 2})}, 1),
    ("peer not reported yet", 1, F({1, 2}), {}, None),
    # A(1) and B(2) cannot hear each other, both hear C(3): only A coordinates.
    ("asymmetric, A's view", 1, F({1, 3}), {3: F({1, 2, 3})}, 1),
    ("asymmetric, B's view", 2, F({2, 3}), {3: F({1, 2, 3})}, None),
    # C sees everyone; it follows the lowest id.
    ("asymmetric, C's view", 3, F({1, 2, 3}), {1: F({1, 3}), 2: F({2, 3})}, 1),
    ("empty", 1, F(), {}, None),
]


@pytest.mark.parametrize(("what", "local", "members", "reported", "expected"),
                         COORDINATOR_CASES, ids=[c[0] for c in COORDINATOR_CASES])
def test_coordinator(what: str, local: int, members: frozenset[int],
                     reported: dict[int, frozenset[int]], expected: int | None) -> None:
    assert coordinator_of(local, members, reported) == expected


def view(states: dict[int, NodeState], *, quorate: bool = True, coordinator: int | None = 1,
         fencing: frozenset[int] = F(), grace: bool = False, now: float = 100.0,
         retry_at: float = 0.0, unfenceable: frozenset[int] = F(),
         stopping: frozenset[int] = F()) -> NodeView:
    return NodeView(local_id=1, now=now, quorate=quorate, coordinator=coordinator,
                    nodes={n: NodeFacts(s, retry_at, n not in unfenceable, n in stopping)
                           for n, s in states.items()},
                    fencing=fencing, startup_grace_over=grace)


FENCE_CASES = [
    ("all online: nothing", view({1: S.ONLINE, 2: S.ONLINE}), []),
    ("lost peer is fenced", view({1: S.ONLINE, 2: S.LOST}), [2]),
    ("inquorate never fences", view({1: S.ONLINE, 2: S.LOST}, quorate=False), []),
    ("only the coordinator fences", view({1: S.ONLINE, 2: S.LOST}, coordinator=3), []),
    ("no coordinator agreed: nobody fences", view({1: S.ONLINE, 2: S.LOST},
                                                  coordinator=None), []),
    ("already fencing: not twice", view({1: S.ONLINE, 2: S.FENCING}, fencing=F({2})), []),
    ("lost while a fence runs: not twice", view({1: S.ONLINE, 2: S.LOST}, fencing=F({2})),
     []),
    ("unclean before its retry time", view({1: S.ONLINE, 2: S.UNCLEAN}, retry_at=150.0), []),
    ("unclean at its retry time", view({1: S.ONLINE, 2: S.UNCLEAN}, retry_at=100.0), [2]),
    ("fenced stays fenced", view({1: S.ONLINE, 2: S.FENCED}), []),
    ("clean leave is not fenced", view({1: S.ONLINE, 2: S.OFFLINE}), []),
    ("unknown during startup grace", view({1: S.ONLINE, 2: S.UNKNOWN}), []),
    ("unknown after startup grace", view({1: S.ONLINE, 2: S.UNKNOWN}, grace=True), [2]),
    ("no fence levels: cannot fence", view({1: S.ONLINE, 2: S.LOST},
                                           unfenceable=F({2})), []),
    ("several lost, in id order", view({1: S.ONLINE, 3: S.LOST, 2: S.LOST}), [2, 3]),
    ("never the local node", view({1: S.LOST, 2: S.ONLINE}), []),
    # The quorum disk shows a lost node alive and still stopping its services.
    ("lost, stopping on disk: wait", view({1: S.ONLINE, 2: S.LOST}, stopping=F({2})), []),
    ("only the stopping one waits", view({1: S.ONLINE, 2: S.LOST, 3: S.LOST},
                                         stopping=F({2})), [3]),
    ("unclean is not waited for", view({1: S.ONLINE, 2: S.UNCLEAN}, stopping=F({2})), [2]),
]


@pytest.mark.parametrize(("what", "node_view", "fenced"), FENCE_CASES,
                         ids=[c[0] for c in FENCE_CASES])
def test_decide_fencing(what: str, node_view: NodeView, fenced: list[int]) -> None:
    actions = decide_fencing(node_view)
    assert all(isinstance(a, Fence) for a in actions)
    assert [a.node_id for a in actions] == fenced
