"""`tandem config push`: a newer configuration reaches every member; older or equal
versions and broken files are refused; a member that was away during a push is brought
up to date when it comes back."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from enginekit import Cell, running_cell
from labkit import tandem_in, wait_for
from tandem.lab.names import LabNames

pytestmark = pytest.mark.lab

DB = """
[[services]]
name = "db"
domain = { nodes = ["node2", "node1"], restricted = true }
[[services.resources]]
name = "db-data"
agent = "dummy"
"""


def _push(cell: Cell, node: str, text: str, name: str) -> subprocess.CompletedProcess[str]:
    path = LabNames(cell.record.name).node_root(node) / "etc/tandem" / name
    path.write_text(text)
    return tandem_in(cell.control, node, "config", "push", f"/etc/tandem/{name}",
                     "--timeout", "60", timeout=90)


def sees_all_current(cell: Cell, observer: str) -> bool:
    status = cell.status(observer)
    return status is not None and not any(n["config_outdated"] for n in status["nodes"])


def test_push_reaches_every_member(tmp_path: Path) -> None:
    with running_cell(tmp_path, "push", fencing=True) as cell:
        original = (LabNames(cell.record.name).node_root("node1")
                    / "etc/tandem/cluster.toml").read_text()
        newer = original.replace('key_file = "/etc/tandem/cluster.key"',
                                 'key_file = "/etc/tandem/cluster.key"\nconfig_version = 2') + DB
        done = _push(cell, "node1", newer, "v2.toml")
        assert done.returncode == 0, done.stderr
        assert "every online member" in done.stdout
        for node in cell.nodes:
            status = cell.status(node)
            assert status is not None and status["config_version"] == 2
            installed = (LabNames(cell.record.name).node_root(node)
                         / "etc/tandem/cluster.toml").read_text()
            assert "config_version = 2" in installed and 'name = "db"' in installed
        wait_for(lambda: any(s["name"] == "db" and s["state"] == "started"
                             for s in (cell.status("node1") or {}).get("services", [])),
                 20, "the pushed service to start")

        again = _push(cell, "node2", newer, "v2-again.toml")
        assert again.returncode == 1 and "not newer" in again.stderr
        broken = _push(cell, "node1", newer.replace("id = 2", "id = 1")
                       .replace("config_version = 2", "config_version = 3"), "bad.toml")
        assert broken.returncode == 1 and "used twice" in broken.stderr
        assert (cell.status("node1") or {}).get("config_version") == 2


def test_member_back_on_an_old_version_is_resynced(tmp_path: Path) -> None:
    with running_cell(tmp_path, "stale", fencing=True) as cell:
        os.kill(cell.control.power("node2").daemon_pid, signal.SIGTERM)
        cell.wait_state("node1", "node2", {"offline"})
        root = LabNames(cell.record.name).node_root("node1")
        text = (root / "etc/tandem/cluster.toml").read_text().replace(
            'key_file = "/etc/tandem/cluster.key"',
            'key_file = "/etc/tandem/cluster.key"\nconfig_version = 5')
        assert _push(cell, "node1", text, "v5.toml").returncode == 0
        # node1 restarts too: what it sends now comes from its installed file.
        os.kill(cell.control.power("node1").daemon_pid, signal.SIGTERM)
        wait_for(lambda: cell.status("node1") is None, 10, "node1's daemon to stop")
        cell.control.start_daemon("node1")
        cell.control.start_daemon("node2")  # comes back with its old version 1
        cell.wait_state("node1", "node2", {"online"})
        wait_for(lambda: (s := cell.status("node2")) and s["config_version"] == 5, 20,
                 "node2 to be sent version 5")
        installed = (LabNames(cell.record.name).node_root("node2")
                     / "etc/tandem/cluster.toml").read_text()
        assert "config_version = 5" in installed
        wait_for(lambda: sees_all_current(cell, "node1"), 10,
                 "node1 to see every member current")
