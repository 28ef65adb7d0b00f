"""The demo cell for real: web service = shared ext4 + virtual IP + web server. The active
node crashes or hangs; it is fenced, the service comes back on the peer, the client gets
answers through the virtual IP again, and the file written before the fault is served."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from labkit import leftovers, running_lab, unique_lab_name
from tandem.lab.failover import run_failover
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
