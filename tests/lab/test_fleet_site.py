"""The README's walk through a site, run line by line as written (tests/walkkit.py reads
it from README.md), from the management node over real SSH: an empty inventory gets
four cells (two from cell files with their BMC passwords sent to files, one described
with `db set`, one imported from a cluster.conf), the blank nodes get their
configuration, key and BMC password files (`push --with-key`), start and report in
sync; two crashed nodes are fenced through their BMCs with those passwords and their
services are seen MIGRATED, and the inventory keeps where each service ran. The README's
bad-input lines are each one line and change nothing in the inventory or on any node.
Beside the README: a cell whose admin cables are cut is unreachable while the others
report (exit 1), and no key or password appears in any output or file but its own."""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labkit import host_links, lab_inodes, leftovers, unique_lab_name, wait_for
from tandem.lab.builder import lab_down
from tandem.lab.faults import NetworkFaults
from tandem.lab.names import LabNames
from tandem.lab.nodes import NodeControl
from tandem.lab.state import LabRecord
from walkkit import Walk, readme_blocks

pytestmark = pytest.mark.lab

CELLS = {"io12": ("io1", "io2"), "io34": ("io3", "io4"), "io56": ("io5", "io6"),
         "io78": ("io7", "io8")}
NODES = [n for pair in CELLS.values() for n in pair]
PASSWORDS = {n: f"lab-{n}" for n in NODES}  # what examples/site gives the lab's BMCs


@contextlib.contextmanager
def cleaned_up(name: str) -> Iterator[set[int]]:
    """Lab `name` is removed at the end whatever happened, and leaves nothing behind
    (its namespaces' inodes go in the set yielded, to find its processes)."""
    links = host_links()
    inodes: set[int] = set()
    try:
        yield inodes
    finally:
        inodes.update(lab_inodes(name))
        lab_down(name)
        assert not leftovers(name, inodes), leftovers(name, inodes)
        assert not host_links() - links


class Phases:
    """Where the time goes (printed: shown with a failure's captured output)."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self, what: str) -> None:
        print(f"{time.monotonic() - self.started:6.1f} s  {what} done")


def status(walk: Walk) -> dict[str, Any]:
    done = walk.on_mgmt("tandem", "cells", "status", "-a", "--json", *walk.fleet_options(),
                        returncode=None)
    return dict(json.loads(done.stdout))


def settled(outcome: dict[str, Any]) -> bool:
    return outcome["ok"] and len(outcome["cells"]) == len(CELLS) and all(
        c["state"] == "in sync" and c["services"]
        and all(s["state"] == "started" and not s["migrated"] for s in c["services"])
        for c in outcome["cells"])


def node_files(names: LabNames) -> dict[str, str]:
    """What every cell node keeps in its /etc/tandem (hashes)."""
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for node in NODES
            for p in sorted((names.node_root(node) / "etc/tandem").rglob("*")) if p.is_file()}


# One scenario of about 2.5 minutes on an idle 2-core machine; others' labs and
# benchmarks share it, and every README line starts two processes.
@pytest.mark.timeout(600)
def test_the_readme_walk_from_an_empty_inventory(tmp_path: Path) -> None:
    ssh_dir = Path("/root/.ssh")
    had_ssh_dir = ssh_dir.exists()
    walk_lines, bad_lines = readme_blocks()
    name = unique_lab_name("walk")
    names = LabNames(name)
    walk = Walk(name)
    walk.feed(walk_lines)
    phase = Phases()
    with cleaned_up(name) as inodes:
        walk.run("tandem lab up --site examples/site")
        inodes.update(lab_inodes(name))
        phase("lab up")
        describe(walk)
        phase("describe")
        push_and_start(walk, names)
        phase("push and start")
        refuse_bad_input(walk, bad_lines, names)
        phase("bad input")
        cut_cables(walk, name)
        phase("cut cables")
        crash_and_migrate(walk)
        phase("crash")
        keep_secrets(walk, names)
        walk.run("tandem lab down")
        phase("down")
        assert not names.directory.exists()
    assert ssh_dir.exists() == had_ssh_dir


def describe(walk: Walk) -> None:
    """The inventory, from nothing to four cells."""
    walk.run("tandem db init")
    imported = walk.run("examples/site/io12.toml examples/site/io34.toml").stdout
    for node in ("io1", "io2", "io3", "io4"):
        assert f"password written to /etc/tandem/secrets/{node}-bmc.password (mode 0600)" \
            in imported
    for what in ("node io5", "node io6", "cell io56", "service io56 svc-io5",
                 "service io56 svc-io6"):
        walk.run(f"tandem db set {what}")
    conf = walk.run("examples/site/io78.conf").stdout
    for node in ("io7", "io8"):
        assert (f"passwd not written: put {node}'s BMC password in /etc/tandem/secrets/"
                f"{node}-bmc.password") in conf
    walk.run("umask 077")
    shown = walk.run("tandem db show cells").stdout
    rows = {line.split()[0]: line.split()[1] for line in shown.splitlines()[1:]}
    assert rows == {"io12": "nfs", "io34": "nfs", "io56": "lustre", "io78": "lustre"}
    walk.run("mkdir -p /etc/tandem/keys")
    walk.run("tandem keygen")


def push_and_start(walk: Walk, names: LabNames) -> None:
    """Blank nodes get configuration, key and password files, start, and settle."""
    preview = walk.run("tandem cells configure -a").stdout
    assert "would install" in preview
    pushed = walk.run("tandem cells push -a --with-key").stdout
    assert "io[1-2]  ok     io12 version 1 installed (tandemd not running); key " \
           "installed; 2 of 2 password files installed" in pushed
    mgmt = names.node_root("mgmt")
    for cell, members in CELLS.items():
        key = (mgmt / "etc/tandem/keys" / f"{cell}.key").read_text()
        for node in members:
            root = names.node_root(node) / "etc/tandem"
            assert (root / "cluster.key").read_text() == key
            for peer in members:
                secret = root / "secrets" / f"{peer}-bmc.password"
                assert secret.read_text() == PASSWORDS[peer] + "\n"
                assert secret.stat().st_mode & 0o777 == 0o600
    walk.run("tandem cells start -a")
    wait_for(lambda: settled(status(walk)), 120, "every cell in sync, every service "
                                                 "started at home")
    shown = walk.run("tandem cells status -a").stdout
    assert shown.count("in sync") >= len(CELLS)


def refuse_bad_input(walk: Walk, lines: list[Any], names: LabNames) -> None:
    """The README's bad-input lines: one line each saying what its comment says;
    nothing changes in the inventory or on any node."""
    before = (walk.on_mgmt("tandem", "db", "export").stdout, node_files(names))
    bad = Walk(walk.lab, variables=dict(walk.variables))
    bad.feed(lines)
    for line in lines:
        done = bad.run_argv(bad.argv(bad.next(line.text)), returncode=None)
        assert done.returncode in (1, 2), line.text
        message = done.stderr.strip()
        assert "\n" not in message and message.startswith("tandem: error: "), message
        for part in line.comment.split("..."):
            assert part.strip() in message, (line.comment, message)
    walk.outputs += bad.outputs
    assert (walk.on_mgmt("tandem", "db", "export").stdout, node_files(names)) == before


def cut_cables(walk: Walk, name: str) -> None:
    """io34 behind cut admin cables: unreachable, the others still report."""
    control = NodeControl(LabRecord.load(name))
    faults = NetworkFaults(control.record, control.config)
    for node in ("io3", "io4"):
        faults.cut(node, "admin")
    cut = walk.on_mgmt("tandem", "cells", "status", "-a", "--json", *walk.fleet_options(),
                       returncode=1)
    outcome = json.loads(cut.stdout)
    assert {c["name"]: c["state"] for c in outcome["cells"]} == {
        "io12": "in sync", "io34": "unreachable", "io56": "in sync", "io78": "in sync"}
    assert cut.stderr.strip().splitlines()[-1] == (
        "tandem: 2 of 8 nodes did not answer or failed: io[3-4] unreachable")
    for node in ("io3", "io4"):
        faults.heal(node, "admin")


def crash_and_migrate(walk: Walk) -> None:
    """Power loss in io12 and io78: each partner fences the lost node through its BMC
    (with the password file pushed) and takes its service; status says so, and the
    inventory keeps it."""
    walk.run("tandem lab crash --lab site io2")
    walk.run("tandem lab crash --lab site io7")

    def migrated() -> bool:
        owners = {s["name"]: (s["owner"], s["migrated"], s["state"])
                  for c in status(walk)["cells"] for s in c["services"]}
        return (owners.get("svc-io2") == ("io1", True, "started")
                and owners.get("svc-io7") == ("io8", True, "started"))

    wait_for(migrated, 90, "svc-io2 started on io1 and svc-io7 on io8")
    shown = walk.run("tandem cells status -a", returncode=1)
    assert "MIGRATED" in shown.stdout
    assert ("migrated: svc-io2 of io12 on io1 (home io2); svc-io7 of io78 on io8 (home "
            "io7)") in shown.stdout
    assert shown.stderr.strip().splitlines()[-1].endswith("io[2,7] unreachable")
    kept = json.loads(walk.run("tandem db show locations --json").stdout)
    where = {row["service"]: (row["cell"], row["node"], row["state"]) for row in kept}
    assert where == {
        "svc-io1": ("io12", "io1", "started"), "svc-io2": ("io12", "io1", "started"),
        "svc-io3": ("io34", "io3", "started"), "svc-io4": ("io34", "io4", "started"),
        "svc-io5": ("io56", "io5", "started"), "svc-io6": ("io56", "io6", "started"),
        "svc-io7": ("io78", "io8", "started"), "svc-io8": ("io78", "io8", "started")}
    assert all(row["seen_at"] > 0 for row in kept)


def keep_secrets(walk: Walk, names: LabNames) -> None:
    """No key and no BMC password in any output, nor in any file of the lab (the
    inventory's database included) but the key and password files themselves and
    the lab's description of its machines."""
    keys = [p.read_text().strip() for p in
            (names.node_root("mgmt") / "etc/tandem/keys").glob("*.key")]
    secrets = [*keys, *PASSWORDS.values()]
    assert len(keys) == len(CELLS)
    for secret in secrets:
        assert not [o for o in walk.outputs if secret in o], secret
    own = {names.directory / "cluster.toml"}  # the lab view: examples/site's machines
    files = [p for p in names.directory.rglob("*") if p.is_file() and p not in own
             and p.suffix not in (".key", ".password")]
    assert any(p.name == "inventory.db" for p in files)
    for path in files:
        data = path.read_bytes()
        assert not [s for s in secrets if s.encode() in data], path
