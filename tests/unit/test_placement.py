"""The coordinator's placement decisions, case by case (no I/O)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tandem.config.model import (
    ClusterConfig,
    DomainDef,
    NetworkDef,
    NodeDef,
    ResourceDef,
    ServiceDef,
)
from tandem.manager.display import show_service
from tandem.manager.local import reconcile
from tandem.manager.model import Assignment, Intent, LocalState, NodeReport, ServiceReport
from tandem.manager.placement import CELL_LOCK, LOCKED_NOTE, ServiceView, decide_services
from tandem.membership.ledger import NodeState

S = NodeState
L = LocalState
NOW = 1000.0


def service(**kw: object) -> ServiceDef:
    base = ServiceDef(name="web", resources=(ResourceDef("r", "dummy"),),
                      domain=DomainDef(nodes=(("n1", 1), ("n2", 2)), restricted=True))
    return replace(base, **kw)  # type: ignore[arg-type]


def config(*services: ServiceDef, nodes: int = 3) -> ClusterConfig:
    return ClusterConfig(name="c", key_file="/k", networks=(NetworkDef("a", 0),),
                         nodes=tuple(NodeDef(f"n{i}", i) for i in range(1, nodes + 1)),
                         services=services or (service(),))


def reports(**by_node: LocalState | tuple[LocalState, int] | None) -> dict[int, NodeReport]:
    """reports(n1=L.STARTED, n2=(L.FAILED, 3)) -> NodeReport per node id."""
    found = {}
    for name, value in by_node.items():
        node = int(name[1:])
        if value is None:
            found[node] = NodeReport(probed=False)
            continue
        state, gen = value if isinstance(value, tuple) else (value, 1)
        found[node] = NodeReport(True, {"web": ServiceReport(state, gen)})
    return found


def view(states: dict[int, NodeState], node_reports: dict[int, NodeReport], *,
         placement: Assignment | None = None, intent: Intent | None = None,
         restarts: tuple[float, ...] = (), online_since: float = 0.0) -> ServiceView:
    members = frozenset(n for n, s in states.items() if s == S.ONLINE)
    if restarts:
        node_reports = {n: NodeReport(r.probed, {k: replace(v, restarts=restarts)
                                                 for k, v in r.services.items()})
                        for n, r in node_reports.items()}
    return ServiceView(local_id=1, now=NOW, members=members,
                       node_ids={f"n{i}": i for i in states}, node_states=states,
                       online_since=dict.fromkeys(states, online_since),
                       fenceable=frozenset(states), reports=node_reports,
                       intents={"web": intent} if intent else {},
                       placement={"web": placement} if placement else {})


ALL_UP = {1: S.ONLINE, 2: S.ONLINE, 3: S.ONLINE}


def decide(v: ServiceView, cfg: ClusterConfig | None = None) -> tuple[Assignment, list[int],
                                                                       str]:
    decision = decide_services(cfg or config(), v)
    return (decision.placement["web"], [f.node_id for f in decision.fences],
            decision.notes.get("web", ""))


def test_fresh_cell_starts_on_most_preferred() -> None:
    a, fences, _ = decide(view(ALL_UP, reports(n1=L.STOPPED, n2=L.STOPPED, n3=L.STOPPED)))
    assert (a.node, fences) == (1, []) and a.gen > 1  # above every generation reported


def test_unprobed_member_blocks_start() -> None:
    a, _, note = decide(view(ALL_UP, reports(n1=L.STOPPED, n2=L.STOPPED, n3=None)))
    assert a.node == 0 and "n3" in note


def test_lost_owner_blocks_until_fenced() -> None:
    states = {1: S.LOST, 2: S.ONLINE, 3: S.ONLINE}
    placed = Assignment(node=1, gen=4)
    rep = reports(n1=(L.STARTED, 4), n2=L.STOPPED, n3=L.STOPPED)
    a, _, note = decide(view(states, rep, placement=placed))
    assert a == placed and "fenced" in note
    states[1] = S.FENCING
    assert decide(view(states, rep, placement=placed))[0] == placed
    states[1] = S.FENCED
    moved, _, _ = decide(view(states, rep, placement=placed))
    assert moved.node == 2 and moved.gen > placed.gen  # fenced: moves in the same round


def test_lost_node_that_never_had_it_does_not_block() -> None:
    states = {1: S.ONLINE, 2: S.ONLINE, 3: S.LOST}
    a, _, _ = decide(view(states, reports(n1=L.STOPPED, n2=L.STOPPED, n3=L.STOPPED)))
    assert a.node == 1


def test_unclean_node_that_had_it_blocks_forever() -> None:
    states = {1: S.UNCLEAN, 2: S.ONLINE, 3: S.ONLINE}
    rep = reports(n1=(L.STARTED, 2), n2=L.STOPPED, n3=L.STOPPED)
    a, _, _ = decide(view(states, rep, placement=Assignment(node=1, gen=2)))
    assert a.node == 1  # still assigned to the unclean node: nothing moves


def test_failed_stop_fences_and_never_starts_elsewhere() -> None:
    rep = reports(n1=(L.STOP_FAILED, 2), n2=L.STOPPED, n3=L.STOPPED)
    a, fences, note = decide(view(ALL_UP, rep, placement=Assignment(node=1, gen=2)))
    assert fences == [1] and a.node == 0 and note.startswith("blocked")
    again, fences, _ = decide(view(ALL_UP, rep, placement=a))
    assert again.node == 0 and fences == [1]


def test_failed_stop_node_fenced_but_still_in_token_window() -> None:
    """Fenced while its last heartbeats still make it a member: no second fence, and the
    service is free (a fenced node runs nothing)."""
    rep = reports(n1=(L.STOP_FAILED, 2), n2=L.STOPPED, n3=L.STOPPED)
    for state, owner in ((S.FENCING, 0), (S.FENCED, 2)):
        states = {1: state, 2: S.ONLINE, 3: S.ONLINE}
        v = replace(view(states, rep, placement=Assignment(node=0, gen=2)),
                    members=frozenset({1, 2, 3}))
        a, fences, _ = decide(v)
        assert fences == [] and a.node == owner, state


def test_monitor_failure_restarts_in_place_then_relocates() -> None:
    cfg = config(service(max_restarts=2, restart_window_s=60))
    rep = reports(n1=(L.FAILED, 3), n2=L.STOPPED, n3=L.STOPPED)
    placed = Assignment(node=1, gen=3)
    a, _, note = decide(view(ALL_UP, rep, placement=placed, restarts=(NOW - 10,)), cfg)
    assert (a.node, a.gen) == (1, 4) and "restarting" in note
    a, _, note = decide(view(ALL_UP, rep, placement=placed,
                             restarts=(NOW - 10, NOW - 5)), cfg)
    assert a.node == 2 and 1 in a.avoid and "relocating" in note
    old = decide(view(ALL_UP, rep, placement=placed, restarts=(NOW - 100, NOW - 90)), cfg)[0]
    assert old.node == 1  # restarts outside the window do not count


def test_node_loss_after_a_failure_relocation_may_go_back() -> None:
    """web failed on n2 and was relocated to n1 (n2 avoided); n1 is then fenced: n2 is
    the only node left and must take it (a node loss is not a service failure)."""
    states = {1: S.FENCED, 2: S.ONLINE}
    rep = reports(n1=None, n2=L.STOPPED)
    a, _, note = decide(view(states, rep, placement=Assignment(node=1, gen=6,
                                                               avoid=frozenset({2}))),
                        config(nodes=2))
    assert a.node == 2 and a.avoid == frozenset(), note


def test_recovery_relocate_and_disable() -> None:
    rep = reports(n1=(L.FAILED, 3), n2=L.STOPPED, n3=L.STOPPED)
    placed = Assignment(node=1, gen=3)
    a, _, _ = decide(view(ALL_UP, rep, placement=placed), config(service(recovery="relocate")))
    assert a.node == 2 and a.avoid == {1}
    decision = decide_services(config(service(recovery="disable")),
                               view(ALL_UP, rep, placement=placed))
    assert decision.placement["web"].node == 0
    assert decision.intents["web"].enabled is False


def test_restricted_domain_never_uses_other_nodes() -> None:
    states = {1: S.FENCED, 2: S.FENCED, 3: S.ONLINE}
    a, _, note = decide(view(states, reports(n3=L.STOPPED)))
    assert a.node == 0 and "no eligible" in note
    loose = config(service(domain=DomainDef(nodes=(("n1", 1),), restricted=False)))
    b, _, _ = decide(view(states, reports(n3=L.STOPPED)), loose)
    assert b.node == 3


@pytest.mark.parametrize(("failback", "delay", "since", "expected"), [
    (False, 0.0, 0.0, 2),       # the preferred node is back: stay put
    (True, 0.0, 0.0, 0),        # failback: stop on n2 (then start on n1)
    (True, 30.0, NOW - 10, 2),  # failback delay not yet over
    (True, 30.0, NOW - 60, 0),  # delay over
])
def test_failback(failback: bool, delay: float, since: float, expected: int) -> None:
    svc = service(domain=DomainDef(nodes=(("n1", 1), ("n2", 2)), restricted=True,
                                   failback=failback, failback_delay_s=delay))
    rep = reports(n1=L.STOPPED, n2=(L.STARTED, 5), n3=L.STOPPED)
    a, _, _ = decide(view(ALL_UP, rep, placement=Assignment(node=2, gen=5),
                          online_since=since), config(svc))
    assert a.node == expected
    if expected == 0:
        assert a.next == 1


def test_operator_requests() -> None:
    rep = reports(n1=(L.STARTED, 5), n2=L.STOPPED, n3=L.STOPPED)
    placed = Assignment(node=1, gen=5)
    off, _, _ = decide(view(ALL_UP, rep, placement=placed, intent=Intent(1, 1, enabled=False)))
    assert off.node == 0
    moving, _, _ = decide(view(ALL_UP, rep, placement=placed, intent=Intent(1, 1, target="n2")))
    assert (moving.node, moving.next) == (0, 2)
    rep_stopped = reports(n1=L.STOPPED, n2=L.STOPPED, n3=L.STOPPED)
    there, _, _ = decide(view(ALL_UP, rep_stopped, placement=moving,
                              intent=Intent(1, 1, target="n2")))
    assert there.node == 2
    restart, _, _ = decide(view(ALL_UP, rep, placement=placed, intent=Intent(1, 1, restart=1)))
    assert (restart.node, restart.gen) == (1, 6)
    same, _, _ = decide(view(ALL_UP, rep, placement=restart, intent=Intent(1, 1, restart=1)))
    assert same == restart  # an intent is carried out once
    frozen, _, note = decide(view({1: S.FENCED, 2: S.ONLINE, 3: S.ONLINE}, rep,
                                  placement=placed, intent=Intent(1, 1, frozen=True)))
    assert frozen == placed and "frozen" in note


def test_a_member_running_it_unassigned_blocks_until_it_stopped() -> None:
    rep = reports(n1=L.STOPPED, n2=(L.STOPPING, 2), n3=L.STOPPED)
    a, _, note = decide(view(ALL_UP, rep, placement=Assignment(node=0, gen=3)))
    assert a.node == 0 and "n2" in note


@pytest.mark.parametrize(("local", "assigned", "intent", "note", "expected"), [
    (L.STARTED, 1, Intent(), "", ("started", 1)),
    (L.STARTING, 1, Intent(), "", ("starting", 1)),
    (L.STOP_FAILED, 1, Intent(), "blocked: x", ("failed", 1)),
    (L.FAILED, 1, Intent(), "", ("recovering", 1)),
    (L.STOPPED, 0, Intent(enabled=False), "", ("disabled", None)),
    (L.STARTED, 0, Intent(enabled=False), "", ("stopping", 1)),
    (L.STARTED, 1, Intent(frozen=True), "", ("frozen", 1)),
    (L.STOPPED, 0, Intent(), "waiting for n1", ("recovering", None)),
    (L.STOPPED, 0, Intent(), "no eligible node is online", ("stopped", None)),
])
def test_display(local: LocalState, assigned: int, intent: Intent, note: str,
                 expected: tuple[str, int | None]) -> None:
    shown = show_service(service(), intent, Assignment(node=assigned, gen=1),
                         reports(n1=local, n2=L.STOPPED), note)
    assert (shown.state, shown.owner) == expected


def test_new_coordinator_adopts_what_runs() -> None:
    """A coordinator that just started knows no placement: it adopts the running owner
    with its generation (no restart, no move), even if failback would prefer another."""
    rep = reports(n1=L.STOPPED, n2=(L.STARTED, 7), n3=L.STOPPED)
    a, _, _ = decide(view(ALL_UP, rep))
    assert (a.node, a.gen) == (2, 7)
    stale = Assignment(node=2, gen=3)  # lagging placement: catch up, do not restart
    b, _, _ = decide(view(ALL_UP, rep, placement=stale))
    assert (b.node, b.gen) == (2, 7)


def test_new_assignments_outrun_old_generations() -> None:
    rep = reports(n1=L.STOPPED, n2=(L.STOPPED, 9), n3=L.STOPPED)
    a, _, _ = decide(view(ALL_UP, rep))
    assert a.node == 1 and a.gen == 10


def test_cold_start_waits_for_a_preferred_node_that_is_joining() -> None:
    # n1 (first choice) has reported what it runs but membership has not admitted it.
    states = {1: S.UNKNOWN, 2: S.ONLINE, 3: S.ONLINE}
    a, _, note = decide(view(states, reports(n1=L.STOPPED, n2=L.STOPPED, n3=L.STOPPED)))
    assert a.node == 0 and note == "waiting for n1 (preferred) to join"
    joined = {**states, 1: S.ONLINE}
    a, _, _ = decide(view(joined, reports(n1=L.STOPPED, n2=L.STOPPED, n3=L.STOPPED)))
    assert a.node == 1
    # A less preferred node joining does not hold anything up; nor does a fenced one.
    late_n2 = {1: S.ONLINE, 2: S.UNKNOWN, 3: S.ONLINE}
    a, _, _ = decide(view(late_n2, reports(n1=L.STOPPED, n2=L.STOPPED, n3=L.STOPPED)))
    assert a.node == 1
    fenced = {1: S.FENCED, 2: S.ONLINE, 3: S.ONLINE}
    a, _, _ = decide(view(fenced, reports(n1=L.STOPPED, n2=L.STOPPED, n3=L.STOPPED)))
    assert a.node == 2


def test_a_locked_cell_places_nothing_even_on_failover() -> None:
    """`clusvcadm -l`: the coordinator assigns no node while the cell is locked — not a
    fresh start, not a failover away from a fenced owner — and says why."""
    locked = {"web": Intent(), CELL_LOCK: Intent(version=1, enabled=False)}
    fresh = replace(view(ALL_UP, reports(n1=L.STOPPED, n2=L.STOPPED)), intents=locked)
    a, _, note = decide(fresh)
    assert (a.node, note) == (0, LOCKED_NOTE)
    states = {1: S.FENCED, 2: S.ONLINE, 3: S.ONLINE}
    fenced = replace(view(states, reports(n2=L.STOPPED, n3=L.STOPPED),
                          placement=Assignment(node=1, gen=4)), intents=locked)
    a, _, note = decide(fenced)
    assert a.node == 0 and note == LOCKED_NOTE
    unlocked = {"web": Intent(), CELL_LOCK: Intent(version=2, enabled=True)}
    assert decide(replace(fenced, intents=unlocked))[0].node == 2


def test_a_locked_node_starts_nothing_the_placement_asks() -> None:
    """Each node refuses starts too while locked: the placement it follows may have been
    made before the lock. Stops still happen."""
    here = NodeReport(True, {"web": ServiceReport(LocalState.STOPPED, 1),
                             "db": ServiceReport(LocalState.STARTED, 1)})
    placement = {"web": Assignment(node=1, gen=2), "db": Assignment(node=2, gen=2)}

    def actions(locked: bool) -> list[object]:
        return list(reconcile(["web", "db"], here, {}, my_id=1, quorate=True,
                              placement=placement, frozen=frozenset(),
                              may_start=lambda _: True, locked=locked))

    assert [type(a).__name__ for a in actions(False)] == ["Start", "Stop"]
    assert [type(a).__name__ for a in actions(True)] == ["Stop"]


def test_a_storage_failure_relocates_at_once_and_never_restarts_in_place() -> None:
    """The owner's path to its disks failed: a restart there would meet the same broken
    path, so the service moves even with all its restarts left; disable still wins."""
    cfg = config(service(max_restarts=3, restart_window_s=60))
    failed = ServiceReport(L.FAILED, 3, cause="storage")
    rep = reports(n2=L.STOPPED, n3=L.STOPPED)
    rep[1] = NodeReport(True, {"web": failed})
    placed = Assignment(node=1, gen=3)
    a, _, note = decide(view(ALL_UP, rep, placement=placed), cfg)
    assert a.node == 2 and 1 in a.avoid and "storage error on n1" in note
    rep[1] = NodeReport(True, {"web": replace(failed, cause="")})
    a, _, note = decide(view(ALL_UP, rep, placement=placed), cfg)
    assert (a.node, a.gen) == (1, 4) and "restarting" in note  # its own failure: in place
    rep[1] = NodeReport(True, {"web": failed})
    decision = decide_services(config(service(recovery="disable")),
                               view(ALL_UP, rep, placement=placed))
    assert decision.placement["web"].node == 0 and decision.intents["web"].enabled is False


def test_the_storage_cause_crosses_the_wire_and_old_peers_still_parse() -> None:
    report = ServiceReport(L.FAILED, 7, 12.5, "storage error: x", (1.0,), "storage")
    assert ServiceReport.from_wire(report.to_wire()) == report
    plain = replace(report, cause="")
    assert len(plain.to_wire()) == 5  # what a peer without the field sends and expects
    assert ServiceReport.from_wire(plain.to_wire()) == plain


def test_recovery_fence_moves_the_service_and_powers_the_failed_owner_off() -> None:
    """The manual's rule for Lustre: any failure of the service migrates it and powers
    the node off; the service stopped cleanly there, so it starts on the peer at once."""
    rep = reports(n1=(L.FAILED, 3), n2=L.STOPPED, n3=L.STOPPED)
    placed = Assignment(node=1, gen=3)
    decision = decide_services(config(service(recovery="fence")),
                               view(ALL_UP, rep, placement=placed))
    assert decision.placement["web"].node == 2 and 1 in decision.placement["web"].avoid
    assert [f.node_id for f in decision.fences] == [1]
    assert "policy fence" in decision.notes["web"]
    for other in ("restart", "relocate"):  # the other policies never fence
        decision = decide_services(config(service(recovery=other)),
                                   view(ALL_UP, rep, placement=placed))
        assert decision.fences == []


def test_recovery_fence_needs_fence_levels_on_every_node_of_the_domain() -> None:
    from cellsim import cell_text, service_text

    from tandem.config import ConfigError, parse_config

    fenced = cell_text(services=service_text(extra='recovery = "fence"\n'))
    assert parse_config(fenced, "c.toml").service("web").recovery == "fence"
    unfenced = fenced.replace('fence = [ { devices = ["bmc"] } ]\n', "", 1)
    with pytest.raises(ConfigError, match=r"recovery.*n1 has no fence levels"):
        parse_config(unfenced, "c.toml")
    with pytest.raises(ConfigError, match="expected restart, relocate, disable or fence"):
        parse_config(cell_text(services=service_text(extra='recovery = "reboot"\n')), "c.toml")
