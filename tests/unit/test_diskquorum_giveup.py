"""Which failing heuristics get a node fenced: only a node that passed them since its
daemon started (it may hold services) — not one that just booted and has not passed
yet, which would otherwise be fenced again at every boot."""

from __future__ import annotations

from types import SimpleNamespace

from tandem.config.model import ClusterConfig, NetworkDef, NodeDef
from tandem.daemon.diskquorum import DiskQuorum


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
