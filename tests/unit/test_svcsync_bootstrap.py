"""A coordinator that just booted takes over the placement its peers know instead of
deciding afresh: deciding afresh would replay operator requests carried out long ago
(e.g. the `-m node1` of the first `clusvcadm -e`) and move a running service."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tandem.config.model import (
    ClusterConfig,
    DomainDef,
    NetworkDef,
    NodeDef,
    ResourceDef,
    ServiceDef,
)
from tandem.daemon.services.store import PLACEMENT_WAIT_S, ServiceStore, newest_placement
from tandem.daemon.sync import StateMessage
from tandem.manager.model import Assignment, Intent, LocalState, NodeReport, ServiceReport
from tandem.manager.placement import ServiceView, decide_services
from tandem.membership.ledger import NodeState

BOTH = frozenset({1, 2})

WEB = ServiceDef(name="web", resources=(ResourceDef("r", "dummy"),), autostart=False,
                 domain=DomainDef(nodes=(("n1", 1), ("n2", 2)), restricted=True))
CONFIG = ClusterConfig(name="c", key_file="/k", networks=(NetworkDef("a", 0),),
                       nodes=(NodeDef("n1", 1), NodeDef("n2", 2)), services=(WEB,))
# n2 runs web (gen 5) since n1 crashed; the operator's old request targeted n1.
OLD_REQUEST = Intent(version=3, origin=1, enabled=True, target="n1")
RUNNING_ON_N2 = Assignment(node=2, gen=5, intent_seen=3)


def n2_state() -> StateMessage:
    report = NodeReport(True, {"web": ServiceReport(LocalState.STARTED, gen=5)})
    return StateMessage(report, {"web": OLD_REQUEST}, {"web": RUNNING_ON_N2})


def sync_for_n1(tmp_path: Path) -> ServiceStore:
    return ServiceStore(CONFIG, 1, tmp_path)


def test_booted_coordinator_adopts_the_peers_placement(tmp_path: Path) -> None:
    sync = sync_for_n1(tmp_path)
    sync.incoming(2, n2_state(), coordinator=1)
    assert sync.placement == {"web": RUNNING_ON_N2}
    assert sync.intents["web"] == OLD_REQUEST


def test_placement_of_a_non_coordinator_is_only_a_starting_point(tmp_path: Path) -> None:
    for coordinator in (None, 3):  # not known yet (just booted), or someone else
        sync = sync_for_n1(tmp_path)
        sync.incoming(2, n2_state(), coordinator=coordinator)
        assert sync.placement == {"web": RUNNING_ON_N2}
        assert not sync.placement_known  # not followed until a coordinator decides
    sync.incoming(3, StateMessage(NodeReport(True, {}), {}, {"web": Assignment(node=3, gen=4)},
                                  {"web": "note"}), coordinator=3)
    assert sync.placement == {"web": Assignment(node=3, gen=4)} and sync.placement_known


def test_new_coordinator_waits_for_members_state_bounded(tmp_path: Path) -> None:
    sync = sync_for_n1(tmp_path)
    assert sync.waiting_for_placement(10.0, True, BOTH)
    assert sync.waiting_for_placement(10.0 + PLACEMENT_WAIT_S / 2, True, BOTH)
    assert not sync.waiting_for_placement(10.1 + PLACEMENT_WAIT_S, True, BOTH)
    other = sync_for_n1(tmp_path)
    assert other.waiting_for_placement(10.0, True, BOTH)
    other.incoming(2, n2_state(), coordinator=1)
    assert not other.waiting_for_placement(10.1, True, BOTH)
    assert not sync_for_n1(tmp_path).waiting_for_placement(10.0, False, BOTH)


def test_newest_placement_keeps_the_later_decision() -> None:
    mine = {"web": Assignment(node=1, gen=7), "db": Assignment(node=1, gen=2)}
    theirs = {"web": RUNNING_ON_N2, "db": Assignment(node=2, gen=3),
              "new": Assignment(node=2, gen=1)}
    assert newest_placement(mine, theirs) == {"web": mine["web"], "db": theirs["db"],
                                              "new": theirs["new"]}


def test_adopted_placement_does_not_replay_the_old_request() -> None:
    reports = {1: NodeReport(True, {}), 2: n2_state().report}
    view = ServiceView(local_id=1, now=100.0, members=frozenset({1, 2}),
                       node_ids={"n1": 1, "n2": 2},
                       node_states={1: NodeState.ONLINE, 2: NodeState.ONLINE},
                       online_since={1: 0.0, 2: 0.0}, fenceable=frozenset({1, 2}),
                       reports=reports, intents={"web": OLD_REQUEST},
                       placement={"web": RUNNING_ON_N2})
    assert decide_services(CONFIG, view).placement["web"].node == 2
    fresh = decide_services(CONFIG, replace(view, placement={})).placement["web"]
    assert fresh.node == 0 and fresh.next == 1  # what adoption prevents: a move to n1


def test_a_report_of_the_current_life_survives_the_join(tmp_path: Path) -> None:
    """A peer's first STATE often arrives a few ms before we count it as a member: the
    join must not drop it (the coordinator would wait for the periodic repeat, 2 s), but
    a report of an earlier life must go."""
    store = sync_for_n1(tmp_path)
    store.incoming(2, n2_state(), coordinator=1, incarnation=50)
    assert not store.forget(2, 50) and 2 in store.reports  # joined: same life
    assert store.forget(2, 51) and 2 not in store.reports  # restarted: a new life
    store.incoming(2, n2_state(), coordinator=1, incarnation=52)
    assert store.forget(2) and 2 not in store.reports  # no life known: forget
