"""The coordinator rule and the fencing decisions, as tables (through the one decision:
`manager.decide.decide`, whose fencing part these rows drive)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tandem.config.model import ClusterConfig
from tandem.manager.actions import CancelFences, Fence, RefuseFence
from tandem.manager.coordinator import coordinator_of
from tandem.manager.decide import decide
from tandem.manager.view import CellView, FenceRequest, NodeFacts
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
         stopping: frozenset[int] = F(), requests: tuple[FenceRequest, ...] = ()) -> CellView:
    return CellView(local_id=1, now=now, quorate=quorate, coordinator=coordinator,
                    members=F(n for n, s in states.items() if s == S.ONLINE),
                    nodes={n: NodeFacts(s, retry_at, n not in unfenceable, n in stopping)
                           for n, s in states.items()},
                    names={n: f"n{n}" for n in states},
                    fencing=fencing, startup_grace_over=grace, fence_requests=requests)


CONFIG = ClusterConfig(name="c", key_file="/k")


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
def test_decide_fencing(what: str, node_view: CellView, fenced: list[int]) -> None:
    actions = decide(node_view, CONFIG)
    fences = [a for a in actions if isinstance(a, Fence)]
    assert fences == actions
    assert [a.node_id for a in fences] == fenced


OPERATOR, PEER = 0, 3
REQUEST_CASES = [
    # (what, view, origin, target, expected: "fence" or the start of the refusal)
    ("quorate member carries out an operator's request",
     view({1: S.ONLINE, 2: S.ONLINE}, coordinator=2), OPERATOR, 2, "fence"),
    ("a peer member's request", view({1: S.ONLINE, 2: S.ONLINE, 3: S.ONLINE}), PEER, 2,
     "fence"),
    ("not quorate: an operator is refused",
     view({1: S.ONLINE, 2: S.LOST}, quorate=False, coordinator=None), OPERATOR, 2,
     "this node is not quorate"),
    ("not quorate: a peer is refused",
     view({1: S.ONLINE, 2: S.ONLINE, 3: S.ONLINE}, quorate=False, coordinator=None), PEER,
     2, "this node is not quorate"),
    ("never the local node", view({1: S.ONLINE, 2: S.ONLINE}), OPERATOR, 1,
     "refusing to fence the local node"),
    ("a node without fence levels", view({1: S.ONLINE, 2: S.ONLINE}, unfenceable=F({2})),
     OPERATOR, 2, "n2 has no fence levels"),
    ("a peer that is not a member", view({1: S.ONLINE, 2: S.ONLINE, 3: S.LOST}), PEER, 2,
     "the asking node n3 is not a member"),
]


@pytest.mark.parametrize(("what", "node_view", "origin", "target", "expected"),
                         REQUEST_CASES, ids=[c[0] for c in REQUEST_CASES])
def test_fence_requests(what: str, node_view: CellView, origin: int, target: int,
                        expected: str) -> None:
    """DESIGN.md §2.2: a node without quorum refuses every fence request."""
    request = FenceRequest(7, target, origin, "asked")
    actions = decide(replace(node_view, fence_requests=(request,)), CONFIG)
    answers = [a for a in actions if isinstance(a, RefuseFence)
               or (isinstance(a, Fence) and a.request)]
    assert len(answers) == 1 and answers[0].node_id == target
    if expected == "fence":
        assert answers[0] == Fence(target, "asked", 7)
    else:
        assert isinstance(answers[0], RefuseFence) and answers[0].request == 7
        assert answers[0].why.startswith(expected)


def test_losing_quorum_cancels_running_fences() -> None:
    """DESIGN.md §2.2: a node that is not quorate stops the fences it runs."""
    lost_quorum = view({1: S.ONLINE, 2: S.FENCING, 3: S.LOST}, quorate=False,
                       coordinator=None, fencing=F({2}))
    assert decide(lost_quorum, CONFIG) == [CancelFences("this node lost quorum")]
    assert decide(replace(lost_quorum, fencing=F()), CONFIG) == []
    assert decide(replace(lost_quorum, quorate=True, coordinator=1), CONFIG) == [
        Fence(3, "lost: silent past the token timeout")]
