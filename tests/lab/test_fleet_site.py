"""A site in the lab, driven from its management node over real SSH: four blank 2-node
cells get their configuration and key (`tandem cells push --with-key`), start, and
report in sync; a cell whose admin cables are cut shows as unreachable while the others
report (exit 1); a crashed node's service is seen running on its partner (MIGRATED).
The cells' keys never appear in any output or log."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labkit import host_links, lab_inodes, leftovers, unique_lab_name, wait_for
from tandem.lab.builder import lab_down
from tandem.lab.faults import NetworkFaults
from tandem.lab.names import LabNames
from tandem.lab.nodes import NodeControl
from tandem.lab.site import site_lab_up
from tandem.lab.sshd import LabSsh
from tandem.wire.keyfile import generate_key

pytestmark = pytest.mark.lab

EXAMPLE_SITE = Path(__file__).resolve().parents[2] / "examples" / "site"
TANDEM = str(Path(sys.executable).parent / "tandem")
CELLS = ("io12", "io34", "io56", "io78")


@contextlib.contextmanager
def site_lab(tmp_path: Path) -> Iterator[tuple[NodeControl, Path, Path]]:
    """The example site as a lab (blank nodes with sshd), its site directory and the
    cells' keys; always removed, and checked to leave nothing behind."""
    site = tmp_path / "site"
    shutil.copytree(EXAMPLE_SITE, site, ignore=shutil.ignore_patterns("locations"))
    keys = tmp_path / "keys"
    keys.mkdir()
    for cell in CELLS:
        generate_key(keys / f"{cell}.key")
    name = unique_lab_name("fleet")
    links = host_links()
    inodes: set[int] = set()
    try:
        record = site_lab_up(site, name)
        inodes = lab_inodes(name)
        yield NodeControl(record), site, keys
    finally:
        inodes |= lab_inodes(name)
        lab_down(name)
        assert not leftovers(name, inodes), leftovers(name, inodes)
        assert not host_links() - links


class Mgmt:
    """`tandem cells` run on the lab's management node; every output kept."""

    def __init__(self, control: NodeControl, site: Path, keys: Path) -> None:
        self.control = control
        self.options = ["--from-dir", str(site), "--key-dir", str(keys), "--fleet-config",
                        str(LabSsh(LabNames(control.record.name)).fleet_file)]
        self.outputs: list[str] = []

    def cells(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = self.control.exec_argv("mgmt", [TANDEM, "cells", *args, *self.options])
        done = subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)
        self.outputs += [done.stdout, done.stderr]
        return done

    def status(self) -> dict[str, Any]:
        return dict(json.loads(self.cells("status", "-a", "--json").stdout))


def node_states(outcome: dict[str, Any]) -> dict[str, str]:
    return {n["node"]: n["state"] for c in outcome["cells"] for n in c["nodes"]}


def settled(outcome: dict[str, Any]) -> bool:
    return outcome["ok"] and all(
        c["state"] == "in sync" and c["services"]
        and all(s["state"] == "started" and not s["migrated"] for s in c["services"])
        for c in outcome["cells"])


def test_site_from_the_management_node_over_ssh(tmp_path: Path) -> None:
    ssh_dir = Path("/root/.ssh")
    had_ssh_dir = ssh_dir.exists()
    with site_lab(tmp_path) as (control, site, keys):
        mgmt = Mgmt(control, site, keys)
        preview = mgmt.cells("configure", "-a", "--json")
        assert preview.returncode == 0, preview.stderr
        assert set(node_states(json.loads(preview.stdout)).values()) == {"blank"}

        pushed = mgmt.cells("push", "-a", "--with-key")
        assert pushed.returncode == 0, pushed.stderr
        assert "io[5-6]  ok     io56 version 1 installed (tandemd not running); key " \
               "installed" in pushed.stdout
        names = LabNames(control.record.name)
        for cell, (first, second) in zip(CELLS, ((1, 2), (3, 4), (5, 6), (7, 8)),
                                         strict=True):
            for node in (f"io{first}", f"io{second}"):
                key = names.node_root(node) / "etc/tandem/cluster.key"
                assert key.read_text() == (keys / f"{cell}.key").read_text()
                assert key.stat().st_mode & 0o777 == 0o600

        started = mgmt.cells("start", "-a")
        assert started.returncode == 0, started.stderr
        wait_for(lambda: settled(mgmt.status()), 90, "every cell in sync, every service "
                                                     "started at home")

        faults = NetworkFaults(control.record, control.config)
        for node in ("io3", "io4"):
            faults.cut(node, "admin")
        cut = mgmt.cells("status", "-a", "--json")
        assert cut.returncode == 1
        outcome = json.loads(cut.stdout)
        assert {c["name"]: c["state"] for c in outcome["cells"]} == {
            "io12": "in sync", "io34": "unreachable", "io56": "in sync", "io78": "in sync"}
        assert cut.stderr.strip().splitlines()[-1] == (
            "tandem: 2 of 8 nodes did not answer or failed: io[3-4] unreachable")
        for node in ("io3", "io4"):
            faults.heal(node, "admin")

        control.crash("io5")

        def migrated() -> bool:
            io56 = next(c for c in mgmt.status()["cells"] if c["name"] == "io56")
            return any(s["name"] == "svc-io5" and s["owner"] == "io6" and s["migrated"]
                       and s["state"] == "started" for s in io56["services"])

        wait_for(migrated, 60, "svc-io5 started on io6")
        shown = mgmt.cells("status", "-i", "@io56")
        assert shown.returncode == 1
        assert "MIGRATED" in shown.stdout
        assert "migrated: svc-io5 of io56 on io6 (home io5)" in shown.stdout

        secrets = [(keys / f"{cell}.key").read_text().strip() for cell in CELLS]
        logged = [p for p in names.directory.rglob("*")
                  if p.is_file() and p.name != "cluster.key"]
        for secret in secrets:
            assert not any(secret in text for text in mgmt.outputs)
            assert not [p for p in logged if secret in p.read_text(errors="replace")]
    assert ssh_dir.exists() == had_ssh_dir
