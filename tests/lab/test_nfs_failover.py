"""An NFS I/O cell as an administrator builds it, and a real NFSv3 client across its
failures.

The cell's HA_NFS service is generated from a haionfs.conf by tandem.hpc.nfs.service
(what `stordepha.nfs -c configure` and `tandem nfs service` write): the shared disk, the
NFS ports blocked on the service address, the address, NFS-Ganesha, the ports unblocked.
A client in the lab's client namespace (tandem.lab.nfsclient: libnfs, one file handle,
every write retried as on a hard mount and committed before it counts) writes numbered
records while the active node crashes: the service moves, the client pauses and goes on,
no stale handle, and every acknowledged record reads back. The split-brain watch (one
mount of the disk, the address on one node) and the holder watch (one ganesha) run all
along.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from enginekit import Cell, cell_of
from labkit import cell_config, running_lab, unique_lab_name, wait_for
from tandem.config import parse_config
from tandem.hpc.nfs.haionfs import SharedFs
from tandem.hpc.nfs.service import nfs_service, service_toml
from tandem.lab.holders import HolderSpec
from tandem.lab.names import LabNames
from tandem.lab.query import node_events, node_status, service_owner, tandem_in

pytestmark = pytest.mark.lab

SERVICE = "HA_NFS"
ADDRESS = "198.51.100.70"
MOUNT = "/srv/nfs"
RECORDS = 250
PRIVATE = '["/etc/HA", "/srv", "/run"]'  # ganesha's rpcbind needs a /run of its own
# A path per node to one image (tandem.lab.san), as on a SAN: a node's path can fail
# with real kernel I/O errors while the peer's still works.
DISKS = '[ { name = "shared", size = "64M", format = "ext4", storage = "san" } ]'


def cell_text(name: str) -> str:
    """The test cell plus the HA_NFS service generated for it."""
    base = cell_config(name, fencing=True, private_dirs=PRIVATE, disks=DISKS)
    config = parse_config(base, "cell.toml")
    service = nfs_service(config, ["node1", "node2"],
                          [SharedFs("/dev/tandem/shared", MOUNT, "ext4", 1)],
                          [f"{ADDRESS}/24"])
    return base + "\n" + service_toml(config, service)


@pytest.fixture(scope="module")
def nfs_cell(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cell]:
    name = unique_lab_name("nfsf")
    holders = [HolderSpec(SERVICE, process_mark="ganesha.nfsd")]
    with running_lab(tmp_path_factory.mktemp("nfs"), cell_text(name), name,
                     start=True) as record, cell_of(record, holders) as cell:
        for node in cell.nodes:
            (LabNames(name).node_root(node) / MOUNT.lstrip("/")).mkdir(parents=True,
                                                                      exist_ok=True)
        done = subprocess.run(cell.control.exec_argv("node1", ["clusvcadm", "-e", SERVICE,
                                                               "-m", "node1"]),
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        wait_for(lambda: service_owner(cell.control, "node2", SERVICE) == "node1", 60,
                 "HA_NFS on node1")
        yield cell


class Client:
    """tandem.lab.nfsclient in the client namespace; its lines as they come."""

    def __init__(self, cell: Cell, records: int) -> None:
        argv = cell.control.exec_argv("client", [
            sys.executable, "-m", "tandem.lab.nfsclient", "--server", ADDRESS, "--export",
            MOUNT, "--file", f"records-{time.monotonic_ns()}", "--records", str(records),
            "--interval", "0.02"])
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.lines: list[dict[str, Any]] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(json.loads(line))

    def acknowledged(self) -> int:
        return sum(1 for line in self.lines if "n" in line)

    def finish(self, timeout: float) -> list[dict[str, Any]]:
        try:
            self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.reader.join(timeout=10)
        return self.lines


def across(cell: Cell, what: str, fault: Callable[[], object], *, to: str) -> float:
    """Run a writing client, apply `fault` once it has written 50 records, and check it
    finished with every record read back and no stale handle, and that the service runs
    on `to` afterwards; the longest pause the client saw."""
    client = Client(cell, RECORDS)
    wait_for(lambda: client.acknowledged() >= 50 or client.proc.poll() is not None, 60,
             "the client to write its first records")
    fault()
    lines = client.finish(timeout=180)
    assert not [line for line in lines if line.get("event") in ("stale", "gave_up",
                                                                   "error")], lines[-3:]
    assert lines[-1] == {"event": "verified", "records": RECORDS, "bad": []}, lines[-3:]
    wait_for(lambda: service_owner(cell.control, to, SERVICE) == to, 30,
             f"{SERVICE} to run on {to}")
    longest = max(line["pause_s"] for line in lines if "n" in line)
    print(f"\nNFS client across {what}: {RECORDS} records through one handle, every one "
          f"read back; longest pause {longest:.2f} s")
    return float(longest)


def test_a_crash_of_the_active_node(nfs_cell: Cell) -> None:
    cell = nfs_cell
    longest = across(cell, "a crash of the active node",
                     lambda: cell.control.crash("node1"), to="node2")
    assert cell.power("node1") == "off"  # fenced before the export moved
    assert longest > 0.3  # it did wait for the failover: the crash hit while it wrote


def test_a_killed_server_moves_to_the_peer(nfs_cell: Cell) -> None:
    """node1 comes back; the server is killed on node2: the monitor sees it and the
    service relocates (recovery = relocate) while the client writes."""
    cell = nfs_cell
    cell.control.power_on("node1")
    cell.wait_state("node2", "node1", {"online"}, timeout=60)
    kill = ["pkill", "-9", "-f", "ganesha.nfsd"]
    across(cell, "a killed server", lambda: subprocess.run(
        cell.control.exec_argv("node2", kill), check=True, timeout=30), to="node1")
    assert cell.power("node2") == "on"  # a failed server is stopped, not fenced


def test_a_relocation(nfs_cell: Cell) -> None:
    cell = nfs_cell
    relocate = ["clusvcadm", "-r", SERVICE, "-m", "node2"]
    across(cell, "a relocation", lambda: subprocess.run(
        cell.control.exec_argv("node1", relocate), check=True, timeout=120,
        capture_output=True), to="node2")


def test_a_hung_active_node(nfs_cell: Cell) -> None:
    cell = nfs_cell
    across(cell, "a hang of the active node", lambda: cell.control.hang("node2"),
           to="node1")
    assert cell.power("node2") == "off"


def test_a_lost_address_moves_the_service(nfs_cell: Cell) -> None:
    """The service address disappears from the active node (node2 is off since the hang:
    power it on first): the ip resource's monitor sees it and the service relocates."""
    cell = nfs_cell
    cell.control.power_on("node2")
    cell.wait_state("node1", "node2", {"online"}, timeout=60)
    drop = ["ip", "addr", "del", f"{ADDRESS}/24", "dev", "eth0"]
    across(cell, "a lost service address", lambda: subprocess.run(
        cell.control.exec_argv("node1", drop), check=True, timeout=30), to="node2")
    assert cell.power("node1") == "on"



def test_a_lost_mount_point_moves_the_service(nfs_cell: Cell) -> None:
    """The shared file system is unmounted behind the engine's back (lazily: Ganesha
    holds it): the fs resource's monitor sees it and the service relocates.

    node1 failed the service in the test before (lost address) and a service does not go
    back by itself to a node it failed on, so the operator first moves it there: an
    operator's request clears the record (without it, with both nodes marked, the service
    would rightly stay down)."""
    cell = nfs_cell
    subprocess.run(cell.control.exec_argv("node2", ["clusvcadm", "-r", SERVICE, "-m",
                                                    "node1"]),
                   check=True, timeout=120, capture_output=True)
    lose = ["umount", "-l", MOUNT]
    across(cell, "a lost mount point", lambda: subprocess.run(
        cell.control.exec_argv("node1", lose), check=True, timeout=30), to="node2")



def storage_status(cell: Cell, node: str) -> dict[str, Any]:
    status = node_status(cell.control, node)
    assert status is not None, f"no status from {node}"
    return dict(status["storage"])


def test_back_end_io_errors_move_the_service(nfs_cell: Cell) -> None:
    """node1's path to the disk fails while the client writes (the node keeps running):
    Ganesha's next commit meets real kernel I/O errors on node1's own loop device, the
    kernel-log watch of node1's tandemd sees them on the device HA_NFS stands on, and the
    service moves to node2 at once (no restart in place on a broken path, no fence: the
    NFS service's recovery is relocate). The operator first moves the service to node1,
    which clears the record of its failure there in the test before."""
    cell = nfs_cell
    subprocess.run(cell.control.exec_argv("node2", ["clusvcadm", "-r", SERVICE, "-m",
                                                    "node1"]),
                   check=True, timeout=120, capture_output=True)
    before = storage_status(cell, "node1")
    try:
        across(cell, "back-end I/O errors on the active node",
               lambda: cell.control.fail_storage("node1"), to="node2")
    finally:
        cell.control.restore_storage("node1")
    after = storage_status(cell, "node1")
    assert after["relevant"] > before["relevant"] and after["io_errors"] > before["io_errors"]
    events = node_events(cell.control, "node1")
    assert any(e["kind"] == "storage_error" and e.get("service") == SERVICE for e in events)
    assert cell.power("node1") == "on"


def test_io_errors_on_a_device_no_service_uses_change_nothing(nfs_cell: Cell) -> None:
    """node1 (standby) reads through its failing path: the kernel logs I/O errors on
    node1's loop device, which every node's watch reads (one kernel), and nothing moves:
    node2's service stands on node2's own path. A watcher's report on the standby does
    nothing either, and a device that does not exist is one clear line."""
    cell = nfs_cell
    assert service_owner(cell.control, "node2", SERVICE) == "node2"
    seen_before = storage_status(cell, "node2")
    cell.control.fail_storage("node1")
    try:
        read = subprocess.run(cell.control.exec_argv("node1", [
            "dd", "if=/dev/tandem/shared", "of=/dev/null", "bs=4096", "count=1",
            "iflag=direct"]), capture_output=True, text=True, timeout=30)
        assert read.returncode != 0 and "Input/output error" in read.stderr
        wait_for(lambda: storage_status(cell, "node2")["io_errors"] > seen_before["io_errors"],
                 10, "node2's watch to read node1's I/O error")
        time.sleep(2.0)  # time for a wrong move to show
        assert service_owner(cell.control, "node2", SERVICE) == "node2"
        assert storage_status(cell, "node2")["relevant"] == seen_before["relevant"]
        report = tandem_in(cell.control, "node1", "storage-error", "/dev/tandem/shared")
        assert report.returncode == 0 and "no action" in report.stdout, report
        bogus = tandem_in(cell.control, "node1", "storage-error", "/dev/tandem/nosuch")
        assert bogus.returncode == 1 and "no block device" in bogus.stderr, bogus
        assert len(bogus.stderr.strip().splitlines()) == 1
    finally:
        cell.control.restore_storage("node1")
    assert service_owner(cell.control, "node1", SERVICE) == "node2"
