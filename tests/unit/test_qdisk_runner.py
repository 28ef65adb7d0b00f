"""QuorumDisk runners sharing one disk file: election, hand-overs, heuristics, a vanishing
device path, and a runner process killed with SIGKILL. Every wait is bounded; no timing
is asserted. A sampler checks throughout that two masters are never reported at once."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tandem.lab.wait import wait_for
from tandem.quorum.qdisk.config import QdiskDef
from tandem.quorum.qdisk.device import init_disk
from tandem.quorum.qdisk.format import QdiskError
from tandem.quorum.qdisk.heuristics import Heuristic
from tandem.quorum.qdisk.runner import QdiskView, QuorumDisk

INTERVAL_MS = 100
TKO = 6  # dead on disk after 0.6 s; a view is valid for 0.3 s


@pytest.fixture()
def disk(tmp_path: Path) -> str:
    path = tmp_path / "qdisk.img"
    with open(path, "wb") as handle:
        handle.truncate(1 << 20)
    init_disk(str(path), "unit-qd", cell="unit", max_nodes=4)
    return str(path)


class Cell:
    """Runners on one disk, with a sampler that records any moment of two masters."""

    def __init__(self) -> None:
        self.runners: dict[int, QuorumDisk] = {}
        self.double_masters: list[tuple[int, ...]] = []
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def add(self, config: QdiskDef, node_id: int) -> QuorumDisk:
        runner = QuorumDisk(config, node_id, node_name=f"node{node_id}", cell="unit")
        self.runners[node_id] = runner
        runner.start()
        return runner

    def view(self, node_id: int) -> QdiskView:
        return self.runners[node_id].snapshot()

    def masters(self) -> list[int]:
        return [n for n, r in list(self.runners.items()) if r.snapshot().i_am_master]

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            before = self.masters()
            during = self.masters()
            after = self.masters()
            both = set(before) & set(after)
            if len(during) > 1 and both & set(during):
                self.double_masters.append(tuple(during))

    def close(self) -> None:
        self._stop.set()
        self._sampler.join(5)
        for runner in self.runners.values():
            assert runner.stop(), "a runner did not stop"


@pytest.fixture()
def cell() -> Iterator[Cell]:
    group = Cell()
    try:
        yield group
    finally:
        group.close()
    assert not group.double_masters, f"two masters at once: {group.double_masters[:5]}"


def config(device: str, **changes: object) -> QdiskDef:
    values: dict[str, object] = dict(device=device, label="unit-qd", interval_ms=INTERVAL_MS,
                                     tko=TKO, votes=1)
    values.update(changes)
    return QdiskDef(**values)  # type: ignore[arg-type]


def agreed_master(cell: Cell, nodes: list[int]) -> int | None:
    views = [cell.view(n) for n in nodes]
    masters = {v.master for v in views}
    if len(masters) != 1 or None in masters or not all(v.available for v in views):
        return None
    return masters.pop()


def test_two_runners_agree_on_one_master(cell: Cell, disk: str) -> None:
    cell.add(config(disk), 1)
    cell.add(config(disk), 2)
    wait_for(lambda: agreed_master(cell, [1, 2]), 30, "an agreed master")
    wait_for(lambda: cell.view(1).alive_on_disk == {1, 2} == cell.view(2).alive_on_disk, 30,
             "both alive on disk in both views")
    master = agreed_master(cell, [1, 2])
    assert master is not None
    views = {n: cell.view(n) for n in (1, 2)}
    assert [n for n, v in views.items() if v.i_am_master] == [master]
    assert all(v.votes == 1 and v.score_ok and v.state == "running" for v in views.values())
    other = 2 if master == 1 else 1
    node = views[other].nodes[master]
    assert (node.alive, node.role, node.name) == (True, "master", f"node{master}")


def test_a_node_says_on_disk_whether_it_still_holds_services(cell: Cell, disk: str) -> None:
    cell.add(config(disk), 1)
    cell.add(config(disk), 2).set_holding(True)
    wait_for(lambda: (n := cell.view(1).nodes.get(2)) and n.alive and n.holding, 30,
             "node 1 to read node 2 holding")
    cell.runners[2].set_holding(False)
    wait_for(lambda: not cell.view(1).nodes[2].holding, 30, "node 1 to read node 2 stopped")
    assert cell.view(1).nodes[2].alive


def test_a_node_says_on_disk_whether_it_is_quorate(cell: Cell, disk: str) -> None:
    cell.add(config(disk), 1)
    cell.add(config(disk), 2)
    wait_for(lambda: (n := cell.view(1).nodes.get(2)) and n.alive, 30, "node 2 alive")
    assert not cell.view(1).nodes[2].quorate  # nothing said yet: not quorate
    cell.runners[2].set_quorate(True)
    wait_for(lambda: cell.view(1).nodes[2].quorate, 30, "node 1 to read node 2 quorate")
    cell.runners[2].set_quorate(False)
    wait_for(lambda: not cell.view(1).nodes[2].quorate, 30, "node 1 to read it inquorate")


def test_a_cleanly_stopped_master_is_replaced_at_once(cell: Cell, disk: str) -> None:
    cell.add(config(disk), 1)
    wait_for(lambda: cell.view(1).i_am_master, 30, "node 1 master")
    cell.add(config(disk), 2)
    wait_for(lambda: agreed_master(cell, [1, 2]) == 1, 30, "node 2 following node 1")
    assert cell.runners[1].stop()
    stopped = cell.view(1)
    assert (stopped.available, stopped.error, stopped.votes) == (False, "stopped", 0)
    wait_for(lambda: cell.view(2).i_am_master, 30, "node 2 master")
    assert cell.view(2).nodes[1].state == "stopped"


def test_a_failing_heuristic_costs_the_score_and_the_mastership(cell: Cell, disk: str,
                                                               tmp_path: Path) -> None:
    flag = tmp_path / "gateway-reachable"
    flag.touch()
    check = Heuristic(("test", "-e", str(flag)), interval_s=0.05, timeout_s=2)
    cell.add(config(disk, heuristics=(check,)), 1)
    wait_for(lambda: cell.view(1).i_am_master, 30, "node 1 master")
    cell.add(config(disk), 2)
    wait_for(lambda: agreed_master(cell, [1, 2]) == 1, 30, "node 2 following node 1")
    flag.unlink()
    wait_for(lambda: not cell.view(1).score_ok, 30, "node 1 losing its score")
    assert cell.view(1).my_score == 0 and not cell.view(1).i_am_master
    wait_for(lambda: agreed_master(cell, [1, 2]) == 2, 30, "node 2 taking over")
    assert not cell.view(2).nodes[1].score_ok
    flag.touch()  # back to health: node 2 keeps the mastership (no failback)
    wait_for(lambda: cell.view(1).score_ok and cell.view(2).nodes[1].score_ok, 30,
             "node 1 passing again")
    assert agreed_master(cell, [1, 2]) == 2


def test_a_vanished_device_path_is_an_error_not_a_hang(cell: Cell, disk: str,
                                                       tmp_path: Path) -> None:
    link = tmp_path / "by-id-qd"
    link.symlink_to(disk)
    cell.add(config(str(link)), 1)
    wait_for(lambda: cell.view(1).i_am_master, 30, "node 1 master")
    cell.add(config(disk), 2)
    wait_for(lambda: agreed_master(cell, [1, 2]) == 1, 30, "node 2 following node 1")
    link.unlink()
    wait_for(lambda: not cell.view(1).available, 30, "node 1 reporting the disk unavailable")
    lost = cell.view(1)
    assert "cannot open" in lost.error and "No such file" in lost.error
    assert (lost.i_am_master, lost.master, lost.votes) == (False, None, 0)
    wait_for(lambda: cell.view(2).i_am_master, 30, "node 2 master after node 1 died on disk")
    assert not cell.view(2).nodes[1].alive
    link.symlink_to(disk)
    wait_for(lambda: cell.view(1).available and cell.view(1).master == 2, 30,
             "node 1 back, following node 2")
    wait_for(lambda: cell.view(1).state == "running", 30, "node 1 done rejoining")


def test_a_disk_of_another_label_is_refused(cell: Cell, disk: str) -> None:
    cell.add(config(disk, label="other"), 1)
    wait_for(lambda: "label" in cell.view(1).error, 30, "a label error")
    assert "label is 'unit-qd', the configuration expects 'other'" in cell.view(1).error
    assert not cell.view(1).available


def test_node_ids_outside_the_disk_are_refused(disk: str) -> None:
    with pytest.raises(QdiskError, match=r"ids 1\.\.16 only"):
        QuorumDisk(config(disk), 17)


# -- a runner process killed outright ----------------------------------------------------

def spawn_runner(disk: str, node_id: int, status: Path, log: Path) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "tandem.cli.qdisk_cmd", "run", "--device", disk,
            "--node-id", str(node_id), "--name", f"node{node_id}",
            "--interval-ms", str(INTERVAL_MS), "--tko", str(TKO), "--label", "unit-qd",
            "--status-file", str(status), "--duration", "120"]
    with open(log, "wb") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)


def read_status(path: Path) -> dict[str, object] | None:
    try:
        data: dict[str, object] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data


def test_a_killed_master_is_dead_on_disk_after_tko(disk: str, tmp_path: Path) -> None:
    procs: dict[int, subprocess.Popen[bytes]] = {}
    status = {n: tmp_path / f"status{n}.json" for n in (1, 2)}
    try:
        for n in (1, 2):
            procs[n] = spawn_runner(disk, n, status[n], tmp_path / f"run{n}.log")
        wait_for(lambda: all((read_status(status[n]) or {}).get("master") is not None
                             for n in (1, 2)), 30, "both runners seeing a master")
        wait_for(lambda: len({(read_status(status[n]) or {}).get("master")
                              for n in (1, 2)}) == 1, 30, "one master for both")
        master = (read_status(status[1]) or {})["master"]
        assert master in (1, 2)
        survivor = 2 if master == 1 else 1
        procs[int(str(master))].send_signal(signal.SIGKILL)
        procs[int(str(master))].wait(10)
        wait_for(lambda: (read_status(status[survivor]) or {}).get("i_am_master") is True, 30,
                 "the survivor becoming master")
        final = read_status(status[survivor]) or {}
        nodes = final["nodes"]
        assert isinstance(nodes, dict) and nodes[str(master)]["alive"] is False
        assert nodes[str(master)]["state"] == "running"  # it never said goodbye
        procs[survivor].send_signal(signal.SIGTERM)
        assert procs[survivor].wait(10) == 0
        left = read_status(status[survivor]) or {}
        assert left.get("available") is False and left.get("error") == "stopped"
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
