"""Which failing heuristics get a node fenced: only a node that passed them since its
daemon started (it may hold services) — not one that just booted and has not passed
yet, which would otherwise be fenced again at every boot. How long a lost node that is
still stopping its services on the quorum disk is waited for (and one that says it is
quorate, hence will not stop, is not, once its word is fresh). And which `[qdisk]`
changes a running node applies, and which it refuses."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tandem.config.model import ClusterConfig, NetworkDef, NodeDef
from tandem.daemon.diskquorum import DiskQuorum
from tandem.quorum.qdisk.config import QdiskDef
from tandem.quorum.qdisk.heuristics import Heuristic
from tandem.quorum.qdisk.runner import DiskNode, QdiskView


class ScriptedRunner:
    """Stands in for the quorum-disk thread (which needs a real disk): hands out the
    views a test scripts, and records what the engine tells it."""

    def __init__(self, config: QdiskDef) -> None:
        self.view = QdiskView(False, "starting", None, False, 0, 1, False, frozenset())
        self.config = config
        self.holding = False
        self.quorate = False

    def start(self) -> None:
        pass

    def stop(self) -> bool:
        return True

    def snapshot(self) -> QdiskView:
        return self.view

    def set_holding(self, holding: bool) -> None:
        self.holding = holding

    def set_quorate(self, quorate: bool) -> None:
        self.quorate = quorate

    def reconfigure(self, config: QdiskDef) -> None:
        self.config = config


QDISK = QdiskDef("/dev/qd", label="qd", stop_wait_ms=4000)
NODE = NodeDef("n1", 1)
CONFIG = ClusterConfig(name="c", key_file="/k", networks=(NetworkDef("a", 0),),
                       nodes=(NODE, NodeDef("n2", 2)), sections=(QDISK,))


def disk() -> tuple[DiskQuorum, ScriptedRunner]:
    runners: list[ScriptedRunner] = []

    def factory(config: QdiskDef, local: NodeDef, cell: str) -> ScriptedRunner:
        runners.append(ScriptedRunner(config))
        return runners[-1]

    return DiskQuorum(CONFIG, NODE, factory), runners[0]


def scored(ok: bool, nodes: dict[int, tuple[bool, bool]] | None = None,
           master: int | None = 1, quorate: frozenset[int] = frozenset()) -> QdiskView:
    """A usable view: our heuristics `ok`; node -> (alive, holding) on the disk; the
    nodes in `quorate` say they are."""
    rows = {n: DiskNode(n, f"n{n}", alive, "alive" if alive else "dead", 1, 0.0, 1, 1,
                        True, "running", "none", 1, holding, n in quorate)
            for n, (alive, holding) in (nodes or {}).items()}
    return QdiskView(True, "", master, master == 1, 1 if ok else 0, 1, ok, frozenset(rows),
                     nodes=rows, votes=1 if master else 0)


def test_just_booted_and_failing_is_withdrawn_but_not_given_up() -> None:
    quorum, runner = disk()
    standing = quorum.standing(frozenset({1}))
    assert standing.withdrawn and not standing.gave_up  # heuristics not passed yet
    runner.view = scored(False)
    standing = quorum.standing(frozenset({1}))
    assert standing.withdrawn and not standing.gave_up


def test_failing_after_passing_gives_up() -> None:
    quorum, runner = disk()
    runner.view = scored(True)
    assert not quorum.standing(frozenset({1})).gave_up
    runner.view = scored(False)
    assert quorum.standing(frozenset({1})).gave_up
    runner.view = scored(True)
    assert not quorum.standing(frozenset({1})).gave_up


def test_the_disk_votes_go_to_the_partition_of_its_master() -> None:
    quorum, runner = disk()
    runner.view = scored(True, master=2)
    assert quorum.standing(frozenset({1, 2})).owned
    assert not quorum.standing(frozenset({1})).owned
    assert quorum.standing(frozenset({1})).votes == 1


def test_a_lost_node_still_stopping_on_disk_is_waited_for_a_bounded_time() -> None:
    quorum, runner = disk()
    runner.view = scored(True, {2: (True, True)})
    assert quorum.stopping(2, lost_for=0.5)
    assert not quorum.stopping(2, lost_for=4.0)  # the wait is over: fence it anyway
    assert not quorum.stopping(3, lost_for=0.5)  # never wrote a slot
    runner.view = scored(True, {2: (True, False)})
    assert not quorum.stopping(2, lost_for=0.5)  # it has stopped: fence at once
    runner.view = scored(True, {2: (False, True)})
    assert not quorum.stopping(2, lost_for=0.5)  # dead on disk: nothing to wait for
    runner.view = replace(scored(True, {2: (True, True)}), available=False)
    assert not quorum.stopping(2, lost_for=0.5)  # no disk: no reason to wait


def test_a_lost_node_that_says_it_is_quorate_is_not_waited_for_once_settled() -> None:
    """It still hears us (one-way loss) and keeps its services: waiting the whole
    stop_wait for a stop that never comes is pointless. Its word counts only after
    `settle_s` (a 1 s token, then 2 x (0.1 + 0.25) s of disk cycles): an earlier slot
    may predate its own verdict on a mutual loss."""
    quorum, runner = disk()
    assert quorum.settle_s == pytest.approx(1.7)
    runner.view = scored(True, {2: (True, True)}, quorate=frozenset({2}))
    assert quorum.stopping(2, lost_for=1.5)  # too early to trust the flag
    assert not quorum.stopping(2, lost_for=1.8)  # fresh: it will not stop, fence now
    runner.view = scored(True, {2: (True, True)})
    assert quorum.stopping(2, lost_for=1.8)  # not quorate: it is stopping, wait


def test_the_engine_publishes_holding_and_quorate() -> None:
    quorum, runner = disk()
    quorum.publish(holding=True, quorate=True)
    assert (runner.holding, runner.quorate) == (True, True)
    quorum.publish(holding=False, quorate=False)
    assert (runner.holding, runner.quorate) == (False, False)


LIVE = [("interval_ms", 50), ("tko", 4), ("votes", 2), ("master_wins", False),
        ("min_score", 1), ("stop_wait_ms", 1000),
        ("heuristics", (Heuristic(command=("true",), score=1),))]
RESTART = [("device", "/dev/other"), ("label", "other")]


@pytest.mark.parametrize(("key", "value"), LIVE, ids=[k for k, _ in LIVE])
def test_a_reload_applies_each_live_qdisk_key(key: str, value: object) -> None:
    quorum, runner = disk()
    new = replace(CONFIG, sections=(replace(QDISK, **{key: value}),))  # type: ignore[arg-type]
    assert quorum.refusal(new) == ""
    quorum.reconfigure(new)
    assert getattr(runner.config, key) == value  # the disk thread has it
    assert quorum.qdisk is not None and getattr(quorum.qdisk, key) == value


@pytest.mark.parametrize(("key", "value"), RESTART, ids=[k for k, _ in RESTART])
def test_a_reload_refuses_a_new_disk_naming_the_key(key: str, value: object) -> None:
    quorum, _ = disk()
    changed = replace(QDISK, **{key: value})  # type: ignore[arg-type]
    refusal = quorum.refusal(replace(CONFIG, sections=(changed,)))
    assert refusal.startswith(f"qdisk.{key}:") and "restart" in refusal


def test_a_reload_refuses_adding_or_removing_the_disk() -> None:
    quorum, _ = disk()
    assert quorum.refusal(replace(CONFIG, sections=())).startswith("qdisk:")
    without = DiskQuorum(replace(CONFIG, sections=()), NODE)
    assert without.refusal(CONFIG).startswith("qdisk:")
