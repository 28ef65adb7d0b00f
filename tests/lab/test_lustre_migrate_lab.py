"""`lustre_migrate` on a real two-node cell: lustre_node1 and lustre_node2 (each a
`dummy` resource standing for a node's Lustre targets, not started at boot, no
failback), driven as from the management node through the fleet's exec transport
(`tandem lab exec` into each node; a powered-off node answers as an unreachable host
does). hastart -n all starts each on its node and nodestat says OK; node2's power is
cut, node1 fences it and takes lustre_node2: MIGRATED; node2 powered on again keeps
nothing (no failback) until `relocate -n node2` brings it home: OK again."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest

from labkit import cell_config, running_lab, unique_lab_name, wait_for
from tandem.cli import lustre_migrate_cmd
from tandem.lab.names import LabNames
from tandem.lab.nodes import NodeControl
from walkkit import BIN

pytestmark = pytest.mark.lab

SERVICES = "".join(f"""
[[services]]
name = "lustre_node{i}"
autostart = false
domain = {{ nodes = ["node{i}", "node{3 - i}"], restricted = true }}
[[services.resources]]
name = "targets-node{i}"
agent = "dummy"
""" for i in (1, 2))


def site_dir(tmp: Path, name: str, config: str) -> Path:
    """The cell as the management node knows it: its file, and a site file saying it
    is a Lustre cell."""
    site = tmp / "site"
    site.mkdir()
    (site / f"{name}.toml").write_text(config)
    (site / "site.toml").write_text(f'[site]\nadmin_network = "admin"\n\n'
                                    f'[kinds]\n{name} = "lustre"\n')
    return site


def exec_script(tmp: Path, name: str) -> Path:
    """Run a command inside a lab node; a node that is off answers as ssh does for an
    unreachable host (exit 255)."""
    names = LabNames(name)
    power = names.power_file("NODE")
    script = tmp / "in-node"
    script.write_text(
        "#!/bin/sh\n"
        f'power=$(echo {shlex.quote(str(power))} | sed "s/NODE/$1/")\n'
        'grep -q \'"power": "on"\' "$power" 2>/dev/null || '
        '{ echo "ssh: connect to host $1: No route to host" >&2; exit 255; }\n'
        f'exec {BIN}/tandem lab exec --lab {name} "$1" -- sh -c "$2"\n')
    script.chmod(0o755)
    return script


class Tool:
    """lustre_migrate with this lab's options, in this process."""

    def __init__(self, site: Path, script: Path, tmp: Path) -> None:
        (tmp / "fleet.toml").write_text("")
        self.options = ["--from-dir", str(site), "--fleet-config", str(tmp / "fleet.toml"),
                        "--remote-path", str(BIN), "--exec", f"{script} %h %c"]

    def __call__(self, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any]:
        code = lustre_migrate_cmd.main([*args, "--json", *self.options])
        out = capsys.readouterr().out
        return code, json.loads(out)


def statuses(tool: Tool, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    _, out = tool(capsys, "nodestat", "-n", "all")
    return {s["node"]: s["status"] for p in out["pairs"] for s in (p["node"], p["peer"])
            if s}


def node_states(tool: Tool, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    _, out = tool(capsys, "hastat", "-n", "all")
    return {row["node"]: row["node_state"] for row in out["nodes"]}


@pytest.mark.timeout(300)
def test_hastart_crash_migrated_relocate(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    name = unique_lab_name("lmig")
    config = cell_config(name, fencing=True, extra=SERVICES, disks="[]")
    tool = Tool(site_dir(tmp_path, name, config), exec_script(tmp_path, name), tmp_path)
    with running_lab(tmp_path, config, name, start=True) as record:
        control = NodeControl(record)
        both_online = {"node1": "online", "node2": "online"}
        wait_for(lambda: node_states(tool, capsys) == both_online, 60,
                 "both nodes online in the cell")
        assert statuses(tool, capsys) == {"node1": "WARNING", "node2": "WARNING"}

        code, out = tool(capsys, "hastart", "-n", "all")
        assert code == 0, out
        assert [(n["node"], n["result"], n["now"]["status"]) for n in out["nodes"]] == [
            ("node1", "done", "OK"), ("node2", "done", "OK")]
        code, _ = tool(capsys, "nodestat", "-n", "all")
        assert code == 0

        control.crash("node2")
        wait_for(lambda: statuses(tool, capsys) == {"node1": "OK", "node2": "MIGRATED"},
                 90, "lustre_node2 started on node1 after node2's crash")
        code, out = tool(capsys, "relocate", "-n", "node2")
        assert code == 1 and out["nodes"][0]["result"] == "refused"

        control.power_on("node2")
        wait_for(lambda: node_states(tool, capsys) == both_online, 90,
                 "node2 back in the cell")
        assert statuses(tool, capsys)["node2"] == "MIGRATED"  # no automatic failback
        code, out = tool(capsys, "relocate", "-n", "node2")
        assert code == 0, out
        assert out["nodes"][0]["now"]["owner"] == "node2"
        assert statuses(tool, capsys) == {"node1": "OK", "node2": "OK"}
