"""The demo cell for real: web service = shared ext4 + virtual IP + web server. The active
node crashes or hangs; it is fenced, the service comes back on the peer, the client gets
answers through the virtual IP again, and the file written before the fault is served."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from labkit import leftovers, running_lab, unique_lab_name, wait_for
from tandem.lab.failover import run_failover, wait_started
from tandem.lab.nodes import NodeControl
from tandem.lab.watch import SplitBrainWatch

pytestmark = pytest.mark.lab
DEMO = Path(__file__).parents[2] / "examples" / "demo-cell.toml"


@pytest.mark.parametrize("fault", ["crash", "hang"])
def test_demo_cell_takeover(tmp_path: Path, fault: str) -> None:
    name = unique_lab_name(f"demo{fault[0]}")
    with running_lab(tmp_path, DEMO.read_text(), name, start=True) as record:
        control = NodeControl(record)
        with SplitBrainWatch(record.name, interval_s=0.02) as watch:
            result = run_failover(control, control.config, "web", fault=fault)
        watch.assert_clean()
        assert result.to_node is not None and result.to_node != result.from_node
        assert result.fenced, "the peer started the service without fencing first"
        assert control.power(result.from_node).power == "off"
        assert result.outage_ms is not None and result.data_kept is True
        kinds = [e["kind"] for e in result.timeline]
        assert kinds.index("fence_done") < kinds.index("service_started")
        starts = [e["detail"].split()[0] for e in result.timeline
                  if e["kind"] == "resource_start"]
        assert starts == ["web-data", "web-ip", "web-server"]  # in the configured order


def test_demo_command_json() -> None:
    done = subprocess.run(["tandem", "demo", "--json"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert {"outage_ms", "fenced", "from_node", "to_node", "timeline"} <= set(result)
    assert result["fenced"] is True and result["outage_ms"] > 0
    assert all({"ts_ms", "kind", "node", "service"} <= set(e) for e in result["timeline"])
    assert leftovers("demo", set()) == []


def _server_pid(control: NodeControl, node: str) -> str:
    done = subprocess.run(control.exec_argv(node, ["pgrep", "-f", "busybox httpd"]),
                          capture_output=True, text=True)
    return done.stdout.strip()


def test_killed_server_is_restarted_in_place_and_clis(tmp_path: Path) -> None:
    """The web server is killed: the monitor notices and the service restarts on the
    same node. Then the compatibility commands: clustat's options and cs."""
    name = unique_lab_name("kill")
    with running_lab(tmp_path, DEMO.read_text(), name, start=True) as record:
        control = NodeControl(record)
        owner = wait_started(control, "node1", "web")
        first = _server_pid(control, owner)
        subprocess.run(control.exec_argv(owner, ["pkill", "-9", "-f", "busybox httpd"]),
                       check=True)
        wait_for(lambda: _server_pid(control, owner) not in ("", first)
                 and wait_started(control, "node1", "web") == owner, 30,
                 "the web server to be restarted in place", interval=0.2)
        assert control.power("node2" if owner == "node1" else "node1").power == "on"

        def clustat(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(control.exec_argv("node1", ["clustat", *args]),
                                  capture_output=True, text=True, timeout=30)

        assert clustat("-Q").returncode == 0 and clustat("-Q").stdout == ""
        assert "service:web" in clustat("-s", "web").stdout
        assert "node2" not in clustat("-m", "node1").stdout
        assert '<group name="service:web"' in clustat("-x").stdout
        stop = subprocess.run(control.exec_argv("node2", ["cs", "-c", "stop"]),
                              capture_output=True, text=True, timeout=60)
        assert stop.returncode == 0, stop.stderr
        status = subprocess.run(control.exec_argv("node2", ["cs", "-c", "status"]),
                                capture_output=True, text=True, timeout=30)
        assert status.returncode == 3 and "not running" in status.stdout
        start = subprocess.run(control.exec_argv("node2", ["cs", "-c", "start"]),
                               capture_output=True, text=True, timeout=60)
        assert start.returncode == 0, start.stderr


def test_stop_that_cannot_complete_fences_first(tmp_path: Path) -> None:
    """A process of node1 in a mount namespace of its own keeps the shared file system
    busy where the fs agent cannot reach it: the stop fails, node1 is fenced, and only
    then does node2 mount the disk."""
    name = unique_lab_name("busy")
    with running_lab(tmp_path, DEMO.read_text(), name, start=True) as record:
        control = NodeControl(record)
        owner = wait_started(control, "node1", "web")
        peer = "node2" if owner == "node1" else "node1"
        holder = subprocess.Popen(control.exec_argv(owner, [
            "unshare", "--mount", "--propagation", "private", "sh", "-c",
            "cd /srv/web && exec sleep 600"]))
        try:
            with SplitBrainWatch(record.name, interval_s=0.02) as watch:
                relocate = subprocess.run(control.exec_argv(peer, [
                    "tandem", "svc", "relocate", "web", "--node", peer, "--timeout", "60"]),
                    capture_output=True, text=True, timeout=90)
                assert relocate.returncode == 0, relocate.stderr
            watch.assert_clean()
            assert control.power(owner).power == "off"  # fenced: its stop had failed
        finally:
            holder.kill()
            holder.wait()
