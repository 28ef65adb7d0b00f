"""Whole observe -> decide -> act cycles of real engines, in fake time (see cellsim).

Each row is one situation the manual and DESIGN.md §2 care about, played on a simulated
cell with every safety invariant checked after every step. The rows marked with a rule
fail if that rule is taken out of the code (checked by hand for each: see the comments).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from cellsim import SimCell, cell_text, play, service_text

from tandem.config import parse_config
from tandem.manager.actions import (
    Adopt,
    DelegateFence,
    Fence,
    Publish,
    Recover,
    Restart,
    Start,
    Stop,
)
from tandem.manager.decide import decide
from tandem.manager.model import Assignment, LocalState, NodeReport, ServiceReport
from tandem.manager.view import CellView, NodeFacts, ServiceFacts
from tandem.membership.ledger import NodeState

Scenario = Callable[[SimCell], Awaitable[None]]


async def boot_all(cell: SimCell) -> None:
    for name in cell.nodes:
        await cell.boot(name)


def index(actions: list[object], wanted: object) -> int:
    return next(i for i, a in enumerate(actions) if a == wanted)


def fences_of(actions: list[object]) -> list[int]:
    return [a.node_id for a in actions if isinstance(a, Fence)]


# -- the rows ------------------------------------------------------------------------------

async def peer_silent_fence_then_start_here(cell: SimCell) -> None:
    """A peer loses power: the survivor fences it, and only once the fence is confirmed
    does it start the service (rule 1)."""
    await boot_all(cell)
    assert await cell.run(5, until=lambda: cell.running("web") == ["n2"])
    cell.power_off("n2", "crash")
    assert await cell.run(5, until=lambda: cell.running("web") == ["n1"])
    actions = cell.actions("n1")
    start = next(i for i, a in enumerate(actions) if isinstance(a, Start))
    assert index(actions, Fence(2, "lost: silent past the token timeout")) < start
    assert cell.nodes["n1"].live.ledger.state(2) == NodeState.FENCED


async def quorum_lost_stops_and_never_fences(cell: SimCell) -> None:
    """Cut off from both peers, n1 is not quorate: it stops its service and fences
    nobody (rule 2); the quorate pair fences it and takes over."""
    await boot_all(cell)
    assert await cell.run(5, until=lambda: cell.running("web") == ["n1"])
    cell.cut("n1", "n2")
    cell.cut("n1", "n3")
    assert await cell.run(8, until=lambda: cell.running("web") == ["n2"])
    mine = cell.actions("n1")
    assert Stop("web", "quorum lost") in mine and not fences_of(mine)
    assert 1 in fences_of(cell.actions("n2"))


async def failed_stop_fences_before_any_start(cell: SimCell) -> None:
    """A stop that fails is not a stop: the service starts elsewhere only after the node
    whose stop failed is fenced (rule 3), and the failure shows as failed."""
    await boot_all(cell)
    assert await cell.run(5, until=lambda: cell.running("web") == ["n2"])
    (cell.tmp / "stuck").touch()
    cell.operator("n1").service("web", "relocate", "n3")
    assert await cell.run(3, until=lambda: cell.local_state("n2", "web")
                          == LocalState.STOP_FAILED or not cell.nodes["n2"].powered)
    assert cell.events("n2", "stop_failed")
    assert await cell.run(8, until=lambda: cell.running("web") == ["n3"])
    assert 2 in fences_of(cell.actions("n1"))
    off = next(i for i, line in enumerate(cell.log) if "n2 powered off" in line)
    started = next(i for i, line in enumerate(cell.log) if "n3:" in line and "start web"
                   in line)
    assert off < started


async def failed_stop_on_the_coordinator_is_delegated(cell: SimCell) -> None:
    """The coordinator itself fails to stop: it cannot fence itself, it asks a peer,
    which fences it before starting the service."""
    await boot_all(cell)
    assert await cell.run(5, until=lambda: cell.running("web") == ["n1"])
    (cell.tmp / "stuck").touch()
    cell.operator("n1").service("web", "relocate", "n2")
    assert await cell.run(8, until=lambda: cell.running("web") == ["n2"])
    assert any(isinstance(a, DelegateFence) and a.node_id == 1 and a.to == 2
               for a in cell.actions("n1"))
    assert 1 in fences_of(cell.actions("n2"))
    assert not cell.nodes["n1"].powered


async def wait_for_all_at_boot(cell: SimCell) -> None:
    """A node that boots alone fences nobody and starts nothing until it has seen its
    peer (rule 4), however long it waits; once both are up, the service starts."""
    await cell.boot("n1")
    await cell.run(12)
    engine = cell.nodes["n1"].live
    assert not engine.cell.quorum.quorate and not fences_of(cell.actions("n1"))
    assert cell.running("web") == []
    await cell.boot("n2")
    assert await cell.run(5, until=lambda: cell.running("web") == ["n1"])
    assert not fences_of(cell.actions("n1")) and not fences_of(cell.actions("n2"))


async def unblocked_by_an_operator(cell: SimCell) -> None:
    """An operator vouches that the absent peer runs nothing: the node becomes quorate,
    fences the never-seen peer after the startup grace, then starts the service."""
    await cell.boot("n1")
    await cell.run(2)
    cell.operator("n1").unblock()
    assert await cell.run(10, until=lambda: cell.running("web") == ["n1"])
    assert fences_of(cell.actions("n1")) == [2]


async def quorum_disk_waits_for_the_stop(cell: SimCell) -> None:
    """Heartbeats cut in a quorum-disk cell: the node without the disk's master is not
    quorate and stops its service; the master's side waits for it to have stopped (its
    slot says so) before fencing it, then takes over."""
    await boot_all(cell)
    assert await cell.run(5, until=lambda: cell.running("web") == ["n2"])
    cell.cut("n1", "n2")
    assert await cell.run(8, until=lambda: cell.running("web") == ["n1"])
    assert cell.died_holding["n2"] == [], "n2 was fenced while still holding services"
    assert cell.events("n1", "fence_deferred")


async def quorum_disk_quorate_peer_is_fenced_at_once(cell: SimCell) -> None:
    """n1 and n2 stop hearing each other, n3 hears both. n2 stays quorate with n3 (the
    disk has no votes here) and keeps its service: it will never stop it, and says so on
    the disk. n1, the coordinator n3 agrees on, fences it once that word is fresh instead
    of waiting the whole stop_wait (10 s) for a stop that never comes, then takes over."""
    await boot_all(cell)
    assert await cell.run(5, until=lambda: cell.running("web") == ["n2"])
    cell.cut("n1", "n2")
    assert await cell.run(3, until=lambda: cell.running("web") == ["n1"])
    assert cell.died_holding["n2"] == ["web"], "n2 stopped web: it was not quorate"
    assert 2 in fences_of(cell.actions("n1"))


async def operator_relocates(cell: SimCell) -> None:
    """An operator's relocation: stopped on one node, then started on the other, never
    on both; it stays there."""
    await boot_all(cell)
    assert await cell.run(5, until=lambda: cell.running("web") == ["n1"])
    cell.operator("n2").service("web", "relocate", "n2")
    assert await cell.run(5, until=lambda: cell.running("web") == ["n2"])
    await cell.run(3)
    assert cell.running("web") == ["n2"]
    assert Stop("web", "not assigned here") in cell.actions("n1")


async def failed_fence_is_not_a_fence(cell: SimCell) -> None:
    """The BMC refuses: the lost node is unclean, its service does not move however long
    it takes; once the BMC works again the retry fences it and the service starts."""
    await boot_all(cell)
    assert await cell.run(5, until=lambda: cell.running("web") == ["n2"])
    cell.bmc.mode["n2"] = "refuse"
    cell.power_off("n2", "crash")
    await cell.run(4)
    assert cell.running("web") == [] and cell.events("n1", "fence_failed")
    assert cell.nodes["n1"].live.ledger.state(2) == NodeState.UNCLEAN
    cell.bmc.mode["n2"] = "ok"
    assert await cell.run(15, until=lambda: cell.running("web") == ["n1"])


async def operator_fence_refused_without_quorum(cell: SimCell) -> None:
    """An operator's `tandem fence` on a node that is not quorate is refused (rule 2)."""
    await boot_all(cell)
    assert await cell.run(5, until=lambda: cell.running("web") == ["n1"])
    cell.bmc.mode["n1"] = "refuse"  # (so that n1 stays up for the request)
    cell.cut("n1", "n2")
    cell.cut("n1", "n3")
    await cell.run(1.5)
    assert not cell.nodes["n1"].live.cell.quorum.quorate
    request = asyncio.ensure_future(cell.operator("n1").fence("n2"))
    await asyncio.sleep(0)  # the request is queued for the next cycle
    await cell.step()
    with pytest.raises(ValueError, match="not quorate"):
        await asyncio.wait_for(request, 5)
    assert cell.nodes["n2"].powered


async def operator_stops_without_disabling(cell: SimCell) -> None:
    """`clusvcadm -s`: web stops and stays stopped (shown "stopped", still enabled);
    as rgmanager does with a stopped service, the next membership change (n3 lost and
    fenced) starts it again."""
    await boot_all(cell)
    assert await cell.run(5, until=lambda: cell.running("web") == ["n1"])
    cell.operator("n2").service("web", "stop", None)
    assert await cell.run(3, until=lambda: cell.running("web") == [])
    await cell.run(3)
    engine = cell.nodes["n1"].live
    assert cell.running("web") == [] and engine.display.shown["web"].state == "stopped"
    assert engine.store.intents["web"].enabled
    cell.power_off("n3", "crash")
    assert await cell.run(8, until=lambda: cell.running("web") == ["n1"])
    assert engine.store.intents["web"].stopped is None


async def locked_cell_starts_nothing(cell: SimCell) -> None:
    """`clusvcadm -l`: the owner of web crashes, is fenced, and web starts nowhere
    however long the cell waits; `-u` and it starts on the survivor."""
    await boot_all(cell)
    assert await cell.run(5, until=lambda: cell.running("web") == ["n2"])
    cell.operator("n1").lock(True)
    await cell.run(1)
    cell.power_off("n2", "crash")
    await cell.run(8)
    assert cell.running("web") == [] and 2 in fences_of(cell.actions("n1"))
    assert not any(isinstance(a, Start) for a in cell.actions("n1"))
    cell.operator("n1").lock(False)
    assert await cell.run(5, until=lambda: cell.running("web") == ["n1"])


async def recovery_fence_moves_and_powers_off(cell: SimCell) -> None:
    """recovery = "fence": the monitor fails on n1, which coordinates: the service
    starts on n2 and n1 is powered off, by n2 (a node does not fence itself)."""
    await boot_all(cell)
    assert await cell.run(5, until=lambda: cell.running("web") == ["n1"])
    engine = cell.nodes["n1"].engine
    assert engine is not None
    local = engine.local_services
    # What a monitor does when it finds the resource failed (the monitors sleep in real
    # time, which the cell's fake clock does not advance).
    local._run(local.services["web"], local._fail(local.services["web"], "monitor failed"))
    assert await cell.run(10, until=lambda: cell.running("web") == ["n2"]
                          and not cell.nodes["n1"].powered)
    assert 1 in fences_of(cell.actions("n2"))


TWO = cell_text(services=service_text(nodes=("n2", "n1")))
TWO_N1 = cell_text(services=service_text(nodes=("n1", "n2")))
THREE_N1 = cell_text(nodes=3, services=service_text(nodes=("n1", "n2", "n3")))
STUCK = 'stop_fail_file = "{stuck}"'
QDISK = '[qdisk]\ndevice = "/dev/sim-qdisk"\ninterval_ms = 50\ntko = 4\n'
QDISK_NO_VOTES = QDISK + "votes = 0\nstop_wait_ms = 10000\n"

ROWS: list[tuple[str, str, Scenario]] = [
    ("peer silent -> fence -> confirmed -> start here", TWO,
     peer_silent_fence_then_start_here),
    ("quorum lost -> stop, no fence", THREE_N1, quorum_lost_stops_and_never_fences),
    ("failed stop -> fence before any start elsewhere",
     cell_text(nodes=3, services=service_text(nodes=("n2", "n3"), params=STUCK)),
     failed_stop_fences_before_any_start),
    ("failed stop on the coordinator -> a peer fences it",
     cell_text(services=service_text(nodes=("n1", "n2"), params=STUCK)),
     failed_stop_on_the_coordinator_is_delegated),
    ("wait-for-all at boot", TWO_N1, wait_for_all_at_boot),
    ("operator unblock at boot", TWO_N1, unblocked_by_an_operator),
    ("quorum-disk stop wait",
     cell_text(services=service_text(nodes=("n2", "n1")), extra=QDISK),
     quorum_disk_waits_for_the_stop),
    ("quorum-disk stop wait skipped for a peer that stays quorate",
     cell_text(nodes=3, services=service_text(nodes=("n2", "n1")), extra=QDISK_NO_VOTES),
     quorum_disk_quorate_peer_is_fenced_at_once),
    ("operator relocate", TWO_N1, operator_relocates),
    ("failed fence is not counted as done", TWO, failed_fence_is_not_a_fence),
    ("inquorate node refuses an operator's fence", THREE_N1,
     operator_fence_refused_without_quorum),
    ("operator stop without disable -> restarted on a membership change", THREE_N1,
     operator_stops_without_disabling),
    ("cell locked -> no start even on failover; unlock resumes", TWO,
     locked_cell_starts_nothing),
    ("recovery fence -> moved and the failed node powered off",
     cell_text(services=service_text(nodes=("n1", "n2"), extra='recovery = "fence"\n')),
     recovery_fence_moves_and_powers_off),
]


@pytest.mark.parametrize(("what", "text", "scenario"), ROWS, ids=[r[0] for r in ROWS])
def test_cycle(tmp_path: Path, what: str, text: str, scenario: Scenario) -> None:
    play(tmp_path, text.replace("{stuck}", str(tmp_path / "stuck")), scenario)


def test_a_tick_says_what_it_saw_and_did(tmp_path: Path) -> None:
    """`Engine.tick` returns a status line and its actions (as Patroni's cycle does)."""
    async def scenario(cell: SimCell) -> None:
        await boot_all(cell)
        assert await cell.run(5, until=lambda: cell.running("web") == ["n1"])
        results = cell.nodes["n1"].results
        started = next(r for r in results if any(isinstance(a, Start) for a in r.actions))
        assert started.status.startswith("quorate (2/1 votes), coordinator n1, members "
                                         "n1,n2; ")
        assert "start web" in started.status
        await cell.run(1)
        quiet = results[-1]
        assert quiet.actions == () or all(isinstance(a, Publish) for a in quiet.actions)

    play(tmp_path, TWO_N1, scenario)


# -- the decision alone, for what a simulated cell cannot set up directly ------------------

CONFIG = parse_config(TWO_N1, "two.toml")
WEB = ServiceReport(LocalState.STARTED, gen=3)


def view(n2: NodeState, n2_web: LocalState, placement: Assignment, *,
         local: int = 1, coordinator: int = 1, known: bool = True) -> CellView:
    reports = {1: NodeReport(True, {}), 2: NodeReport(True, {"web": replace(WEB,
                                                                           state=n2_web)})}
    online = {1: NodeState.ONLINE, 2: n2}
    return CellView(local_id=local, now=100.0, wall=1000.0, quorate=True,
                    coordinator=coordinator,
                    members=frozenset(n for n, s in online.items() if s == NodeState.ONLINE),
                    nodes={n: NodeFacts(s) for n, s in online.items()},
                    names={1: "n1", 2: "n2"}, fencing=frozenset(),
                    services=ServiceFacts(reports=reports, intents={},
                                          placement={"web": placement},
                                          placement_known=known))


IN_FLIGHT = Assignment(node=0, gen=4, next=1)  # moving from n2 to n1
NEW_COORDINATOR = Assignment()  # a coordinator that knows no placement yet


def starts(actions: Sequence[object], node: int = 1) -> bool:
    published = [a for a in actions if isinstance(a, Publish)]
    assigned = bool(published) and published[-1].placement["web"].node == node
    return assigned or any(isinstance(a, Start) for a in actions)


@pytest.mark.parametrize("state", [NodeState.LOST, NodeState.UNCLEAN, NodeState.FENCING])
@pytest.mark.parametrize("n2_web", [LocalState.STARTED, LocalState.STOPPING])
@pytest.mark.parametrize("placement", [IN_FLIGHT, NEW_COORDINATOR], ids=["moving", "new"])
def test_a_suspect_node_still_holding_blocks_the_start(state: NodeState, n2_web: LocalState,
                                                       placement: Assignment) -> None:
    """Rule 1: a node that is lost, unclean or being fenced and still reports the service
    started or stopping, while it is not assigned to it, blocks the start elsewhere
    until it is fenced."""
    assert not starts(decide(view(state, n2_web, placement), CONFIG))
    assert starts(decide(view(NodeState.FENCED, n2_web, placement), CONFIG))


def test_the_local_node_vetoes_a_start_its_coordinator_asked_for() -> None:
    """Rule 1, on the node that would start: the coordinator (n2) assigned web here, but
    this node sees another node that could still hold it; it does not start."""
    assigned_here = Assignment(node=1, gen=5)
    suspect = replace(view(NodeState.UNCLEAN, LocalState.STARTED, assigned_here,
                           coordinator=2), members=frozenset({1, 2}))
    assert not any(isinstance(a, Start) for a in decide(suspect, CONFIG))
    clean = view(NodeState.ONLINE, LocalState.STOPPED, assigned_here, coordinator=2)
    assert Start("web", 5) in decide(clean, CONFIG)


def test_the_local_node_follows_a_trusted_placement_only() -> None:
    """Without a placement from a coordinator it trusts, a node starts nothing."""
    assigned_here = Assignment(node=1, gen=5)
    clean = view(NodeState.ONLINE, LocalState.STOPPED, assigned_here, coordinator=2,
                 known=False)
    assert decide(clean, CONFIG) == []


def test_local_actions_by_state() -> None:
    """Adopt what was found running, restart for a newer generation, recover a failure
    the coordinator answered with a new generation, stop what moved away."""
    def local(mine: ServiceReport, wanted: Assignment) -> Sequence[object]:
        reports = {1: NodeReport(True, {"web": mine}), 2: NodeReport(True, {})}
        v = replace(view(NodeState.ONLINE, LocalState.STOPPED, wanted, coordinator=2),
                    services=ServiceFacts(reports=reports, intents={},
                                          placement={"web": wanted}, placement_known=True))
        return decide(v, CONFIG)

    assert local(ServiceReport(LocalState.STARTED, -1), Assignment(1, 7)) == [Adopt("web", 7)]
    assert local(ServiceReport(LocalState.STARTED, 6), Assignment(1, 7)) == [
        Restart("web", 7)]
    assert local(ServiceReport(LocalState.FAILED, 6), Assignment(1, 7)) == [
        Recover("web", 7)]
    assert local(ServiceReport(LocalState.FAILED, 7), Assignment(1, 7)) == []
    assert local(ServiceReport(LocalState.STARTED, 6), Assignment(2, 7)) == [
        Stop("web", "not assigned here")]
    assert local(ServiceReport(LocalState.STOP_FAILED, 6), Assignment(2, 7)) == []


def test_one_reload_reaches_every_component(tmp_path: Path) -> None:
    """A reload goes to every component through the same call (the quorum disk
    included); a change that cannot apply live is refused naming the key, and nothing
    of it is applied."""
    text = cell_text(services=service_text(nodes=("n1", "n2")), extra=QDISK)

    async def scenario(cell: SimCell) -> None:
        await boot_all(cell)
        assert await cell.run(5, until=lambda: cell.running("web") == ["n1"])
        engine = cell.nodes["n1"].live
        new = parse_config(text.replace("token_ms = 500", "token_ms = 800")
                           .replace("tko = 4", "tko = 6")
                           + service_text("db", ("n2", "n1")), "new.toml")
        assert engine.reload(new).startswith("configuration reloaded")
        components = (engine.cell, engine.fencer, engine.fence_checks, engine.disk)
        assert all(c.config is new for c in components)
        assert engine.detector.token_s == 0.8 and engine.pause.token_s == 0.8
        disk = cell.nodes["n1"].disk
        assert disk is not None and disk.config.tko == 6
        assert "db" in engine.local_services.services and "db" in engine.store.known
        moved = parse_config(text.replace("/dev/sim-qdisk", "/dev/other"), "bad.toml")
        with pytest.raises(ValueError, match=r"^qdisk\.device: .*restart"):
            engine.reload(moved)
        assert engine.config is new and disk.config.tko == 6

    play(tmp_path, text, scenario)
