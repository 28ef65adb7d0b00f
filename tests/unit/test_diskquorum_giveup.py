"""Which failing heuristics get a node fenced: only a node that passed them since its
daemon started (it may hold services) — not one that just booted and has not passed
yet, which would otherwise be fenced again at every boot. And how long a lost node that
is still stopping its services on the quorum disk is waited for."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

from tandem.config.model import ClusterConfig, NetworkDef, NodeDef
from tandem.daemon.diskquorum import DiskQuorum
from tandem.quorum.qdisk.config import QdiskDef


class ScriptedRunner:
    """Stands in for the quorum-disk thread: hands out the views a test scripts (only
    `score_ok` is read by the code under test)."""

    def __init__(self) -> None:
        self.view: SimpleNamespace | None = None

    def snapshot(self) -> SimpleNamespace | None:
        return self.view


def disk() -> tuple[DiskQuorum, ScriptedRunner]:
    node = NodeDef("n1", 1)
    config = ClusterConfig(name="c", key_file="/k", networks=(NetworkDef("a", 0),),
                           nodes=(node, NodeDef("n2", 2)))
    quorum = DiskQuorum(config, node)
    runner = ScriptedRunner()
    quorum.runner = runner  # type: ignore[assignment]
    return quorum, runner


def test_just_booted_and_failing_is_withdrawn_but_not_given_up() -> None:
    quorum, runner = disk()
    assert quorum.score_ok() and not quorum.gave_up()  # no view yet
    runner.view = SimpleNamespace(score_ok=False)
    assert not quorum.score_ok() and not quorum.gave_up()


def test_failing_after_passing_gives_up() -> None:
    quorum, runner = disk()
    runner.view = SimpleNamespace(score_ok=True)
    assert quorum.score_ok() and not quorum.gave_up()
    runner.view = SimpleNamespace(score_ok=False)
    assert not quorum.score_ok() and quorum.gave_up()
    runner.view = SimpleNamespace(score_ok=True)
    assert not quorum.gave_up()


def disk_view(alive: bool, holding: bool) -> SimpleNamespace:
    return SimpleNamespace(available=True, score_ok=True,
                           nodes={2: SimpleNamespace(alive=alive, holding=holding)})


def test_a_lost_node_still_stopping_on_disk_is_waited_for_a_bounded_time() -> None:
    quorum, runner = disk()
    quorum.config = replace(quorum.config, sections=(QdiskDef("/dev/qd", stop_wait_ms=4000),))
    runner.view = disk_view(alive=True, holding=True)
    assert quorum.stopping(2, lost_for=0.5)
    assert not quorum.stopping(2, lost_for=4.0)  # the wait is over: fence it anyway
    assert not quorum.stopping(3, lost_for=0.5)  # never wrote a slot
    runner.view = disk_view(alive=True, holding=False)
    assert not quorum.stopping(2, lost_for=0.5)  # it has stopped: fence at once
    runner.view = disk_view(alive=False, holding=True)
    assert not quorum.stopping(2, lost_for=0.5)  # dead on disk: nothing to wait for
    runner.view = SimpleNamespace(available=False, nodes={})
    assert not quorum.stopping(2, lost_for=0.5)  # no disk: no reason to wait
